"""Plain words for feature names (what `status` and the dashboard show the owner)."""

from __future__ import annotations

from activesec.features.describe import in_words
from activesec.features.keys import KEY_FEATURE_NAMES
from activesec.features.pointer import POINTER_FEATURE_NAMES


def test_every_feature_of_ours_has_words() -> None:
    """An owner read "vx_mean +3.2, pp_LS -2.1" and could not tell what differed."""
    for name in (*POINTER_FEATURE_NAMES, *KEY_FEATURE_NAMES):
        words = in_words(name)
        assert words != name and "_" not in words and "(" not in words, name


def test_the_words_say_what_is_measured() -> None:
    assert in_words("vx_mean") == "horizontal speed"
    assert in_words("pp_LS") == "time from pressing a letter to pressing a space"
    assert in_words("rp_SL") == "gap from releasing a space to pressing a letter"
    assert in_words("dwell_p90") == "how long keys are held, 90th percentile"
    assert in_words("dwell_letter_mean") == "how long letter keys are held, average"
    assert in_words("share_backspace") == "share of backspace keys"


def test_a_plug_ins_own_feature_keeps_its_name() -> None:
    assert in_words("my_feature") == "my_feature"
