"""Compact scorers: fitted detectors re-expressed as plain NumPy arrays, so the always-on agent
scores without importing scikit-learn (importing it alone costs ~0.9 s and ~110 MB RSS).

:func:`compact` converts a fitted detector into a :class:`CompactScorer` that scores the same
rows to floating-point round-off (the tests assert ``allclose`` against the scikit-learn model):

* ``extra_trees`` / ``random_forest`` (:mod:`.population`): every tree's nodes are flattened
  into one set of arrays (children, split feature, threshold, leaf P(impostor)) and all
  (row, tree) pairs descend together, one vectorised step per tree level. Memory is most of
  the agent's footprint (fully grown trees: ~2.5 M nodes for the largest Balabit owner at the
  training cap), so a node costs 17 bytes, not 24: scikit-learn numbers nodes depth first, a
  left child is always its parent + 1 and only right children are stored (checked at
  conversion; other orders keep a ``left`` array), and the split feature takes the smallest
  integer type that holds it. scikit-learn compares
  ``float32(x) <= threshold``; the threshold is stored as the largest float32 not above it,
  which gives the same decision for every float32 ``x`` at half the memory. The detector's
  owner normalisation (``score_center`` / ``score_scale`` in ``meta``) is applied after.
* ``hist_gb`` (:mod:`.population`): the same flattened trees, descended the same way but on
  float64 rows (scikit-learn's histogram boosting compares raw float64 values, NaN going where
  the tree learned); each boosted model's log-odds (baseline + its trees' leaf values) passes
  through the logistic function and the models' P(impostor) are averaged, then owner-normalised.
* ``plda``: the quantile transform (interpolation on the stored quantiles, then the normal
  quantile function — Acklam's approximation refined by one Halley step, so SciPy is not
  needed either), the projection and the two-covariance log-likelihood ratio, adaptive
  S-normalised against the stored cohort with the detector's T-part weight (``t_weight`` in
  ``meta``; cards without it score with the symmetric 0.5) through :mod:`.snorm`, the code
  the detector itself runs.
* ``scaled_manhattan``: mean and mean absolute deviation.
* ``gmm`` (diagonal covariances, the one-class fallback for pointer data): the same quantile
  transform, then the mixture's negative log-likelihood (log-sum-exp over components).

* a plug-in detector's: it may offer a twin of its own by defining ``compact()``, returning
  ``(kind, arrays)`` in one of the forms above — e.g. ``("scaled_manhattan", {"mean": m,
  "mad": d})`` for a model scoring ``mean(|X - m| / d)`` over the features — which this module
  scores; training keeps it only when it scores the model's training rows as the plug-in does
  (:func:`check_same`), so the agent never scores with code that disagrees with the model.

A scorer is data only: :meth:`CompactScorer.to_arrays` gives a ``dict`` of arrays (for
``np.savez``) and a JSON-able ``meta``; :meth:`CompactScorer.from_arrays` rebuilds it. No pickle.
Writing the files, hashing and verification are the service layer's job (this module is pure).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from activesec.core.errors import ModelError
from activesec.detectors import snorm

FORMAT = "activesec-compact/1"
KINDS = ("trees", "boosted", "plda", "scaled_manhattan", "gmm")
_BOUNDS_THRESHOLD = 1e-7  # scikit-learn's QuantileTransformer clip (preprocessing._data)


# --------------------------------------------------------------------------- normal quantiles
_A = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
      1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)
_B = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
      6.680131188771972e01, -1.328068155288572e01)
_C = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
      -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)
_D = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
      3.754408661907416e00)
_ERFC = np.frompyfunc(math.erfc, 1, 1)


def ndtri(p: np.ndarray) -> np.ndarray:
    """Standard normal quantile function (inverse CDF), vectorised, to ~1e-15 relative."""
    p = np.asarray(p, dtype=np.float64)
    x = np.full(p.shape, np.nan)
    x[p <= 0] = -np.inf
    x[p >= 1] = np.inf
    plow = 0.02425
    lo = (p > 0) & (p < plow)
    hi = (p < 1) & (p > 1 - plow)
    mid = (p >= plow) & (p <= 1 - plow)
    if lo.any() or hi.any():
        q = np.sqrt(-2 * np.log(np.where(lo, p, np.where(hi, 1 - p, 0.5))))
        num = ((((_C[0] * q + _C[1]) * q + _C[2]) * q + _C[3]) * q + _C[4]) * q + _C[5]
        den = (((_D[0] * q + _D[1]) * q + _D[2]) * q + _D[3]) * q + 1
        x[lo] = (num / den)[lo]
        x[hi] = (-num / den)[hi]
    if mid.any():
        q = p[mid] - 0.5
        r = q * q
        num = (((((_A[0] * r + _A[1]) * r + _A[2]) * r + _A[3]) * r + _A[4]) * r + _A[5]) * q
        den = ((((_B[0] * r + _B[1]) * r + _B[2]) * r + _B[3]) * r + _B[4]) * r + 1
        x[mid] = num / den
    ok = np.isfinite(x)
    if ok.any():  # one Halley step on Φ(x) - p, with Φ from math.erfc
        xo = x[ok]
        e = 0.5 * _ERFC(-xo / math.sqrt(2)).astype(np.float64) - p[ok]
        u = e * math.sqrt(2 * math.pi) * np.exp(xo * xo / 2)
        x[ok] = xo - u / (1 + xo * u / 2)
    return x


# --------------------------------------------------------------------------- the scorer
class CompactScorer:
    """A NumPy-only scorer (``score(X)``: higher = more likely an impostor)."""

    def __init__(self, kind: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        if kind not in KINDS:
            raise ModelError(f"unknown compact scorer kind {kind!r}",
                             "retrain with `activesec train`")
        self.kind = kind
        self.arrays = arrays
        self.meta = meta
        self.n_features_in_ = int(meta["n_features"])

    # ----------------------------------------------------------------- persistence (data only)
    def to_arrays(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        return dict(self.arrays), {"format": FORMAT, "kind": self.kind, **self.meta}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> CompactScorer:
        if meta.get("format") != FORMAT:
            raise ModelError(f"not an {FORMAT} scorer", "retrain with `activesec train`")
        rest = {k: v for k, v in meta.items() if k not in ("format", "kind")}
        need = {"trees": ("right", "feature", "threshold", "value", "roots"),
                "boosted": ("left", "right", "feature", "threshold", "value", "roots",
                            "missing_left", "model", "baseline"),
                "plda": ("quantiles", "references", "scalings", "offset", "post_mean",
                         "post_var", "within", "between"),
                "scaled_manhattan": ("mean", "mad"),
                "gmm": ("quantiles", "references", "means", "precisions_chol", "weights"),
                }.get(str(meta.get("kind")), ())
        missing = [k for k in need if k not in arrays]
        if missing or "n_features" not in rest:
            raise ModelError(f"compact scorer is missing {', '.join(missing) or 'n_features'}",
                             "retrain with `activesec train`")
        return cls(str(meta["kind"]), {k: np.asarray(v) for k, v in arrays.items()}, rest)

    # ----------------------------------------------------------------- scoring
    def score(self, X: Any) -> np.ndarray:
        a = np.asarray(X, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.n_features_in_:
            raise ModelError(f"expected rows of {self.n_features_in_} features, got {a.shape}",
                             "retrain with `activesec train`")
        if len(a) == 0:
            return np.zeros(0, np.float64)
        if self.kind == "trees":
            s = self._trees(a)
        elif self.kind == "boosted":
            s = self._boosted(a)
        elif self.kind == "plda":
            s = self._plda(a)
        elif self.kind == "gmm":
            s = self._gmm(a)
        else:
            s = np.abs((a - self.arrays["mean"]) / self.arrays["mad"]).sum(axis=1) / a.shape[1]
        if "score_center" in self.meta:  # the detector's own score normalisation (population)
            s = (s - float(self.meta["score_center"])) / float(self.meta["score_scale"])
        big = np.finfo(np.float64).max
        return np.nan_to_num(s, nan=big, posinf=big, neginf=-big)

    def _leaves(self, X: np.ndarray) -> np.ndarray:
        """Leaf node of every (row, tree) pair, shape (rows, trees): all pairs descend
        together, one vectorised step per tree level. ``missing_left`` (boosted trees): where
        a NaN goes."""
        A = self.arrays
        right, feat, thr = A["right"], A["feature"], A["threshold"]
        left = A.get("left")  # absent: depth-first order, the left child is the next node
        miss = A.get("missing_left")
        roots = A["roots"]
        n, t = len(X), len(roots)
        rows = np.repeat(np.arange(n), t)
        node = np.tile(roots, n)
        active = np.flatnonzero(right[node] >= 0)
        while len(active):
            nd = node[active]
            x = X[rows[active], feat[nd]]
            go_left = x <= thr[nd]
            if miss is not None:
                go_left |= np.isnan(x) & (miss[nd] > 0)
            node[active] = np.where(go_left, nd + 1 if left is None else left[nd], right[nd])
            active = active[right[node[active]] >= 0]
        return node.reshape(n, t)

    def _trees(self, X: np.ndarray) -> np.ndarray:
        leaves = self._leaves(X.astype(np.float32))
        return self.arrays["value"][leaves].sum(axis=1) / leaves.shape[1]

    def _boosted(self, X: np.ndarray) -> np.ndarray:
        A = self.arrays
        leaf_values = A["value"][self._leaves(X)]  # (rows, trees)
        base = A["baseline"]
        raw = np.zeros((len(X), len(base)))
        for j in range(len(base)):  # a handful of models; their trees are summed vectorised
            raw[:, j] = base[j] + leaf_values[:, A["model"] == j].sum(axis=1)
        return (1.0 / (1.0 + np.exp(-raw))).mean(axis=1)

    def _plda(self, X: np.ndarray) -> np.ndarray:
        A = self.arrays
        Z = quantile_normal(X, A["quantiles"], A["references"])
        Y = Z @ A["scalings"] - A["offset"]
        raw = snorm.two_cov_llr(Y, A["post_mean"], A["post_var"], A["within"], A["between"])
        if "cohort_means" not in A:
            return raw
        return snorm.adaptive_snorm(Y, raw, A["cohort_means"], A["post_var"], A["within"],
                                    A["between"], float(A["znorm"][0]), float(A["znorm"][1]),
                                    int(self.meta["cohort_top"]),
                                    float(self.meta.get("t_weight", 0.5)))

    def _gmm(self, X: np.ndarray) -> np.ndarray:
        A = self.arrays
        Z = quantile_normal(X, A["quantiles"], A["references"])
        mu, pc, w = A["means"], A["precisions_chol"], A["weights"]
        prec = pc**2
        log_det = np.log(pc).sum(axis=1)
        d2 = (mu**2 * prec).sum(axis=1) - 2.0 * (Z @ (mu * prec).T) + (Z**2 @ prec.T)
        lp = -0.5 * (Z.shape[1] * math.log(2 * math.pi) + d2) + log_det + np.log(w)
        m = lp.max(axis=1, keepdims=True)
        return -(m[:, 0] + np.log(np.exp(lp - m).sum(axis=1)))


def quantile_normal(X: np.ndarray, quantiles: np.ndarray, references: np.ndarray) -> np.ndarray:
    """scikit-learn's ``QuantileTransformer(output_distribution='normal').transform``."""
    out = np.empty_like(X)
    clip_min = float(ndtri(np.array(_BOUNDS_THRESHOLD - np.spacing(1))))
    clip_max = float(ndtri(np.array(1 - (_BOUNDS_THRESHOLD - np.spacing(1)))))
    for j in range(X.shape[1]):
        q, col = quantiles[:, j], X[:, j]
        lower = col - _BOUNDS_THRESHOLD < q[0]
        upper = col + _BOUNDS_THRESHOLD > q[-1]
        v = 0.5 * (np.interp(col, q, references) - np.interp(-col, -q[::-1], -references[::-1]))
        v[upper] = 1.0
        v[lower] = 0.0
        out[:, j] = v
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.clip(ndtri(out), clip_min, clip_max)


