"""Trust: fuse a stream of detector scores (pointer and keyboard) into one level in [0, 100].

Two models share one recursion and one interface (``update(modality, score, t_ns)``,
``reset()``); they differ only in how much one scored action or window moves the level.

**Mondal & Bours** (:class:`MondalBoursTrust`; "Continuous authentication using mouse
dynamics", BIOSIG 2013; "A study on continuous authentication using a combination of keystroke
and mouse biometrics", Neurocomputing 2017). Trust starts at 100 and each action changes it by

    ΔT(z) = min(-D + D·(1 + 1/C) / (1/C + exp((z - A) / B)), C)

where ``z = (score - threshold) / scale`` is the score normalised by that modality's own
calibration (:class:`Calibration`, from the owner's held-out scores), so pointer and keyboard
evidence is commensurable. The paper writes the same sigmoid for similarity scores
(higher = owner); ours are impostor scores (DESIGN.md), hence ``+z`` in the exponent. ΔT is 0 at
``z = A``, tends to ``+C`` (reward) for scores well below it and to ``-D`` (penalty) above it,
and is strictly decreasing in the score.

**Fusion window**: ``z`` is not computed from one action's score but from the mean of the
modality's last ``window`` scores (:class:`Calibration` ``window``, :data:`FUSION_WINDOW` = 5;
fewer right after a reset, or after a gap of more than ``idle_after_s`` in *that modality's*
scores, which empty it — the same limit as an absence: after a lunch break, and also after an
hour of typing only, the first pointer actions are not averaged with pointer scores from
before; until 2026-12-08 only a gap in *all* input emptied the windows. A window that merely
spans more than a minute of slow work is kept whole: it is what the owner's held-out scores
were averaged over, and forgetting by age instead cost one more false lock on Balabit's test
sessions, ANGA 2,442 -> 2,299, for ANIA 27.0 -> 26.9), and
normalised by the statistics of the owner's held-out scores averaged the same way
(``Calibration.fused``). One action's score is weak evidence (per-action AUC ≈ 0.72 for most
Balabit users); a short mean is stronger and still reacts within a few actions, and the trust
recursion then needs a smaller per-step penalty for the same false-lock rate. Training and
evaluation calibrate with the same window (``activesec train``, ``evaluate --continuous``); a
model card without one loads as window 1, exactly as it was calibrated.

Defaults and how they were chosen:

* ``max_penalty`` D = 6 and ``lock_level`` 40: from full trust no single action, nor nine in a
  row, can lock through this penalty (60 / 6 = 10 worst-case actions; the extreme-evidence
  penalty below shortens that to 3 for windows far beyond the owner's range) — "one odd action
  never locks" holds by construction, not by luck: with the fusion window one extreme score is
  also averaged with its neighbours, after being clipped at the owner's median + 6 owner-σ
  (:data:`WINDOW_CLIP`), so it costs at most D in each of the windows it sits in.
* ``max_reward`` C = 1: trust is rebuilt slowly (a penalty of 6 takes ~6 owner-like actions
  to repay), so an impostor cannot wash out penalties with a few lucky actions.
* ``width`` B = 0.5 (in owner-σ units): the sigmoid is nearly saturated one σ from ``A``, so a
  clear impostor action costs almost the full D while the owner's typical action (≈ 1.6 σ
  below a 5 %-FAR threshold) earns almost the full C.
* ``neutral_z`` A = -0.3: the break-even point sits 0.3 owner-σ below the owner's 5 %-FAR
  threshold: impostor actions of a weak per-action detector mostly fall between the owner's
  median and that threshold, and with A = 0 they earned rewards.
* How (window, D, A) were chosen — on **training data only**: per Balabit user, the default
  population detector fitted on the first 80 % of the training actions, its owner's last 20 %
  as an owner stream (24,104 actions over 10 users) and other users' held-out training actions
  (100-action chunks) as impostors; a grid window ∈ {3, 4, 5, 8} × D ∈ {5, 6, 8} ×
  A ∈ {-0.6 … 0}; keep the settings whose owner streams had at most 6 false locks (the
  one-sided 95 % Poisson bound then stays below one lock per 2,000 actions, issue 4's ANGA
  target) with both detector versions of this session (raw and owner-normalised extra
  trees), and of those the lowest worst-case mean impostor actions to lock: (5, 6, -0.3).
  Replaying the labelled test sessions (offline simulation of the continuous evaluator on
  cached scores): ANIA 28.3 / 29.6 actions (ANGA 2,052 / 1,856) against 34.5 / 34.6
  (ANGA 1,695 / 2,293) for the former defaults (no window, D = 10, A = -0.5, which had been
  chosen on the test sessions). At equal ANGA the window saves ~4-6 impostor actions; neither
  setting reaches ANIA <= 15 — with per-action AUC ≈ 0.72 a sequential test needs ~20+ actions
  for a false-lock rate of 1 in 2,000 (see :mod:`activesec.evaluate.continuous`).
  Weighting the window's mean by action length (longer actions separate people better, see
  :mod:`activesec.features.pointer`) was measured on that split and not kept: with weights
  √n, log(1 + n) or min(n, 30) of the action's points, fewer impostor chunks were locked at
  the same number of owner false locks (e.g. 6 false locks: 37.9 impostor actions, unlocked
  chunks counted at 100, unweighted; 43.7 with log(1 + n)). Not for lack of a length effect:
  on that split the impostors' mean score sits 1.2 owner-σ above the owner's for actions of
  < 6 points and 5.0 for 30+; why weighting did not turn that into earlier locks is not
  understood (one hypothesis: the rarer long actions then dominate whole windows).
  Normalising each score by the owner's own statistics for its length bin (< 6, 6-9, 10-15,
  16-29, 30+ points; median and spread from the calibration rows, clipped at 6) before the
  window, same split: 13 false locks and 1,891 chunks locked (30.7 actions, censored) against
  13 and 1,861 (32.0) without; at 23-25 false locks 26.2 against 27.0 — a steady gain of 1-1.5
  actions, too small for the model-format change it needs (per-bin statistics in the card,
  the action's length passed to the trust model), so not built.
  The simulation is a command: ``activesec evaluate balabit --data PATH --tune-trust --grid
  window=3,5 --grid neutral_z=-0.3,-0.1`` (:mod:`activesec.evaluate.trust_tuning`, with the
  figures of 2026-12-04: with the current detector and the extreme-evidence penalty below, the
  defaults have 15 owner false locks on that split, more than the 6 of the rule above).

**Extreme evidence** (``extreme_z`` = 2.5, ``extreme_slope`` = 12, ``max_step`` = 30): Mondal &
Bours' penalty saturates at D, so a window mean far beyond anything the owner produces costs no
more than one just past the threshold — evidence is thrown away. Beyond ``extreme_z`` (in the
same fused owner-σ units) the penalty keeps growing by ``extreme_slope`` per σ, up to
``max_step`` per action in all (validated below ``100 - lock_level``: one action still never
locks from full trust). It applies only to scores normalised by fused statistics (a
calibration window > 1): single actions' z is too heavy-tailed for it (a synthetic Student-t
owner with 1 % outliers then locks within 10,000 actions), and models calibrated without a
window keep the plain penalty. What prompted it: in Balabit's labelled test sessions the
genuine fused z exceeds 2 in 0.1 % of windows and 3 in 0.02 %, the impostors' in 23 % and
19 %. The values were then chosen on **training data only**, with the split described above
but this session's detector (cross-fitted, owner-normalised extra trees fitted on each user's
first 64 % of training actions, calibrated on the next 16 %; owner streams = the last 20 %,
24,104 actions; impostors = the other users' last 20 % in 2,124 chunks of 100 actions), two
seeds: the grid ``extreme_z`` ∈ {1, 1.5, 2, 2.5, 3} × slope ∈ {3, 6, 12} × cap ∈ {12, 20, 30}
(seed 0) and {2, 2.5, 3} × {6, 12} × {30, 40} (seed 1), keeping settings with no more owner
false locks than without the extension (13 and 11). (2.5, 12, 30) locked impostor chunks after
22.4 / 22.7 actions on average against 25.8 / 26.1 without it, at 13 / 12 false locks; lower
thresholds lock sooner still (1.0: 19-21 actions) but at 18-25 false locks. Injected input
(``+inf``) keeps costing D: its rule, not this extension, decides how hard it counts.

On a synthetic heavy-tailed owner stream (Student-t, 4 dof; calibrated on 20,000 of its scores,
window 5) these defaults locked 26 times in 600,000 owner actions (16 without the
extreme-evidence penalty; the former defaults without a window: 12), and impostors shifted by
d' owner-σ locked after 19.9 actions on average at d' = 1 (without the extreme penalty: 21.2;
former defaults: 40), 11.0 at d' = 1.5 (13.1; 18.3), 5.4 at d' = 2.3 (11.1; 9.5) and 3.5 at
d' = 3 (11.0; 7.6): the extreme penalty lifts the floor of 11 actions that D = 6 alone sets,
so a strong detector's impostor is caught in a handful of actions.

**Sequential probability ratio test** (:class:`SprtTrust`): the owner's normalised score
``u = (score - center) / scale`` is modelled N(0, 1), an impostor's N(δ, 1); each observation adds
its log-likelihood ratio ``llr = δ·u - δ²/2`` (clipped to ±``sprt_llr_clip`` so one extreme
action cannot decide alone) to a CUSUM statistic ``S = max(0, S + llr)`` — Wald's SPRT restarted
at 0 whenever the evidence favours the owner, the standard form for detecting a *change* of user
at an unknown time. The lock boundary is Wald's ``h = log((1 - β) / α)``. ``S`` maps linearly onto
trust (``trust = 100 - (100 - lock_level) · S / h``), so both models feed the same policy and
``S ≥ h`` is exactly ``trust ≤ lock_level``. Defaults: δ = 2 (per-action AUC ≈ 0.92, a
conservative guess at the detectors' separation), α = 1e-5 and β = 0.01 (h ≈ 11.5), clip 2 —
one odd action then costs at most ~10 trust, as in the model above. On the same synthetic
streams: no lock in 600,000 owner actions; impostors at d' = 2.3 locked after 8 actions
(d' = 1.5: 17; d' = 3: 7). It relies on a Gaussian owner: on Balabit's heavy-tailed scores it
locked 228 / 405 impostor sessions (ANIA 28) with 4 false locks (ANGA ≈ 8,700) — less
separation than Mondal & Bours with A = -0.5 there, hence not the default. (Those figures
predate the fusion window, which it uses too: ``u`` is then of the window mean.) A per-user
*fitted* LLR instead of the Gaussian one — logistic or isotonic regression of each owner's
held-out scores against other people's held-out scores, class-balanced — was tried in the same
offline simulation and did not do better than the model above (ANIA 30-33 at ANGA 1,700-2,050,
locking fewer impostor sessions); even an LLR fitted on the test labels themselves reached
only ANIA 21.5 at ANGA 400: the per-action separation, not the shape of the update, limits.

**Idle decay** (both models): a gap of more than ``idle_after_s`` between two scored actions lets
trust decay toward ``idle_neutral`` with time constant ``idle_tau_s`` — but only *downward*.
Absence of evidence lowers confidence that the same person is still there (the walk-away
attack), and never raises it: an impostor cannot regain trust by waiting.

**Injected input** scored with ``score = +inf`` (see :mod:`activesec.engine.scoring`) costs the
full penalty; a NaN score is ignored.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from activesec.core.errors import DataError, ModelError
from activesec.core.events import DeviceType
from activesec.detectors.calibrate import calibrate

INJECTED = "injected"  # modality of synthetic impostor observations for injected input
#: the modalities trust fuses, keyed as the engine's models are (``scoring.KEYBOARD``,
#: ``scoring.pointer_modality``), and injected input: what ``modality_weights`` may name
MODALITIES = ("keyboard", *(f"pointer:{d.name.lower()}" for d in DeviceType), INJECTED)
MAX_TRUST = 100.0
#: scores of one modality averaged before normalisation (module docstring, *fusion window*)
FUSION_WINDOW = 5
#: a score enters a fusion window clipped at the owner's median + this many owner-σ
WINDOW_CLIP = 6.0
#: default ``idle_after_s``: a longer gap is an absence — trust decays, and no keystroke window
#: spans it, live (:mod:`activesec.engine.scoring`, *Absences*) nor in training and evaluation
#: (:func:`activesec.features.keys.keystroke_windows_between_absences`)
IDLE_AFTER_S = 60.0


def rolling_mean(scores: object, window: int, starts: object = None) -> np.ndarray:
    """Mean of each score with up to ``window - 1`` scores before it (vectorised).

    The first scores of a run average fewer (a run starts at index 0 and wherever ``starts``,
    a boolean mask, is true — after a reset or a gap in the modality's scores). NaN stays NaN
    and is left out of the later means, as the live model ignores it; a window holding +inf
    (or -inf) averages to it (both: NaN)."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    if window <= 1 or not len(s):
        return s.copy()
    idx = np.flatnonzero(~np.isnan(s))
    v = s[idx]
    run = np.zeros(len(s), np.int64) if starts is None else np.cumsum(
        np.asarray(starts, dtype=bool).ravel())
    r = run[idx]
    first = np.r_[True, r[1:] != r[:-1]]  # the first valid score of each run
    run_start = np.maximum.accumulate(np.where(first, np.arange(len(v)), 0))
    i = np.arange(1, len(v) + 1)
    lo = np.maximum(run_start, i - window)

    def win_sum(x: np.ndarray) -> np.ndarray:
        c = np.r_[0.0, np.cumsum(x)]
        return c[i] - c[lo]

    fin = np.isfinite(v)
    m = win_sum(np.where(fin, v, 0.0)) / (i - lo)
    if not fin.all():
        pos, neg = win_sum(v == np.inf) > 0, win_sum(v == -np.inf) > 0
        m = np.where(pos & neg, np.nan, np.where(pos, np.inf, np.where(neg, -np.inf, m)))
    out = np.full(len(s), np.nan)
    out[idx] = m
    return out


def _owner_stats(s: np.ndarray, target_far: float) -> tuple[float, float, float]:
    """(threshold, scale, center) of owner scores (see :class:`Calibration`)."""
    center = float(np.median(s))
    threshold = calibrate(s, target_far)  # the project's one definition of the threshold
    scale = (threshold - center) / NormalDist().inv_cdf(1.0 - target_far)
    if not scale > 0:  # degenerate (most scores equal): fall back to the spread, then 1e-9
        scale = float(np.std(s)) or 1e-9
    return threshold, float(scale), center


@dataclass(frozen=True)
class Calibration:
    """How one modality's detector scores relate to its owner (learnt on held-out owner data).

    ``threshold``: the owner score exceeded by at most ``target_far`` of the owner's scores
    (:func:`activesec.detectors.calibrate.calibrate`); ``center``: the owner's
    median score; ``scale``: the owner's spread, ``(threshold - center) / Φ⁻¹(1 - far)`` — σ for a
    normal owner distribution, robust to a heavy upper tail.

    ``window`` and ``fused``: the trust model averages the modality's last ``window`` scores
    before normalising them (module docstring, *fusion window*); ``fused`` holds the same three
    statistics ``(threshold, scale, center)`` of the owner's held-out scores averaged that way
    (None when ``window`` is 1). All of them move with an affine change of the detector's score
    scale, so the trust model's input does not."""

    threshold: float
    scale: float
    center: float
    target_far: float = 0.05
    window: int = 1
    fused: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        stats = [(self.threshold, self.scale, self.center)]
        if self.fused is not None:
            if len(self.fused) != 3:
                raise ModelError("calibration 'fused' must be (threshold, scale, center)",
                                 "retrain with `activesec train`")
            stats.append(tuple(self.fused))  # type: ignore[arg-type]
        for thr, scale, center in stats:
            if not (math.isfinite(thr) and math.isfinite(center)):
                raise ModelError("calibration threshold/center must be finite",
                                 "retrain with `activesec train`")
            if not (scale > 0 and math.isfinite(scale)):
                raise ModelError(f"calibration scale must be > 0, got {scale}",
                                 "retrain with `activesec train`")
        if not (isinstance(self.window, int) and self.window >= 1) or (
                self.window > 1 and self.fused is None):
            raise ModelError(f"calibration window must be an integer >= 1 (with fused "
                             f"statistics when > 1), got {self.window!r}",
                             "retrain with `activesec train`")

    @classmethod
    def from_scores(cls, genuine_scores: object, target_far: float = 0.05,
                    window: int = 1) -> Calibration:
        """Calibrate on the owner's held-out scores (at least 10, finite), in time order when
        ``window`` > 1 (``fused`` is then of their means over ``window`` consecutive scores)."""
        s = np.asarray(genuine_scores, dtype=np.float64).ravel()
        s = s[np.isfinite(s)]
        if len(s) < 10:
            raise DataError(f"need >= 10 finite held-out owner scores to calibrate, got {len(s)}",
                            "enrol longer before training")
        if not 0.0 < target_far < 0.5:
            raise DataError(f"target_far must be in (0, 0.5), got {target_far}",
                            "use e.g. 0.05")
        if not (isinstance(window, int) and window >= 1):
            raise DataError(f"window must be an integer >= 1, got {window!r}", "use e.g. 5")
        threshold, scale, center = _owner_stats(s, target_far)
        fused = _owner_stats(rolling_mean(s, window), target_far) if window > 1 else None
        return cls(threshold=threshold, scale=scale, center=center, target_far=target_far,
                   window=window, fused=fused)

    def _stats(self, fused: bool) -> tuple[float, float, float]:
        if fused and self.fused is not None:
            return self.fused
        return self.threshold, self.scale, self.center

    def z(self, score: np.ndarray | float, *, fused: bool = False) -> np.ndarray:
        """Distance above the threshold in owner-σ units (Mondal & Bours model input); with
        ``fused``, of a mean over the fusion window."""
        thr, scale, _ = self._stats(fused)
        return (np.asarray(score, dtype=np.float64) - thr) / scale

    def clip(self, score: np.ndarray | float) -> np.ndarray:
        """``score`` capped at ``center + WINDOW_CLIP · scale`` (per-action statistics) before
        it enters a fusion window, so one unbounded score (a one-class detector far from
        anything it saw) cannot make every window it sits in extreme; ±inf (injected input)
        and NaN pass unchanged."""
        s = np.asarray(score, dtype=np.float64)
        cap = self.center + WINDOW_CLIP * self.scale
        return np.where(np.isfinite(s) & (s > cap), cap, s)

    def u(self, score: np.ndarray | float, *, fused: bool = False) -> np.ndarray:
        """Distance above the owner's median in owner-σ units (SPRT model input); with
        ``fused``, of a mean over the fusion window."""
        _, scale, center = self._stats(fused)
        return (np.asarray(score, dtype=np.float64) - center) / scale




class TrustConfig(BaseModel):
    """Trust model parameters (module docstring explains the defaults)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: Literal["mondal_bours", "sprt"] = Field(
        default="mondal_bours", description="mondal_bours (trust level) | sprt (sequential test)"
    )
    lock_level: float = Field(
        default=40.0,
        gt=0.0,
        lt=MAX_TRUST,
        description="trust below this locks (sets policy.lock_below too)",
    )
    # Mondal & Bours (in owner-σ units relative to the calibrated threshold)
    neutral_z: float = Field(default=-0.3, description="A: z where an action changes nothing")
    width: float = Field(default=0.5, gt=0.0, description="B: sigmoid width")
    max_reward: float = Field(default=1.0, gt=0.0, description="C: largest gain per action")
    max_penalty: float = Field(default=6.0, gt=0.0, description="D: largest loss per action")
    # extreme evidence (module docstring): beyond extreme_z the penalty keeps growing
    extreme_z: float | None = Field(default=2.5, description="z where the penalty passes D "
                                    "(very large: Mondal & Bours' saturating penalty only)")
    extreme_slope: float = Field(default=12.0, ge=0.0, description="extra loss per σ beyond it")
    max_step: float = Field(default=30.0, gt=0.0, description="largest loss per action overall")
    # SPRT / CUSUM
    sprt_shift: float = Field(default=2.0, gt=0.0, description="δ: impostor mean, owner-σ units")
    sprt_alpha: float = Field(default=1e-5, gt=0.0, lt=0.5, description="false locks/test")
    sprt_beta: float = Field(default=0.01, gt=0.0, lt=0.5, description="missed impostors")
    sprt_llr_clip: float = Field(default=2.0, gt=0.0, description="max |llr| per step")
    # fusion weight per modality (e.g. {"keyboard": 2.0}); missing modalities weigh 1
    modality_weights: dict[str, float] = Field(
        default_factory=dict,
        description='weight per modality, e.g. {keyboard = 2.0, "pointer:touchpad" = 0.5}; '
        "others 1",
    )
    # idle decay (downward only)
    idle_after_s: float = Field(
        default=IDLE_AFTER_S, gt=0.0,
        description="a longer gap between scores starts idle decay"
    )
    idle_neutral: float = Field(
        default=85.0, ge=0.0, le=MAX_TRUST, description="idle decay lowers trust toward this"
    )
    idle_tau_s: float = Field(default=600.0, gt=0.0, description="idle decay time constant")

    @field_validator("modality_weights")
    @classmethod
    def _known_modalities(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(weights) - set(MODALITIES))
        if unknown:  # a misspelt name would weigh nothing, silently
            raise ValueError(f"unknown modality {unknown[0]!r} (modalities: "
                             f"{', '.join(MODALITIES)})")
        return weights

    @model_validator(mode="after")
    def _check(self) -> TrustConfig:
        if self.model == "mondal_bours" and self.max_penalty >= MAX_TRUST - self.lock_level:
            raise ValueError(f"max_penalty {self.max_penalty} would let one action lock from "
                             f"full trust (lock_level {self.lock_level}); lower it")
        if self.model == "mondal_bours" and self.extreme_z is not None and not (
                self.max_penalty <= self.max_step < MAX_TRUST - self.lock_level):
            raise ValueError(f"max_step {self.max_step} must be >= max_penalty "
                             f"({self.max_penalty}) and below {MAX_TRUST - self.lock_level:g} "
                             f"= 100 - the lock level {self.lock_level:g} (one action must never "
                             f"lock from full trust)")
        if self.model == "sprt" and self.sprt_llr_clip >= self.sprt_h:
            raise ValueError(f"sprt_llr_clip {self.sprt_llr_clip} would let one action lock "
                             f"(boundary h = {self.sprt_h:.2f}); lower it")
        if any(w <= 0 for w in self.modality_weights.values()):
            raise ValueError("modality_weights must be > 0")
        return self

    @property
    def sprt_h(self) -> float:
        """Wald's upper boundary log((1 - β) / α)."""
        return math.log((1.0 - self.sprt_beta) / self.sprt_alpha)


@dataclass(frozen=True)
class TrustState:
    """Trust after one update: what moved it and by how much (evidence for decisions)."""

    trust: float
    t_ns: int
    modality: str
    score: float
    z: float  # normalised score the model used (z for Mondal & Bours, u for SPRT)
    delta: float  # change applied by this observation (after weighting, before clamping)
    n_updates: int

    def as_dict(self) -> dict[str, object]:
        return {"trust": round(self.trust, 3), "t_ns": self.t_ns, "modality": self.modality,
                "score": _finite_or_str(self.score), "z": _finite_or_str(self.z),
                "delta": round(self.delta, 3)}


def _finite_or_str(v: float) -> float | str:
    return round(v, 4) if math.isfinite(v) else str(v)


# --------------------------------------------------------------------------- increments


def mondal_bours_delta(z: np.ndarray, cfg: TrustConfig, extreme: object = True) -> np.ndarray:
    """ΔT for normalised scores ``z`` (vectorised; +inf -> -D, -inf -> +C), with the extra
    penalty for extreme evidence beyond ``extreme_z`` where ``extreme`` (a bool or a mask:
    scores normalised by fused statistics) allows it (module docstring)."""
    B, C, D = cfg.width, cfg.max_reward, cfg.max_penalty
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(np.clip((z - cfg.neutral_z) / B, -700.0, 700.0))
    d = np.minimum(-D + D * (1.0 + 1.0 / C) / (1.0 / C + e), C)
    if cfg.extreme_z is None:
        return d
    # finite z only: injected input (+inf) keeps its own rule's cost, D
    over = np.where(np.isfinite(z) & np.asarray(extreme, dtype=bool), z - cfg.extreme_z, 0.0)
    return d - np.clip(cfg.extreme_slope * over, 0.0, cfg.max_step - D)


def sprt_llr(u: np.ndarray, cfg: TrustConfig) -> np.ndarray:
    """Clipped log-likelihood ratio impostor/owner for normalised scores ``u``."""
    d = cfg.sprt_shift
    with np.errstate(invalid="ignore"):
        llr = d * np.asarray(u, dtype=np.float64) - d * d / 2.0
    return np.clip(llr, -cfg.sprt_llr_clip, cfg.sprt_llr_clip)


def _normalised(
    scores: np.ndarray,
    modalities: Sequence[str] | None,
    cal: Calibration | Mapping[str, Calibration] | None,
    cfg: TrustConfig,
    t: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The model input (z or u) per score, each modality's scores first averaged over its
    calibration's fusion window (with ``t``, a time per score: a gap of more than
    ``idle_after_s`` between two of the modality's scores empties its window); injected
    observations (+inf) stay +inf. Also a mask: normalised by fused statistics (a calibration
    window > 1)."""
    if cal is None:
        return scores.copy(), np.zeros(len(scores), dtype=bool)

    def norm(c: Calibration, x: np.ndarray, tm: np.ndarray | None) -> np.ndarray:
        if c.window > 1:
            gaps = None if tm is None else np.r_[False, np.diff(tm) > cfg.idle_after_s * 1e9]
            x = rolling_mean(c.clip(x), c.window, gaps)
        return c.z(x, fused=True) if cfg.model == "mondal_bours" else c.u(x, fused=True)

    if isinstance(cal, Calibration):
        return norm(cal, scores, t), np.full(len(scores), cal.window > 1)
    if modalities is None:
        raise DataError("a per-modality calibration needs the modality of every score",
                        "pass modalities=...")
    mods = np.asarray(modalities)
    out = np.array(scores, dtype=np.float64)
    fused = np.zeros(len(scores), dtype=bool)
    for m in np.unique(mods):
        sel = mods == m
        if m == INJECTED:
            out[sel] = np.inf
            continue
        c = _calibration_for(cal, str(m))
        out[sel] = norm(c, scores[sel], None if t is None else t[sel])
        fused[sel] = c.window > 1
    return out, fused


def _calibration_for(cal: Mapping[str, Calibration], modality: str) -> Calibration:
    try:
        return cal[modality]
    except KeyError:
        raise ModelError(f"no calibration for modality {modality!r} (have {sorted(cal)})",
                         "retrain with `activesec train`") from None


def deltas(
    scores: object,
    cfg: TrustConfig,
    calibration: Calibration | Mapping[str, Calibration] | None = None,
    modalities: Sequence[str] | None = None,
    t_ns: object = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(normalised input, trust change) per score, vectorised; NaN scores change nothing.

    With ``t_ns`` (end time per score, non-decreasing within each modality), a gap of more than
    ``idle_after_s`` between two scores of a modality empties its fusion window, as in the live
    model."""
    s = np.asarray(scores, dtype=np.float64).ravel()
    t = None
    if t_ns is not None:
        t = np.asarray(t_ns, dtype=np.int64).ravel()
        if len(t) != len(s):
            raise DataError("t_ns must have one time per score", "pass matching arrays")
    x, fused = _normalised(s, modalities, calibration, cfg, t)
    if cfg.model == "mondal_bours":
        d = mondal_bours_delta(x, cfg, fused)
    else:
        d = -(MAX_TRUST - cfg.lock_level) / cfg.sprt_h * sprt_llr(x, cfg)
    if cfg.modality_weights and modalities is not None:
        w = np.array([cfg.modality_weights.get(str(m), 1.0) for m in modalities])
        d = d * w
    return x, np.where(np.isnan(d), 0.0, d)


def _decay(trust: float, gap_s: float, cfg: TrustConfig) -> float:
    """Idle decay toward ``idle_neutral``, downward only."""
    if gap_s <= cfg.idle_after_s or trust <= cfg.idle_neutral:
        return trust
    k = math.exp(-(gap_s - cfg.idle_after_s) / cfg.idle_tau_s)
    return cfg.idle_neutral + (trust - cfg.idle_neutral) * k


def _step(trust: float, delta: float) -> float:
    return min(MAX_TRUST, max(0.0, trust + delta))


# --------------------------------------------------------------------------- models


class _TrustModel:
    """Shared recursion: ``trust = clamp(decay(trust, gap) + Δ, 0, 100)``."""

    def __init__(self, cfg: TrustConfig | None = None,
                 calibrations: Mapping[str, Calibration] | None = None) -> None:
        self.cfg = cfg or TrustConfig()
        self.calibrations = dict(calibrations or {})
        self.reset()

    def reset(self) -> None:
        """Full trust, no history (after the owner proves identity, e.g. unlocks)."""
        self.trust = MAX_TRUST
        self.n_updates = 0
        self._last_t_ns: int | None = None
        self._recent: dict[str, deque[float]] = {}  # each modality's fusion window
        self._last_by_modality: dict[str, int] = {}  # end time of each modality's last score

    def carry(self, other: _TrustModel) -> None:
        """Take over ``other``'s level and the time of its last score (the agent replaced its
        models or settings): trust is evidence about who is at the keyboard now, not about the
        model, so a new model must not hand whoever is there full trust. The fusion windows
        are not carried (scores of another model or calibration)."""
        self.trust = other.trust
        self._last_t_ns = other._last_t_ns

    @property
    def lock_level(self) -> float:
        return self.cfg.lock_level

    def update(self, modality: str, score: float, t_ns: int) -> TrustState:
        """Apply one scored action/window of ``modality`` that ended at ``t_ns``."""
        mods = [modality]
        cal = None if modality == INJECTED else {modality: _calibration_for(self.calibrations,
                                                                            modality)}
        if modality == INJECTED:
            score = math.inf
        gap_s = None if self._last_t_ns is None else (t_ns - self._last_t_ns) / 1e9
        last = self._last_by_modality.get(modality)
        if last is not None and (t_ns - last) / 1e9 > self.cfg.idle_after_s:
            # scores from before an absence of this modality say nothing about who is there
            # now: not after all input stopped (a lunch break), nor after a stretch of the
            # other modality only (an hour of typing, then the first pointer actions)
            self._recent.pop(modality, None)
        if last is None or t_ns > last:
            self._last_by_modality[modality] = int(t_ns)
        value = score
        if cal is not None and cal[modality].window > 1 and not math.isnan(score):
            recent = self._recent.setdefault(modality, deque(maxlen=cal[modality].window))
            recent.append(float(cal[modality].clip(score)))
            with np.errstate(invalid="ignore"):  # +inf and -inf in one window: NaN
                value = float(np.mean(recent))
        x, d = deltas([value], self.cfg, cal, mods)
        if gap_s is not None:
            self.trust = _decay(self.trust, gap_s, self.cfg)
        delta = float(d[0])
        self.trust = _step(self.trust, delta)
        if self._last_t_ns is None or t_ns > self._last_t_ns:
            # a score that ended before the last one (a keystroke window finished after a
            # later pointer action) must not move the clock back: the next gap would then
            # span the two and could start idle decay mid-work
            self._last_t_ns = t_ns
        if not math.isnan(score):
            self.n_updates += 1
        return TrustState(self.trust, int(t_ns), modality, float(score), float(x[0]), delta,
                          self.n_updates)

    @property
    def locked(self) -> bool:
        return self.trust < self.cfg.lock_level


class MondalBoursTrust(_TrustModel):
    """Mondal & Bours' penalty/reward trust model (module docstring)."""

    def __init__(self, cfg: TrustConfig | None = None,
                 calibrations: Mapping[str, Calibration] | None = None) -> None:
        cfg = cfg or TrustConfig()
        super().__init__(cfg.model_copy(update={"model": "mondal_bours"}), calibrations)


class SprtTrust(_TrustModel):
    """CUSUM form of Wald's SPRT on a trust scale (module docstring)."""

    def __init__(self, cfg: TrustConfig | None = None,
                 calibrations: Mapping[str, Calibration] | None = None) -> None:
        cfg = cfg or TrustConfig(model="sprt")
        super().__init__(cfg.model_copy(update={"model": "sprt"}), calibrations)

    @property
    def llr_sum(self) -> float:
        """The CUSUM statistic S (0 = all evidence for the owner; ``sprt_h`` = lock)."""
        return (MAX_TRUST - self.trust) * self.cfg.sprt_h / (MAX_TRUST - self.cfg.lock_level)


TrustModel = MondalBoursTrust | SprtTrust


def make_trust(cfg: TrustConfig | None = None,
               calibrations: Mapping[str, Calibration] | None = None) -> TrustModel:
    """The model ``cfg.model`` names."""
    cfg = cfg or TrustConfig()
    return SprtTrust(cfg, calibrations) if cfg.model == "sprt" else MondalBoursTrust(cfg,
                                                                                    calibrations)


# --------------------------------------------------------------------------- offline


def _walk_loop(d: np.ndarray, start: float, gaps_s: np.ndarray | None,
               cfg: TrustConfig) -> np.ndarray:
    out = np.empty(len(d))
    t = start
    for i in range(len(d)):
        if gaps_s is not None and i > 0:
            t = _decay(t, float(gaps_s[i - 1]), cfg)
        t = _step(t, float(d[i]))
        out[i] = t
    return out


def simulate(
    scores: object,
    cfg: TrustConfig | None = None,
    calibration: Calibration | Mapping[str, Calibration] | None = None,
    *,
    modalities: Sequence[str] | None = None,
    t_ns: object = None,
) -> np.ndarray:
    """Trust after each score of a sequence, as :meth:`update` would give from full trust.

    ``calibration=None`` means ``scores`` are already normalised (z, or u for SPRT); a mapping
    needs ``modalities`` (one per score). With ``t_ns`` (end time per score) idle decay applies.

    Vectorised: a walk clamped only at 100 is ``100 + S_n - max(0, max_k≤n S_k)`` (Lindley's
    recursion with ``S`` the cumulative sum of changes); the rare stretch where the floor at 0
    binds is finished with the plain loop, as is a sequence with idle gaps.
    """
    cfg = cfg or TrustConfig()
    _, d = deltas(scores, cfg, calibration, modalities, t_ns)
    if len(d) == 0:
        return d
    gaps = None
    if t_ns is not None:
        t = np.asarray(t_ns, dtype=np.int64).ravel()
        if len(t) != len(d):
            raise DataError("t_ns must have one time per score", "pass matching arrays")
        gaps = np.diff(t) / 1e9
        if not (gaps > cfg.idle_after_s).any():
            gaps = None
    if gaps is not None:
        return _walk_loop(d, MAX_TRUST, gaps, cfg)
    s = np.cumsum(d)
    traj = np.minimum(MAX_TRUST + s - np.maximum.accumulate(np.maximum(s, 0.0)), MAX_TRUST)
    low = np.flatnonzero(traj < 0.0)
    if len(low):
        i = int(low[0])
        traj[i:] = _walk_loop(d[i:], float(traj[i - 1]) if i else MAX_TRUST, None, cfg)
    return traj


def actions_to_lock(
    scores: object,
    cfg: TrustConfig | None = None,
    calibration: Calibration | Mapping[str, Calibration] | None = None,
    *,
    modalities: Sequence[str] | None = None,
    t_ns: object = None,
) -> int | None:
    """0-based index of the first score after which trust < ``lock_level`` (None: never).

    The number of actions performed before the lock is this index + 1 — the quantity Mondal &
    Bours average into ANIA (impostor sessions) and ANGA (genuine sessions)."""
    cfg = cfg or TrustConfig()
    traj = simulate(scores, cfg, calibration, modalities=modalities, t_ns=t_ns)
    below = np.flatnonzero(traj < cfg.lock_level)
    return int(below[0]) if len(below) else None
