"""The generic recording layouts users bring (and ``activesec export`` writes).

``ROOT/<user>/<session>.csv`` (or ``.parquet`` with the same columns when pyarrow is
installed); users and sessions are ordered by natural sort of their names. An export root
(``ROOT/mouse/<user>/…`` and ``ROOT/keys/<user>/…``) is accepted too: ``iter_layout`` descends
into the modality's subtree.

* mouse: header ``timestamp,button,state,x,y``; seconds; Balabit's vocabulary (see
  :mod:`activesec.recordings._mouse`). Coordinates may be negative (monitors left of or above
  the primary one); rows outside int32 or with unknown vocabulary are skipped and counted.
* keys: header ``key,press,release``; seconds; ``key`` is any key name or a class name
  (``letter``), mapped to a class exactly as live capture does. Each row is one keystroke:
  a KEY_DOWN/KEY_UP pair sharing a stroke id (ids follow press order). An empty ``release``
  keeps the press alone (a key still held when the recording ended); a release before the press
  or an unparseable time skips the row.

Both layouts take an optional column ``injected``: 0 a device's input, 1 injected by
software (XTEST, SendInput), 2 a pointer warp (:data:`activesec.recordings._mouse.ORIGIN_VALUES`);
without it every row is a device's input. ``export --with-injected`` writes it, so a bot's
input replays as the agent saw it and imports back flagged, never as the owner's.

Writers emit exactly these layouts (keys as class names), so export -> read round-trips;
times are written as exact decimal seconds and read back as float64, exact to the nanosecond
for monotonic times and to the microsecond for epoch-based ones (whatever their origin, times
written with at most 6 decimals read back exactly: :func:`~activesec.recordings._mouse
.seconds_to_ns`).
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from activesec.core.errors import DataError
from activesec.core.events import EVENT_DTYPE, Kind, empty
from activesec.core.keys import N_KEY_CLASSES, class_name, key_class
from activesec.recordings import _mouse
from activesec.recordings._table import (
    BLOCK_ROWS,
    Categorical,
    ColumnBlocks,
    Table,
    have_arrow,
    read_csv_table,
)
from activesec.recordings.base import (
    Recording,
    excerpt,
    finish,
    natural_key,
    require_exists,
    select_users,
)

MOUSE_COLUMNS = ("timestamp", "button", "state", "x", "y")
KEYS_COLUMNS = ("key", "press", "release")
INJECTED = "injected"  # the optional origin column (module docstring)
_NUMERIC = {"mouse": ("timestamp", "x", "y"), "keys": ("press", "release")}
_COLUMNS = {"mouse": MOUSE_COLUMNS, "keys": KEYS_COLUMNS}
SUFFIXES = (".csv", ".parquet")

Modality = Literal["mouse", "keys"]


# --------------------------------------------------------------------------- reading


def _read_parquet(path: Path, expected: tuple[str, ...], numeric: tuple[str, ...],
                  optional: tuple[str, ...] = ()) -> Table:
    if not have_arrow():
        raise DataError(
            f"{path}: reading parquet needs pyarrow", "pip install 'activesec[parquet]'"
        )
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
    except (pa.ArrowException, OSError) as e:
        raise DataError(
            f"{path} is not a readable parquet file ({e})", "re-export it or use CSV"
        ) from e
    names = {n.strip().lower(): n for n in schema.names}
    missing = [c for c in expected if c not in names]
    if missing:
        raise DataError(
            f"{path}: columns {excerpt(', '.join(schema.names))} lack {', '.join(missing)}",
            f"expected columns {','.join(expected)}",
        )
    expected = (*expected, *(c for c in optional if c in names))
    out = ColumnBlocks(expected, numeric)
    n_rows = 0
    try:  # a block of rows at a time, as CSV files are read (_table.BLOCK_ROWS)
        batches = pq.ParquetFile(path).iter_batches(
            batch_size=BLOCK_ROWS, columns=[names[c] for c in expected],
            use_threads=False)  # no Arrow pool left at exit (see _table._read_arrow)
        for batch in batches:
            n_rows += batch.num_rows
            for c in expected:
                col = batch.column(names[c])
                if c in numeric:
                    try:
                        out.parts[c].append(np.array(
                            col.cast(pa.float64()).to_numpy(zero_copy_only=False),
                            dtype=np.float64))
                    except (pa.ArrowException, ValueError) as e:
                        raise DataError(f"{path}: column {c!r} is not numeric",
                                        f"expected columns {','.join(expected)}") from e
                    continue
                enc = pc.dictionary_encode(col.cast(pa.string()))
                codes = np.nan_to_num(enc.indices.to_numpy(zero_copy_only=False), nan=0)
                out.add_text(c, ["" if v is None else str(v) for v in enc.dictionary.to_pylist()],
                             codes.astype(np.int64))
    except (pa.ArrowException, OSError) as e:
        raise DataError(
            f"{path} is not a readable parquet file ({e})", "re-export it or use CSV"
        ) from e
    tab = out.table(n_rows, 0)
    for cat in tab.text.values():
        cat.values = cat.values or [""]
    return tab


def _table(path: Path, modality: Modality) -> Table:
    require_exists(path, f"a {modality} recording ({','.join(_COLUMNS[modality])})")
    columns, numeric = _COLUMNS[modality], (*_NUMERIC[modality], INJECTED)
    if path.suffix.lower() == ".parquet":
        return _read_parquet(path, columns, numeric, optional=(INJECTED,))
    return read_csv_table(path, columns, numeric, optional=(INJECTED,))


def _mouse_from_table(tab: Table) -> tuple[np.ndarray, dict[str, Any]]:
    """Events of a mouse-layout table, decoded :data:`BLOCK_ROWS` rows at a time (the decoder's
    temporaries for a whole file of millions of rows took more memory than the table)."""
    origin = tab.numeric.get(INJECTED)
    blocks: list[np.ndarray] = []
    counts: dict[str, int] = {}
    for at in range(0, max(tab.n_rows, 1), BLOCK_ROWS):
        rows = slice(at, at + BLOCK_ROWS)
        ev, block_counts = _mouse.decode(
            tab.numeric["timestamp"][rows],
            Categorical(tab.text["button"].codes[rows], tab.text["button"].values),
            Categorical(tab.text["state"].codes[rows], tab.text["state"].values),
            tab.numeric["x"][rows],
            tab.numeric["y"][rows],
            origin=None if origin is None else origin[rows],
        )
        blocks.append(ev)
        for k, v in block_counts.items():
            counts[k] = counts.get(k, 0) + v
    ev = blocks[0] if len(blocks) == 1 else np.concatenate(blocks)
    meta: dict[str, Any] = {"rows": tab.n_rows + tab.bad_shape, "bad_shape": tab.bad_shape}
    meta.update(counts)
    meta["skipped_rows"] = tab.bad_shape + sum(counts.values())
    return ev, meta


def _keys_from_table(tab: Table) -> tuple[np.ndarray, dict[str, Any]]:
    press, release = tab.numeric["press"], tab.numeric["release"]
    keycat = tab.text["key"]
    classes = np.array([int(key_class(v)) for v in keycat.values] or [0], dtype=np.int16)
    cls = classes[keycat.codes] if len(press) else np.zeros(0, np.int16)
    with np.errstate(invalid="ignore"):
        ok_press = np.abs(press) < _mouse.MAX_SECONDS
        ok_release = np.abs(release) < _mouse.MAX_SECONDS
        backwards = ok_press & ok_release & (release < press)
    unreleased = ok_press & ~ok_release
    keep = ok_press & ~backwards
    origin = tab.numeric.get(INJECTED)
    bad_injected = 0
    if origin is not None:  # an unreadable origin could be a bot's: never a person's
        ok_origin = _mouse.origin_known(origin)
        bad_injected = int(np.count_nonzero(keep & ~ok_origin))
        keep &= ok_origin
    order = np.flatnonzero(keep)
    order = order[np.argsort(press[order], kind="stable")]
    n = len(order)
    p_ns = _mouse.seconds_to_ns(press[order])
    has_up = ~unreleased[order]
    r_ns = _mouse.seconds_to_ns(release[order][has_up])
    stroke = np.arange(n, dtype=np.int32)
    ev = empty(n + len(r_ns))
    ev["t_ns"][:n] = p_ns
    ev["kind"][:n] = Kind.KEY_DOWN
    ev["x"][:n] = stroke
    ev["code"][:n] = cls[order]
    ev["t_ns"][n:] = r_ns
    ev["kind"][n:] = Kind.KEY_UP
    ev["x"][n:] = stroke[has_up]
    ev["code"][n:] = cls[order][has_up]
    if origin is not None:
        flags = _mouse.origin_flags(origin[order])
        ev["flags"][:n] = flags
        ev["flags"][n:] = flags[has_up]
    meta: dict[str, Any] = {
        "rows": tab.n_rows + tab.bad_shape,
        "bad_shape": tab.bad_shape,
        "bad_time": int(np.count_nonzero(~ok_press)),
        "release_before_press": int(np.count_nonzero(backwards)),
        "unreleased": int(np.count_nonzero(unreleased & keep)),
        "bad_injected": bad_injected,
    }
    meta["skipped_rows"] = (tab.bad_shape + meta["bad_time"] + meta["release_before_press"]
                            + bad_injected)
    return ev, meta


#: the layouts' times are seconds; a median above these is a file in milliseconds (a pointer
#: samples every 4-20 ms and rarely pauses between moves for a second; a key is held ~0.1 s)
MAX_MEDIAN_MOVE_STEP_S = 1.0
MAX_MEDIAN_KEY_HOLD_S = 2.0
_MIN_FOR_UNIT_CHECK = 20


def _finer_unit(median: float, limit: float) -> tuple[str, str]:
    """The coarsest unit finer than seconds that makes a median step of ``median`` (read as
    seconds) plausible, at most ``limit`` s: (unit, divisor as said)."""
    return next(((u, d) for u, d, f in _FINER_UNITS if median / f <= limit), _FINER_UNITS[-1][:2])


#: units finer than seconds a logger may write times in: (unit, divisor as said, divisor)
_FINER_UNITS = (("milliseconds", "1000", 1e3), ("microseconds", "1,000,000", 1e6),
                ("nanoseconds", "1,000,000,000", 1e9))


def _check_seconds(path: Path, ev: np.ndarray, modality: Modality) -> None:
    """Refuse a file whose times are evidently not seconds: read as seconds, milliseconds made
    every movement 1,000 times slower — features, training and evaluation silently absurd."""
    if modality == "mouse":
        t = ev["t_ns"][ev["kind"] == Kind.MOVE]
        steps = np.diff(np.sort(t)) / 1e9
        what, limit = "step between pointer moves", MAX_MEDIAN_MOVE_STEP_S
    else:
        # the reader numbers strokes 0..n-1 in press order, one press each
        down = ev[ev["kind"] == Kind.KEY_DOWN]
        up = ev[ev["kind"] == Kind.KEY_UP]
        pressed = np.empty(len(down), dtype=np.int64)
        pressed[down["x"]] = down["t_ns"]
        steps = (up["t_ns"] - pressed[up["x"]]) / 1e9
        what, limit = "key hold", MAX_MEDIAN_KEY_HOLD_S
    if len(steps) < _MIN_FOR_UNIT_CHECK:
        return
    median = float(np.median(steps))
    if median > limit:
        # named by the median, not always "milliseconds": a logger's monotonic nanoseconds
        # were told to divide by 1000, which only led to the same refusal
        unit, divisor = _finer_unit(median, limit)
        raise DataError(
            f"{path}: the median {what} is {median:,.3g} s: its times look like {unit} "
            "(the layout's times are seconds)",
            f"divide the time columns by {divisor} and try again; nothing was read from it")


#: Unix-epoch times in a finer unit than seconds (JavaScript's ``Date.now()``, Aalto's
#: PRESS_TIME: milliseconds): (lower bound of the magnitude, unit, divisor as said, divisor).
#: Epoch seconds are about 1.7e9 and pass; these are dropped as out of range (``MAX_SECONDS``)
#: row by row.
_EPOCH_UNITS = ((1e17, "nanoseconds", "1,000,000,000", 1e9),
                (1e14, "microseconds", "1,000,000", 1e6), (1e11, "milliseconds", "1000", 1e3))
_EPOCH_2000_S = 946_684_800


def _check_epoch_unit(path: Path, tab: Table, modality: Modality) -> None:
    """Refuse a file whose times are mostly Unix-epoch milliseconds (or finer): every row was
    otherwise skipped as "a time that is not a number of seconds", which did not say why.
    Large times are not always epoch ones: nanoseconds since boot (``perf_counter_ns``) two days
    after it are 1.7e14, epoch microseconds by magnitude but a date in 1975 — times that read as
    no date since 2000 are named by their median step (pointer) or hold (keys) instead."""
    t = tab.numeric["timestamp" if modality == "mouse" else "press"]
    big = np.abs(t[np.isfinite(t)])
    if len(big) == 0:
        return
    for lower, unit, divisor, factor in _EPOCH_UNITS:
        inside = (big >= lower) & (big < lower * 1000)
        if np.count_nonzero(inside) <= len(big) / 2:
            continue
        median = float(np.median(big))
        if not _EPOCH_2000_S <= median / factor <= time.time() + 86400:  # no date: not epoch
            steps = (np.diff(np.sort(t[np.isfinite(t)])) if modality == "mouse"
                     else tab.numeric["release"] - t)
            steps = steps[np.isfinite(steps) & (steps > 0)]
            if len(steps) >= _MIN_FOR_UNIT_CHECK:
                limit = MAX_MEDIAN_MOVE_STEP_S if modality == "mouse" else MAX_MEDIAN_KEY_HOLD_S
                unit, divisor = _finer_unit(float(np.median(steps)), limit)
            raise DataError(
                f"{path}: its times look like {unit} (e.g. {median:.0f}; the layout's times "
                "are seconds)",
                f"divide the time columns by {divisor} and try again; nothing was read from it")
        raise DataError(
            f"{path}: its times look like Unix-epoch {unit} (e.g. {median:.0f}; the "
            "layout's times are seconds)",
            f"divide the time columns by {divisor} and try again; nothing was read from it")


def _read(path: Path, modality: Modality) -> tuple[np.ndarray, dict[str, Any]]:
    tab = _table(Path(path), modality)
    _check_epoch_unit(Path(path), tab, modality)
    ev, meta = _mouse_from_table(tab) if modality == "mouse" else _keys_from_table(tab)
    _check_seconds(Path(path), ev, modality)
    # downs precede ups at equal times because they come first in the array
    return ev[np.argsort(ev["t_ns"], kind="stable")], meta


def read_mouse_csv(path: str | Path) -> np.ndarray:
    """Pointer events of one mouse-layout file (CSV, or parquet by suffix), sorted by time."""
    return _read(Path(path), "mouse")[0]


def read_keys_csv(path: str | Path) -> np.ndarray:
    """Key events of one keys-layout file (CSV, or parquet by suffix), sorted by time."""
    return _read(Path(path), "keys")[0]


def is_session_file(p: Path) -> bool:
    """A recording file of the layouts: ``.csv`` or ``.parquet``, not hidden. A hidden one is
    not a recording: macOS leaves ``._s1.csv`` (AppleDouble metadata, binary) beside ``s1.csv``
    on copies to other disks and in zips, and it stopped a whole evaluation as "not a text CSV
    file"; hidden folders were already passed over."""
    return p.suffix.lower() in SUFFIXES and not p.name.startswith(".") and p.is_file()


