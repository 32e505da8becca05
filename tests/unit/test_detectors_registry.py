"""Detector registry: built-ins, defaults, plug-ins through entry points."""

from __future__ import annotations

import importlib.metadata as md
import re
from typing import Any

import numpy as np
import pytest

from activesec.core.errors import ConfigError, DataError, ModelError
from activesec.detectors import registry
from activesec.detectors.base import Detector
from activesec.features.keys import KEY_FEATURE_NAMES  # noqa: F401  (features import cleanly)

BUILTINS = {"scaled_manhattan", "mahalanobis", "nearest_neighbor", "gmm", "ocsvm",
            "isolation_forest", "lof", "random_forest", "hist_gb", "extra_trees"}


def test_builtins_registered_and_defaults_exist() -> None:
    assert set(registry.names()) >= BUILTINS
    for modality in ("pointer", "keys"):
        assert registry.default_for(modality) in registry.names()
    with pytest.raises(ConfigError):
        registry.default_for("voice")


def test_create_with_params_and_errors() -> None:
    d = registry.create("nearest_neighbor", k=3)
    assert isinstance(d, Detector) and d.get_params() == {"k": 3} and d.name == "nearest_neighbor"
    with pytest.raises(ConfigError, match="unknown detector"):
        registry.create("nope")
    with pytest.raises(ConfigError, match=r"it has no parameter 'kk' \(its parameters: k\)"):
        registry.create("nearest_neighbor", kk=3)


@pytest.mark.parametrize(("name", "params", "said"), [
    ("nearest_neighbor", {"k": "abc"}, "k='abc' is not int"),
    ("extra_trees", {"n_estimators": 2.5}, "n_estimators=2.5 is not int"),
    ("gmm", {"n_components": "abc"}, "n_components='abc' is not int"),
])
def test_a_parameter_of_the_wrong_type_is_refused_when_the_detector_is_made(
        name: str, params: dict[str, object], said: str) -> None:
    """`--param k=abc` failed deep in fit with "'<' not supported between 'int' and 'str'"."""
    with pytest.raises(ConfigError, match=said):
        registry.create(name, **params)
    assert registry.create("extra_trees", n_estimators="20").get_params()["n_estimators"] == 20


@pytest.mark.parametrize(("name", "params"), [("extra_trees", {"n_estimators": 0}),
                                              ("ocsvm", {"nu": 5})])
def test_a_parameter_out_of_range_is_a_config_error_at_fit(name: str,
                                                          params: dict[str, object]) -> None:
    """scikit-learn checks ranges in fit: a traceback of InvalidParameterError before."""
    rng = np.random.default_rng(0)
    det = registry.create(name, **params)
    with pytest.raises(ConfigError, match=f"bad parameter for detector {name}: The '"):
        det.fit(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)))


@pytest.mark.parametrize(("name", "params", "said"), [
    *[(n, {"scaler": "bogus"}, "scaler='bogus' is not one of standard, robust, quantile, none")
      for n in ("gmm", "ocsvm", "lof", "isolation_forest", "mahalanobis")],
    ("gmm", {"n_components": 0}, "n_components=0 is not an integer >= 1"),
    ("gmm", {"n_components": -5}, "n_components=-5 is not an integer >= 1"),
    ("lof", {"n_neighbors": 0}, "n_neighbors=0 is not an integer >= 1"),
    ("nearest_neighbor", {"k": 0}, "k=0 is not an integer >= 1"),
    ("plda", {"n_components": 0}, "n_components=0 is not an integer >= 1"),
    ("hist_gb", {"min_samples_leaf": 0}, "min_samples_leaf=0 is not an integer >= 1"),
    ("extra_trees", {"max_background_ratio": 0.5}, "max_background_ratio=0.5 is not a number >= 1"),
    ("hist_gb", {"max_background_ratio": float("nan")},
     "max_background_ratio=nan is not a number >= 1"),
    ("extra_trees", {"random_state": -1},
     "random_state=-1 is not null or an integer from 0 to 4294967295"),
    ("gmm", {"random_state": -1}, "random_state=-1 is not null or an integer from 0 to"),
    ("random_forest", {"n_jobs": 0}, "n_jobs=0 is not null or a non-zero integer"),
    ("extra_trees", {"normalise": "tnorm"}, "normalise='tnorm' is not one of owner, none"),
])
def test_a_value_the_detector_cannot_use_is_refused_when_it_is_made(
        name: str, params: dict[str, object], said: str) -> None:
    """scaler='bogus' ended in a ValueError traceback, n_components=0 and max_background_ratio=0.5
    ran as 1 (reported as given), a negative seed crashed NumPy: a ConfigError when the registry
    makes the detector, and from fit when it was made or changed directly."""
    said_in_full = f"bad parameter for detector '{name}': {said}"
    with pytest.raises(ConfigError, match=re.escape(said_in_full)):
        registry.create(name, **params)
    det = registry.get(name)().set_params(**params)
    rng = np.random.default_rng(0)
    with pytest.raises(ConfigError, match=re.escape(said)):
        det.fit(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)), np.repeat(np.arange(4), 10))


