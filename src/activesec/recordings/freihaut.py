"""Freihaut & Göritz 2022 longitudinal keystrokes (``Long_Keyboard_Raw_Dataset.json.gz``).

The file is a Firebase export: ``{user id: {push id: entry}}``. Entries with ``grabbedData``
are sessions — a fixed passphrase typed on the participant's own computer, with
``typingData`` (``{"0": {eventType KeyDown|KeyUp, code, key, keyCode, time ms}, …}``), the
submit ``time`` and display info (``disInf.screenSize``). Other entries (sociodemographics,
``finishedStudy``) are not sessions.

One Recording per session, users in natural order, sessions chronological, session = push id.
KeyDown/KeyUp are paired into strokes by the physical ``code`` (as live capture pairs by raw
keycode); a repeated KeyDown of a held key (auto-repeat) is not a new stroke and is counted in
``meta['autorepeat']``; a release without its press, or a press never released, is dropped and
counted (``unmatched_up``, ``unreleased``). Times are rebased to the first event;
``meta['wall_time']`` is the session start (epoch seconds), for chronological protocols and
time since enrolment. Key identities are used only to classify keys, in memory.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.core.events import Kind, empty
from activesec.core.keys import key_class_from_js_keycode
from activesec.recordings.base import Recording, finish, natural_key, require_exists

FILE_NAME = "Long_Keyboard_Raw_Dataset.json.gz"
_EXPECT = f"Freihaut & Göritz's {FILE_NAME} ({{user: {{id: {{grabbedData: {{typingData}}}}}}}})"


def _load(path: Path) -> Any:
    if path.is_dir():
        cands = [path / FILE_NAME, path / FILE_NAME.removesuffix(".gz")]
        found = [c for c in cands if c.is_file()]
        if not found:
            raise DataError(f"{path} holds no {FILE_NAME}", f"expected {_EXPECT}")
        path = found[0]
    with open(path, "rb") as fh:
        gz = fh.read(2) == b"\x1f\x8b"
    try:
        with gzip.open(path, "rb") if gz else open(path, "rb") as fh:
            return json.load(fh)
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DataError(f"{path} is not readable JSON ({e})", f"expected {_EXPECT}") from e


def _class(ev: dict[str, Any]) -> int:
    key = ev.get("key")
    letter = key if isinstance(key, str) else ""
    try:
        code = int(ev.get("keyCode") or 0)
    except (TypeError, ValueError):
        code = 0
    return int(key_class_from_js_keycode(code, letter))


def _session(raw: Any) -> tuple[np.ndarray, dict[str, Any]]:
    items = raw.items() if isinstance(raw, dict) else enumerate(raw or [])
    rows = []
    bad = 0
    for k, ev in items:
        try:
            order = int(k)
            t = float(ev["time"])
            typ = ev["eventType"]
            if typ not in ("KeyDown", "KeyUp") or not np.isfinite(t):
                raise ValueError(typ)
        except (TypeError, KeyError, ValueError):
            bad += 1
            continue
        rows.append(
            (t, order, typ == "KeyDown", str(ev.get("code") or ev.get("keyCode")), _class(ev))
        )
    rows.sort(key=lambda r: (r[0], r[1]))  # by time, then recorded order
    open_: dict[str, int] = {}  # physical key -> index of its open stroke
    strokes: list[list[Any]] = []  # [press ms, release ms | None, class]
    autorepeat = unmatched = 0
    for t, _o, down, code, cls in rows:
        if down:
            if code in open_:
                autorepeat += 1
                continue
            open_[code] = len(strokes)
            strokes.append([t, None, cls])
        elif code in open_:
            strokes[open_.pop(code)][1] = t
        else:
            unmatched += 1
    done = [s for s in strokes if s[1] is not None]
    n = len(done)
    t0 = min((s[0] for s in done), default=0.0)
    ev_arr = empty(2 * n)
    if n:
        press = np.array([s[0] for s in done])
        release = np.array([s[1] for s in done])
        classes = np.array([s[2] for s in done], dtype=np.int16)
        ev_arr["t_ns"][:n] = np.rint((press - t0) * 1e6)
        ev_arr["t_ns"][n:] = np.rint((release - t0) * 1e6)
        ev_arr["kind"][:n] = Kind.KEY_DOWN
        ev_arr["kind"][n:] = Kind.KEY_UP
        ev_arr["x"][:n] = ev_arr["x"][n:] = np.arange(n)
        ev_arr["code"][:n] = ev_arr["code"][n:] = classes
    meta = {
        "keystrokes": n,
        "bad_events": bad,
        "autorepeat": autorepeat,
        "unmatched_up": unmatched,
        "unreleased": len(strokes) - n,
        "_t0_ms": t0 if n else (rows[0][0] if rows else None),
    }
    return ev_arr, meta


def iter_freihaut(path: str | Path) -> Iterator[Recording]:
    """Every session of every user with data; users natural-sorted, sessions by start time."""
    path = require_exists(Path(path), _EXPECT)
    data = _load(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: top level is not an object of users", f"expected {_EXPECT}")
    sessions_seen = 0
    for user in sorted(data, key=natural_key):
        entries = data[user]
        if not isinstance(entries, dict):
            continue
        os_name = next(
            (
                e.get("os")
                for e in entries.values()
                if isinstance(e, dict) and isinstance(e.get("os"), str)
            ),
            None,
        )
        recs = []
        for sid, entry in entries.items():
            grabbed = entry.get("grabbedData") if isinstance(entry, dict) else None
            if not isinstance(grabbed, dict):
                continue
            sessions_seen += 1
            ev, meta = _session(grabbed.get("typingData"))
            t0 = meta.pop("_t0_ms")
            submitted = grabbed.get("time")
            if t0 is None and isinstance(submitted, (int, float)):
                t0 = submitted
            meta["wall_time"] = None if t0 is None else t0 / 1000.0
            if isinstance(submitted, (int, float)):
                meta["submitted"] = submitted / 1000.0
            screen = (grabbed.get("disInf") or {}).get("screenSize") or {}
            if isinstance(screen.get("width"), int) and isinstance(screen.get("height"), int):
                meta["screen"] = (screen["width"], screen["height"])
            if os_name:
                meta["os"] = os_name
            recs.append((sid, ev, meta))
        recs.sort(key=lambda r: (r[2]["wall_time"] is None, r[2]["wall_time"] or 0, r[0]))
        for sid, ev, meta in recs:
            yield finish(user, sid, ev, "freihaut", meta)
    if sessions_seen == 0:
        raise DataError(f"{path} holds no sessions (no grabbedData entries)", f"expected {_EXPECT}")
