"""Features: pure, vectorised pointer and keystroke feature extraction (arrays in, arrays out)."""
