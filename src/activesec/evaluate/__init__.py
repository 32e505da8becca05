"""Evaluate: dataset protocols, metrics and reports, running the live feature/detector code.

Entry points (import lazily; scikit-learn loads with them):

* :mod:`.api` — ``evaluate(dataset, data, detector=None, options=Options(...)) -> EvalResult``,
  ``evaluate_all(...) -> list[EvalResult]``, ``prepare`` / ``run_prepared``, ``DATASETS``;
* :mod:`.result` — ``EvalResult.to_json()``, ``results_json(dataset, results)``;
* :mod:`.report` — ``write_report(result_or_results, out_dir) -> Path`` (offline HTML);
* :mod:`.metrics` — ROC, AUC, interpolated EER, DET, FAR/FRR;
* :mod:`.engine` / :mod:`.protocols` — per-user tasks and the dataset protocols;
* :mod:`.parallel` — joblib backends (loky, threading, dask, ray) with progress callbacks.
"""
