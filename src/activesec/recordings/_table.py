"""Column-wise CSV reading: a pyarrow fast path and a pure-Python fallback that agree.

Readers get numeric columns as float64 (NaN where a value is empty or unparseable — the caller
decides whether that makes the row bad) and text columns as categorical codes plus their
distinct values, so mapping vocabularies (``Left``, ``Pressed``, key names) costs one lookup per
distinct value, not per row. Rows with the wrong number of fields are skipped and counted.

Fields are separated by commas, semicolons or tabs — whichever splits the header line into the
most columns (a comma on a tie): spreadsheets in many locales save "CSV" with semicolons, and
then with decimal commas (``0,016``), which are read as decimal points in such a file.

pyarrow (an optional dependency) parses in C about 8x faster; any file it rejects (stray spaces
in numbers, odd quoting) is re-read by the pure path, so pyarrow never changes the result.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path

import numpy as np

from activesec.core.errors import DataError
from activesec.recordings.base import excerpt, looks_binary


def have_arrow() -> bool:
    """Whether pyarrow is importable (imported lazily: it costs ~40 MB, capture never needs it).
    Tests set ``_table.DISABLE_ARROW = True`` to exercise the pure path."""
    if DISABLE_ARROW:
        return False
    try:
        import pyarrow.csv  # noqa: F401
    except ImportError:
        return False
    return True


DISABLE_ARROW = False


@dataclass
class Categorical:
    """Text column: ``values[codes[i]]`` is row i's (whitespace-stripped) text."""

    codes: np.ndarray
    values: list[str]


@dataclass
class Table:
    numeric: dict[str, np.ndarray]
    text: dict[str, Categorical]
    n_rows: int  # rows kept (the length of every column)
    bad_shape: int  # rows skipped for having the wrong number of fields


def _norm(name: str) -> str:
    return name.strip().lower()


_MAX_HEADER_CHARS = 65536


DELIMITERS = (",", ";", "\t")


def split_header(first: str) -> tuple[list[str], str]:
    """The header line ``first`` split into normalised column names, and the delimiter that
    splits it into the most of them (of :data:`DELIMITERS`; a comma on a tie)."""
    best: tuple[list[str], str] = ([], ",")
    for delimiter in DELIMITERS:
        cols = next(csv.reader([first], delimiter=delimiter), [])
        if len(cols) > len(best[0]):
            best = (cols, delimiter)
    return [_norm(c) for c in best[0]], best[1]


