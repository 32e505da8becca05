"""CMU keystroke benchmark, ``DSL-StrongPasswordData.csv`` (Killourhy & Maxion, DSN 2009).

51 subjects typed ``.tie5Roanl`` 400 times (8 sessions x 50 reps): 20,400 rows of
``subject,sessionIndex,rep`` and 31 timing features (hold ``H.*``, keydown-keydown ``DD.*``,
keyup-keydown ``UD.*``, seconds). The data are already features, so this reader returns
arrays, not Recordings. The header must be exactly the benchmark's; a file with a different
row count or checksum loads with a warning in ``meta['warnings']`` (e.g. the 10-row sample
shipped for tests), so published comparisons stay honest.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.recordings.base import excerpt, require_exists

FILE_NAME = "DSL-StrongPasswordData.csv"
FULL_ROWS = 20_400
FULL_MD5 = "470235f96568f28f9ea0da62234ec857"
_KEYS = ["period", "t", "i", "e", "five", "Shift.r", "o", "a", "n", "l", "Return"]
FEATURES = [
    name for a, b in itertools.pairwise(_KEYS) for name in (f"H.{a}", f"DD.{a}.{b}", f"UD.{a}.{b}")
] + ["H.Return"]
HEADER = ["subject", "sessionIndex", "rep", *FEATURES]


@dataclass
class CmuData:
    """Rows of the benchmark; ``X[i]`` are row i's 31 features (seconds), named ``columns``."""

    subjects: np.ndarray  # str, e.g. 's002'
    session_index: np.ndarray  # int
    rep: np.ndarray  # int
    X: np.ndarray  # float64 (n, 31)
    columns: list[str]
    meta: dict[str, Any] = field(default_factory=dict)


def _resolve(path: Path) -> Path:
    path = require_exists(path, f"CMU's {FILE_NAME}")
    if path.is_dir():
        cands = [path / FILE_NAME, *sorted(path.glob("DSL-StrongPasswordData*.csv"))]
        found = [c for c in cands if c.is_file()]
        if not found:
            raise DataError(f"{path} holds no {FILE_NAME}", "download it from CMU's keystroke page")
        path = found[0]
    return path


def load_cmu(path: str | Path) -> CmuData:
    """Load the benchmark file (or a directory holding it); a wrong header is a DataError."""
    p = _resolve(Path(path))
    raw = p.read_bytes()
    text = raw.decode("utf-8-sig", errors="replace")
    rows: list[list[str]] = []
    unsplit = 0
    for line in text.splitlines():  # one reader per line: a line csv cannot split is skipped
        try:
            rows.extend(csv.reader([line]))
        except csv.Error:  # e.g. a field over csv.field_size_limit(): a malformed row
            unsplit += 1
    header = [c.strip() for c in rows[0]] if rows else []
    if header != HEADER:
        raise DataError(
            f"{p} is not DSL-StrongPasswordData.csv (header starts "
            f"{excerpt(','.join(header[:4]))}, {len(header)} columns)",
            f"expected {len(HEADER)} columns: subject,sessionIndex,rep,H.period,… ,H.Return",
        )
    subjects, sess, rep, feats = [], [], [], []
    skipped = unsplit
    for r in rows[1:]:
        if not r:
            continue
        try:
            if len(r) != len(HEADER):
                raise ValueError
            x = [float(v) for v in r[3:]]
            if not all(np.isfinite(x)):
                raise ValueError
            s, i, k = r[0].strip(), int(r[1]), int(r[2])
        except ValueError:
            skipped += 1
            continue
        subjects.append(s)
        sess.append(i)
        rep.append(k)
        feats.append(x)
    warnings = []
    md5 = hashlib.md5(raw).hexdigest()  # integrity check of a public file, not security
    if len(feats) != FULL_ROWS:
        warnings.append(
            f"{len(feats)} rows instead of the benchmark's {FULL_ROWS}: "
            "figures are not comparable with the published ones"
        )
    elif md5 != FULL_MD5:
        warnings.append("checksum differs from the published file (MD5 " + FULL_MD5 + ")")
    if skipped:
        warnings.append(f"{skipped} malformed rows skipped")
    return CmuData(
        subjects=np.array(subjects, dtype=str),
        session_index=np.array(sess, dtype=np.int64),
        rep=np.array(rep, dtype=np.int64),
        X=np.array(feats, dtype=np.float64).reshape(len(feats), len(FEATURES)),
        columns=list(FEATURES),
        meta={
            "path": str(p),
            "rows": len(feats),
            "skipped_rows": skipped,
            "md5": md5,
            "full": len(feats) == FULL_ROWS and md5 == FULL_MD5,
            "warnings": warnings,
        },
    )