def _is_export_part(d: Path) -> bool:
    """``d`` holds user folders (an export's ``mouse/`` or ``keys/``), not session files."""
    return d.is_dir() and not any(is_session_file(p) for p in d.iterdir())


def session_root(root: Path, modality: Modality) -> Path:
    """The directory holding ``<user>/<session>`` for ``modality`` (descends into exports)."""
    if _is_export_part(root / modality):
        return root / modality
    other = root / ("keys" if modality == "mouse" else "mouse")
    if _is_export_part(other):
        raise DataError(
            f"{root} is an export without {modality} recordings (no {modality}/ folder)",
            f"it holds only {other.name}/ recordings; export with {modality} capture enabled",
        )
    return root


def _read_in_folder(path: Path, modality: Modality) -> tuple[np.ndarray, dict[str, Any]]:
    """:func:`_read` for one session of a layout folder, where a 0-byte file is a session with
    no data row, as a header-only one is: a logger stopped before its first write leaves one,
    and it stopped a whole evaluation ("is empty") while the header-only file beside it was
    skipped. Named on its own (``replay FILE``), an empty file is still an error."""
    try:
        if path.stat().st_size == 0:
            return empty(0), {"rows": 0, "bad_shape": 0, "skipped_rows": 0, "zero_bytes": True}
    except OSError:
        pass  # _read says why it cannot be read
    return _read(path, modality)