def read_header(path: Path) -> tuple[list[str], str]:
    """The first line of ``path`` split as CSV (BOM and surrounding spaces removed), and the
    delimiter it uses (:func:`split_header`)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
            first = fh.readline(_MAX_HEADER_CHARS)  # a binary file may have no newline
    except OSError as e:
        raise DataError(
            f"cannot read {path}: {e.strerror}", "check the path and permissions"
        ) from e
    return split_header(first)


def _positions(path: Path, header: list[str], expected: Sequence[str]) -> list[int]:
    if not header:
        raise DataError(f"{path} is empty", f"expected a CSV header {','.join(expected)}")
    twice = [c for c in expected if header.count(c) > 1]
    if twice:  # which one is meant cannot be told: refused, never one of them picked unsaid
        raise DataError(
            f"{path}: header {excerpt(','.join(header))} names column(s) "
            f"{', '.join(twice)} more than once",
            "keep one column of each name (rename or delete the others)",
        )
    missing = [c for c in expected if c not in header]
    if missing and looks_binary(",".join(header)):
        raise DataError(
            f"{path} is not a text CSV file (its first line holds binary data)",
            f"give a CSV file with the header {','.join(expected)}",
        )
    if missing:
        raise DataError(
            f"{path}: header {excerpt(','.join(header))} lacks column(s) {', '.join(missing)}",
            f"expected a CSV header {','.join(expected)}",
        )
    return [header.index(c) for c in expected]


def read_csv_table(
    path: Path,
    expected: Sequence[str],
    numeric: Sequence[str],
    *,
    also_required: Sequence[str] = (),
    optional: Sequence[str] = (),
    use_arrow: bool | None = None,
) -> Table:
    """Read columns ``expected`` (normalised names, any order, extra columns ignored).

    Columns in ``numeric`` become float64; the others :class:`Categorical`. Columns in
    ``also_required`` must be in the header but are not read; those in ``optional`` are read
    when the header has them. ``use_arrow=None`` uses pyarrow when importable and the file
    holds at least :data:`ARROW_MIN_BYTES`.
    """
    header, delimiter = read_header(path)
    expected = [*expected, *(c for c in optional if c in header)]
    _positions(path, header, list(dict.fromkeys([*also_required, *expected])))
    numeric = [c for c in numeric if c in expected]
    if use_arrow or (use_arrow is None and _size(path) >= ARROW_MIN_BYTES and have_arrow()):
        if not have_arrow():
            raise DataError("pyarrow is not installed", "pip install 'activesec[parquet]'")
        table = _read_arrow(path, header, expected, numeric, delimiter)
        if table is not None:
            return table
    return _read_pure(path, header, expected, numeric, delimiter)


#: smaller files are read by the pure path: a 1.2 MB file (40,000 rows) took it 54 ms against
#: Arrow's 5 ms plus 0.12 s to import pyarrow (measured 2026-12-08), so one such file is read
#: sooner, and a hundred cost ~4 s more. And a CLI that read a few small recordings through
#: Arrow once ended with SIGABRT after its work was done ("terminate called without an active
#: exception": an Arrow readahead thread still running as the interpreter exits,
#: apache/arrow#34314 and #43604; seen once in CI, on `import` of two 3-row files, not
#: reproduced in 100 runs here). Large files keep the fast path and that rare risk at exit,
#: after everything is written.
ARROW_MIN_BYTES = 1 << 20


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


#: rows converted at a time: a file's text never sits in memory whole, only its columns
#: (the pure path held every row as a list of strings — about 12x the file's size at the peak)
BLOCK_ROWS = 1 << 16
#: bytes pyarrow parses at a time
ARROW_BLOCK_BYTES = 1 << 20


class ColumnBlocks:
    """Columns gathered block by block: numeric ones as float64 parts, text ones as codes
    into one table of values per column (in order of first appearance)."""

    def __init__(self, expected: Sequence[str], numeric: Sequence[str]) -> None:
        self.expected = list(expected)
        self.numeric = set(numeric)
        self.parts: dict[str, list[np.ndarray]] = {c: [] for c in expected}
        self.seen: dict[str, dict[str, int]] = {c: {} for c in expected if c not in numeric}

    def add_text(self, name: str, values: Sequence[str], codes: np.ndarray | None = None) -> None:
        """Rows of text column ``name``: ``values`` per row, or (``codes``) per distinct value
        with ``codes`` per row."""
        seen = self.seen[name]
        if codes is None:  # a dict lookup per row beats sorting strings
            codes = np.fromiter((seen.setdefault(v, len(seen)) for v in values), np.int32,
                                len(values))
        else:
            mapping = np.array([seen.setdefault(v, len(seen)) for v in values] or [0], np.int32)
            codes = mapping[codes]
        self.parts[name].append(codes.astype(np.int32, copy=False))

    def table(self, n_rows: int, bad_shape: int) -> Table:
        def joined(name: str, dtype: type) -> np.ndarray:
            parts = self.parts.pop(name)
            return np.concatenate(parts) if parts else np.empty(0, dtype)

        num = {c: joined(c, np.float64) for c in self.expected if c in self.numeric}
        text = {c: Categorical(joined(c, np.int32), [v.strip() for v in self.seen[c]])
                for c in self.seen}
        return Table(num, text, n_rows, bad_shape)


def _read_arrow(
    path: Path,
    header: list[str],
    expected: Sequence[str],
    numeric: Sequence[str],
    delimiter: str = ",",
) -> Table | None:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    bad: list[int] = []

    def on_invalid(row: object) -> str:
        bad.append(1)
        return "skip"

    names = [f"{c}\x00{i}" if header.count(c) > 1 else c for i, c in enumerate(header)]
    types = {
        c: (pa.float64() if c in numeric else pa.dictionary(pa.int32(), pa.string()))
        for c in expected
    }
    out = ColumnBlocks(expected, numeric)
    n_rows = 0
    try:
        # streamed: one block of the file at a time, its columns appended to `out`
        reader = pacsv.open_csv(
            path,
            # one thread: Arrow's pool (calling back into Python for invalid rows) could still
            # run at interpreter exit and abort the process after a one-line error ("terminate
            # called without an active exception", apache/arrow#34314)
            read_options=pacsv.ReadOptions(skip_rows=1, column_names=names, use_threads=False,
                                           block_size=ARROW_BLOCK_BYTES),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=list(expected), strings_can_be_null=False
            ),
        )
        for batch in reader:
            n_rows += batch.num_rows
            for c in expected:
                col = batch.column(c)
                if c in numeric:
                    # a copy: a view would keep Arrow's block alive in its own pool
                    out.parts[c].append(np.array(col.to_numpy(zero_copy_only=False),
                                                 dtype=np.float64))
                    continue
                codes = col.indices.to_numpy(zero_copy_only=False)
                codes = np.where(np.isnan(codes), 0, codes) if codes.dtype.kind == "f" else codes
                out.add_text(c, [str(v) for v in col.dictionary.to_pylist()],
                             codes.astype(np.int64))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError):
        return None  # e.g. a non-numeric value or a decimal comma: the pure path reads it
    return out.table(n_rows, len(bad))


def _to_float(values: list[str], decimal_comma: bool = False) -> np.ndarray:
    if decimal_comma:  # a field of a semicolon- or tab-separated file: "0,016" is 0.016
        values = [v.replace(",", ".") for v in values]
    try:
        return np.array(values, dtype=np.float64)
    except ValueError:
        out = np.empty(len(values), dtype=np.float64)
        for i, v in enumerate(values):
            try:
                out[i] = float(v)
            except ValueError:
                out[i] = np.nan
        return out


def _read_pure(
    path: Path,
    header: list[str],
    expected: Sequence[str],
    numeric: Sequence[str],
    delimiter: str = ",",
) -> Table:
    width = len(header)
    pos = _positions(path, header, expected)
    out = ColumnBlocks(expected, numeric)
    block: list[list[str]] = []
    n_rows = 0
    bad_shape = 0  # rows with another number of fields, or that csv cannot split (e.g. a
    # field over csv.field_size_limit())

    def flush() -> None:
        for name, p in zip(expected, pos, strict=True):
            col = list(map(itemgetter(p), block))
            if name in out.numeric:  # numpy skips surrounding blanks
                out.parts[name].append(_to_float(col, delimiter != ","))
            else:
                out.add_text(name, col)
        block.clear()

    with open(path, encoding="utf-8-sig", errors="replace", newline="") as fh:
        reader = csv.reader(fh, delimiter=delimiter)
        next(reader, None)
        while True:
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:  # the reader resumes at the next line
                bad_shape += 1
                continue
            if not row:
                continue
            if len(row) != width:
                bad_shape += 1
                continue
            block.append(row)
            if len(block) == BLOCK_ROWS:
                n_rows += len(block)
                flush()
    n_rows += len(block)
    flush()
    return out.table(n_rows, bad_shape)
