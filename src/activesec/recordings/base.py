"""The unit every reader yields: one recorded session of one user, as an event array.

A :class:`Recording` is what the live agent would have captured for that session: events of
:data:`activesec.core.events.EVENT_DTYPE`, stably sorted by ``t_ns`` on the recording's own
timeline, plus ``meta`` with provenance and data-quality counts (never typed text or key
identities). Empty sessions are yielded, not skipped, with ``meta['empty'] = True`` so callers
report the skip with its reason instead of silently losing a session.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.core.events import EVENT_DTYPE

_DIGITS = re.compile(r"(\d+)")


@dataclass
class Recording:
    """One session: ``user`` and ``session`` are names (strings), ``source`` the layout."""

    user: str
    session: str
    events: np.ndarray
    source: str
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:  # the default would print the whole array
        return (
            f"Recording(user={self.user!r}, session={self.session!r}, "
            f"events={len(self.events)}, source={self.source!r})"
        )


def natural_key(s: str) -> tuple[Any, ...]:
    """Sort key that orders ``user2`` before ``user10`` and ``s9.csv`` before ``s10.csv``.

    Parts alternate text/number; each part is tagged so text never compares with an int.
    """
    parts = _DIGITS.split(str(s))
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in parts if p)


def sort_events(events: np.ndarray) -> np.ndarray:
    """Stable sort by ``t_ns`` (ties keep their original order); a no-op when already sorted."""
    t = events["t_ns"]
    if len(t) < 2 or bool(np.all(t[1:] >= t[:-1])):
        return events
    return events[np.argsort(t, kind="stable")]


def finish(
    user: str, session: str, events: np.ndarray, source: str, meta: dict[str, Any]
) -> Recording:
    """Build a Recording with sorted events and the ``empty`` / ``n_events`` bookkeeping."""
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"events must be EVENT_DTYPE, got {events.dtype}")
    events = sort_events(events)
    meta["n_events"] = len(events)
    meta["empty"] = len(events) == 0
    return Recording(user=user, session=session, events=events, source=source, meta=meta)


#: the readers' counts of skipped rows (``Recording.meta``) and what each means
BAD_ROWS = {
    "bad_shape": "a wrong number of fields",
    "bad_vocabulary": "a button/state outside the vocabulary",
    "bad_time": "a time that is not a number of seconds",
    "bad_coordinates": "x/y not numbers in range",
    "release_before_press": "a release before its press",
    "bad_injected": "an `injected` value other than 0, 1 or 2",
}


def why_unreadable(meta: dict[str, Any]) -> str:
    """``"12 with a time that is not a number of seconds, 1 with ..."`` from a reader's meta."""
    return ", ".join(f"{meta[k]:,} with {label}" for k, label in BAD_ROWS.items() if meta.get(k))


def by_session(recs: Iterable[Recording]) -> list[Recording]:
    """The recordings of one ``(user, session)`` — an export's mouse and keys files — merged
    into one, in first-seen order: events in time order, numeric ``meta`` (row counts) added.
    What the agent saw as one session stays one; a session in one file is returned as read."""
    groups: dict[tuple[str, str], list[Recording]] = {}
    for r in recs:
        groups.setdefault((r.user, r.session), []).append(r)
    out = []
    for (user, session), parts in groups.items():
        if len(parts) == 1:
            out.append(parts[0])
            continue
        ev = np.concatenate([r.events for r in parts])
        meta: dict[str, Any] = {}
        for r in parts:
            for k, v in r.meta.items():
                if isinstance(v, int | float) and not isinstance(v, bool):
                    meta[k] = meta.get(k, 0) + v
        meta["empty"] = all(r.meta.get("empty") for r in parts)
        meta["path"] = "; ".join(str(r.meta.get("path", "")) for r in parts)
        out.append(Recording(user, session, ev[np.argsort(ev["t_ns"], kind="stable")],
                             "export", meta))
    return out


def unreadable_rows(meta: dict[str, Any]) -> str:
    """``"12 of 300 rows unreadable: 12 with ..."``, or ``""`` when every row was read."""
    bad = int(meta.get("skipped_rows", 0))
    if not bad:
        return ""
    return f"{bad:,} of {int(meta.get('rows', 0)):,} rows unreadable: {why_unreadable(meta)}"


#: how much of a file's text an error message shows
EXCERPT_CHARS = 60


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` quoted for a one-line message: control and unprintable characters escaped as
    ``repr`` does, cut to ``limit`` characters (a binary file's "header" is hundreds of them)."""
    shown = repr(text)[1:-1]
    return f"'{shown[:limit]}…'" if len(shown) > limit else f"'{shown}'"


def looks_binary(text: str) -> bool:
    """Whether a line read with ``errors="replace"`` came from binary data, not text: a NUL, an
    undecodable byte or another control character than tab/CR/LF."""
    return any(c in "\0\ufffd" or (ord(c) < 32 and c not in "\t\r\n") for c in text)


def require_exists(path: Path, what: str) -> Path:
    """``path`` or a DataError naming it and what was expected there."""
    if not path.exists():
        raise DataError(f"{path} does not exist", f"expected {what}")
    return path


def select_users(
    available: Sequence[str], users: Iterable[str | int] | None, where: Path
) -> list[str]:
    """Natural-sorted users to read; unknown requested users are a DataError, not a silent gap."""
    ordered = sorted(available, key=natural_key)
    if users is None:
        return ordered
    wanted = [str(u) for u in users]
    missing = [u for u in wanted if u not in set(ordered)]
    if missing:
        shown = ", ".join(missing[:5]) + (" …" if len(missing) > 5 else "")
        raise DataError(
            f"user(s) {shown} not found in {where}",
            f"available: {', '.join(ordered[:8])}{' …' if len(ordered) > 8 else ''}",
        )
    keep = set(wanted)
    return [u for u in ordered if u in keep]
