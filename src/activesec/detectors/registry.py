"""Detector registry: built-ins by name, plus third-party detectors discovered lazily through
the ``activesec.detectors`` entry-point group (``name = "package.module:DetectorClass"``), so
users extend ActiveSec without forking it.

Nothing heavy happens at import: built-in modules (which import scikit-learn) and entry points
load on the first :func:`create` / :func:`names` / :func:`get` call.
"""

from __future__ import annotations

import importlib
import inspect
import math
import typing
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, TypeVar

from activesec.core.errors import ActiveSecError, ConfigError
from activesec.detectors.base import Detector

ENTRY_POINT_GROUP = "activesec.detectors"
_BUILTIN_MODULES = ("activesec.detectors.oneclass", "activesec.detectors.population",
                    "activesec.detectors.plda")

#: The project's default per modality, chosen by measurement (figures in the
#: ``activesec.detectors`` package docstring).
DEFAULTS = {"pointer": "extra_trees", "keys": "plda"}

_REGISTRY: dict[str, type[Detector]] = {}
_loaded = False
T = TypeVar("T", bound=type[Detector])


def register(name: str) -> Callable[[T], T]:
    """Class decorator: make a :class:`~activesec.detectors.base.Detector` creatable by name."""

    def deco(cls: T) -> T:
        prev = _REGISTRY.get(name)
        if prev is not None and prev is not cls:
            raise ValueError(f"detector name {name!r} is already registered by {prev.__name__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    for mod in _BUILTIN_MODULES:
        importlib.import_module(mod)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in _REGISTRY:
            taken = _REGISTRY[ep.name]
            if ep.value.replace(" ", "") != f"{taken.__module__}:{taken.__qualname__}":
                # `--detector mahalanobis` ran the built-in, and a comparison lacked the
                # plug-in, with nothing said
                _BROKEN[ep.name] = (f"not used: its entry point {ep.value} is named like "
                                    f"{taken.__module__}:{taken.__qualname__}; give it "
                                    "another name")
            continue
        try:
            cls = ep.load()
        except Exception as exc:  # a broken plug-in must not break the built-ins
            _BROKEN[ep.name] = f"{type(exc).__name__}: {exc}"
            continue
        why = _not_a_detector(cls)
        if why:  # `--detector NAME` ended in an AttributeError traceback
            _BROKEN[ep.name] = f"{ep.value} {why}"
            continue
        cls.name = ep.name
        _REGISTRY[ep.name] = cls
    _loaded = True


_BROKEN: dict[str, str] = {}


def _not_a_detector(cls: Any) -> str:
    """Why the object a plug-in's entry point names cannot be used as a detector ('' if it
    can): not a Detector subclass, or one that implements neither ``fit`` nor ``score``."""
    if not (isinstance(cls, type) and issubclass(cls, Detector)):
        return "is not a subclass of activesec.detectors.base.Detector"
    own = {n for k in cls.__mro__[:cls.__mro__.index(Detector)] for n in vars(k)}
    needs = {"fit()": {"fit", "_fit", "_fit_groups"}, "score()": {"score", "_score"}}
    missing = [m for m, names in needs.items() if not own & names]
    return f"does not define {' and '.join(missing)}" if missing else ""


def origin(name: str) -> tuple[str, str] | None:
    """(package, version) of the installed plug-in providing detector ``name`` — the first
    entry point of that name, as :func:`get` uses — read from its metadata without importing
    anything; None for a built-in or a name no package provides."""
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            dist = getattr(ep, "dist", None)
            return None if dist is None else (str(dist.name), str(dist.version))
    return None


def not_loaded() -> dict[str, str]:
    """Plug-in detectors whose entry point failed to import: name -> why (``all`` lists them,
    so a comparison never silently lacks one)."""
    _load()
    return dict(_BROKEN)


def names() -> list[str]:
    """All detector names, built-ins and plug-ins, sorted (as the actions registry lists)."""
    _load()
    return sorted(_REGISTRY)


def get(name: str) -> type[Detector]:
    """The detector class registered as ``name`` (plug-ins follow the same interface)."""
    _load()
    if name not in _REGISTRY:
        why = f" (plug-in failed to load: {_BROKEN[name]})" if name in _BROKEN else ""
        fix = "fix or reinstall the package that provides it, or " if why else ""
        raise ConfigError(f"unknown detector {name!r}{why}",
                          f"{fix}choose one of: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name]


def create(name: str, **params: Any) -> Detector:
    """A new, unfitted detector ``name`` with ``params`` (checked: a ConfigError names a bad
    one)."""
    cls = get(name)
    takes = cls._param_names()
    unknown = sorted(set(params) - set(takes))
    if unknown and not _takes_any(cls):  # said so, not as Python's "unexpected keyword argument"
        raise ConfigError(f"bad parameter for detector {name!r}: it has no parameter "
                          f"{', '.join(map(repr, unknown))} (its parameters: "
                          f"{', '.join(takes) or 'none'})", "change that --param value")
    params = _typed(name, cls, params)
    try:
        det = cls(**params)
    except TypeError as exc:
        raise ConfigError(f"bad parameters for detector {name!r}: {exc}",
                          "see the detector's documentation for its parameters") from exc
    except ActiveSecError:
        raise
    except Exception as exc:  # a plug-in's constructor checking its values (a ValueError)
        if not cls._is_plugin():
            raise
        raise cls._params_error(exc) from None
    det._check_params()
    # after the detector's own checks (which say its ranges); for a plug-in without them, an
    # `--param eps=NaN` or `=Infinity` ran and was reported as `null` in the JSON
    for key, value in params.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"bad parameter for detector {name!r}: {key}={value!r} is not a "
                              "finite number", "change that --param value")
    return det


def accepted(name: str, params: dict[str, Any]) -> dict[str, Any]:
    """The part of ``params`` that detector ``name``'s constructor takes (all of them when it
    takes ``**kwargs``) — how ``--detector all`` shares one ``--param`` list among detectors
    with different parameters."""
    cls = get(name)
    if _takes_any(cls):
        return dict(params)
    takes = set(cls._param_names())
    return {k: v for k, v in params.items() if k in takes}


def seeded(name: str, params: dict[str, Any], seed: int) -> dict[str, Any]:
    """``params`` with ``random_state=seed`` for a detector ``name`` that takes one, unless
    ``params`` sets it or ``seed`` is 0 (each detector's own default): `evaluate --seed`, said
    to seed the detectors, left every forest at random_state 0 — seeds 0 to 4 gave one result."""
    if not seed or "random_state" in params or "random_state" not in get(name)._param_names():
        return dict(params)
    return {**params, "random_state": seed}


def _takes_any(cls: type[Detector]) -> bool:
    """Does the constructor take ``**kwargs`` (a plug-in may)?"""
    return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls.__init__).parameters.values())


