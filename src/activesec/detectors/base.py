"""The detector contract every scorer follows (scikit-learn / PyOD conventions).

* ``__init__`` only stores its keyword parameters (no validation, no work), so
  :meth:`Detector.get_params` can read them back and a model card can record them.
* ``check_params()`` refuses values the detector cannot use with a :class:`ConfigError`; the
  registry calls it on every detector it creates, ``fit`` before fitting, so a bad value fails
  before any model is fitted — never deep in scikit-learn, never clamped to a valid one unsaid.
* ``fit(X, X_background=None, background_groups=None) -> self``: one-class detectors learn
  from the owner's rows ``X`` alone and ignore the background; population detectors
  (``needs_background = True``) contrast the owner with ``X_background`` (other people) and
  refuse to fit without it; detectors that learn how people differ (``needs_groups = True``,
  e.g. PLDA) also need ``background_groups``, one person id per background row.
* ``score(X) -> ndarray``: one float per row, **higher = more likely an impostor**. Adapters of
  scikit-learn models negate ``decision_function`` / ``score_samples`` here, once.
* Learned state is stored in attributes ending with ``_``; randomness comes only from the
  ``random_state`` parameter, so two fits with the same seed score identically.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import math
import numbers
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from activesec.core.errors import ActiveSecError, ConfigError, DataError, ModelError


def check_X(X: Any, *, name: str = "X", n_features: int | None = None) -> np.ndarray:
    """A finite 2-D float64 array, or a DataError saying what is wrong."""
    a = np.asarray(X, dtype=np.float64)
    if a.ndim != 2:
        raise DataError(f"{name} must be a 2-D feature matrix, got shape {a.shape}",
                        "pass one row per action or window")
    if not np.isfinite(a).all():
        raise DataError(f"{name} contains NaN or infinite values",
                        "use the activesec feature extractors, which always return finite rows")
    if n_features is not None and a.shape[1] != n_features:
        raise DataError(f"{name} has {a.shape[1]} features, the model was fitted on {n_features}",
                        "retrain with `activesec train`")
    return a


def _as_int(v: Any) -> int | None:
    """``v`` as an int when it is an integer (a bool is not), else None."""
    return int(v) if isinstance(v, numbers.Integral) and not isinstance(v, bool) else None


class Detector:
    """Base class: parameter handling, input checks and the sign convention."""

    #: registry name (set by :func:`activesec.detectors.registry.register`)
    name: ClassVar[str] = ""
    #: True for owner-vs-background classifiers
    needs_background: ClassVar[bool] = False
    #: True when the background must come with a person id per row
    needs_groups: ClassVar[bool] = False
    #: smallest number of owner rows ``fit`` accepts
    min_samples: ClassVar[int] = 2

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A plug-in written to the README overrides ``fit`` and ``score`` themselves: wrapped
        # here, it gets the built-ins' input checks, parameter check, ``n_features_in_`` and
        # score-count check, so it keeps the same contract (tests/contract) without knowing it.
        # A plug-in's own error (a bug in its fit or score) is said in one line naming it and
        # where it was raised: it ended `evaluate` in a traceback, and `--detector all` — every
        # built-in's figures lost to one broken plug-in installed beside them.
        own_fit = cls.__dict__.get("fit")
        if own_fit is not None:
            @functools.wraps(own_fit)
            def fit(self: Detector, X: Any, X_background: Any = None,
                    background_groups: Any = None) -> Detector:
                Xo, Xb, groups = self._checked_fit_input(X, X_background, background_groups)
                with self._said("fit"):
                    if self.needs_groups:
                        own_fit(self, Xo, Xb, groups)
                    else:
                        own_fit(self, Xo, Xb)
                self.n_features_in_ = Xo.shape[1]
                return self

            cls.fit = fit  # type: ignore[method-assign]
        own_score = cls.__dict__.get("score")
        if own_score is not None:
            @functools.wraps(own_score)
            def score(self: Detector, X: Any) -> np.ndarray:
                a = self._checked_score_input(X)
                if len(a) == 0:
                    return np.zeros(0, dtype=np.float64)
                with self._said("score"):
                    s = np.asarray(own_score(self, a), np.float64).reshape(-1)
                return self._finite(s, len(a))

            cls.score = score  # type: ignore[method-assign]

    def _plugin_error(self, method: str, exc: Exception) -> Exception:
        """``exc`` raised in a plug-in's ``method`` as one line: what, where, which detector.
        ActiveSec's own errors (a ConfigError from its checks) pass as they are."""
        if isinstance(exc, ActiveSecError):
            return exc
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        return ModelError(
            f"{self.who()} failed in {method}: {type(exc).__name__}: {exc}{where}",
            "fix the plug-in (call its fit and score in Python to see the traceback), or "
            "choose another detector")

    def __init__(self, **params: Any) -> None:  # subclasses list their params explicitly
        for k, v in params.items():
            setattr(self, k, v)

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values()
                if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]

    def get_params(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._param_names()}

    def set_params(self, **params: Any) -> Detector:
        valid = set(self._param_names())
        for k, v in params.items():
            if k not in valid:
                raise ValueError(f"{type(self).__name__} has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({ps})"

    # --- parameter checks ---------------------------------------------------------------
    def check_params(self) -> None:
        """Refuse parameter values this detector cannot use (a ConfigError). Built-ins check
        what scikit-learn does not, or only in fit; the default (plug-ins) checks nothing."""

    def _check_params(self) -> None:
        """:meth:`check_params`, a plug-in's other errors there (a ValueError) said as a
        ConfigError naming it: they ended `evaluate` and `train` in a traceback."""
        try:
            self.check_params()
        except Exception as exc:
            if isinstance(exc, ActiveSecError) or not self._is_plugin():
                raise
            raise self._params_error(exc) from None

    @classmethod
    def _params_error(cls, exc: Exception) -> ConfigError:
        """A plug-in's own error about its parameters as a one-line ConfigError naming it."""
        return ConfigError(
            f"{cls.who()} refused its parameters: {type(exc).__name__}: {exc}",
            "change that --param value (or fix the plug-in)")

    def _require(self, key: str, ok: bool, want: str) -> None:
        """A ConfigError unless ``ok``: parameter ``key`` must be ``want``."""
        if not ok:
            raise ConfigError(f"bad parameter for detector {self.name or type(self).__name__!r}"
                              f": {key}={getattr(self, key)!r} is not {want}",
                              "change that --param value")

    def _require_int(self, key: str, low: int) -> None:
        n = _as_int(getattr(self, key))
        self._require(key, n is not None and n >= low, f"an integer >= {low}")

    def _require_one_of(self, key: str, choices: Sequence[str]) -> None:
        self._require(key, getattr(self, key) in choices, f"one of {', '.join(choices)}")

    def _require_seed(self, key: str = "random_state") -> None:
        """None or a seed NumPy and scikit-learn accept (0 to 2**32 - 1)."""
        v = getattr(self, key)
        n = _as_int(v)
        self._require(key, v is None or (n is not None and 0 <= n < 2**32),
                      "null or an integer from 0 to 4294967295")

    def _require_number(self, key: str, low: float) -> None:
        v = getattr(self, key)
        x = float(v) if isinstance(v, numbers.Real) and not isinstance(v, bool) else math.nan
        self._require(key, math.isfinite(x) and x >= low, f"a number >= {low:g}")

    # --- the contract -------------------------------------------------------------------
    def fit(self, X: Any, X_background: Any = None, background_groups: Any = None) -> Detector:
        Xo, Xb, groups = self._checked_fit_input(X, X_background, background_groups)
        self.n_features_in_ = Xo.shape[1]
        with self._said("fit"):
            if self.needs_groups:
                self._fit_groups(Xo, Xb, groups)
            else:
                self._fit(Xo, Xb)
        return self

    @contextlib.contextmanager
    def _said(self, method: str) -> Iterator[None]:
        """Run a detector's own ``method`` code, its errors said as a user needs them: a
        parameter range scikit-learn checks only in fit (``n_estimators=0``) as a ConfigError,
        and a plug-in's bug in one line (:meth:`_plugin_error`); a built-in's passes as is."""
        try:
            yield
        except Exception as exc:
            # matched by name, so this module stays free of scikit-learn, which the scoring
            # agent must not import
            if type(exc).__name__ == "InvalidParameterError":
                raise ConfigError(f"bad parameter for detector {self.name or type(self).__name__}"
                                  f": {exc}", "change that --param value") from None
            if self._is_plugin():
                raise self._plugin_error(method, exc) from None
            raise

    @classmethod
    def who(cls) -> str:
        """How messages name it: ``detector 'odd' (bp.det:Det)`` — its name and where its
        class is, which tells a plug-in's from a built-in."""
        return f"detector {cls.name or cls.__name__!r} ({cls.__module__}:{cls.__qualname__})"

    @classmethod
    def _is_plugin(cls) -> bool:
        return not cls.__module__.startswith("activesec.")

    def _checked_fit_input(self, X: Any, X_background: Any, background_groups: Any
                           ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """The parameter check and the owner rows, background and person ids ``fit`` needs,
        validated (a ConfigError or DataError saying what is wrong)."""
        self._check_params()
        Xo = check_X(X)
        who = self.name or type(self).__name__
        if len(Xo) < self.min_samples:
            raise DataError(f"{len(Xo)} owner rows are too few to fit {who}"
                            f" (need {self.min_samples})", "collect more data before training")
        Xb = None
        if self.needs_background:
            if X_background is None:
                raise DataError(f"{who} contrasts the owner with other people and needs "
                                "X_background",
                                "pass background rows or choose a one-class detector")
            Xb = check_X(X_background, name="X_background", n_features=Xo.shape[1])
            if len(Xb) < 2:
                raise DataError("X_background has fewer than 2 rows", "use a larger background")
        groups = None
        if self.needs_groups:
            if background_groups is None:
                raise DataError(f"{who} learns how people differ and needs background_groups "
                                "(one person id per background row)",
                                "pass the background's person ids or choose another detector")
            groups = np.asarray(background_groups).reshape(-1)
            if len(groups) != len(Xb if Xb is not None else []):
                raise DataError(f"background_groups has {len(groups)} ids for "
                                f"{0 if Xb is None else len(Xb)} background rows",
                                "pass one person id per background row")
            if len(np.unique(groups)) < 3:
                raise DataError("the background must hold at least 3 people",
                                "use a larger background")
        return Xo, Xb, groups

    def score(self, X: Any) -> np.ndarray:
        a = self._checked_score_input(X)
        if len(a) == 0:
            return np.zeros(0, dtype=np.float64)
        with self._said("score"):
            s = np.asarray(self._score(a), dtype=np.float64).reshape(-1)
        return self._finite(s, len(a))

    def _checked_score_input(self, X: Any) -> np.ndarray:
        if not hasattr(self, "n_features_in_"):
            raise ModelError(f"{type(self).__name__} is not fitted", "call fit() or load a model")
        return check_X(X, n_features=self.n_features_in_)

    def _finite(self, s: np.ndarray, rows: int) -> np.ndarray:
        """One finite score per row: NaN and +inf become the largest float (impostor) — but a
        plug-in's are its bug, said naming it: they were taken for impostors unsaid, and an
        evaluation ended in "scores contain NaN or infinity" after overflow warnings."""
        self._check_count(s, rows)
        bad = int(np.count_nonzero(~np.isfinite(s)))
        if bad and self._is_plugin():
            raise ModelError(f"{self.who()} returned {bad} NaN or infinite scores for "
                             f"{rows} rows", "fix the plug-in's score (one finite number per "
                             "row), or choose another detector")
        return np.nan_to_num(s, nan=np.finfo(np.float64).max, posinf=np.finfo(np.float64).max,
                             neginf=-np.finfo(np.float64).max)

    def _check_count(self, s: np.ndarray, rows: int) -> None:
        if len(s) != rows:  # a plug-in's bug: said here, not as an IndexError far away
            raise ModelError(f"detector {self.name!r} returned {len(s)} scores for {rows} "
                             "rows", "report it to the detector's author; choose another "
                             "detector meanwhile")

    # --- what subclasses implement --------------------------------------------------------
    def _fit(self, X: np.ndarray, X_background: np.ndarray | None) -> None:
        raise NotImplementedError

    def _fit_groups(self, X: np.ndarray, X_background: np.ndarray | None,
                    groups: np.ndarray | None) -> None:
        raise NotImplementedError

    def _score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError
