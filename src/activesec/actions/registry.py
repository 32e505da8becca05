"""Find and build actions by name: the built-ins plus plug-ins from the ``activesec.actions``
entry point group, so users extend ActiveSec without forking it.

A plug-in package declares, in its ``pyproject.toml``::

    [project.entry-points."activesec.actions"]
    pager = "mypkg.pager:PagerAction"     # a subclass of activesec.actions.Action

A plug-in that locks the session (another screen locker) sets ``locks_session = True`` on its
class, so the agent waits for the unlock after it fires; one that only reports leaves it false.

Everything is imported lazily: listing names reads only package metadata, and ``create``
imports just the one module it needs. A built-in name cannot be taken over by a plug-in (a
third-party package must not be able to replace ``lock`` silently); such a plug-in is ignored
with a warning.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from activesec.actions.base import Action
from activesec.core.errors import ActiveSecError, ConfigError

log = logging.getLogger(__name__)

GROUP = "activesec.actions"

BUILTINS: dict[str, str] = {
    "alertlog": "activesec.actions.alertlog:AlertLogAction",
    "command": "activesec.actions.command:CommandAction",
    "gate": "activesec.actions.gate:GateAction",
    "lock": "activesec.actions.lock:LockAction",
    "notify": "activesec.actions.notify:NotifyAction",
}


def _plugins() -> dict[str, EntryPoint]:
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        if ep.name in BUILTINS:
            log.warning(
                "ignoring plug-in action %r from %s: it would replace a built-in", ep.name, ep.value
            )
            continue
        found.setdefault(ep.name, ep)
    return found


def names() -> list[str]:
    """Every action name that :func:`create` accepts, sorted."""
    return sorted({*BUILTINS, *_plugins()})


def load(name: str) -> type[Action]:
    """The action class registered under ``name`` (imports its module now)."""
    if name in BUILTINS:
        module, _, attr = BUILTINS[name].partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        ep = _plugins().get(name)
        if ep is None:
            raise ConfigError(f"unknown action {name!r}", f"available: {', '.join(names())}")
        try:
            cls = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"action plug-in {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}",
                "reinstall or remove the package that provides it",
            ) from None
    if not (isinstance(cls, type) and issubclass(cls, Action)):
        raise ConfigError(
            f"action plug-in {name!r} is not a subclass of activesec.actions.Action",
            "fix the entry point of the package that provides it",
        )
    if inspect.isabstract(cls):  # was "invalid parameters for action …: Can't instantiate …"
        missing = " and ".join(f"{m}()" for m in sorted(cls.__abstractmethods__))
        raise ConfigError(
            f"action plug-in {name!r} ({cls.__module__}:{cls.__qualname__}) does not define "
            f"{missing}",
            "fix the plug-in (README, 'Writing an action'), or remove it from [actions]",
        )
    if name not in BUILTINS:  # as detectors: its name is the entry point's (else "action")
        cls.name = name
    return cls


def create(name: str, **params: Any) -> Action:
    """Build the action ``name`` with its configuration ``params`` (``dry_run=True`` for its
    dry-run twin). Unknown names and bad parameters are ConfigErrors."""
    cls = load(name)
    accepted = _settings(cls)
    unknown = [] if accepted is None else sorted(set(params) - set(accepted) - {"dry_run"})
    if unknown:
        takes = [a for a in accepted or () if a not in cls.seams]
        raise ConfigError(
            f"invalid parameters for action {name!r}: unknown setting(s) {', '.join(unknown)} "
            f"in [actions.params.{name}]",
            f"the {name} action takes: {', '.join(takes) or 'no settings'}",
        )
    try:
        return cls(**params)
    except TypeError as exc:
        raise ConfigError(
            f"invalid parameters for action {name!r}: {exc}",
            f"see the documentation of {cls.__module__}.{cls.__qualname__}",
        ) from None
    except ActiveSecError:
        raise
    except Exception as exc:  # a plug-in's constructor: it ended `run` in a traceback
        raise ConfigError(
            f"action {name!r} ({cls.__module__}:{cls.__qualname__}) failed to start: "
            f"{type(exc).__name__}: {exc}",
            "fix the plug-in, or remove it from [actions]",
        ) from None


def _settings(cls: type[Action]) -> list[str] | None:
    """The keyword arguments ``cls`` takes besides ``dry_run`` (None: it takes any)."""
    try:
        sig = inspect.signature(cls)
    except (TypeError, ValueError):
        return None
    out = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            return None
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "dry_run":
            out.append(p.name)
    return out