def default_for(modality: str) -> str:
    """The project's best default detector for ``'pointer'`` or ``'keys'``."""
    if modality not in DEFAULTS:
        raise ConfigError(f"unknown modality {modality!r}", "use 'pointer' or 'keys'")
    return DEFAULTS[modality]


def _typed(name: str, cls: type[Detector], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` checked against the types the constructor declares (``k: int``): a wrong
    type ("abc", 2.5 for an integer) failed deep in fit with a bare TypeError. Values are
    converted as pydantic does in lax mode ("3" -> 3); parameters without a resolvable
    annotation pass unchanged."""
    from pydantic import TypeAdapter, ValidationError

    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # a plug-in's annotations that do not resolve: nothing to check by
        return params
    out = dict(params)
    for key, value in params.items():
        hint = hints.get(key)
        if hint is None:
            continue
        try:
            out[key] = TypeAdapter(hint).validate_python(value)
        except ValidationError as exc:
            want = str(hint).replace("typing.", "").replace("<class '", "").replace("'>", "")
            raise ConfigError(f"bad parameter for detector {name!r}: {key}={value!r} is not "
                              f"{want} ({exc.errors()[0]['msg']})",
                              "change that --param value") from None
        except Exception:  # a type pydantic cannot check (a plug-in's own class)
            continue
    return out
