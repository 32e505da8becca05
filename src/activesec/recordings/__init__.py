"""Recordings: readers for recorded input, each yielding :class:`Recording` objects.

* :mod:`.generic` — the mouse/keys CSV (or parquet) layouts users bring and exports write,
* :mod:`.balabit`, :mod:`.aalto`, :mod:`.freihaut`, :mod:`.cmu` — the public datasets,
* :mod:`.detect` — which of these a path holds.

Importing this package is cheap: pyarrow (the optional CSV/parquet fast path) is imported
only when a file is read.
"""

from activesec.recordings.aalto import iter_aalto
from activesec.recordings.balabit import iter_balabit
from activesec.recordings.base import Recording, natural_key
from activesec.recordings.cmu import CmuData, load_cmu
from activesec.recordings.detect import LAYOUTS, detect_layout
from activesec.recordings.freihaut import iter_freihaut
from activesec.recordings.generic import (
    iter_layout,
    read_keys_csv,
    read_mouse_csv,
    write_keys_csv,
    write_keys_parquet,
    write_mouse_csv,
    write_mouse_parquet,
)

__all__ = [
    "LAYOUTS",
    "CmuData",
    "Recording",
    "detect_layout",
    "iter_aalto",
    "iter_balabit",
    "iter_freihaut",
    "iter_layout",
    "load_cmu",
    "natural_key",
    "read_keys_csv",
    "read_mouse_csv",
    "write_keys_csv",
    "write_keys_parquet",
    "write_mouse_csv",
    "write_mouse_parquet",
]