# --------------------------------------------------------------------------- conversion
def _float32_floor(t: np.ndarray) -> np.ndarray:
    """Largest float32 <= t: ``float32(x) <= t`` iff ``float32(x) <= floor32(t)``."""
    f = t.astype(np.float32)
    over = f.astype(np.float64) > t
    f[over] = np.nextafter(f[over], np.float32(-np.inf))
    return f


def _trees(model: Any, n_features: int) -> CompactScorer:
    classes = list(np.asarray(model.classes_).tolist())
    if 1 not in classes:
        raise ModelError("forest was not fitted on owner (0) vs impostor (1) labels",
                         "retrain with `activesec train`")
    c1 = classes.index(1)
    lefts, rights, feats, thrs, vals, roots = [], [], [], [], [], []
    off = 0
    for est in model.estimators_:
        tr = est.tree_
        left = tr.children_left.astype(np.int64)
        right = tr.children_right.astype(np.int64)
        leaf = left < 0
        v = tr.value[:, 0, :].astype(np.float64)
        tot = v.sum(axis=1)
        p = np.divide(v[:, c1], tot, out=np.zeros(len(v)), where=tot > 0)
        lefts.append(np.where(leaf, -1, left + off))
        rights.append(np.where(leaf, -1, right + off))
        feats.append(np.where(leaf, 0, tr.feature))
        thrs.append(np.where(leaf, 0.0, tr.threshold))
        vals.append(p)
        roots.append(off)
        off += tr.node_count
    idx = np.int32 if off < 2**31 else np.int64
    left, right = np.concatenate(lefts), np.concatenate(rights)
    inner = np.flatnonzero(right >= 0)
    arrays = {
        "right": right.astype(idx),
        "feature": np.concatenate(feats).astype(np.min_scalar_type(max(n_features - 1, 0))),
        "threshold": _float32_floor(np.concatenate(thrs)),
        "value": np.concatenate(vals),
        "roots": np.asarray(roots, dtype=idx),
    }
    if not np.array_equal(left[inner], inner + 1):  # not depth-first order: keep left children
        arrays["left"] = left.astype(idx)
    return CompactScorer("trees", arrays, {"n_features": n_features,
                                           "n_trees": len(roots), "n_nodes": int(off)})


