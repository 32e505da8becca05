"""Detectors: owner-vs-impostor scorers (higher score = more likely an impostor).

Modules: :mod:`.base` (the contract), :mod:`.oneclass` (owner data only), :mod:`.population`
(owner vs a background of other people), :mod:`.plda` and :mod:`.snorm` (learns how people
differ from a labelled background; adaptive S-norm against background people), :mod:`.fusion`
(rolling fusion of consecutive scores; the trust model lives in :mod:`activesec.engine.trust`),
:mod:`.calibrate` (thresholds outside the model), :mod:`.registry` (names, defaults, plug-ins),
:mod:`.persist` (skops + model card, never pickle) and :mod:`.compact` (NumPy-only twins the
live agent scores with).

Defaults per modality (:func:`.registry.default_for`), chosen by measurement on public data;
the full figures and how each choice was made are in the detector modules' docstrings.
Reference figures (``activesec evaluate balabit|aalto --jobs 2 --json``, 2-core machine,
2026-11-22):

* pointer -> ``extra_trees`` (200 trees, owner vs an equal-sized background of other people,
  scores in owner-σ units from cross-fitted held-out owner scores). Balabit, one model per user
  from ``training_files``, session score = mean action score, 816 labelled test sessions:
  AUC 0.982, pooled EER 6.4 %, mean per-user EER 4.69 % (~1 min).
* keys -> ``plda`` (needs ``background_groups``; full-covariance two-covariance model on 30
  components, adaptive S-norm with its T-part weighted 0.85). Aalto 136M, enrol 5 sentences,
  genuine = the other 10, impostors = other users' sentences, 582 disjoint background users,
  1,747 evaluated: AUC 0.987, pooled EER 5.6 %, mean per-user EER 4.76 % (171 s).

Importing this package is cheap; scikit-learn loads with the first detector created.
"""
