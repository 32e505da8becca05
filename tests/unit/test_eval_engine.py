"""The protocol-independent engine: fusion at amounts of data, skips, backends."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from activesec.core.errors import ConfigError
from activesec.evaluate.engine import DetectorSpec, Unit, UserTask, run_user, run_users
from activesec.evaluate.parallel import LOKY_RESTART, backend, pmap
from activesec.evaluate.result import ALL


def _task(rng: np.random.Generator, user: str = "u", n_enrol: int = 60) -> UserTask:
    enrol = rng.normal(0, 1, (n_enrol, 4))
    units = [Unit(f"g{i}", True, rng.normal(0, 1, (12, 4))) for i in range(5)]
    units += [Unit(f"i{i}", False, rng.normal(3, 1, (12, 4))) for i in range(5)]
    return UserTask(user, enrol, background=rng.normal(3, 1, (200, 4)), units=units)


def test_run_user_scores_units_at_each_amount() -> None:
    rng = np.random.default_rng(0)
    out = run_user(_task(rng), DetectorSpec("scaled_manhattan"), amounts=(1, 5, 20))
    assert set(out.genuine) == {"1", "5", "20", ALL} and len(out.genuine[ALL]) == 5
    # 20 > 12 rows: the whole unit, identical to ALL
    np.testing.assert_allclose(out.genuine["20"], out.genuine[ALL])
    assert out.impostor[ALL].min() > out.genuine[ALL].max()


def test_unit_score_is_the_mean_of_the_first_k_row_scores() -> None:
    from activesec.detectors.registry import create

    rng = np.random.default_rng(1)
    t = _task(rng)
    out = run_user(t, DetectorSpec("scaled_manhattan"), amounts=(5,))
    det = create("scaled_manhattan").fit(t.enrol)
    s = det.score(t.units[0].X)
    assert out.genuine["5"][0] == pytest.approx(s[:5].mean())
    assert out.genuine[ALL][0] == pytest.approx(s.mean())


def test_nested_units_use_the_last_prefix_within_k() -> None:
    rng = np.random.default_rng(2)
    t = _task(rng)
    X = rng.normal(0, 1, (3, 4))
    t.units = [Unit("g", True, X, amount=np.array([10, 20, 33]), nested=True),
               Unit("i", False, X + 3, amount=np.array([10, 20, 33]), nested=True)]
    from activesec.detectors.registry import create

    s = create("scaled_manhattan").fit(t.enrol).score(X)
    out = run_user(t, DetectorSpec("scaled_manhattan"), amounts=(5, 10, 25))
    assert "5" not in out.genuine  # no prefix that short: left out, not guessed
    assert out.genuine["10"][0] == pytest.approx(s[0])
    assert out.genuine["25"][0] == pytest.approx(s[1])
    assert out.genuine[ALL][0] == pytest.approx(s[2])


def test_too_little_enrolment_or_no_background_is_a_skip() -> None:
    rng = np.random.default_rng(3)
    t = _task(rng, n_enrol=3)
    why = run_user(t, DetectorSpec("scaled_manhattan")).skipped_reason or ""
    assert "enrolment rows" in why and "a larger --enrol-sessions" in why  # what to do
    t = _task(rng)
    t.background = None
    out = run_user(t, DetectorSpec("random_forest", {"n_estimators": 5}))
    assert "background" in (out.skipped_reason or "")


@pytest.mark.parametrize("name", ["loky", "threading"])
def test_backends_give_identical_scores(name: str) -> None:
    rng = np.random.default_rng(4)
    tasks = [_task(rng, f"u{i}") for i in range(4)]
    spec = DetectorSpec("random_forest", {"n_estimators": 10})
    ref = run_users(tasks, spec, (5,), jobs=1)
    with backend(name, 2):
        par = run_users(tasks, spec, (5,), jobs=2)
    assert [u.user for u in par] == [u.user for u in ref]
    for a, b in zip(ref, par, strict=True):
        np.testing.assert_array_equal(a.genuine[ALL], b.genuine[ALL])
        np.testing.assert_array_equal(a.impostor["5"], b.impostor["5"])


def test_cluster_backends_fail_clearly_when_absent() -> None:
    for name in ("dask", "ray"):
        try:
            __import__("dask.distributed" if name == "dask" else "ray.util.joblib")
        except ImportError:
            with pytest.raises(ConfigError, match=name), backend(name, 2):
                pass
    with pytest.raises(ConfigError, match="unknown"), backend("mpi", 2):
        pass


def test_pmap_reports_progress_in_order() -> None:
    seen: list[tuple[str, int, int]] = []
    assert pmap(abs, [-1, -2, -3], progress=lambda *a: seen.append(a), stage="s") == [1, 2, 3]
    assert seen == [("s", 0, 3), ("s", 1, 3), ("s", 2, 3), ("s", 3, 3)]


def test_person_ids_of_the_background_reach_plda() -> None:
    rng = np.random.default_rng(5)
    t = _task(rng)
    people = rng.normal(0, 3, (8, 4))
    t.background = np.concatenate([p + rng.normal(0, 1, (25, 4)) for p in people])
    t.background_groups = np.repeat([f"p{i}" for i in range(8)], 25)
    t.enrol = rng.normal(0, 1, (5, 4))
    t.units = [Unit("g", True, rng.normal(0, 1, (6, 4))),
               Unit("i", False, people[3] + rng.normal(0, 1, (6, 4)))]
    out = run_user(t, DetectorSpec("plda", {"n_components": 3}))
    assert out.skipped_reason is None
    assert out.impostor[ALL][0] > out.genuine[ALL][0]
    t.background_groups = None
    assert "person ids" in (run_user(t, DetectorSpec("plda")).skipped_reason or "")


def _warn_restart(x: int) -> int:
    warnings.warn(LOKY_RESTART + ". This can be caused by a too short worker timeout or by a "
                  "memory leak.", UserWarning, stacklevel=1)
    warnings.warn("any other warning", UserWarning, stacklevel=1)
    return x


def test_pmap_hides_only_lokys_worker_restart_notice() -> None:
    with warnings.catch_warnings(record=True) as seen, backend("threading", 2):
        warnings.simplefilter("always")
        assert pmap(_warn_restart, [1, 2], jobs=2) == [1, 2]
    assert [str(w.message) for w in seen] == ["any other warning"] * 2
