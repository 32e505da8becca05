"""Detectors: owner-vs-impostor scorers (higher score = more likely an impostor).

Modules: :mod:`.base` (the contract), :mod:`.oneclass` (owner data only), :mod:`.population`
(owner vs a background of other people), :mod:`.plda` (learns how people differ from a
labelled background), :mod:`.fusion` (rolling fusion, trust model, SPRT), :mod:`.calibrate`
(thresholds outside the model), :mod:`.registry` (names, defaults, plug-ins) and
:mod:`.persist` (skops + model card, never pickle).

Defaults per modality (:func:`.registry.default_for`), chosen by measurement on public data.
Reference figures from the evaluation harness (``activesec evaluate balabit|aalto --json``,
2-core machine): Balabit AUC 0.967, pooled EER 6.6 %, mean per-user EER 4.7 % (57 s);
Aalto full subset (582 background users, 1,747 evaluated) AUC 0.982, pooled EER 6.6 %, mean
per-user EER 5.6 % (324 s). Development runs that chose them:

* pointer -> ``extra_trees`` (100 trees, owner vs an equal-sized background). Balabit, one
  model per user from ``training_files`` (background = the other 9 users' training files),
  session score = mean action score, 816 labelled test sessions: AUC 0.969, pooled EER 6.6 %,
  mean per-user EER 5.0 % (pause 0.5 s). At pause 1 s: extra trees 0.967 / 7.5 %, random
  forest 0.953 / 9.4 %, extra trees with min_samples_leaf=3 0.961 / 8.5 %, a 3x background
  0.966 / 9.2 %, a 10x background 0.925 / 15 %, PLDA 0.65 (9 background people are too few
  to learn a metric). Session fusion: mean 0.967, logit-mean 0.970, median 0.955.
* keys -> ``plda`` (needs ``background_groups``). Aalto 136M, enrol 5 sentences, genuine = the
  other 10, impostors = one sentence of each of 99 other users, background = 800 disjoint
  users: mean per-user EER 4.9 % vs scaled Manhattan 15.5 %, Mahalanobis 16.9 %, nearest
  neighbour 16.6 %, GMM 17.5 % (100 users evaluated).

Importing this package is cheap; scikit-learn loads with the first detector created.
"""
