"""The agent's trust history: per minute in which it scored input, the lowest, highest and last
trust level, kept for a week — so the dashboard and ``status`` can show what happened while
nobody was watching (the parent back from work, the owner back from lunch), not only what a
page saw while it was open.

A private (0600) JSON-lines file, ``<data dir>/trust-history.jsonl``, one object per minute::

    {"t": 1764950400, "lo": 41.2, "hi": 97.0, "last": 88.1, "n": 12}

``t`` is the minute's start (wall-clock seconds), ``n`` the trust updates in it. Minutes without
a scored action or keystroke window leave no line (idle, locked, paused, enrolling): a gap in
the chart is a gap in the evidence. Trust levels only — no scores, features or key classes;
*when* the owner was at the machine is already in the event store, and ``wipe`` deletes this
file with the events.

Cost: the agent calls :meth:`TrustHistory.observe` for each trust update (a few comparisons)
and :meth:`TrustHistory.tick` once a second; a line is appended when a minute is over, at most
one short write a minute, never on the path from input to trust. Lines older than
``keep_days`` are pruned hourly (the file stays under ~1 MB: 10,080 minutes of ~60 bytes).

Why a file of its own and not the event store: as for the decision log (:mod:`.decisions`) —
the store's schema and retention belong to capture. A crash mid-line leaves a partial line: the
reader skips lines it cannot parse and the writer starts a fresh line after one.

Wall-clock steps: minutes are keyed by the wall clock, as the person reading the chart is. A
clock set back puts lines out of order and can write a minute twice; the reader sorts them and
merges a minute's lines into one. A clock that ran ahead leaves minutes dated in the future:
the reader leaves out those after ``until_s`` (``status`` and the dashboard: now), and pruning
drops those more than a day past the minute being written — else they would sit in "the last
24 hours" until real time caught up with them.
"""

from __future__ import annotations

import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activesec.core.errors import ActiveSecError, DataError
from activesec.core.paths import Paths, make_private_file, write_private_text

log = logging.getLogger(__name__)

FILE_NAME = "trust-history.jsonl"
BUCKET_S = 60
KEEP_DAYS = 7.0
PRUNE_EVERY = 60  # lines written between prunes: hourly at one line a minute
MAX_T = 2**33  # year 2242: a larger minute is a damaged line, not a date
FUTURE_S = 86_400  # a minute this far past the one being written was dated by a clock ahead


def history_path(paths: Paths) -> Path:
    return paths.data_dir / FILE_NAME


@dataclass
class Minute:
    """One line of the file."""

    t: int  # the minute's start, wall-clock seconds
    lo: float
    hi: float
    last: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "lo": round(self.lo, 2), "hi": round(self.hi, 2),
                "last": round(self.last, 2), "n": self.n}


