"""Features: pure, vectorised pointer and keystroke feature extraction (arrays in, arrays out).

* :mod:`.pointer` — ``segment_actions`` / ``pointer_features`` -> one row per mouse action.
* :mod:`.keys` — ``keystroke_windows`` -> one row per window of N keystrokes (classes only).
"""
