"""Thresholds live outside the model (as river's ``AnomalyFilter``).

:func:`calibrate` turns held-out *owner* scores into the threshold whose owner false-alarm rate
("FAR" here: the share of the owner's own scores flagged) is at most ``target_far``.
"""

from __future__ import annotations

import numpy as np

from activesec.core.errors import ConfigError, DataError


def calibrate(genuine_scores: np.ndarray, target_far: float) -> float:
    """Smallest threshold ``thr`` with ``mean(genuine_scores > thr) <= target_far``.

    Scores ``> thr`` are flagged. Use scores the model did not train on (a held-out split):
    training rows score unrealistically low and would give a too-tight threshold."""
    s = np.asarray(genuine_scores, dtype=np.float64).reshape(-1)
    if not 0.0 <= target_far < 1.0:
        raise ConfigError(f"target false-alarm rate {target_far} is outside [0, 1)",
                          "use a rate such as 0.01")
    s = s[np.isfinite(s)]
    if len(s) == 0:
        raise DataError("no finite owner scores to calibrate on",
                        "collect more owner data before training")
    srt = np.sort(s)
    n = len(srt)
    # flag at most floor(target*n) scores: threshold = the (n - allowed)-th smallest score
    allowed = int(np.floor(target_far * n + 1e-9))
    return float(srt[n - allowed - 1]) if allowed < n else float(srt[0])


def far_at(genuine_scores: np.ndarray, threshold: float) -> float:
    """The owner false-alarm rate at ``threshold`` (share of scores above it)."""
    s = np.asarray(genuine_scores, dtype=np.float64)
    return float(np.mean(s > threshold)) if len(s) else 0.0
