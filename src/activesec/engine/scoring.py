"""Streaming scores: event batches in, one score per *completed* action or keystroke window out.

:class:`StreamScorer` routes each event to a modality — ``keyboard`` for key events,
``pointer:<device type>`` for pointer events (a mapping device index -> :class:`DeviceType` is
given; a type without its own model falls back to ``pointer``, and an unknown device to
``pointer:mouse``) — and keeps, per modality, a small buffer of recent events. After every batch
it calls that modality's **feature function** — the very function offline evaluation calls,
e.g. :func:`activesec.features.pointer.pointer_features` or
:func:`activesec.features.keys.keystroke_windows`, injected through :class:`ModalityModel` — on
the buffer, and scores the rows that are new and complete:

* a row is *complete* when the feature function marks it ``closed`` (pointer actions: a later
  event started the next action, or a release ended it); for functions without ``closed``
  (keystroke windows), when the buffer holds an event at least ``settle_s`` after the row's end
  and none of the row's keys is still held (so every dwell is known);
* the feature function runs only when a cheap *probe* (segmentation or stroke pairing alone,
  :func:`pointer_probe`, :func:`keys_probe`) says a new row may be complete — the probe decides
  *when* to compute, never *what*: rows always come from the feature function itself;
* the trailing, possibly unfinished row is held back until it completes, or until
  :meth:`StreamScorer.flush` sees ``flush_after_s`` (3 s, the pointer segmenter's longest
  within-action wait) of silence — never while a button or key is held (a drag is one action
  however long it pauses), unless the hold exceeds ``stuck_s`` (a stuck key).

**Absences**: with ``absence_s`` (the engine passes the trust model's ``idle_after_s``, 60 s),
a modality whose next event comes longer than that after its last one scores what it still
holds and starts afresh, so no row spans the absence. Keystroke windows overlap (50 keys every
10): without this, the first four windows after lunch or a night with the lid closed were
mostly the keys typed *before* it — whoever sat down was judged on the owner's typing for
~40 keys — although the trust model already forgets its fused scores over the same gap.
Pointer actions never span a pause; for them this changes nothing.

After emitting, the buffer is cut at the start of the last emitted row, which stays as an
anchor: re-running the feature function from there reproduces the next rows exactly as a pass
over the whole stream would (action boundaries and window strides are local), and the anchor
itself is recognised by its (start, end) times and skipped. Memory is O(one action or window)
— capped at ``max_buffer_events`` in case a row never completes.

Injected input (events flagged :attr:`Flag.INJECTED`), per ``ScoringConfig.injected``:
``score`` — scored like any other input; ``ignore`` — dropped; ``distrust`` (default) — dropped
from the feature streams and grouped into bursts (events less than ``burst_gap_s`` apart); each
burst of at least ``burst_min_events`` events becomes one observation of the ``injected``
modality with score +inf, which the trust model charges as a clear impostor action. Bots and
remote injection cannot pass for the owner by replaying the owner's timing, while one
password-manager auto-type costs no more than one odd action. Pointer *warps*
(:attr:`Flag.WARPED`: software moved the cursor, no input at all — a game's mouse look or a
browser's pointer lock re-centring it many times a second) are dropped in every mode and never
charged — charging them could lock a gaming owner out —, while a bot that only warps the
cursor cannot click (its clicks are injected input, and charged). Nor is the pointer input
within ``warp_hold_s`` (0.5 s) after a warp scored (counted in ``steered``): while an app keeps
re-centring the cursor, the positions the owner's mouse produces are zigzags around the centre
that the app's warps shape, not the owner's trajectories; keys are scored as ever.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from activesec.core.events import EVENT_DTYPE, DeviceType, Flag, Kind
from activesec.engine.trust import INJECTED, Calibration
from activesec.features.keys import (
    KEY_FEATURE_NAMES,
    KEY_STEP,
    KEY_WINDOW,
    keystroke_windows,
    keystrokes,
)
from activesec.features.pointer import (
    POINTER_FEATURE_NAMES,
    PointerConfig,
    pointer_features,
    segment_actions,
)

KEYBOARD = "keyboard"
POINTER = "pointer"

_BUTTON_KINDS = np.array([Kind.BUTTON_DOWN, Kind.BUTTON_UP], np.uint8)


def pointer_modality(device_type: DeviceType | int) -> str:
    """``pointer:mouse``, ``pointer:touchpad``, ... — the model key for a device type."""
    return f"{POINTER}:{DeviceType(int(device_type)).name.lower()}"


class Rows(Protocol):
    """What a feature function returns (ActionSet, WindowSet): one feature row per unit."""

    @property
    def X(self) -> np.ndarray: ...

    @property
    def t_start_ns(self) -> np.ndarray: ...

    @property
    def t_end_ns(self) -> np.ndarray: ...


class Scorer(Protocol):
    def score(self, X: Any) -> np.ndarray: ...


FeatureFn = Callable[[np.ndarray], Rows]
#: cheap look-ahead over (buffer, number of events appended since the last look): the
#: (t_end_ns, closed or None) of the rows ``features`` would return
Probe = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray | None]]

_NONE: tuple[np.ndarray, np.ndarray | None] = (np.zeros(0, np.int64), np.zeros(0, bool))


def pointer_probe(cfg: PointerConfig | None = None) -> Probe:
    """Action boundaries from :func:`segment_actions` alone (~6x cheaper than the features),
    and only when the new events contain a possible boundary (a release, a pause, a switch
    between scrolling and moving — the segmenter's rules); otherwise nothing can have closed."""
    pause_ns = int((cfg or PointerConfig()).pause_s * 1e9)

    def probe(ev: np.ndarray, n_new: int) -> tuple[np.ndarray, np.ndarray | None]:
        tail = ev[max(len(ev) - n_new - 1, 0):]
        k = tail["kind"]
        sc = k == Kind.SCROLL
        if not ((k == Kind.BUTTON_UP).any() or (np.diff(tail["t_ns"]) > pause_ns).any()
                or (sc[1:] != sc[:-1]).any()):
            return _NONE
        seg = segment_actions(ev, cfg)
        return seg.events["t_ns"][seg.stop - 1], seg.closed

    return probe


def keys_probe(window: int, step: int) -> Probe:
    """Window end times from the stroke pairing alone (no timing statistics)."""

    def probe(ev: np.ndarray, n_new: int) -> tuple[np.ndarray, np.ndarray | None]:
        st = keystrokes(ev)
        n = len(st)
        w = n if window == 0 else window
        if n == 0 or n < w or w < 2:
            return np.zeros(0, np.int64), None
        end = np.maximum(st.press_ns, st.release_ns)
        idx = np.arange(0, n - w + 1, step)[:, None] + np.arange(w)[None, :]
        return end[idx].max(axis=1), None

    return probe


#: largest deviation an explanation states, in owner-σ: beyond it the owner's own spread (a
#: feature they never varied) makes the number meaningless — it only says "far outside"
DEVIATION_CAP = 99.0


def owner_spread(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The owner's per-feature median and robust spread — ``ModalityModel.feature_center`` and
    ``feature_scale``, from the rows the detector was fitted on; they only explain scores (which
    features deviated most), never make them.

    Spread: IQR / 1.349 (the σ of a normal). A feature whose middle half is one value (timing
    quantised by the recorder: most Balabit actions have a median time step of 0) has no IQR;
    it gets the mean absolute deviation from the median × 1.2533 (also σ for a normal), and a
    feature the owner never varied 10 % of its median (1e-9 at 0; such deviations are capped when
    shown, :data:`DEVIATION_CAP`). "Never varied" includes rounding noise: a spread below a
    millionth of the median (a 16 ms time step stored as 0.016000000000000014 in some rows
    had a spread of 1e-17, and a replayed impostor's 0.0156 read as 99 σ in every decision)."""
    center = np.median(X, axis=0)
    q75, q25 = np.percentile(X, [75, 25], axis=0)
    iqr = (q75 - q25) / 1.349
    mad = np.mean(np.abs(X - center), axis=0) * 1.2533 if len(X) else np.zeros_like(center)
    noise = np.abs(center) * 1e-6
    fallback = np.where(mad > noise, mad, np.maximum(np.abs(center) * 0.1, 1e-9))
    return center, np.where(iqr > noise, iqr, fallback)


@dataclass
class ModalityModel:
    """A modality's feature function, fitted detector and owner calibration.

    ``feature_names`` with ``feature_center``/``feature_scale`` (the owner's per-feature median
    and spread) are optional: with them every score names the features that deviated most.
    ``weight`` is this modality's default weight in the trust fusion: the share of a row's
    evidence that is new. Overlapping keystroke windows (a window of 50 keys every 10) share
    4/5 of their keys, so each weighs ``step / window`` — otherwise one odd stretch of typing
    would be counted five times; trust then falls per *keystroke* as fast as with disjoint
    windows, only more smoothly. ``TrustConfig.modality_weights`` overrides it."""

    detector: Scorer
    calibration: Calibration
    features: FeatureFn
    settle_s: float = 1.0
    feature_names: Sequence[str] | None = None
    feature_center: np.ndarray | None = None
    feature_scale: np.ndarray | None = None
    probe: Probe | None = None
    weight: float = 1.0

    @classmethod
    def pointer(cls, detector: Scorer, calibration: Calibration,
                cfg: PointerConfig | None = None, **kw: Any) -> ModalityModel:
        """Pointer actions: :func:`pointer_features` exactly as offline evaluation calls it."""
        return cls(detector, calibration, partial(pointer_features, cfg=cfg), settle_s=0.0,
                   feature_names=POINTER_FEATURE_NAMES, probe=pointer_probe(cfg), **kw)

    @classmethod
    def keyboard(cls, detector: Scorer, calibration: Calibration, window: int = KEY_WINDOW,
                 step: int = KEY_STEP, **kw: Any) -> ModalityModel:
        """Keystroke windows: :func:`keystroke_windows` with the model's window and step."""
        kw.setdefault("weight", min(step / window, 1.0) if window else 1.0)
        return cls(detector, calibration, partial(keystroke_windows, window=window, step=step),
                   feature_names=KEY_FEATURE_NAMES, probe=keys_probe(window, step), **kw)


class ScoringConfig(BaseModel):
    """Streaming options (module docstring)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    injected: Literal["score", "distrust", "ignore"] = Field(
        default="distrust",
        description="injected input (XTEST, SendInput): distrust (each burst is an impostor "
        "action) | score (like any input) | ignore",
    )
    burst_gap_s: float = Field(
        default=1.0, gt=0.0, description="injected events closer than this form one burst"
    )
    burst_min_events: int = Field(
        default=2, ge=1, description="smaller injected bursts are not charged"
    )
    warp_hold_s: float = Field(
        default=0.5, ge=0.0, description="pointer input this soon after an app warped the "
        "pointer is steered by the app (a game's mouse look), not scored"
    )
    flush_after_s: float = Field(
        default=3.0, gt=0.0, description="score an unfinished action after this much silence"
    )
    max_buffer_events: int = Field(
        default=20_000, ge=100, description="cap on one modality's buffer of events"
    )
    stuck_s: float = Field(default=10.0, gt=0.0, description="a longer hold is a stuck key")
    top_deviations: int = Field(
        default=3, ge=0, description="most-deviating features stored with each score"
    )


@dataclass(frozen=True)
class Score:
    """One scored action or window (higher = more likely an impostor)."""

    modality: str
    score: float
    t_start_ns: int
    t_end_ns: int
    injected: bool = False
    deviations: tuple[tuple[str, float], ...] = field(default=())

    def evidence(self) -> dict[str, Any]:
        return {"modality": self.modality, "t_end_ns": self.t_end_ns,
                "deviating_features": [[n, v] for n, v in self.deviations],
                "injected": self.injected}


class _Stream:
    """One modality's buffer and its emitted-row bookkeeping."""

    def __init__(self, name: str, model: ModalityModel, cfg: ScoringConfig,
                 absence_ns: int | None = None) -> None:
        self.name = name
        self.model = model
        self.cfg = cfg
        self.absence_ns = absence_ns
        self.before_absence: list[Score] = []  # scored at an absence, for the caller to take
        self.buf = np.zeros(0, EVENT_DTYPE)
        self.last_key: tuple[int, int] | None = None  # (t_start, t_end) of the last emitted row
        self.n_new = 0  # events appended since the last pull
        self.dropped = 0
        # a final pull saw everything in the buffer: until new events arrive, another would
        # only recompute the anchor — at every timer call (the agent's: once a second) while the
        # machine sits idle (tests/bench/test_bench_engine.py, idle tick)
        self.settled = False
        self._held: tuple[tuple[int, int, int], int | None] | None = None  # held_since's memo

    def push(self, ev: np.ndarray) -> None:
        if self.absence_ns is not None and len(ev):
            t = ev["t_ns"].astype(np.int64)
            prev = np.r_[int(self.buf["t_ns"][-1]) if len(self.buf) else int(t[0]), t[:-1]]
            start = 0
            for cut in np.flatnonzero(t - prev > self.absence_ns).tolist():
                self._append(ev[start:cut])
                self.before_absence += self.pull(final=True)  # what was left, as it ended
                self.buf = np.zeros(0, EVENT_DTYPE)  # rows never span the absence
                start = cut
            ev = ev[start:]
        self._append(ev)

    def _append(self, ev: np.ndarray) -> None:
        if len(ev):
            self.buf = np.concatenate([self.buf, ev]) if len(self.buf) else ev.copy()
            self.n_new += len(ev)
            self.settled = False
        over = len(self.buf) - self.cfg.max_buffer_events
        if over > 0:  # a row that never completes: keep the newest half
            cut = len(self.buf) - self.cfg.max_buffer_events // 2
            self.buf = self.buf[cut:]
            self.dropped += cut

    @property
    def last_t(self) -> int | None:
        return int(self.buf["t_ns"][-1]) if len(self.buf) else None

    def held_since(self) -> int | None:
        """Press time of the earliest button or key still held (None: nothing held). A hold
        longer than ``stuck_s`` before the latest event counts as stuck and is ignored.

        Remembered for the buffer it was computed on (its length and first and last times):
        the agent asks at every pass of its loop (:meth:`StreamScorer.next_flush_ns`), ~70 µs
        each, while the buffer changes only when input arrives."""
        b = self.buf
        if not len(b):
            return None
        key = (len(b), int(b["t_ns"][0]), int(b["t_ns"][-1]))
        if self._held is not None and self._held[0] == key:
            return self._held[1]
        held = self._held_since(b)
        self._held = (key, held)
        return held

    def _held_since(self, b: np.ndarray) -> int | None:
        k, t = b["kind"], b["t_ns"]
        presses: list[int] = []
        bi = np.flatnonzero(np.isin(k, _BUTTON_KINDS))
        if len(bi) and k[bi[-1]] == Kind.BUTTON_DOWN:
            presses.append(int(t[bi[-1]]))
        down = k == Kind.KEY_DOWN
        if down.any():
            held = ~np.isin(b["x"][down], b["x"][k == Kind.KEY_UP])
            if held.any():
                presses.append(int(t[down][held].min()))
        fresh = [p for p in presses if p >= int(t.max()) - int(self.cfg.stuck_s * 1e9)]
        return min(fresh) if fresh else None

    def _may_have_news(self) -> bool:
        """The probe's verdict: could a new row be complete? (False negatives only delay.)"""
        probe = self.model.probe
        if probe is None:
            return True
        te, closed = probe(self.buf, self.n_new)
        te = np.asarray(te, np.int64)
        new = te > self.last_key[1] if self.last_key is not None else np.ones(len(te), bool)
        if closed is not None:
            return bool((new & np.asarray(closed, bool)).any())
        last = int(self.buf["t_ns"].max())
        ok = new & (te + int(self.model.settle_s * 1e9) <= last)
        if not ok.any():  # the common case while typing: skip the hold check
            return False
        held = self.held_since()
        if held is not None:
            ok &= te < held
        return bool(ok.any())

    def pull(self, final: bool) -> list[Score]:
        if final and self.settled:
            return []
        news = final or (len(self.buf) > 0 and self._may_have_news())
        self.n_new = 0
        self.settled = final
        if not news or not len(self.buf):
            return []
        rows = self.model.features(self.buf)
        ts = np.asarray(rows.t_start_ns, np.int64)
        te = np.asarray(rows.t_end_ns, np.int64)
        if len(ts) == 0:
            return []
        if self.last_key is None:
            new = np.ones(len(ts), bool)
        else:
            a, b = self.last_key
            new = (ts > a) | ((ts == a) & (te > b))
        if final:
            done = np.ones(len(ts), bool)
        else:
            closed = getattr(rows, "closed", None)
            if closed is not None:
                done = np.asarray(closed, bool)
            else:
                last = int(self.buf["t_ns"].max())
                done = te + int(self.model.settle_s * 1e9) <= last
                held = self.held_since()
                if held is not None:  # a row holding a pressed key is not finished
                    done &= te < held
        ok = new & done
        # emit the leading run of complete new rows, in order; later ones wait their turn
        first_new = int(np.argmax(new)) if new.any() else len(ts)
        pending = np.flatnonzero(new & ~done)
        stop = int(pending[0]) if len(pending) else len(ts)
        idx = np.flatnonzero(ok[:stop])
        idx = idx[idx >= first_new]
        if len(idx) == 0:
            return []
        X = np.asarray(rows.X)[idx]
        scores = np.asarray(self.model.detector.score(X), dtype=np.float64).ravel()
        devs = self._deviations(X)
        out = [Score(self.name, float(scores[k]), int(ts[i]), int(te[i]), False, devs[k])
               for k, i in enumerate(idx)]
        j = int(idx[-1])
        self.last_key = (int(ts[j]), int(te[j]))
        self.buf = self.buf[self.buf["t_ns"] >= ts[j]]  # keep the last row as the anchor
        return out

    def _deviations(self, X: np.ndarray) -> list[tuple[tuple[str, float], ...]]:
        m, k = self.model, self.cfg.top_deviations
        if k == 0 or m.feature_names is None or m.feature_center is None \
                or m.feature_scale is None:
            return [()] * len(X)
        sc = np.where(np.asarray(m.feature_scale) > 0, m.feature_scale, 1.0)
        d = np.clip((X - np.asarray(m.feature_center)) / sc, -DEVIATION_CAP, DEVIATION_CAP)
        top = np.argsort(-np.abs(d), axis=1)[:, :k]
        names = list(m.feature_names)
        return [tuple((names[c], round(float(d[r, c]), 2)) for c in top[r])
                for r in range(len(X))]


class StreamScorer:
    """Incremental scorer over event batches (module docstring)."""

    def __init__(self, models: Mapping[str, ModalityModel],
                 devices: Mapping[int, DeviceType | int] | None = None,
                 cfg: ScoringConfig | None = None, absence_s: float | None = None) -> None:
        self.cfg = cfg or ScoringConfig()
        self.models = dict(models)
        self.devices = {int(k): DeviceType(int(v)) for k, v in (devices or {}).items()}
        absence_ns = None if absence_s is None else int(absence_s * 1e9)
        self.streams = {name: _Stream(name, m, self.cfg, absence_ns)
                        for name, m in self.models.items()}
        self.unmodelled = 0  # events no model covers (counted, never silently lost)
        # of them, pointer events per modality a model of its own would score
        # (``pointer:touchpad``…): the agent enrols such a new kind of device by itself
        self.unmodelled_pointer: dict[str, int] = {}
        self.steered = 0  # pointer events left out as steered by an app's warps
        self._warp_last: int | None = None
        self._burst_n = 0
        self._burst_start = 0
        self._burst_last: int | None = None
        self.last_event_ns: int | None = None

    # --------------------------------------------------------------------------- routing
    def modality_for_device(self, device: int) -> str | None:
        dt = self.devices.get(int(device), DeviceType.UNKNOWN)
        for name in (pointer_modality(dt), POINTER,
                     pointer_modality(DeviceType.MOUSE) if dt == DeviceType.UNKNOWN else ""):
            if name in self.streams:
                return name
        return None

    def _route(self, ev: np.ndarray) -> set[str]:
        """Append events to their modality buffers; the names of the buffers that grew."""
        touched: set[str] = set()
        k = ev["kind"]
        is_key = (k == Kind.KEY_DOWN) | (k == Kind.KEY_UP)
        keys = ev[is_key]
        if len(keys):
            if KEYBOARD in self.streams:
                self.streams[KEYBOARD].push(keys)
                touched.add(KEYBOARD)
            else:
                self.unmodelled += len(keys)
        ptr = ev[~is_key]
        devs = ptr["device"]
        if not len(devs):
            return touched
        if (devs == devs[0]).all():  # the usual case: one pointing device
            groups = [(int(devs[0]), ptr)]
        else:
            groups = [(int(d), ptr[devs == d]) for d in np.unique(devs)]
        for dev, sel in groups:
            name = self.modality_for_device(dev)
            if name is None:
                self.unmodelled += len(sel)
                dt = self.devices.get(dev, DeviceType.UNKNOWN)
                # what training would learn from: never injected input (scored or not)
                n = int(np.count_nonzero((sel["flags"] & int(Flag.INJECTED)) == 0))
                if n and dt not in (DeviceType.VIRTUAL, DeviceType.KEYBOARD):
                    own = pointer_modality(DeviceType.MOUSE if dt == DeviceType.UNKNOWN else dt)
                    self.unmodelled_pointer[own] = self.unmodelled_pointer.get(own, 0) + n
            else:
                self.streams[name].push(sel)
                touched.add(name)
        return touched

    # --------------------------------------------------------------------------- API
    def feed(self, events: np.ndarray) -> list[Score]:
        """Consume a batch (EVENT_DTYPE, time-ordered) and return the scores it completed."""
        ev = np.asarray(events)
        if ev.dtype != EVENT_DTYPE:
            ev = ev.astype(EVENT_DTYPE)
        if not len(ev):
            return []
        self.last_event_ns = int(ev["t_ns"][-1])
        out: list[Score] = []
        flags = ev["flags"]
        warps = ev["t_ns"][(flags & int(Flag.WARPED)) != 0]
        if self.cfg.injected != "score":
            drop = (flags & int(Flag.INJECTED)) != 0
            if drop.any() and self.cfg.injected == "distrust":
                charged = drop & ((flags & int(Flag.WARPED)) == 0)
                if charged.any():
                    out += self._bursts(ev["t_ns"][charged])
        else:
            drop = (flags & int(Flag.WARPED)) != 0
        if drop.any():
            ev = ev[~drop]
        if len(warps) or self._warp_last is not None:
            ev = self._unsteered(ev, warps)
        for name in sorted(self._route(ev)):
            st = self.streams[name]
            if st.before_absence:
                out += st.before_absence
                st.before_absence = []
            out += st.pull(final=False)
        out.sort(key=lambda s: s.t_end_ns)
        return out

    def next_flush_ns(self) -> int | None:
        """When :meth:`flush` will next have something to score if no input comes: the earliest
        ``flush_after_s`` of silence after a stream's last event (streams holding a button or
        key, or already flushed, wait for input) or the end of an open injected burst; None
        when only input can complete anything. The agent wakes then, so an action completed
        by silence is scored at that moment, not at its next tick."""
        horizon = int(self.cfg.flush_after_s * 1e9)
        due = [last + horizon for st in self.streams.values()
               if not st.settled and (last := st.last_t) is not None and st.held_since() is None]
        if self._burst_last is not None:
            due.append(self._burst_last + int(self.cfg.burst_gap_s * 1e9) + 1)
        return min(due) if due else None

    def flush(self, now_ns: int | None = None) -> list[Score]:
        """Score what silence has completed: rows idle for ``flush_after_s`` at ``now_ns`` (a
        timer tick), or everything pending when ``now_ns`` is None (end of a recording)."""
        out: list[Score] = []
        horizon = int(self.cfg.flush_after_s * 1e9)
        for s in self.streams.values():
            last = s.last_t
            if last is None:
                continue
            if now_ns is None or (now_ns - last >= horizon and s.held_since() is None):
                out += s.pull(final=True)
        if self._burst_last is not None and (
                now_ns is None or now_ns - self._burst_last > self.cfg.burst_gap_s * 1e9):
            out += self._close_burst()
        out.sort(key=lambda s: s.t_end_ns)
        return out

    # --------------------------------------------------------------------------- injected
    def _unsteered(self, ev: np.ndarray, warps: np.ndarray) -> np.ndarray:
        """``ev`` less the pointer events within ``warp_hold_s`` after a warp (module
        docstring): while an app keeps re-centring the cursor, what the pointer does is the
        app's doing as much as the person's."""
        marks = warps if self._warp_last is None else np.concatenate(
            [np.array([self._warp_last], np.int64), warps])
        if len(warps):
            self._warp_last = int(warps[-1])
        hold = int(self.cfg.warp_hold_s * 1e9)
        t = ev["t_ns"]
        last = np.searchsorted(marks, t, side="right") - 1
        steered = (last >= 0) & (t - marks[np.maximum(last, 0)] <= hold)
        k = ev["kind"]
        steered &= (k != Kind.KEY_DOWN) & (k != Kind.KEY_UP)
        if len(t) and self._warp_last is not None and int(t[-1]) - self._warp_last > hold:
            self._warp_last = None  # the hold is over: later batches skip this check
        if steered.any():
            self.steered += int(steered.sum())
            return ev[~steered]
        return ev

    def _bursts(self, t: np.ndarray) -> list[Score]:
        out: list[Score] = []
        gap = int(self.cfg.burst_gap_s * 1e9)
        prev = np.concatenate([[self._burst_last if self._burst_last is not None else -gap - 1],
                               t[:-1]])
        breaks = np.flatnonzero(t - prev > gap)
        bounds = [*breaks.tolist(), len(t)]
        i = 0
        for b in bounds:
            if b > i:  # events i..b-1 continue the open burst
                if self._burst_last is None:
                    self._burst_start = int(t[i])
                self._burst_n += b - i
                self._burst_last = int(t[b - 1])
            if b < len(t):  # a new burst starts at b
                out += self._close_burst()
                i = b
        return out

    def _close_burst(self) -> list[Score]:
        n, start, last = self._burst_n, self._burst_start, self._burst_last
        self._burst_n, self._burst_last = 0, None
        if last is None or n < self.cfg.burst_min_events:
            return []
        return [Score(INJECTED, float("inf"), start, last, True, (("injected_events", n),))]
