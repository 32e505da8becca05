"""``activesec evaluate``: the evaluation harness on public datasets or the user's own data."""

from __future__ import annotations

import json
import math
from enum import Enum
from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from activesec.cli._common import (
    err,
    finite,
    interactive,
    out,
    parse_params,
    plural,
    print_json,
    state_paths,
)
from activesec.core.errors import ActiveSecError

if TYPE_CHECKING:
    from pydantic import BaseModel


class Dataset(str, Enum):
    balabit = "balabit"
    aalto = "aalto"
    freihaut = "freihaut"
    cmu = "cmu"
    mouse_csv = "mouse-csv"
    keys_csv = "keys-csv"
    store = "store"


def register(app: typer.Typer) -> None:
    app.command()(evaluate)


def _engine_overrides(items: list[str]) -> tuple[Any, int | None, dict[str, Any]]:
    """``--engine`` items (``trust.neutral_z=-0.5``, ``policy.lock_below=30``, ``window=3``)
    -> (the validated EngineConfig, the fusion window or None, the overrides as given)."""
    from pydantic import ValidationError

    from activesec.core.config import error_key_msg, field_hint
    from activesec.core.errors import ConfigError
    from activesec.engine.pipeline import EngineConfig

    given: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    window: int | None = None
    for item in items:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"bad --engine {item!r}",
                              "use KEY=VALUE, e.g. --engine trust.neutral_z=-0.5 or window=3")
        try:
            value = json.loads(raw)
        except (ValueError, RecursionError):
            value = raw
        given[key] = value
        if key == "window":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"bad --engine {item!r}: the fusion window is an integer "
                                  ">= 1", "e.g. --engine window=3")
            window = value
            continue
        *parents, leaf = key.split(".")
        node = nested
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"bad --engine {item!r}", "e.g. --engine trust.neutral_z=-0.5")
        node[leaf] = value
    try:
        cfg = EngineConfig.model_validate(nested)
    except ValidationError as exc:
        key, msg = error_key_msg(exc, "engine", EngineConfig)
        loc = exc.errors()[0]["loc"]
        # a key of no [engine] section: list what --engine takes, window (no setting) included
        hint = (field_hint(EngineConfig, loc, "engine") if loc and loc[0] in
                EngineConfig.model_fields else f"--engine takes {_engine_keys(EngineConfig)}")
        raise ConfigError(f"bad --engine value for '{key.removeprefix('engine.')}': {msg}",
                          hint) from None
    return cfg, window, given


def _engine_keys(model: type[BaseModel]) -> str:
    """``--engine``'s top-level keys: window, then ``model``'s settings (sections as NAME.KEY)."""
    from pydantic import BaseModel

    keys = ["window"]
    for name, f in model.model_fields.items():
        sub = f.annotation
        keys.append(f"{name}.KEY" if isinstance(sub, type) and issubclass(sub, BaseModel)
                    else name)
    return ", ".join(keys)