def iter_layout(
    root: str | Path, modality: Modality, users: Iterable[str] | None = None
) -> Iterator[Recording]:
    """Recordings of ``ROOT/<user>/<session>.{csv,parquet}``: users, then sessions, in
    natural order. Empty sessions (also 0-byte files) are yielded with ``meta["empty"] = True``."""
    if modality not in _COLUMNS:
        raise DataError(f"unknown modality {modality!r}", "use 'mouse' or 'keys'")
    root = require_exists(Path(root), f"a {modality} layout ROOT/<user>/<session>.csv")
    if root.is_file():
        ev, meta = _read(root, modality)
        meta["path"] = str(root)
        yield finish(root.parent.name, root.stem, ev, f"{modality}-csv", meta)
        return
    base = session_root(root, modality)
    user_dirs = {p.name: p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")}
    if not user_dirs:
        raise DataError(
            f"{root} has no user folders",
            f"expected the {modality} layout ROOT/<user>/<session>.csv "
            f"(header {','.join(_COLUMNS[modality])})",
        )
    for user in select_users(list(user_dirs), users, root):
        files = [p for p in user_dirs[user].iterdir() if is_session_file(p)]
        for f in sorted(files, key=lambda p: natural_key(p.name)):
            ev, meta = _read_in_folder(f, modality)
            meta["path"] = str(f)
            yield finish(user, f.stem, ev, f"{modality}-csv", meta)


# --------------------------------------------------------------------------- writing


def _open_out(path_or_fileobj: str | Path | IO[str]) -> tuple[IO[str], bool]:
    if isinstance(path_or_fileobj, (str, Path)):
        p = Path(path_or_fileobj)
        p.parent.mkdir(parents=True, exist_ok=True)
        return open(p, "w", newline="", encoding="utf-8"), True
    return path_or_fileobj, False


def mouse_rows(events: np.ndarray, injected: bool = False) -> list[tuple[Any, ...]]:
    """Rows of the mouse layout for the pointer events in ``events`` (key events ignored);
    with ``injected``, each ends with its ``injected`` column value."""
    return [(_mouse.format_seconds(t), b, s, x, y, *((o,) if injected else ()))
            for t, b, s, x, y, o in _mouse.encode(events)]


def keys_rows(events: np.ndarray, injected: bool = False) -> list[tuple[Any, ...]]:
    """Rows of the keys layout: one per stroke (press order); ``release`` empty when the key
    was never released; releases without their press are not written. A press pairs with the
    next release carrying its stroke id, so ids reused later in a session pair correctly.
    With ``injected``, each row ends with its press's ``injected`` column value."""
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"events must be EVENT_DTYPE, got {events.dtype}")
    ev = events[np.isin(events["kind"], (int(Kind.KEY_DOWN), int(Kind.KEY_UP)))]
    ev = ev[np.argsort(ev["t_ns"], kind="stable")]
    strokes: list[list[Any]] = []  # [press t, class, release t | None, press flags]
    open_: dict[int, int] = {}  # stroke id -> index in strokes while held
    for t, kind, sid, code, flags in zip(
        ev["t_ns"].tolist(),
        ev["kind"].tolist(),
        ev["x"].tolist(),
        ev["code"].tolist(),
        ev["flags"].tolist(),
        strict=True,
    ):
        if kind == Kind.KEY_DOWN:
            open_[sid] = len(strokes)
            strokes.append([t, code, None, flags])
        elif sid in open_:
            strokes[open_.pop(sid)][2] = t
    return [
        (
            class_name(code) if 0 <= code < N_KEY_CLASSES else "other",
            _mouse.format_seconds(t),
            "" if r is None else _mouse.format_seconds(r),
            *((_mouse.origin_value(flags),) if injected else ()),
        )
        for t, code, r, flags in strokes
    ]


