"""Chunk codec: a batch of events <-> a compact, versioned blob.

A year of a heavy user's pointer data is billions of events, so the store keeps them as
columnar, delta-encoded, compressed chunks rather than one row per event. Layout (version 1)::

    header  = struct "<BIqqIIII": version, n, t0_ns, t_step_ns,
                                  len(dt), len(dx), len(dy), len(code)   (varint stream sizes)
    payload = zlib( kind[n] | flags[n] | device varints | dt | dx | dy | code varints )

* ``dt`` is the time delta to the previous event divided by ``t_step_ns`` (the GCD of the
  deltas: millisecond OS clocks compress to small integers) — zig-zag LEB128 varints.
* ``dx``/``dy`` are deltas *within a kind family*: pointer positions against the previous pointer
  event, key stroke ids against the previous key event, so interleaving keys and pointer motion
  does not cost large jumps.
* ``kind``/``flags`` are raw bytes (near-constant, zlib squeezes them), ``device`` and ``code``
  are varints.

The round trip is exact for every value of :data:`EVENT_DTYPE` (int64 arithmetic wraps
identically in both directions). Everything is vectorised with NumPy; no Python loop per event.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from activesec.core.errors import StoreError
from activesec.core.events import EVENT_DTYPE, KEY_KINDS

__all__ = ["VERSION", "decode", "encode"]

VERSION = 1
_HEADER = struct.Struct("<BIqqIIII")
_KEY_KIND_VALUES = np.array([int(k) for k in KEY_KINDS], dtype=np.uint8)
_ZLIB_LEVEL = 6
#: A value needs k+2 varint bytes when it is >= _VARINT_LIMITS[k].
_VARINT_LIMITS = np.array([1 << (7 * k) for k in range(1, 10)], dtype=np.uint64)


def _zigzag(v: np.ndarray) -> np.ndarray:
    v = v.astype(np.int64, copy=False)
    return ((v << np.int64(1)) ^ (v >> np.int64(63))).view(np.uint64)


def _unzigzag(u: np.ndarray) -> np.ndarray:
    u = u.astype(np.uint64, copy=False)
    return ((u >> np.uint64(1)) ^ (np.uint64(0) - (u & np.uint64(1)))).view(np.int64)


def _varint_encode(u: np.ndarray) -> bytes:
    """LEB128 of unsigned 64-bit values, vectorised over at most 10 byte positions."""
    u = u.astype(np.uint64, copy=False)
    if len(u) == 0:
        return b""
    nbytes = np.searchsorted(_VARINT_LIMITS, u, side="right").astype(np.int64) + 1
    offsets = np.zeros(len(u), dtype=np.int64)
    np.cumsum(nbytes[:-1], out=offsets[1:])
    out = np.empty(int(offsets[-1] + nbytes[-1]), dtype=np.uint8)
    for k in range(int(nbytes.max())):
        m = nbytes > k
        part = ((u[m] >> np.uint64(7 * k)) & np.uint64(0x7F)).astype(np.uint8)
        part |= np.where(nbytes[m] > k + 1, 0x80, 0).astype(np.uint8)
        out[offsets[m] + k] = part
    return out.tobytes()


def _varint_decode(buf: bytes, n: int) -> np.ndarray:
    b = np.frombuffer(buf, dtype=np.uint8)
    if n == 0:
        if len(b):
            raise ValueError("trailing varint bytes")
        return np.zeros(0, dtype=np.uint64)
    ends = np.flatnonzero((b & 0x80) == 0)
    if len(ends) != n or ends[-1] != len(b) - 1:
        raise ValueError("varint stream length mismatch")
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    lengths = ends - starts + 1
    if lengths.max() > 10:
        raise ValueError("varint longer than 10 bytes")
    pos = np.arange(len(b), dtype=np.int64) - np.repeat(starts, lengths)
    parts = (b & 0x7F).astype(np.uint64) << (np.uint64(7) * pos.astype(np.uint64))
    return np.bitwise_or.reduceat(parts, starts)


def _family_deltas(v: np.ndarray, is_key: np.ndarray) -> np.ndarray:
    """Delta of ``v`` against the previous event of the same family (key vs pointer)."""
    v = v.astype(np.int64)
    out = np.empty_like(v)
    for m in (is_key, ~is_key):
        idx = np.flatnonzero(m)
        out[idx] = np.diff(v[idx], prepend=np.int64(0))
    return out


def _family_cumsum(d: np.ndarray, is_key: np.ndarray) -> np.ndarray:
    out = np.empty_like(d)
    for m in (is_key, ~is_key):
        idx = np.flatnonzero(m)
        out[idx] = np.cumsum(d[idx])
    return out


def encode(events: np.ndarray) -> bytes:
    """Encode an :data:`EVENT_DTYPE` array (any order, any length) into one blob."""
    if events.dtype != EVENT_DTYPE:
        raise TypeError(f"expected EVENT_DTYPE, got {events.dtype}")
    n = len(events)
    t = events["t_ns"].astype(np.int64)
    t0 = int(t[0]) if n else 0
    with np.errstate(over="ignore"):
        dt = np.diff(t, prepend=np.int64(t0))
    step = int(np.gcd.reduce(np.abs(dt))) if n else 1
    if step <= 0 or np.any(dt % step):  # 0 (all equal) or the abs() overflow of INT64_MIN
        step = 1
    is_key = np.isin(events["kind"], _KEY_KIND_VALUES)
    streams = [
        _varint_encode(_zigzag(dt // step)),
        _varint_encode(_zigzag(_family_deltas(events["x"], is_key))),
        _varint_encode(_zigzag(_family_deltas(events["y"], is_key))),
        _varint_encode(_zigzag(events["code"].astype(np.int64))),
    ]
    device = _varint_encode(events["device"].astype(np.uint64))
    payload = b"".join(
        [events["kind"].tobytes(), events["flags"].tobytes(), device, *streams]
    )
    header = _HEADER.pack(VERSION, n, t0, step, *(len(s) for s in streams))
    return header + zlib.compress(payload, _ZLIB_LEVEL)


def decode(blob: bytes) -> np.ndarray:
    """Decode a blob made by :func:`encode`; a damaged blob raises :class:`StoreError`."""
    try:
        return _decode(blob)
    except (ValueError, IndexError, zlib.error, struct.error) as exc:
        raise StoreError(
            f"a stored event chunk is damaged ({exc})",
            "run `activesec doctor`; restore the database from a backup or `activesec wipe`",
        ) from None


def _decode(blob: bytes) -> np.ndarray:
    version = blob[0] if blob else -1
    if version != VERSION:
        raise ValueError(f"unknown chunk format version {version}")
    _, n, t0, step, l_dt, l_dx, l_dy, l_code = _HEADER.unpack_from(blob)
    payload = zlib.decompress(blob[_HEADER.size :])
    out = np.zeros(n, dtype=EVENT_DTYPE)
    out["kind"] = np.frombuffer(payload, np.uint8, n, 0)
    out["flags"] = np.frombuffer(payload, np.uint8, n, n)
    rest = payload[2 * n :]
    l_dev = len(rest) - (l_dt + l_dx + l_dy + l_code)
    if l_dev < 0:
        raise ValueError("payload shorter than its header says")
    bounds = np.cumsum([0, l_dev, l_dt, l_dx, l_dy, l_code])
    dev, dt, dx, dy, code = (
        rest[bounds[i] : bounds[i + 1]] for i in range(5)
    )
    out["device"] = _varint_decode(dev, n).astype(np.uint16)
    is_key = np.isin(out["kind"], _KEY_KIND_VALUES)
    with np.errstate(over="ignore"):
        steps = _unzigzag(_varint_decode(dt, n)) * np.int64(step)
        out["t_ns"] = np.int64(t0) + np.cumsum(steps)
        out["x"] = _family_cumsum(_unzigzag(_varint_decode(dx, n)), is_key)
        out["y"] = _family_cumsum(_unzigzag(_varint_decode(dy, n)), is_key)
    out["code"] = _unzigzag(_varint_decode(code, n)).astype(np.int16)
    return out