def _finite(obj: Any) -> Any:
    """JSON has no infinity: an ANGA with no false lock at all becomes null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_finite(v) for v in obj]
    return obj


def evaluate(
    dataset: Dataset = typer.Argument(..., help="Which protocol to run."),
    data: str | None = typer.Option(
        None, "--data", help="Dataset path (not needed for `store`: your own recordings)."
    ),
    detector: str | None = typer.Option(
        None,
        "--detector",
        help="Detector name, or `all` (default: the best default for the modality).",
    ),
    enrol_sessions: int | None = typer.Option(
        None,
        "--enrol-sessions",
        min=1,
        help="Sessions per user used to enrol (generic layouts: default 1; store: half the "
        "owner's; freihaut: 10; sentences for aalto: 5).",
    ),
    report: str | None = typer.Option(
        None, "--report", help="Write a self-contained HTML report into DIR."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print one JSON object (no progress output)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Parallel workers (over users)."),
    backend: str = typer.Option(
        "loky",
        "--backend",
        help="joblib backend: loky | threading | dask | ray (cluster via its env).",
    ),
    max_users: int | None = typer.Option(
        None, "--max-users", min=2, help="Evaluate at most N users."
    ),
    fusion: str | None = typer.Option(
        None,
        "--fusion",
        help="Session score from action scores: mean | trimmed | median (default mean).",
    ),
    param: list[str] = typer.Option(
        [], "--param", help="Detector parameter KEY=VALUE (repeatable)."
    ),
    seed: int = typer.Option(
        0, "--seed", min=0,
        help="Seed for sampling and, unless --param random_state is given, the detectors that "
             "take one (random_state=N; 0: each detector's own default)."),
    continuous: bool = typer.Option(
        False,
        "--continuous",
        help="Also replay the test sessions through the live trust model and policy: "
        "ania (impostor actions before lock), anga (genuine actions per false lock), "
        "seconds to lock. Balabit, mouse-csv and keys-csv (counted in keystroke windows).",
    ),
    engine: list[str] = typer.Option(
        [],
        "--engine",
        help="With --continuous: a trust model or policy setting KEY=VALUE for the replay "
        "(repeatable; trust.neutral_z=-0.5, policy.lock_below=30, window=3; default: the "
        "shipped defaults, not your config file).",
    ),
    drift: bool = typer.Option(
        False,
        "--drift",
        help="Also replay the later sessions through the agent's drift update (every "
        "train.retrain_days): EER by days with and without updates, and an attack feeding "
        "another user's sessions to the update. Freihaut.",
    ),
    tune_trust: bool = typer.Option(
        False,
        "--tune-trust",
        help="Instead of evaluating: choose trust settings on the training files only "
        "(owner false locks and impostor actions to lock per setting). Balabit.",
    ),
    grid: list[str] = typer.Option(
        [],
        "--grid",
        help="With --tune-trust: KEY=V1,V2 (repeatable; window, neutral_z, max_penalty, ...).",
    ),
    target_anga: float | None = typer.Option(
        None,
        "--target-anga",
        callback=finite("--target-anga", "give owner actions per false lock, e.g. 2000 (the "
                        "default)", minimum=1.0),
        help="With --tune-trust: owner actions per false lock a setting must keep "
        "(default 2000).",
    ),
) -> None:
    """Measure detectors with the literature's protocols: ROC/DET, AUC, EER (pooled and per user).

    Examples: `activesec evaluate balabit --data ~/datasets/balabit`,
    `activesec evaluate keys-csv --data ./export/keys --enrol-sessions 3 --report out/`.
    """
    from activesec.detectors.fusion import METHODS
    from activesec.evaluate.api import Options, evaluate_all, results_json
    from activesec.evaluate.api import evaluate as run_one
    from activesec.evaluate.result import NoUserEvaluated, best_first

    if fusion is not None and fusion not in METHODS:
        raise ActiveSecError(f"unknown --fusion {fusion!r}", f"use one of {', '.join(METHODS)}")
    # the tuning options' own errors first: each names the option that is wrong, not one the
    # user did not give (--grid without --tune-trust was told to drop --enrol-sessions)
    if grid and not tune_trust:
        raise ActiveSecError("--grid only applies to --tune-trust (balabit)",
                             "add --tune-trust, or leave --grid out (to replay one setting on "
                             "test sessions: --continuous --engine KEY=VALUE)")
    if target_anga is not None and not tune_trust:  # it was silently ignored
        raise ActiveSecError("--target-anga only applies to --tune-trust",
                             "add --tune-trust, or leave --target-anga out")
    if tune_trust and dataset is not Dataset.balabit:
        raise ActiveSecError(
            "--tune-trust is implemented for the balabit protocol",
            "run `activesec evaluate balabit --data PATH --tune-trust`",
        )
    if tune_trust and (continuous or report or drift):
        raise ActiveSecError(
            "--tune-trust does not evaluate on the test sessions",
            "run it without --continuous, --drift and --report",
        )
    if tune_trust and (fusion is not None or enrol_sessions is not None):
        raise ActiveSecError(
            "--tune-trust replays action streams from the training files: it has no session "
            "score to fuse and no enrolment sessions to choose",
            "run it without --fusion and --enrol-sessions",
        )
    if tune_trust and detector == "all":
        raise ActiveSecError("--tune-trust runs one detector", "name it with --detector")
    if enrol_sessions is not None and dataset in (Dataset.balabit, Dataset.cmu):
        # their enrolment is the dataset's own (training files; first 200 repetitions): an
        # ignored --enrol-sessions would label figures with a split that was never made
        raise ActiveSecError(
            f"the {dataset.value} protocol's enrolment is fixed by the dataset",
            "run it without --enrol-sessions",
        )
    if continuous and dataset not in (Dataset.balabit, Dataset.mouse_csv, Dataset.keys_csv):
        raise ActiveSecError(
            "--continuous is implemented for the balabit, mouse-csv and keys-csv protocols",
            "for other recordings use `activesec replay PATH --json`",
        )
    if drift and dataset is not Dataset.freihaut:
        raise ActiveSecError(
            "--drift is implemented for the freihaut protocol (sessions over weeks)",
            "run `activesec evaluate freihaut --data PATH --drift`",
        )
    if drift and detector == "all":
        raise ActiveSecError("--drift runs one detector", "name it with --detector")
    if continuous and detector == "all":
        raise ActiveSecError("--continuous runs one detector", "name it with --detector")
    if engine and not continuous:
        raise ActiveSecError("--engine sets the replay's trust model and policy",
                             "add --continuous (to choose settings on the training files "
                             "only, use --tune-trust --grid)")
    engine_cfg, engine_window, engine_given = _engine_overrides(engine)
    if dataset is Dataset.store:
        path: str = data or str(state_paths().database)
    elif data is None:
        raise ActiveSecError(
            f"{dataset.value} needs --data PATH", "point it at your copy of the dataset"
        )
    else:
        path = data
    report_dir = None
    if report:  # a directory that cannot be written fails now, not after the evaluation
        from activesec.evaluate.report import report_dir as check_report_dir

        report_dir = check_report_dir(report)
    if tune_trust:
        _tune(path, detector, grid, target_anga or 2000.0, param, seed, jobs, json_out,
              backend=backend, max_users=max_users)
        return

    owner = "owner"
    if dataset is Dataset.store:
        from activesec.core import profile

        owner = profile.require(state_paths()).user

    progress_bar: Any = None
    tasks: dict[str, Any] = {}

    def _progress(stage: str, done: int, total: int) -> None:
        if progress_bar is None:
            return
        if stage not in tasks:
            tasks[stage] = progress_bar.add_task(stage, total=total)
        progress_bar.update(tasks[stage], completed=done, total=total)

    opts = Options(
        jobs=jobs,
        backend=backend,
        seed=seed,
        enrol_sessions=enrol_sessions,
        max_users=max_users,
        fusion=fusion or "mean",
        params=parse_params(param),
        owner=owner,
        progress=_progress,
    )
    if not json_out and interactive():
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        progress_bar = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
        progress_bar.start()
    not_evaluated: dict[str, str] = {}  # --detector all: detectors no user could be run with
    try:
        if detector == "all":
            results = evaluate_all(dataset.value, path, options=opts,
                                   not_evaluated=not_evaluated)
        else:
            results = [run_one(dataset.value, path, detector=detector, options=opts)]
    except NoUserEvaluated as exc:
        if json_out:  # the skip reasons are printed with it: no "see … with --json"
            exc.for_json()
        raise
    finally:
        if progress_bar is not None:
            progress_bar.stop()

    head = results[0].to_json()  # --continuous and --drift replay the first detector run
    cont: dict[str, Any] | None = None
    # a --continuous or --drift failure: the session-level figures computed before it (minutes
    # on a full dataset) are still printed, then the error, and the exit code says it failed
    late: ActiveSecError | None = None
    if continuous:
        from activesec.evaluate.continuous import balabit_continuous, layout_continuous

        if progress_bar is not None:
            progress_bar.start()
            total = len(head["per_user"])
            done = [0]

            def _user(_u: str) -> None:
                done[0] += 1
                _progress("continuous", done[0], total)

        chosen = [u["user"] for u in head["per_user"]] if max_users else None
        common: dict[str, Any] = {
            "detector": head["detector"],
            "users": chosen,
            "params": head["params"]["detector_params"],  # what it ran with
            "seed": seed,
            "jobs": jobs,
            "progress": _user if progress_bar is not None else None,
            "cfg": engine_cfg,
            "window": engine_window,
        }
        try:
            if dataset is Dataset.balabit:
                cont = balabit_continuous(path, **common)
            else:  # the mouse-/keys-csv session protocol: the same enrolment split
                cont = layout_continuous(
                    path,
                    kind="mouse" if dataset is Dataset.mouse_csv else "keys",
                    enrol_sessions=enrol_sessions or 1,
                    **common,
                )
        except ActiveSecError as exc:
            late = exc
        finally:
            if progress_bar is not None:
                progress_bar.stop()
        if cont is not None:
            cont.pop("sessions", None)
            cont["engine"] = engine_given  # the settings the replay ran with, besides defaults
            cont = _finite(cont)

    drift_res: dict[str, Any] | None = None
    if drift:
        from activesec.evaluate.drift import freihaut_drift

        try:
            drift_res = freihaut_drift(
                path,
                detector=head["detector"],
                params=head["params"]["detector_params"],
                enrol_sessions=enrol_sessions,
                max_users=max_users,
                seed=seed,
            )
        except ActiveSecError as exc:
            late = exc

    broken: dict[str, str] = {}
    if detector == "all":
        from activesec.detectors.registry import not_loaded

        broken = not_loaded()
    elif detector is not None:
        from activesec.detectors.registry import not_loaded

        if detector in not_loaded():  # a plug-in named like a built-in: which one ran is said
            err.print(f"warning: plug-in detector {detector!r} {not_loaded()[detector]}; "
                      f"the built-in {detector} ran", markup=False)

    report_path = earlier = None
    if report_dir is not None:
        from activesec.evaluate.report import keep_earlier, write_report

        earlier = keep_earlier(report_dir)
        report_path = write_report(results if detector == "all" else results[0], report_dir,
                                   {**broken, **not_evaluated})

    if detector == "all":
        for name, why in broken.items():
            err.print(f"warning: plug-in detector {name!r} failed to load ({why}): left out of "
                      "--detector all", markup=False)
        for name, why in not_evaluated.items():
            err.print(f"warning: {name} left out of --detector all: {why}", markup=False)
    if json_out:
        payload = (
            results_json(dataset.value, results) if detector == "all" else results[0].to_json()
        )
        if broken:
            payload["detectors_not_loaded"] = broken
        if not_evaluated:
            payload["detectors_not_evaluated"] = not_evaluated
        if report_path is not None:
            payload["report"] = str(report_path)
        if earlier is not None:
            payload["earlier_report"] = str(earlier)
        if cont is not None:
            # per_user stays the list of session-level rows whatever the flags: a replayed
            # user's ANIA/ANGA join its row, not replace the list (the per-user EERs were lost)
            replayed = cont.pop("per_user", {})
            for row in payload["per_user"]:
                if row["user"] in replayed:
                    row["continuous"] = replayed[row["user"]]
            payload.update(cont)
        if drift_res is not None:
            payload["drift"] = drift_res
        if late is not None:  # as an error alone would say it (json_error), after the figures
            payload.update(ok=False, error=late.message, hint=late.hint)
        print_json(payload)
        if late is not None:
            raise late
        return
    if detector == "all":
        _print_comparison([r.to_json() for r in best_first(results)])
    else:
        j = results[0].to_json()
        out.print(
            f"[bold]{j['dataset']}[/bold] · {j['detector']} · {j['protocol']}\n"
            f"  AUC {j['auc']:.3f}   EER {j['eer']:.1%}   mean per-user EER "
            f"{j['mean_user_eer']:.1%} (SD {j.get('sd_user_eer', 0.0):.1%})   "
            f"users {j['n_users']}   {j['runtime_s']:.0f} s"
        )
        _print_skips(j)
    if cont is not None:
        unit = cont.get("unit", "actions")
        anga = "no false lock" if cont["anga"] is None else f"{cont['anga']:,.0f} {unit}"
        ania = "never locked" if cont["ania"] is None else f"{cont['ania']:.1f} {unit}"
        out.print(
            f"  continuous: ANIA {ania}, ANGA {anga}, "
            f"{cont['impostor_locked']}/{cont['impostor_sessions']} impostor sessions locked, "
            f"{plural(cont['false_locks'], 'false lock')}"
        )
        skipped = cont.get("skipped_users") or {}  # only --json said who was not replayed
        _print_skips({"skipped": [{"what": "user", "id": u, "reason": why}
                                  for u, why in skipped.items()]},
                     "users left out of the replay")
    if drift_res is not None:
        _print_drift(drift_res)
    if report_path is not None:
        out.print(f"report: {report_path}"
                  + (f" (the earlier one kept as {earlier.name})" if earlier else ""))
    if late is not None:
        raise late


def _left_out(j: dict[str, Any]) -> int:
    """Users and sessions a result left out (not sessions read without some rows)."""
    return sum(1 for s in j.get("skipped", []) if s["what"] != "rows")


def _print_partial(j: dict[str, Any]) -> None:
    partial = [s for s in j.get("skipped", []) if s["what"] == "rows"]
    if partial:
        out.print(f"  unreadable rows left out of {len(partial)} session(s) (see --json)")


def _print_skips(j: dict[str, Any], label: str = "skipped") -> None:
    if _left_out(j):
        out.print(f"  {label}: {_left_out(j)} (see --json for reasons)")
    _print_partial(j)


def _print_comparison(rows: list[dict[str, Any]]) -> None:
    """``--detector all``: the protocol once (the same preparation for every detector), then
    one row per detector in the order given (best first: :func:`~activesec.evaluate.result.
    best_first`, the report's order too), mean per-user EER ("user EER") with its SD beside it."""
    from rich.table import Table

    first = rows[0]
    out.print(f"[bold]{first['dataset']}[/bold] · {escape(first['protocol'])}")
    table = Table(show_edge=False)
    for col in ("detector", "AUC", "EER", "user EER", "SD", "users", "skipped", "s"):
        table.add_column(col, justify="left" if col == "detector" else "right", no_wrap=True)
    for j in rows:
        table.add_row(j["detector"], f"{j['auc']:.3f}", f"{j['eer']:.1%}",
                      f"{j['mean_user_eer']:.1%}", f"{j.get('sd_user_eer', 0.0):.1%}",
                      str(j["n_users"]), str(_left_out(j)),
                      f"{j.get('params', {}).get('detector_s', j['runtime_s']):.0f}")
    out.print(table)
    prep_s = first.get("params", {}).get("prepare_s")
    if prep_s is not None:  # "s" is each detector's own time; reading and features are shared
        out.print(f"  s: each detector's fit and scoring; reading and features took "
                  f"{prep_s:.0f} s once")
    if any(_left_out(j) for j in rows):
        out.print("  skipped: users or sessions left out (see --json for reasons)")
    _print_partial(first)  # the reading is shared: the same for every detector


def _print_drift(d: dict[str, Any]) -> None:
    """``--drift``'s figures: EER by days with/without updates, the owner's updates, the attack."""

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{x:.1%}"

    without = {r["days_from"]: r for r in d["by_days_without_updates"]}
    for r in d["by_days_with_updates"]:
        w = without.get(r["days_from"])
        to = "" if r["days_to"] is None else f"{r['days_to']:g}"
        out.print(f"  drift {r['days_from']:g}-{to} d: EER {pct(r['eer'])} with updates, "
                  f"{pct(w['eer'] if w else None)} without ({r['n_genuine']} sessions)")
    o, a = d["owner_updates"], d["attack"]
    out.print(f"  owner updates: {o['learnt']} learnt, {o['refused']} refused by the gate "
              f"({o['users_updated']} of {d['n_users']} users updated)")
    out.print(f"  attack ({a['pairs']} owner/attacker pairs): {a['refused']} of "
              f"{a['attempted']} updates refused, {a['pairs_learnt']} pairs learnt from; "
              f"attacker rows in the profile {pct(a['foreign_share'])} (max "
              f"{pct(a['foreign_share_max'])}); attacker accepted {pct(a['accept_before'])} "
              f"before, {pct(a['accept_after'])} after")


def _tune(
    data: str,
    detector: str | None,
    grid: list[str],
    target_anga: float,
    param: list[str],
    seed: int,
    jobs: int,
    json_out: bool,
    *,
    backend: str = "loky",
    max_users: int | None = None,
) -> None:
    """``--tune-trust``: :func:`activesec.evaluate.trust_tuning.tune_trust`, as JSON or a table."""
    from activesec.evaluate.parallel import backend as parallel_backend
    from activesec.evaluate.trust_tuning import parse_grid, tune_trust

    with parallel_backend(backend, jobs):
        res = tune_trust(
            data,
            grid=parse_grid(grid) or None,
            detector=detector or "",
            params=parse_params(param),
            target_anga=target_anga,
            seed=seed,
            jobs=jobs,
            max_users=max_users,
            progress=None if json_out else lambda u: err.print(f"  {u} done"),
        )
    if json_out:
        print_json(_finite(res))
        return
    from rich.table import Table

    first = res["settings"][0] if res["settings"] else {"owner_actions": 0, "impostor_chunks": 0}
    out.print(
        f"{res['detector']} · {res['protocol']}\n"
        f"owner streams: {first['owner_actions']:,} actions · impostor chunks: "
        f"{first['impostor_chunks']:,} · eligible: ANGA >= {target_anga:,.0f} at 95 % "
        "confidence · ANIA over locked chunks (censored: unlocked ones count in full)"
    )
    table = Table()
    for col in (
        "window",
        "A",
        "D",
        "false locks",
        "ANGA",
        "eligible",
        "ANIA",
        "censored",
        "locked",
    ):
        table.add_column(col, justify="right")
    for s in res["settings"]:
        t = s["trust"]
        table.add_row(
            str(s["window"]),
            f"{t['neutral_z']:g}",
            f"{t['max_penalty']:g}",
            str(s["false_locks"]),
            "∞" if math.isinf(s["anga"]) else f"{s['anga']:,.0f}",
            "yes" if s["eligible"] else "no",
            "-" if s["ania"] is None else f"{s['ania']:.1f}",
            "-" if s["ania_censored"] is None else f"{s['ania_censored']:.1f}",
            f"{s['impostor_locked']:,}",
        )
    out.print(table)
    b = res["best"]
    have = first["owner_actions"]
    if b is None and have < res["owner_actions_needed"]:
        out.print(
            f"the owner streams hold {have:,} actions: even without a false lock that "
            f"cannot show one per {target_anga:,.0f} (needs "
            f"{res['owner_actions_needed']:,}); use more users or longer recordings"
        )
    elif b is None:
        out.print(
            "no setting keeps the owner's false-lock rate within the target; "
            "try a smaller --grid window, a higher neutral_z or a smaller max_penalty"
        )
    else:
        out.print(
            f"best: window {b['window']}, neutral_z {b['trust']['neutral_z']:g}, "
            f"max_penalty {b['trust']['max_penalty']:g} — ANIA {b['ania']:.1f} "
            f"({b['ania_censored']:.1f} counting impostors never locked), "
            f"{plural(b['false_locks'], 'false lock')}"
        )