def _write(path_or_fileobj: str | Path | IO[str], header: tuple[str, ...], rows: list[Any]) -> int:
    fh, owned = _open_out(path_or_fileobj)
    try:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    finally:
        if owned:
            fh.close()
    return len(rows)


def _header(columns: tuple[str, ...], injected: bool) -> tuple[str, ...]:
    return (*columns, INJECTED) if injected else columns


def write_mouse_csv(path_or_fileobj: str | Path | IO[str], events: np.ndarray, *,
                    injected: bool = False) -> int:
    """Write the pointer events of ``events`` in the mouse layout; returns rows written.
    ``injected`` adds the origin column (module docstring)."""
    return _write(path_or_fileobj, _header(MOUSE_COLUMNS, injected), mouse_rows(events, injected))


def write_keys_csv(path_or_fileobj: str | Path | IO[str], events: np.ndarray, *,
                   injected: bool = False) -> int:
    """Write the key events of ``events`` in the keys layout (classes only); returns rows.
    ``injected`` adds the origin column (module docstring)."""
    return _write(path_or_fileobj, _header(KEYS_COLUMNS, injected), keys_rows(events, injected))


def _write_parquet(
    path: str | Path, header: tuple[str, ...], rows: list[Any], numeric: tuple[str, ...]
) -> int:
    if not have_arrow():
        raise DataError("writing parquet needs pyarrow", "pip install 'activesec[parquet]'")
    import pyarrow as pa
    import pyarrow.parquet as pq

    cols = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    arrays = []
    for name, col in zip(header, cols, strict=True):
        if name in ("x", "y"):
            arrays.append(pa.array(col, type=pa.int32()))
        elif name == INJECTED:
            arrays.append(pa.array(col, type=pa.int8()))
        elif name in numeric:
            arrays.append(pa.array([float(v) if v != "" else None for v in col], pa.float64()))
        else:
            arrays.append(pa.array(col, type=pa.string()))
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_arrays(arrays, names=list(header)), p)
    return len(rows)


def write_mouse_parquet(path: str | Path, events: np.ndarray, *, injected: bool = False) -> int:
    """The mouse layout as parquet (same columns; timestamps as float64 seconds)."""
    return _write_parquet(path, _header(MOUSE_COLUMNS, injected), mouse_rows(events, injected),
                          _NUMERIC["mouse"])


def write_keys_parquet(path: str | Path, events: np.ndarray, *, injected: bool = False) -> int:
    """The keys layout as parquet (same columns; ``release`` null when never released)."""
    return _write_parquet(path, _header(KEYS_COLUMNS, injected), keys_rows(events, injected),
                          _NUMERIC["keys"])


def to_text(events: np.ndarray, modality: Modality) -> str:
    """The CSV text for ``events`` (handy for tests and previews)."""
    buf = io.StringIO()
    (write_mouse_csv if modality == "mouse" else write_keys_csv)(buf, events)
    return buf.getvalue()
