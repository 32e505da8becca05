"""Entry points the CLI calls: evaluate one detector, or every detector, on a dataset.

    from activesec.evaluate.api import Options, evaluate, evaluate_all
    res = evaluate("balabit", path, detector=None, options=Options(jobs=2))
    print(json.dumps(res.to_json()))

A dataset is prepared once (loading, segmentation, features — the expensive part) and then run
with each requested detector, so ``--detector all`` does not re-read the data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from activesec.core.errors import ConfigError, DataError, ModelError
from activesec.evaluate.engine import DetectorSpec, run_users
from activesec.evaluate.parallel import backend
from activesec.evaluate.protocols import aalto, balabit, cmu, freihaut, layout, store
from activesec.evaluate.protocols._common import Options, Prepared
from activesec.evaluate.result import EvalResult, build_result, results_json

__all__ = ["DATASETS", "Options", "evaluate", "evaluate_all", "prepare", "results_json",
           "run_prepared"]

DATASETS: dict[str, Callable[[Path, Options], Prepared]] = {
    "balabit": balabit.prepare,
    "aalto": aalto.prepare,
    "freihaut": freihaut.prepare,
    "cmu": cmu.prepare,
    "mouse-csv": layout.prepare_mouse,
    "keys-csv": layout.prepare_keys,
    "store": store.prepare,
}


def prepare(dataset: str, data: str | Path, options: Options | None = None) -> Prepared:
    """Load and featurise ``data`` under ``dataset``'s protocol (DataError on a wrong layout)."""
    opts = options or Options()
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}", f"use one of {', '.join(DATASETS)}")
    path = Path(data).expanduser()
    if not path.exists():
        raise DataError(f"{path} does not exist", "pass the dataset's path with --data")
    with backend(opts.backend, opts.jobs):
        return DATASETS[dataset](path, opts)


ONE_CLASS_FALLBACK = "scaled_manhattan"  # default where a protocol has no background


def _needs_background(name: str) -> bool:
    from activesec.detectors.registry import create

    return bool(getattr(create(name), "needs_background", False))


def _needs_groups(name: str) -> bool:
    from activesec.detectors.registry import get

    return bool(getattr(get(name), "needs_groups", False))


#: people a detector that learns how people differ (PLDA) needs in its background
MIN_BACKGROUND_PEOPLE = 3


def _background_people(prep: Prepared) -> int:
    """The fewest people in any evaluated user's background (the other users, in the generic
    layouts: 3 users leave each one 2)."""
    counts = [len(set(t.background_groups.tolist())) for t in prep.tasks
              if t.skipped_reason is None and t.background_groups is not None]
    return min(counts) if counts else 0


def _too_few_people(prep: Prepared, name: str) -> bool:
    return (prep.use_background and _needs_groups(name)
            and _background_people(prep) < MIN_BACKGROUND_PEOPLE)


def _choose(prep: Prepared, detector: str | None) -> str:
    """The detector to run: the modality's default unless named; population detectors only
    where the protocol defines a background, and those that learn how people differ only where
    it holds enough people (else the default falls back to a one-class detector)."""
    from activesec.detectors.registry import default_for

    name = detector or str(default_for(prep.modality))
    if _too_few_people(prep, name):
        if detector is None:
            return ONE_CLASS_FALLBACK
        raise DataError(
            f"{name} learns how people differ from at least {MIN_BACKGROUND_PEOPLE} other "
            f"people, but a {prep.dataset} user's background holds only "
            f"{_background_people(prep)} (the other users)",
            f"evaluate at least {MIN_BACKGROUND_PEOPLE + 1} users, or choose another detector "
            f"(e.g. {ONE_CLASS_FALLBACK})",
        )
    if not prep.use_background and _needs_background(name):
        if detector is None:
            return ONE_CLASS_FALLBACK
        raise DataError(
            f"{name} contrasts the owner with other people, but the {prep.dataset} protocol "
            "has no background population",
            "choose a one-class detector (e.g. scaled_manhattan)",
        )
    return name


