"""Evaluate: dataset protocols, metrics and reports, running the live feature/detector code."""
