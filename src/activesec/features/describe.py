"""Plain words for feature names, for the owner reading why trust fell.

``status`` and the dashboard name the features of the last scored action or keystroke window
that lay furthest from the owner's profile (:mod:`activesec.engine.scoring`). Their names
(``vx_mean``, ``pp_LS``, ``turn_net``) are the code's; :func:`in_words` gives each the words a
person uses ("horizontal speed", "time from a letter to a space", "net turning of the path").
A name it does not know — a plug-in detector's own feature — is returned as it is.
"""

from __future__ import annotations

import re

__all__ = ["in_words"]

_POINTER = {
    "is_mouse_move": "a plain movement, no click, drag or scroll",
    "is_point_click": "a movement ending in a click",
    "is_drag_drop": "a drag",
    "is_scroll": "a scroll",
    "duration_s": "how long the action took",
    "log_duration": "how long the action took",
    "n_points": "how many pointer samples the action had",
    "traveled_px": "distance travelled",
    "log_traveled": "distance travelled",
    "e2e_px": "distance from start to end",
    "straightness": "how straight the path was",
    "dir_cos": "left-right direction of the movement",
    "dir_sin": "up-down direction of the movement",
    "dir_sector": "direction of the movement",
    "v_mean": "average speed",
    "v_std": "how much the speed varied",
    "v_median": "typical speed",
    "v_p90": "top speed, 90th percentile",
    "v_max": "highest speed",
    "vx_mean": "horizontal speed",
    "vx_std": "how much the horizontal speed varied",
    "vy_mean": "vertical speed",
    "vy_std": "how much the vertical speed varied",
    "a_mean": "average acceleration",
    "a_std": "how much the acceleration varied",
    "a_min": "hardest braking",
    "a_max": "hardest acceleration",
    "j_mean": "how abruptly the acceleration changed",
    "j_std": "how unevenly the acceleration changed",
    "j_min": "most abrupt drop in acceleration",
    "j_max": "most abrupt rise in acceleration",
    "omega_mean_abs": "average turning speed",
    "omega_std": "how much the turning speed varied",
    "omega_max_abs": "fastest turn",
    "curv_mean_abs": "average curvature of the path",
    "curv_std": "how much the curvature varied",
    "curv_max_abs": "sharpest curve",
    "turn_total": "total turning along the path",
    "turn_net": "net turning of the path",
    "n_critical": "number of sharp turns",
    "critical_rate": "sharp turns per second",
    "dev_max_px": "largest deviation from the straight line",
    "dev_rel": "largest deviation from the straight line, relative to the distance",
    "dev_mean_rel": "average deviation from the straight line, relative to the distance",
    "v_cv": "how uneven the speed was",
    "v_mean_over_max": "average speed relative to the top speed",
    "t_vmax_frac": "when in the movement the top speed came",
    "t_half_dist_frac": "when half the distance was covered",
    "accel_time_frac": "share of the time spent speeding up",
    "n_vpeaks": "number of bursts of speed",
    "still_frac": "share of the time the pointer stood still",
    "dt_median_s": "pointer sampling interval",
    "first_v_over_mean": "starting speed",
    "last_v_over_mean": "final speed",
    "pause_before_press_s": "pause before clicking",
    "click_dwell_s": "how long the button was held",
    "press_release_px": "movement while the button was held",
    "button_right": "a right-button click",
    "scroll_steps": "scroll steps",
    "scroll_rate": "scroll speed",
    "scroll_dir": "scroll direction",
}

_KEYS = {
    "rate_keys_s": "typing speed",
    "pause_rate": "how often typing paused",
    "pause_mean_s": "length of typing pauses",
    "rollover_rate": "how often a key was pressed before the previous one was released",
    "dwell_over_pp": "how long keys are held relative to the time between them",
    "pp_lag1_corr": "how alike successive times between keys were",
    "dwell_lag1_corr": "how alike successive hold times were",
    "dwell_rp_corr": "how hold times went with the gaps after them",
    "dwell_pp_corr": "how hold times went with the times between keys",
    "dwell_trend_corr": "hold times getting longer or shorter while typing",
    "pp_rel_iqr": "spread of the times between keys",
    "dwell_rel_iqr": "spread of the hold times",
    "pp_log_skew": "lopsidedness of the times between keys",
    "dwell_log_skew": "lopsidedness of the hold times",
    "rr_LL": "time from releasing one letter to releasing the next",
    "backspace_run": "corrections in a row",
    "pp_half_log_ratio": "speeding up or slowing down while typing",
    "dwell_letter_before_space": "how long the letter before a space is held",
}

_TIMING = {
    "dwell": "how long keys are held",
    "pp": "time from one key press to the next",
    "rp": "gap from releasing a key to pressing the next",
    "rr": "time from one key release to the next",
    "pr": "time from pressing a key to releasing the next",
    "pp2": "time from a key press to the press two keys later",
}
_CLASS = {"L": "letter", "S": "space", "M": "modifier", "B": "backspace", "O": "other key"}
_CLASS_WORD = {"letter": "letter", "space": "space", "modifier": "modifier",
               "backspace": "backspace", "punctuation": "punctuation", "digit": "digit",
               "enter": "Enter", "navigation": "navigation"}
_STAT = {"mean": "average", "std": "variation", "p10": "10th percentile",
         "p25": "25th percentile", "p50": "median", "p75": "75th percentile",
         "p90": "90th percentile"}
_DIGRAPH = re.compile(r"(pp|rp)_([LSMBO])([LSMBO])(?:_(mean|p10|p90))?")
_STATISTIC = re.compile(r"(dwell|pp2|pp|rp|rr|pr)_(mean|std|p10|p25|p50|p75|p90)")


def in_words(name: str) -> str:
    """Plain words for the feature ``name`` (the name itself when it is not one of ours)."""
    if name in _POINTER:
        return _POINTER[name]
    if name in _KEYS:
        return _KEYS[name]
    m = _STATISTIC.fullmatch(name)
    if m:
        return f"{_TIMING[m.group(1)]}, {_STAT[m.group(2)]}"
    m = _DIGRAPH.fullmatch(name)
    if m:
        kind, a, b, stat = m.groups()
        what = (f"time from pressing a {_CLASS[a]} to pressing a {_CLASS[b]}" if kind == "pp" else
                f"gap from releasing a {_CLASS[a]} to pressing a {_CLASS[b]}")
        return f"{what}, {_STAT[stat]}" if stat else what
    for prefix, words in (("share_", "share of {} keys"), ("dwell_", "how long {} keys are held")):
        if name.startswith(prefix):
            rest = name[len(prefix):]
            stat = ""
            for s in ("_mean", "_p10", "_p90"):
                if rest.endswith(s):
                    rest, stat = rest[: -len(s)], f", {_STAT[s[1:]]}"
            if rest in _CLASS_WORD:
                return words.format(_CLASS_WORD[rest]) + stat
    return name
