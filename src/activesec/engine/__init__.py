"""Engine: streaming scores -> trust level -> policy decisions (pure, clock injected).

* :mod:`.scoring` — :class:`StreamScorer` turns event batches into per-action / per-window scores
  as actions and windows complete, with the very feature functions offline evaluation uses.
* :mod:`.trust` — :class:`MondalBoursTrust` / :class:`SprtTrust` fuse those scores into a trust
  level; :func:`simulate` and :func:`actions_to_lock` are the offline (ANIA/ANGA) twins.
* :mod:`.policy` — :class:`Policy` turns trust into notify / lock / gate decisions with
  cool-downs, escalation, revert and grace, fail2ban style.
* :mod:`.pipeline` — :class:`Engine` wires the three (events in, decisions out) and
  :func:`replay_events` runs a recording through it on a clock that follows the events.

The live agent, ``activesec replay`` and ``activesec evaluate --continuous`` all drive these
same objects; only the clock and the event source differ.
"""