def _boosted(models: list[Any], n_features: int) -> CompactScorer:
    """Binary histogram-boosting models (owner 0 vs impostor 1) as one set of flat trees."""
    lefts, rights, feats, thrs, vals, miss, roots, owner, base = [], [], [], [], [], [], [], [], []
    off = 0
    for j, m in enumerate(models):
        if list(np.asarray(m.classes_).tolist()) != [0, 1] or m.n_trees_per_iteration_ != 1:
            raise ModelError("boosted model was not fitted on owner (0) vs impostor (1) labels",
                             "retrain with `activesec train`")
        if getattr(m, "is_categorical_", None) is not None and np.any(m.is_categorical_):
            raise ModelError("boosted model with categorical features cannot be compacted",
                             "retrain with `activesec train`")
        base.append(float(np.ravel(m._baseline_prediction)[0]))
        for (pred,) in m._predictors:
            nodes = pred.nodes
            leaf = nodes["is_leaf"].astype(bool)
            lefts.append(np.where(leaf, -1, nodes["left"].astype(np.int64) + off))
            rights.append(np.where(leaf, -1, nodes["right"].astype(np.int64) + off))
            feats.append(np.where(leaf, 0, nodes["feature_idx"]))
            thrs.append(np.where(leaf, 0.0, nodes["num_threshold"]))
            vals.append(np.where(leaf, nodes["value"], 0.0))
            miss.append(nodes["missing_go_to_left"])
            roots.append(off)
            owner.append(j)
            off += len(nodes)
    idx = np.int32 if off < 2**31 else np.int64
    arrays = {
        "left": np.concatenate(lefts).astype(idx),
        "right": np.concatenate(rights).astype(idx),
        "feature": np.concatenate(feats).astype(np.int32),
        "threshold": np.concatenate(thrs).astype(np.float64),
        "value": np.concatenate(vals).astype(np.float64),
        "missing_left": np.concatenate(miss).astype(np.uint8),
        "roots": np.asarray(roots, dtype=idx),
        "model": np.asarray(owner, dtype=np.int32),
        "baseline": np.asarray(base, dtype=np.float64),
    }
    return CompactScorer("boosted", arrays, {"n_features": n_features, "n_models": len(models),
                                             "n_trees": len(roots), "n_nodes": int(off)})


