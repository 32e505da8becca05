"""The chunk codec: exact round trip for any event array, compact for realistic motion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from activesec.core.errors import StoreError
from activesec.core.events import EVENT_DTYPE, Kind, make
from activesec.store import codec


def _random_events(seed: int, n: int) -> np.ndarray:
    """Every byte random: extreme values of every field, any order, any kind number."""
    rng = np.random.default_rng(seed)
    ev = np.zeros(n, dtype=EVENT_DTYPE)
    ev.view(np.uint8)[:] = rng.integers(0, 256, ev.nbytes, dtype=np.uint8)
    return ev


@pytest.mark.parametrize("n", [0, 1, 2, 3, 1000])
@pytest.mark.parametrize("seed", range(5))
def test_round_trip_is_bit_exact_for_arbitrary_bytes(n: int, seed: int) -> None:
    ev = _random_events(seed, n)
    out = codec.decode(codec.encode(ev))
    assert out.dtype == EVENT_DTYPE
    assert out.tobytes() == ev.tobytes()


@settings(max_examples=60, deadline=None)
@given(arrays(EVENT_DTYPE, st.integers(0, 64)))
def test_round_trip_property(ev: np.ndarray) -> None:
    assert codec.decode(codec.encode(ev)).tobytes() == ev.tobytes()


def test_header_carries_a_version_byte() -> None:
    blob = codec.encode(make([1, 2], Kind.MOVE))
    assert blob[0] == codec.VERSION
    with pytest.raises(StoreError, match="unknown chunk format version"):
        codec.decode(bytes([99]) + blob[1:])


def test_damaged_blob_is_a_store_error_not_a_traceback() -> None:
    blob = bytearray(codec.encode(make(np.arange(100) * 1000, Kind.MOVE, x=np.arange(100))))
    blob[-5] ^= 0xFF  # zlib's checksum catches it
    with pytest.raises(StoreError, match="damaged"):
        codec.decode(bytes(blob))
    with pytest.raises(StoreError):
        codec.decode(bytes(blob[:20]))
    with pytest.raises(StoreError):
        codec.decode(b"")


def test_rejects_other_dtypes() -> None:
    with pytest.raises(TypeError):
        codec.encode(np.zeros(3, dtype=np.int64))


def test_interleaved_keys_do_not_break_pointer_deltas() -> None:
    """Keys' stroke ids and pointer coordinates delta-encode in separate families."""
    n = 2000
    rng = np.random.default_rng(1)
    t = np.cumsum(rng.integers(1, 20, n)) * 1_000_000
    ev = make(t, Kind.MOVE, x=1500 + np.cumsum(rng.integers(-3, 4, n)), y=800)
    keys = np.arange(0, n, 10)
    ev["kind"][keys] = Kind.KEY_DOWN
    ev["x"][keys] = np.arange(len(keys))
    ev["y"][keys] = 0
    ev["code"][keys] = 1
    blob = codec.encode(ev)
    assert codec.decode(blob).tobytes() == ev.tobytes()
    assert len(blob) / n < 4.0  # ms-resolution motion with keys mixed in stays small


def test_realistic_motion_is_a_few_bytes_per_event() -> None:
    rng = np.random.default_rng(2)
    n = 5000
    t = 10**12 + np.cumsum(rng.choice([7, 8, 8, 9, 16], n)) * 1_000_000  # ms OS clock
    x = 900 + np.cumsum(rng.integers(-6, 7, n))
    y = 500 + np.cumsum(rng.integers(-6, 7, n))
    blob = codec.encode(make(t, Kind.MOVE, x=x, y=y, device=3))
    assert len(blob) / n < 3.0
