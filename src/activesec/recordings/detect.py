"""Which supported layout a path holds, from names and headers only (cheap, never a full read)."""

from __future__ import annotations

import gzip
from pathlib import Path

from activesec.core.errors import DataError
from activesec.recordings import aalto, cmu, freihaut
from activesec.recordings._table import split_header
from activesec.recordings.generic import (
    KEYS_COLUMNS,
    MOUSE_COLUMNS,
    SUFFIXES,
    is_session_file,
)

LAYOUTS = ("balabit", "aalto", "freihaut", "cmu", "mouse-csv", "keys-csv", "mixed-export")
EXPECTED = (
    "expected one of: Balabit (training_files/, test_files/, public_labels.csv), Aalto 136M "
    "(*_keystrokes.txt or keystrokes.tsv[.gz]), Freihaut (Long_Keyboard_Raw_Dataset.json.gz), "
    "CMU (DSL-StrongPasswordData.csv), mouse/keys layout (ROOT/<user>/<session>.csv with "
    "header timestamp,button,state,x,y or key,press,release), or an export (mouse/, keys/)"
)


def _head(path: Path, n: int = 65536) -> bytes:
    with open(path, "rb") as fh:
        raw = fh.read(n)
    if raw[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as gz:
                return gz.read(n)
        except (OSError, EOFError):
            return b""
    return raw


def _columns(path: Path) -> list[str]:
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq

            return [n.strip().lower() for n in pq.read_schema(path).names]
        except Exception:  # not readable or no pyarrow: not recognisable
            return []
    first = _head(path, 4096).decode("utf-8-sig", errors="replace").splitlines()[:1]
    return split_header(first[0])[0] if first else []  # commas, semicolons or tabs


def _file_layout(path: Path) -> str | None:
    head = _head(path)
    stripped = head.lstrip()
    if stripped[:1] in (b"{", b"["):
        return "freihaut" if b"grabbedData" in head or b"typingData" in head else None
    first = head.decode("utf-8-sig", errors="replace").split("\n", 1)[0].rstrip("\r")
    if tuple(c.strip().upper() for c in first.split("\t")) == aalto.HEADER:
        return "aalto"
    cols = _columns(path)
    if [c.lower() for c in cmu.HEADER[:3]] == cols[:3]:
        return "cmu"
    if set(MOUSE_COLUMNS) <= set(cols):
        return "mouse-csv"
    if set(KEYS_COLUMNS) <= set(cols):
        return "keys-csv"
    return None


def _user_tree_layout(root: Path) -> str | None:
    """mouse-csv / keys-csv for ROOT/<user>/<session>.{csv,parquet}, from the first file."""
    try:
        for user in sorted(p for p in root.iterdir() if p.is_dir()):
            for f in sorted(user.iterdir()):
                if is_session_file(f):
                    kind = _file_layout(f)
                    if kind in ("mouse-csv", "keys-csv"):
                        return kind
    except OSError:  # unreadable folder: not recognisable
        return None
    return None


def detect_layout(path: str | Path) -> str:
    """One of :data:`LAYOUTS` for ``path``, or a DataError naming what was expected."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p} does not exist", EXPECTED)
    found: str | None = None
    if p.is_file():
        found = _file_layout(p)
        if found in ("mouse-csv", "keys-csv") and _compressed_sessions(p):
            found = None  # its content is a layout's, but the readers take it uncompressed
        if found is None and _columns(p)[:2] == ["record timestamp", "client timestamp"]:
            raise DataError(
                f"{p} is a single Balabit session file",
                "pass the dataset folder holding training_files/ and test_files/",
            )
    elif (p / "training_files").is_dir() or (p / "test_files").is_dir():
        found = "balabit"
    elif any(p.glob("*_keystrokes.txt")) or any((p / n).is_file() for n in aalto.CONCAT_NAMES):
        found = "aalto"
    elif any((p / n).is_file() for n in (freihaut.FILE_NAME, freihaut.FILE_NAME[:-3])):
        found = "freihaut"
    elif any(p.glob("DSL-StrongPasswordData*.csv")):
        found = "cmu"
    elif any((p / m).is_dir() and _user_tree_layout(p / m) for m in ("mouse", "keys")):
        found = "mixed-export"
    else:
        found = _user_tree_layout(p)
    if found is None:
        packed = _compressed_sessions(p)
        if packed:  # the layouts' files are read uncompressed: say so, not "any layout"
            raise DataError(
                f"{p} is a compressed recording, which is not read"
                if p.is_file()
                else f"{p} holds compressed recordings ({packed}), which are not read",
                "decompress them (e.g. gunzip -r DIR): the generic layouts are uncompressed "
                ".csv or .parquet files",
            )
        raise DataError(f"{p} does not look like any supported layout", EXPECTED)
    return found


_PACKED = (".gz", ".bz2", ".xz", ".zst", ".zip")


def _compressed_sessions(p: Path) -> str:
    """The first compressed ``.csv``/``.parquet`` file of a layout under ``p`` (``p`` itself,
    ``p/<user>/``, or an export's ``p/mouse|keys/<user>/``), relative to ``p``; '' if none."""
    globs = ["*/*", "mouse/*/*", "keys/*/*"] if p.is_dir() else []
    candidates = [p] if p.is_file() else (f for g in globs for f in sorted(p.glob(g)))
    for f in candidates:
        inner = Path(f.stem).suffix.lower()
        if f.suffix.lower() in _PACKED and inner in SUFFIXES and f.is_file():
            return str(f.relative_to(p)) if f != p else f.name
    return ""
