"""The Aalto reader on the first participants of the real concatenated file."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import dataset

from activesec.core.events import Kind
from activesec.core.keys import KeyClass
from activesec.recordings import detect_layout, iter_aalto
from activesec.recordings.aalto import HEADER

pytestmark = pytest.mark.datasets


def first_rows(path: Path, n_users: int) -> list[list[str]]:
    rows: list[list[str]] = []
    users: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8", newline="\n") as fh:
        next(fh)
        for line in fh:
            f = line.rstrip("\n").split("\t")
            if f[0] not in users:
                if len(users) == n_users:
                    break
                users.append(f[0])
            rows.append(f)
    return rows


def test_first_three_participants() -> None:
    path = dataset("aalto136m", "keystrokes.tsv.gz")
    recs = list(iter_aalto(path, max_users=3))
    rows = first_rows(path, 3)
    users = list(dict.fromkeys(f[0] for f in rows))
    assert list(dict.fromkeys(r.user for r in recs)) == users
    sections = list(dict.fromkeys((f[0], f[1]) for f in rows))
    assert [(r.user, r.session) for r in recs] == sections
    assert len(recs) == 45  # 15 sentences each
    good = sum(1 for f in rows if f[6] and int(f[6]) >= int(f[5]))
    assert sum(r.meta["keystrokes"] for r in recs) == good
    for r in recs:
        ev = r.events
        assert r.source == "aalto" and not r.meta["empty"]
        assert np.all(np.diff(ev["t_ns"]) >= 0) and ev["t_ns"][0] == 0
        downs, ups = ev[ev["kind"] == Kind.KEY_DOWN], ev[ev["kind"] == Kind.KEY_UP]
        assert sorted(downs["x"].tolist()) == sorted(ups["x"].tolist())
        assert r.meta["wall_time"] > 1.4e9  # 2016 epoch seconds
        assert int(KeyClass.LETTER) in downs["code"].tolist()
    assert detect_layout(path) == "aalto" and detect_layout(path.parent) == "aalto"


def test_no_typed_text_in_recordings() -> None:
    path = dataset("aalto136m", "keystrokes.tsv.gz")
    rows = first_rows(path, 3)
    words = {w.strip(".,!?").lower() for f in rows for w in f[2].split() + f[3].split()}
    words = {w for w in words if len(w) >= 4}
    assert words
    for r in iter_aalto(path, max_users=3):
        values = " ".join(str(v) for v in r.meta.values())
        blob = f"{r.user} {r.session} {values}".lower() + r.events.tobytes().decode("latin-1")
        leaked = [w for w in words if w in blob]
        assert not leaked, leaked
        assert set(r.meta).isdisjoint({h.lower() for h in HEADER[2:4]} | {"letter", "text"})
