"""Thresholds from held-out owner scores."""

from __future__ import annotations

import numpy as np
import pytest

from activesec.core.errors import ConfigError, DataError
from activesec.detectors.calibrate import calibrate, far_at


@pytest.mark.parametrize("target", [0.0, 0.01, 0.05, 0.1, 0.5])
def test_owner_false_alarm_rate_at_most_target(target: float) -> None:
    s = np.random.default_rng(1).normal(size=1000)
    thr = calibrate(s, target)
    assert far_at(s, thr) <= target
    # and it is the tightest such threshold: any lower score flags more than allowed
    below = s[s < thr].max()
    assert far_at(s, below) > target


def test_known_values() -> None:
    s = np.arange(1, 101, dtype=float)
    assert calibrate(s, 0.05) == 95.0
    assert calibrate(s, 0.0) == 100.0


def test_bad_input() -> None:
    with pytest.raises(DataError):
        calibrate(np.array([np.nan]), 0.01)
    with pytest.raises(DataError):
        calibrate(np.zeros(0), 0.01)
    with pytest.raises(ConfigError):
        calibrate(np.ones(5), 1.5)
