"""Balabit Mouse Dynamics Challenge, original layout.

``ROOT/training_files/userN/session_*`` and ``ROOT/test_files/userN/session_*`` are CSVs with
``record timestamp,client timestamp,button,state,x,y``; ``ROOT/public_labels.csv``
(``filename,is_illegal``) labels test sessions. We use the client timestamp (the RDP client's
clock, closest to the input device) and reject sentinel coordinates (65535 marks "unknown";
negative or beyond any RDP desktop is impossible): those rows are dropped and counted in
``meta['bad_coordinates']``. Duplicate timestamps and out-of-order rows are kept, sorted stably.

Test sessions carry ``meta['is_illegal']``; test sessions absent from the labels file are
skipped (the challenge's unlabelled sessions have no ground truth to evaluate against).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from activesec.core.errors import DataError
from activesec.recordings import _mouse
from activesec.recordings._table import read_csv_table
from activesec.recordings.base import (
    Recording,
    excerpt,
    finish,
    natural_key,
    require_exists,
    select_users,
)

COLUMNS = ("record timestamp", "client timestamp", "button", "state", "x", "y")
READ = ("client timestamp", "button", "state", "x", "y")
NUMERIC = ("client timestamp", "x", "y")
#: RDP desktops are at most 8192 px wide; anything outside [0, 16384) is a sentinel.
COORD_RANGE = (0, 16383)
_SPLITS = {"training": "training_files", "test": "test_files"}

Split = Literal["training", "test"]


def read_labels(root: Path) -> dict[str, bool]:
    """``public_labels.csv`` as ``{session file name: is_illegal}``."""
    path = require_exists(
        root / "public_labels.csv", "Balabit's public_labels.csv (filename,is_illegal)"
    )
    try:
        return _parse_labels(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                        f"offset {exc.start})",
                        "restore the challenge's public_labels.csv (plain ASCII)") from None


def _parse_labels(path: Path) -> dict[str, bool]:
    labels: dict[str, bool] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        rows = csv.reader(fh)
        try:
            header = [c.strip().lower() for c in next(rows, [])]
            if header[:2] != ["filename", "is_illegal"]:
                raise DataError(
                    f"{path}: header {excerpt(','.join(header))} is not Balabit's labels file",
                    "expected header filename,is_illegal",
                )
            for i, row in enumerate(rows, start=2):
                if not row:
                    continue
                if len(row) != 2 or row[1].strip() not in ("0", "1"):
                    raise DataError(
                        f"{path}:{i}: malformed label row {excerpt(','.join(row))}",
                        "expected <session file name>,<0|1>",
                    )
                labels[row[0].strip()] = row[1].strip() == "1"
        except csv.Error as exc:  # e.g. a field over csv.field_size_limit()
            raise DataError(
                f"{path}:{rows.line_num}: the row cannot be read as CSV ({exc})",
                "restore the challenge's public_labels.csv",
            ) from None
    return labels


def read_session(path: Path) -> tuple[Any, dict[str, Any]]:
    """Events and quality counts of one Balabit session file."""
    tab = read_csv_table(
        require_exists(path, "a Balabit session file"), READ, NUMERIC, also_required=COLUMNS
    )
    ev, counts = _mouse.decode(
        tab.numeric["client timestamp"],
        tab.text["button"],
        tab.text["state"],
        tab.numeric["x"],
        tab.numeric["y"],
        COORD_RANGE,
    )
    meta: dict[str, Any] = {
        "path": str(path),
        "rows": tab.n_rows + tab.bad_shape,
        "bad_shape": tab.bad_shape,
        **counts,
    }
    meta["skipped_rows"] = tab.bad_shape + sum(counts.values())
    return ev, meta


def iter_balabit(
    root: str | Path, split: Split, users: Iterable[str | int] | None = None
) -> Iterator[Recording]:
    """Sessions of one split, users then sessions in natural order.

    ``users`` accepts ``'user7'`` or ``7``. Each Recording has ``meta['split']``; test
    sessions ``meta['is_illegal']``.
    """
    if split not in _SPLITS:
        raise DataError(f"unknown Balabit split {split!r}", "use 'training' or 'test'")
    root = require_exists(Path(root), "the Balabit dataset folder (training_files/, test_files/)")
    split_dir = root / _SPLITS[split]
    if not split_dir.is_dir():
        raise DataError(
            f"{root} does not look like the Balabit dataset: no {_SPLITS[split]}/",
            "expected training_files/userN/session_*, test_files/userN/session_* "
            "and public_labels.csv",
        )
    labels = read_labels(root) if split == "test" else {}
    user_dirs = {p.name: p for p in split_dir.iterdir() if p.is_dir()}
    wanted = None if users is None else [f"user{u}" if str(u).isdigit() else str(u) for u in users]
    for user in select_users(list(user_dirs), wanted, split_dir):
        files = [p for p in user_dirs[user].iterdir() if p.is_file()]
        for f in sorted(files, key=lambda p: natural_key(p.name)):
            if split == "test" and f.name not in labels:
                continue
            ev, meta = read_session(f)
            meta["split"] = split
            if split == "test":
                meta["is_illegal"] = labels[f.name]
            yield finish(user, f.name, ev, "balabit", meta)
