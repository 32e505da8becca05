"""Pluggable actions: what ActiveSec does when trust falls (notify, lock, gate apps, run a
command, log/forward) and undoes when it recovers.

The engine hands each action a :class:`~activesec.actions.base.Decision`; actions answer with an
:class:`~activesec.actions.base.ActionResult` and never raise for expected failures. Built-ins and
third-party actions (entry point group ``activesec.actions``) are created through
:mod:`activesec.actions.registry`.
"""

from activesec.actions.base import Action, ActionResult, Decision, DryRun, Recorded

__all__ = ["Action", "ActionResult", "Decision", "DryRun", "Recorded"]
