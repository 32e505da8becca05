"""Detectors: owner-vs-impostor scorers (higher score = more likely an impostor)."""