def test_duplicate_name_rejected() -> None:
    with pytest.raises(ValueError):
        registry.register("scaled_manhattan")(type("Other", (Detector,), {}))


class PluginDetector(Detector):
    def __init__(self, bias: float = 0.0) -> None:
        self.bias = bias

    def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
        self.mu_ = X.mean(axis=0)

    def _score(self, X: np.ndarray) -> np.ndarray:
        return np.abs(X - self.mu_).sum(axis=1) + self.bias


def test_entry_point_plugins_are_discovered_lazily(monkeypatch: pytest.MonkeyPatch) -> None:
    good = md.EntryPoint(name="my_plugin", group=registry.ENTRY_POINT_GROUP,
                         value=f"{__name__}:PluginDetector")
    broken = md.EntryPoint(name="broken_plugin", group=registry.ENTRY_POINT_GROUP,
                           value="no_such_module_xyz:Nope")

    def fake_entry_points(group: str) -> list[md.EntryPoint]:
        return [good, broken] if group == registry.ENTRY_POINT_GROUP else []

    monkeypatch.setattr(registry, "entry_points", fake_entry_points)
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_BROKEN", {})
    assert "my_plugin" in registry.names()
    assert registry.create("my_plugin", bias=1.0).get_params() == {"bias": 1.0}
    with pytest.raises(ConfigError, match="plug-in failed to load"):
        registry.create("broken_plugin")


def test_a_plug_in_named_like_a_built_in_is_said_not_to_be_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A researcher's own "mahalanobis": `--detector mahalanobis` ran the built-in and
    `--detector all` lacked the plug-in, with nothing said."""
    clash = md.EntryPoint(name="mahalanobis", group=registry.ENTRY_POINT_GROUP,
                          value=f"{__name__}:PluginDetector")
    monkeypatch.setattr(registry, "entry_points", lambda group: [clash])
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_BROKEN", {})
    builtin = registry.get("mahalanobis")
    assert builtin.__module__ == "activesec.detectors.oneclass"
    why = registry.not_loaded()["mahalanobis"]
    assert f"its entry point {__name__}:PluginDetector is named like" in why
    assert "activesec.detectors.oneclass:Mahalanobis; give it another name" in why


def test_a_detector_returning_the_wrong_number_of_scores_is_named() -> None:
    """A plug-in's bug surfaced as an IndexError deep in the evaluation."""

    class Short(PluginDetector):
        name = "short"

        def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
            pass

        def _score(self, X: np.ndarray) -> np.ndarray:
            return np.zeros(len(X) - 1)

    det = Short()
    det.fit(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ModelError, match="detector 'short' returned 4 scores for 5 rows"):
        det.score(np.zeros((5, 3)))


def test_a_readme_plug_in_overriding_score_returning_the_wrong_count_is_named() -> None:
    """README's recipe overrides ``score`` itself, bypassing the base class's check: the
    evaluation died in an IndexError ("boolean index did not match") instead."""

    class Short(PluginDetector):
        name = "short"

        def fit(self, X: Any, X_background: Any = None,
                background_groups: Any = None) -> Short:
            return self

        def score(self, X: Any) -> np.ndarray:
            return np.zeros(len(X) - 1)

    det = Short().fit(np.zeros((10, 3)))
    with pytest.raises(ModelError, match="detector 'short' returned 4 scores for 5 rows"):
        det.score(np.zeros((5, 3)))
    assert Short.score.__name__ == "score"


def test_a_plug_in_raising_in_fit_or_score_is_named_in_one_error() -> None:
    """A plug-in's bug (an attribute fit never set) ended `evaluate` in a traceback, and with
    `--detector all` took every built-in's figures with it."""

    class Buggy(Detector):  # the README's way: fit and score overridden
        name = "buggy"

        def fit(self, X: Any, X_background: Any = None,
                background_groups: Any = None) -> Buggy:
            self.mu_ = np.mean(X, axis=0)
            return self

        def score(self, X: Any) -> np.ndarray:
            return np.abs(X - self.sd_).mean(axis=1)  # type: ignore[attr-defined]

    class BuggyFit(PluginDetector):  # the base class's way: _fit and _score
        name = "buggy_fit"

        def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
            raise ZeroDivisionError("division by zero")

    X = np.random.default_rng(0).normal(size=(10, 3))
    det = Buggy().fit(X)
    with pytest.raises(ModelError, match=r"detector 'buggy' \(.*:.*Buggy\) failed in score: "
                                         r"AttributeError: .*'sd_' at "
                                         r"test_detectors_registry.py:\d+"):
        det.score(X)
    with pytest.raises(ModelError, match=r"detector 'buggy_fit' .* failed in fit: "
                                         r"ZeroDivisionError: division by zero at "):
        BuggyFit().fit(X)
    # the checks ActiveSec itself makes still say their own words
    with pytest.raises(DataError, match="contains NaN"):
        Buggy().fit(np.full((10, 3), np.nan))