def _plda(det: Any) -> CompactScorer:
    pre = det.pre_
    if getattr(pre, "output_distribution", None) != "normal":
        raise ModelError("PLDA with an unexpected preprocessing cannot be compacted",
                         "retrain with `activesec train`")
    arrays = {
        "quantiles": np.asarray(pre.quantiles_, np.float64),
        "references": np.asarray(pre.references_, np.float64),
        "scalings": np.asarray(det.projection_, np.float64),
        "offset": np.asarray(det.offset_, np.float64),
        "post_mean": np.asarray(det.post_mean_, np.float64),
        "post_var": np.asarray(det.post_var_, np.float64),
        "within": np.asarray(det.within_, np.float64),
        "between": np.asarray(det.between_, np.float64),
    }
    meta: dict[str, Any] = {"n_features": int(det.n_features_in_)}
    if getattr(det, "score_norm", "none") == "s-norm":  # adaptive S-norm (detectors.snorm)
        arrays["cohort_means"] = np.asarray(det.cohort_means_, np.float64)
        arrays["znorm"] = np.array([det.z_mean_, det.z_std_], np.float64)
        meta["cohort_top"] = int(det.cohort_top)
        meta["t_weight"] = float(det.t_weight)
    return CompactScorer("plda", arrays, meta)


def _gmm(det: Any) -> CompactScorer:
    pre, gm = det.model_.named_steps["scale"], det.model_.named_steps["model"]
    if getattr(pre, "output_distribution", None) != "normal" or gm.covariance_type != "diag":
        raise ModelError("only a quantile-scaled, diagonal Gaussian mixture can be compacted",
                         "use the defaults (scaler='quantile', covariance_type='diag')")
    arrays = {
        "quantiles": np.asarray(pre.quantiles_, np.float64),
        "references": np.asarray(pre.references_, np.float64),
        "means": np.asarray(gm.means_, np.float64),
        "precisions_chol": np.asarray(gm.precisions_cholesky_, np.float64),
        "weights": np.asarray(gm.weights_, np.float64),
    }
    return CompactScorer("gmm", arrays, {"n_features": int(det.n_features_in_)})