def run_prepared(prep: Prepared, detector: str | None, options: Options | None = None
                 ) -> EvalResult:
    """Run one detector (``None`` = the modality's default) over prepared tasks."""
    from activesec.detectors.registry import create, seeded

    opts = options or Options()
    name = _choose(prep, detector)
    given = seeded(name, opts.params, opts.seed)
    made = create(name, **given)  # a bad --param fails here, not in each user's worker
    # as the detector took them (`--param eps=.5` ran with 0.5, not the text '.5')
    params = {k: made.get_params().get(k, v) for k, v in given.items()}
    spec = DetectorSpec(name=name, params=params, fusion=opts.fusion)
    t0 = time.perf_counter()
    with backend(opts.backend, opts.jobs):
        users = run_users(prep.tasks, spec, prep.amounts, jobs=opts.jobs,
                          progress=opts.progress)
    run_s = time.perf_counter() - t0
    res = build_result(
        dataset=prep.dataset, protocol=prep.protocol, detector=name, modality=prep.modality,
        users=users, skipped=prep.skipped, runtime_s=prep.prepare_s + run_s,
        curve_name=prep.curve_name, day_bins=prep.day_bins,
        params={**prep.params, "detector_params": params, "jobs": opts.jobs,
                "backend": opts.backend, "seed": opts.seed,
                "prepare_s": round(prep.prepare_s, 3), "detector_s": round(run_s, 3)},
    )
    res.feature_distributions = prep.feature_distributions
    return res


def evaluate(dataset: str, data: str | Path, *, detector: str | None = None,
             options: Options | None = None) -> EvalResult:
    """Evaluate one detector (``None`` = the project's default for the dataset's modality)."""
    opts = options or Options()
    return run_prepared(prepare(dataset, data, opts), detector, opts)


def _for(detector: str, opts: Options) -> Options:
    """``opts`` with only the ``--param`` values ``detector`` takes (``n_estimators`` goes to
    the forests, not to ``gmm``, whose constructor would refuse it)."""
    from activesec.detectors.registry import accepted

    return replace(opts, params=accepted(detector, opts.params))


def evaluate_all(dataset: str, data: str | Path, *, detectors: Sequence[str] | None = None,
                 options: Options | None = None,
                 not_evaluated: dict[str, str] | None = None) -> list[EvalResult]:
    """Evaluate several detectors (``None`` = every registered one) on one preparation.

    With ``not_evaluated``, a detector that can evaluate no user (``hist_gb`` on 5 sentences
    each) is recorded there with the reason and the comparison goes on without it — one such
    detector used to end the whole comparison; a DataError only when none is left."""
    from activesec.detectors.registry import accepted, names

    opts = options or Options()
    todo = list(detectors or names())
    taken = {k for d in todo for k in accepted(d, opts.params)}
    if unused := [k for k in opts.params if k not in taken]:  # checked before the slow part
        raise ConfigError(f"no detector in the comparison takes --param {', '.join(unused)}",
                          "check the spelling; each --param goes to the detectors that have it")
    prep = prepare(dataset, data, opts)
    left_out: dict[str, str] = {}
    for d in todo:
        if not prep.use_background and _needs_background(d):
            left_out[d] = f"the {prep.dataset} protocol has no background population"
        elif _too_few_people(prep, d):  # e.g. plda with 3 users
            left_out[d] = (f"learns how people differ from at least {MIN_BACKGROUND_PEOPLE} "
                           f"other people; a user's background holds {_background_people(prep)}")
    todo = [d for d in todo if d not in left_out]
    if not_evaluated is None:
        return [run_prepared(prep, d, _for(d, opts)) for d in todo]
    not_evaluated.update(left_out)
    results = []
    first: DataError | ModelError | None = None
    for d in todo:
        try:
            results.append(run_prepared(prep, d, _for(d, opts)))
        except (DataError, ModelError) as exc:  # ModelError: a plug-in's bug, said in one line
            not_evaluated[d] = exc.message
            first = first or exc
    if not results:  # every detector failed: most likely the data (as one detector says it)
        raise first or DataError(f"no detector applies to the {dataset} protocol here: "
                                 + "; ".join(f"{d}: {why}" for d, why in left_out.items()))
    return results
