"""The agent's decision log: every decision with its evidence and what each action did.

A private (0600) JSON-lines file, ``<data dir>/decisions.jsonl``, one object per decision:
the :class:`~activesec.actions.base.Decision` fields (level, state, trust, wall time, reason,
evidence: recent scores, trust trajectory, thresholds, the features that deviated most) plus
``actions`` — ``[{"name", "op", "ok", "detail"}]`` — and ``dry_run``. A failed lock is therefore
on disk next to the scores that caused it, and ``status`` can say why trust fell.

Why a separate file and not a table in the event store: the store's schema belongs to the
capture layer and its retention deletes events by age; decisions are few (a handful a day)
and are read by people and SIEM shippers, for which JSON lines are the usual format. ``wipe``
deletes it with the events it was derived from (:meth:`DecisionLog.clear`; a running agent does
the same when it sees the wipe). Evidence never carries key identities,
text or window titles: :class:`Decision` refuses them at construction.

The file is rotated at ``max_bytes`` (one backup, ``decisions.jsonl.1``).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from activesec.actions.base import Decision
from activesec.core.paths import Paths, make_private_file

FILE_NAME = "decisions.jsonl"


@dataclass(frozen=True)
class ActionOutcome:
    """What one action did with one decision."""

    name: str
    op: str  # fire | revert
    ok: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "op": self.op, "ok": self.ok, "detail": self.detail}


def decisions_path(paths: Paths) -> Path:
    return paths.data_dir / FILE_NAME


def record(decision: Decision, outcomes: Sequence[ActionOutcome] = (), *,
           dry_run: bool = False, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The JSON object stored for one decision (``extra``: agent counters such as
    ``scores_so_far``, the number of scored actions/windows since the agent started)."""
    return {**decision.to_dict(), "actions": [o.as_dict() for o in outcomes],
            "dry_run": dry_run, **dict(extra or {})}


class DecisionLog:
    """Append-only JSON-lines log of decisions (module docstring). Thread-safe."""

    def __init__(self, path: str | os.PathLike[str], max_bytes: int = 5_000_000) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def append(self, decision: Decision, outcomes: Sequence[ActionOutcome] = (), *,
               dry_run: bool = False, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        rec = record(decision, outcomes, dry_run=dry_run, extra=extra)
        line = json.dumps(rec, sort_keys=True, separators=(",", ":"), allow_nan=False,
                          default=_default) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self.path.exists() and self.path.stat().st_size + len(line) > self.max_bytes:
                os.replace(self.path, self.path.with_name(self.path.name + ".1"))
            if not self.path.exists():
                make_private_file(self.path)
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(line)
        return rec

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Stored decisions, oldest first (the rotated backup, then the current file)."""
        for p in (self.path.with_name(self.path.name + ".1"), self.path):
            if not p.exists():
                continue
            with open(p, encoding="utf-8") as fh:
                for line in fh:
                    line = line.strip()
                    if line:
                        try:
                            yield json.loads(line)
                        # a torn last line after a crash (or a line nested too deep to read)
                        except (json.JSONDecodeError, RecursionError):
                            continue

    def last(self, n: int = 10) -> list[dict[str, Any]]:
        return list(self)[-n:]

    def clear(self) -> None:
        with self._lock:
            for p in (self.path, self.path.with_name(self.path.name + ".1")):
                p.unlink(missing_ok=True)


def _default(obj: Any) -> Any:
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