def offered(detector: Any) -> bool:
    """Does ``detector`` (a plug-in's) offer a NumPy-only twin through its ``compact()``?"""
    return callable(getattr(type(detector), "compact", None))


def _offered_twin(detector: Any, n: int) -> CompactScorer:
    """The twin a plug-in's ``compact()`` describes, checked for a known form and plain
    numeric arrays (a ModelError saying what is wrong, naming the plug-in)."""
    who = detector.who() if hasattr(detector, "who") else type(detector).__name__
    fix = ("fix its compact() (README, 'To compare your own detector'); the agent scores with "
           "the full model meanwhile")
    try:
        kind, raw = detector.compact()
        arrays = {str(k): np.asarray(v) for k, v in dict(raw).items()}
    except Exception as exc:
        raise ModelError(f"{who}'s compact() failed: {type(exc).__name__}: {exc}", fix) from None
    if kind not in KINDS:
        raise ModelError(f"{who}'s compact() names the form {kind!r}, not one of "
                         f"{', '.join(KINDS)}", fix)
    odd = sorted(k for k, a in arrays.items() if a.dtype.kind not in "biuf")
    if odd:
        raise ModelError(f"{who}'s compact() gave non-numeric arrays: {', '.join(odd)}", fix)
    return CompactScorer.from_arrays(arrays, {"format": FORMAT, "kind": kind, "n_features": n})


def check_same(detector: Any, scorer: CompactScorer, X: np.ndarray) -> None:
    """A ModelError unless ``scorer`` scores the rows ``X`` as ``detector`` does (to round-off):
    a plug-in's twin that disagrees with its model would calibrate one and score another."""
    try:
        mine = scorer.score(X)
    except Exception as exc:  # e.g. arrays of the wrong shape for the form
        raise ModelError(f"{detector.who()}: the NumPy-only twin its compact() describes "
                         f"cannot score: {type(exc).__name__}: {exc}",
                         "fix its compact(); the agent scores with the full model meanwhile"
                         ) from None
    theirs = detector.score(X)
    if not np.allclose(mine, theirs, rtol=1e-7, atol=1e-9 * max(1.0, float(np.abs(theirs).max(
            initial=0.0)))):
        worst = float(np.abs(mine - theirs).max())
        raise ModelError(f"{detector.who()}: the NumPy-only twin its compact() describes "
                         f"scores its training rows differently (by up to {worst:.3g})",
                         "fix its compact(); the agent scores with the full model meanwhile")


def supports(detector_name: str) -> bool:
    return detector_name in ("extra_trees", "random_forest", "hist_gb", "plda",
                             "scaled_manhattan", "gmm")


def compact(detector: Any) -> CompactScorer:
    """The NumPy-only twin of a fitted detector; ModelError for a kind it cannot convert."""
    name = getattr(detector, "name", "") or type(detector).__name__
    if not hasattr(detector, "n_features_in_"):
        raise ModelError(f"{name} is not fitted", "fit it before compacting")
    n = int(detector.n_features_in_)
    if offered(detector):
        return _offered_twin(detector, n)
    if name in ("extra_trees", "random_forest"):
        sc = _trees(detector.model_, n)
        sc.meta.update(score_center=float(getattr(detector, "score_center_", 0.0)),
                       score_scale=float(getattr(detector, "score_scale_", 1.0)))
        return sc
    if name == "hist_gb":
        models = detector.model_ if isinstance(detector.model_, list) else [detector.model_]
        sc = _boosted(models, n)
        sc.meta.update(score_center=float(getattr(detector, "score_center_", 0.0)),
                       score_scale=float(getattr(detector, "score_scale_", 1.0)))
        return sc
    if name == "plda":
        return _plda(detector)
    if name == "gmm" and getattr(detector, "scaler", "") == "quantile" \
            and getattr(detector, "covariance_type", "") == "diag":
        return _gmm(detector)
    if name == "scaled_manhattan":
        return CompactScorer("scaled_manhattan",
                             {"mean": np.asarray(detector.mean_, np.float64),
                              "mad": np.asarray(detector.mad_, np.float64)},
                             {"n_features": n})
    raise ModelError(f"detector {name!r} has no compact form",
                     "scoring it needs scikit-learn (the agent then uses the full model)")