class TrustHistory:
    """Aggregates trust updates into minutes and appends each finished one (module docstring).
    Used by the agent's loop thread only."""

    def __init__(self, path: str | os.PathLike[str], bucket_s: int = BUCKET_S,
                 keep_days: float = KEEP_DAYS) -> None:
        self.path = Path(path)
        self.bucket_s = bucket_s
        self.keep_s = keep_days * 86_400
        self._cur: Minute | None = None
        self._until_prune = 0  # prune before the first write, then every PRUNE_EVERY lines

    def observe(self, wall_s: float, trust: float) -> None:
        """One trust update at ``wall_s``."""
        if not math.isfinite(trust):
            return
        start = int(wall_s // self.bucket_s) * self.bucket_s
        cur = self._cur
        if cur is not None and cur.t != start:
            self._write(cur)
            cur = None
        if cur is None:
            self._cur = Minute(start, trust, trust, trust, 1)
            return
        cur.lo, cur.hi, cur.last, cur.n = min(cur.lo, trust), max(cur.hi, trust), trust, cur.n + 1

    def open_minute(self) -> dict[str, Any] | None:
        """The minute being aggregated (not yet in the file), as a line would hold it: the
        status file carries it, so the last 24 h shown include the trust of this minute."""
        return None if self._cur is None else self._cur.as_dict()

    def tick(self, wall_s: float) -> None:
        """Write the open minute once it is over (or the clock went back before it)."""
        cur = self._cur
        if cur is not None and not cur.t <= wall_s < cur.t + self.bucket_s:
            self._write(cur)

    def close(self) -> None:
        """Write the open minute (the agent stops)."""
        if self._cur is not None:
            self._write(self._cur)

    def clear(self) -> None:
        """Forget everything (a wipe)."""
        self._cur = None
        clear(self.path)

    def _write(self, minute: Minute) -> None:
        self._cur = None
        line = json.dumps(minute.as_dict(), sort_keys=True, separators=(",", ":")) + "\n"
        try:
            if self._until_prune <= 0:
                self._until_prune = PRUNE_EVERY
                self._prune(minute.t)
            self._until_prune -= 1
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self.path.exists():
                make_private_file(self.path)
            with open(self.path, "a+b") as fh:
                if fh.tell() and (fh.seek(-1, os.SEEK_END), fh.read(1))[1] != b"\n":
                    line = "\n" + line  # after a partial line left by a crash
                fh.write(line.encode())
        except (OSError, ActiveSecError) as exc:  # a full disk must not stop the agent
            log.warning("cannot write the trust history %s: %s", self.path, exc)

    def _prune(self, now_s: float) -> None:
        rows = read(self.path)
        keep = [r for r in rows if now_s - self.keep_s <= r["t"] <= now_s + FUTURE_S]
        if len(keep) < len(rows):
            write_private_text(self.path, "".join(
                json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n" for r in keep))


def read(path: str | os.PathLike[str], since_s: float | None = None,
         until_s: float | None = None) -> list[dict[str, Any]]:
    """The minutes from ``since_s`` to ``until_s`` (either unbounded when None), oldest first,
    one per minute (lines of the same minute, written twice after the clock was set back, are
    merged: lowest, highest, the last line's last, updates summed); lines that do not parse as
    a minute are skipped (a partial last line after a crash). A missing file is an empty
    history."""
    try:
        text = Path(path).read_text("utf-8", errors="replace")
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise DataError(f"cannot read the trust history {path}: {exc.strerror or exc}",
                        "check its permissions, or delete it (only the chart's past is lost)"
                        ) from exc
    minutes: dict[int, Minute] = {}
    for ln in text.splitlines():
        try:
            r = json.loads(ln)
            m = Minute(int(r["t"]), float(r["lo"]), float(r["hi"]), float(r["last"]),
                       int(r["n"]))
        except (ValueError, KeyError, TypeError, RecursionError):
            continue
        if not (0 <= m.t < MAX_T and all(map(math.isfinite, (m.lo, m.hi, m.last)))):
            continue
        if (since_s is not None and m.t < since_s) or (until_s is not None and m.t > until_s):
            continue
        seen = minutes.get(m.t)
        if seen is not None:
            m = Minute(m.t, min(seen.lo, m.lo), max(seen.hi, m.hi), m.last, seen.n + m.n)
        minutes[m.t] = m
    return [minutes[t].as_dict() for t in sorted(minutes)]


def with_open_minute(rows: list[dict[str, Any]],
                     open_minute: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``rows`` (from :func:`read`) and the agent's open minute, merged into its minute's row
    when the file already holds one (the clock was set back), oldest first."""
    if not open_minute:
        return rows
    try:
        m = Minute(int(open_minute["t"]), float(open_minute["lo"]), float(open_minute["hi"]),
                   float(open_minute["last"]), int(open_minute["n"]))
    except (KeyError, TypeError, ValueError):  # a status file from another version
        return rows
    out = [r for r in rows if r["t"] != m.t]
    for r in rows:
        if r["t"] == m.t:
            m = Minute(m.t, min(m.lo, r["lo"]), max(m.hi, r["hi"]), m.last, m.n + r["n"])
    out.append(m.as_dict())
    return sorted(out, key=lambda r: r["t"])


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The lowest trust among ``rows`` and when (its minute's start, wall seconds), how many
    minutes and updates they hold, and their span (None / 0 for no rows)."""
    low = min(rows, key=lambda r: r["lo"]) if rows else None
    return {"minutes": len(rows), "updates": sum(r["n"] for r in rows),
            "lowest": low["lo"] if low else None, "lowest_at_s": low["t"] if low else None,
            "first_s": rows[0]["t"] if rows else None, "last_s": rows[-1]["t"] if rows else None}


def clear(path: str | os.PathLike[str]) -> None:
    """Delete the history file (missing is fine)."""
    Path(path).unlink(missing_ok=True)
