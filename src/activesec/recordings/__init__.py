"""Recordings: readers for recorded input (generic layouts, Balabit, Aalto, Freihaut, CMU)."""
