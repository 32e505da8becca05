"""The local web dashboard (``activesec dashboard``): the agent's state, trust, enrolment,
models and recent decisions with their evidence, in a browser — the same snapshot as
``activesec status`` (:func:`activesec.service.report.status_data`) plus the decision log.

It is a separate process that reads what the agent writes (status file, decision log, store
counters): the always-on agent never imports the web stack. See :mod:`.app` for what protects
it (loopback only, a per-run secret, host check).
"""
