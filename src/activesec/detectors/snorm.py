"""Two-covariance PLDA scoring and adaptive S-norm in plain NumPy.

Shared by :class:`activesec.detectors.plda.PLDA` and its NumPy-only compact twin
(:mod:`activesec.detectors.compact`), so the evaluation and the live agent score a projected
row ``Y`` with one piece of code (no scikit-learn import here).

Model, per dimension of the projected space (diagonal): a person's mean ~ N(0, between), a
row ~ N(person mean, within). An enrolled model is the posterior of its mean,
N(``post_mean``, ``post_var``). The raw score is ``log p(y | anyone) - log p(y | model)``
(higher = more likely an impostor).

Adaptive S-norm (the speaker-verification score normalisation, e.g. Matějka et al.,
Interspeech 2017): a raw score is compared with two cohort distributions made only of
*background* people, never of evaluated users —

* T-part: the same test row scored against every cohort person's model; the ``top`` cohort
  models closest to the row (lowest scores) give a mean and SD *per test row*;
* Z-part: the owner's model scored against the cohort's rows; the ``top`` rows closest to
  the owner give a mean and SD *per owner* (computed at enrolment, two floats);

and the normalised score is the weighted average ``t_weight * T + (1 - t_weight) * Z`` of the
two standardised scores (``t_weight=0.5``: the symmetric S-norm of the paper). The T-part is
what changes a single owner's ranking of test rows: a row that is close to many people (a
"generic" typist) no longer looks like the owner just because it is close to the owner; the
Z-part is one affine map per owner (it only puts owners on one scale), so for a per-owner
ranking it acts only through its share of the sum — a larger ``t_weight`` hands more of the
ranking to the T-part.
"""

from __future__ import annotations

import numpy as np


def two_cov_llr(Y: np.ndarray, post_mean: np.ndarray, post_var: np.ndarray,
                within: np.ndarray, between: np.ndarray) -> np.ndarray:
    """``log p(y | anyone) - log p(y | model)`` per row of ``Y``."""
    vo = post_var + within
    va = between + within
    ll_owner = -0.5 * (((Y - post_mean) ** 2) / vo + np.log(vo)).sum(-1)
    ll_any = -0.5 * ((Y**2) / va + np.log(va)).sum(-1)
    return np.asarray(ll_any - ll_owner, dtype=np.float64)


def cohort_llr(Y: np.ndarray, cohort_means: np.ndarray, post_var: np.ndarray,
               within: np.ndarray, between: np.ndarray) -> np.ndarray:
    """(rows, cohort) raw scores of each row against each cohort model (mean ``cohort_means[c]``,
    variance ``post_var``), by the expansion of the square: no (rows, cohort, dims) array."""
    vo = post_var + within
    va = between + within
    q = (Y**2 / vo).sum(1)[:, None] - 2.0 * (Y / vo) @ cohort_means.T \
        + (cohort_means**2 / vo).sum(1)[None, :]
    ll_any = -0.5 * ((Y**2) / va + np.log(va)).sum(1)
    return np.asarray(ll_any[:, None] + 0.5 * (q + np.log(vo).sum()), dtype=np.float64)


def _lowest(S: np.ndarray, top: int) -> np.ndarray:
    """The ``top`` lowest values of each row of S (all of them if fewer)."""
    if top >= S.shape[1]:
        return S
    return np.partition(S, top - 1, axis=1)[:, :top]


def znorm_stats(Y_cohort: np.ndarray, post_mean: np.ndarray, post_var: np.ndarray,
                within: np.ndarray, between: np.ndarray, top: int) -> tuple[float, float]:
    """(mean, SD) of the owner model's ``top`` lowest raw scores over the cohort's rows."""
    z = _lowest(two_cov_llr(Y_cohort, post_mean, post_var, within, between)[None, :], top)[0]
    return float(z.mean()), float(max(z.std(), 1e-9))


def adaptive_snorm(Y: np.ndarray, raw: np.ndarray, cohort_means: np.ndarray,
                   post_var: np.ndarray, within: np.ndarray, between: np.ndarray,
                   z_mean: float, z_std: float, top: int, t_weight: float = 0.5) -> np.ndarray:
    """S-normalised scores of the rows ``Y`` whose raw scores are ``raw``."""
    t = _lowest(cohort_llr(Y, cohort_means, post_var, within, between), top)
    t_std = np.maximum(t.std(1), 1e-9)
    return np.asarray(t_weight * (raw - t.mean(1)) / t_std
                      + (1.0 - t_weight) * (raw - z_mean) / z_std, dtype=np.float64)
