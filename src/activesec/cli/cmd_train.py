"""``activesec train`` and ``activesec background build``: enrolment -> calibrated models.

Both show a progress bar on a terminal and stay quiet under ``--json`` (one JSON object on
stdout). scikit-learn and the datasets are imported only inside the commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

import typer
from rich.markup import escape

from activesec.cli._common import (
    err,
    interactive,
    out,
    parse_params,
    print_json,
    settings,
    state_paths,
)
from activesec.core import profile
from activesec.core.paths import Paths
from activesec.core.signals import EXIT_SIGTERM, Stopped, signals_held, sigterm_raises

Progress = Callable[[str, int, int], None]


def register(app: typer.Typer) -> None:
    app.command()(train)
    bg = typer.Typer(
        help="The background population (other people) for population detectors.",
        no_args_is_help=True,
    )
    bg.command("build")(build)
    app.add_typer(bg, name="background")


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    """A rich progress bar on stderr (one task per stage), or None when quiet."""
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    tasks: dict[str, Any] = {}
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    ) as bar:

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        yield update


@contextmanager
def _stopped_by_sigterm(p: Paths) -> Iterator[None]:
    """SIGTERM (`kill`, a log-out) ends training with one ``error:`` line saying which models
    are as before — all of them unless one was swapped in before the signal (each swap is one
    step: :func:`activesec.service.train._save` holds signals through it) — and exit 143. A
    model being written is deleted with its staging folder; nothing temporary is left."""
    from activesec.service.models import model_dirs

    def identities() -> dict[str, int]:  # a swapped-in model is another directory
        try:
            return {d.name: d.stat().st_ino for d in model_dirs(p)}
        except OSError:  # an unreadable models folder: training says so itself
            return {}

    before = identities()
    try:
        with sigterm_raises():
            yield
    except Stopped:
        after = identities()
        saved = sorted(n for n, ino in after.items() if before.get(n) != ino)
        gone = sorted(set(before) - set(after))
        if not saved and not gone:
            kept = "the previous models are unchanged" if before else "no model was saved"
        else:
            kept = "; ".join(x for x in (
                f"the new {', '.join(saved)} model{'s' if len(saved) > 1 else ''} had been "
                "saved" if saved else "",
                f"{', '.join(gone)} deleted" if gone else "",
                "the others are unchanged" if set(before) - set(saved) - set(gone) else ""
            ) if x)
        raise _sigterm_error(f"training stopped by SIGTERM: {kept}",
                             "run `activesec train` again to train (or let the agent train by "
                             "itself)") from None


def _sigterm_error(message: str, hint: str) -> Exception:
    from activesec.core.errors import ActiveSecError

    exc = ActiveSecError(message, hint)
    exc.exit_code = EXIT_SIGTERM
    return exc


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def train(
    reset: bool = typer.Option(
        False,
        "--reset",
        help="Delete the trained models and restart enrolment from now (e.g. new mouse, "
        "injured hand); the agent enrols again and trains when it has enough data.",
    ),
    update: bool = typer.Option(
        False,
        "--update",
        help="Drift update instead of a full training: learn from recent rows the current "
        "models scored as the owner, replacing at most train.max_drift of the profile.",
    ),
    upgrade: bool = typer.Option(
        False,
        "--upgrade",
        help="Refit models trained with the one-class fallback with the detector they asked "
        "for, now that a background population is installed (on the rows they were fitted on; "
        "the agent does it by itself).",
    ),
    new: bool = typer.Option(
        False,
        "--new",
        help="Train only the modalities that have no model yet (the keyboard once enough "
        "typing is recorded, a new kind of pointer device), keeping the others as they are "
        "(the agent does it by itself).",
    ),
    param: list[str] = typer.Option(
        [], "--param",
        help="Detector parameter KEY=VALUE (repeatable), as `evaluate --param`: it goes to the "
        "configured detectors that take it and is kept in the model card, so later trainings "
        "and drift updates (the agent's too) reuse it.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Train the owner's models from the captured sessions (one per pointer device type, one
    for the keyboard), each calibrated on held-out owner data to the target false-alarm rate.

    Modalities without enough data are skipped with what is missing; with nothing trainable
    the command fails and says how far enrolment has come.
    """
    with _stopped_by_sigterm(state_paths()):  # from the start: a SIGTERM is always said
        _train(reset, update, upgrade, json_out, new, param)


def _train(reset: bool, update: bool, upgrade: bool, json_out: bool, new: bool = False,
           param: list[str] | None = None) -> None:
    from activesec.core.errors import ConfigError
    from activesec.service.train import retrain as do_retrain
    from activesec.service.train import train as do_train
    from activesec.service.train import upgrade as do_upgrade

    if reset + update + upgrade + new > 1:
        raise ConfigError(
            "--reset, --update, --upgrade and --new exclude each other",
            "use --reset to re-enrol, --update to follow slow drift, or --upgrade after "
            "`activesec background build`",
        )
    params = parse_params(param) if param else None
    if params is not None and (reset or update or upgrade):
        flag = "--reset" if reset else "--update" if update else "--upgrade"
        raise ConfigError(
            f"--param does not go with {flag}: it sets the detectors' parameters for a "
            "training; " + ("--reset trains nothing" if reset else
                            f"{flag} refits each model with the parameters its card records"),
            "run `activesec train --param KEY=VALUE` to train with other parameters",
        )
    from activesec.service.agent import check_settings

    p = state_paths()
    profile.require(p)
    s = settings(p)
    # checked as `run` and `status` check them: a broken machine policy (its gate rules too)
    # stops training with the policy named, not halfway with the account's file blamed
    check_settings(s)
    with _training_lock(p), _progress(not json_out and interactive()) as progress:
        if upgrade:
            summary = do_upgrade(p, s)
        elif update:
            summary = do_retrain(p, s, progress=progress)
        else:
            summary = do_train(p, s, progress=progress, reset=reset, new=new, params=params)
    data = summary.as_dict()
    if json_out:
        print_json(data)
        return
    if reset:
        out.print(
            "models deleted; enrolment restarts now — keep using the machine, then run "
            "`activesec train` (or let the agent train by itself)"
        )
        return
    for r in summary.trained:
        q = r.holdout_scores
        given = (" (" + ", ".join(f"{k}={v!r}" for k, v in r.params.items()) + ")"
                 if r.params and not r.fallback else "")
        out.print(
            f"[bold]{r.modality}[/bold]: {r.detector}{escape(given)} on {r.rows_train:,} rows "
            f"({r.events:,} events, {r.sessions} sessions); threshold {_fmt(r.threshold)} "
            f"at {r.target_far:.1%} owner false alarms; held-out owner scores "
            f"p05 {_fmt(q.get('p05'))} · median {_fmt(q.get('p50'))} · "
            f"p95 {_fmt(q.get('p95'))} (n={int(q.get('n', 0))})"
        )
        if r.fallback:
            out.print(f"  [yellow]note[/yellow]: {escape(r.fallback)}")
        if r.detector_note and not r.upgraded_from:
            out.print(f"  [yellow]note[/yellow]: {escape(r.detector_note)}")
        if r.twin_note:
            out.print(f"  [yellow]note[/yellow]: {escape(r.twin_note)} (the agent scores with "
                      "the full model, which loads scikit-learn)")
        if r.upgraded_from:
            out.print(f"  upgraded from the one-class {r.upgraded_from}, on the rows it was "
                      "fitted on" + (f"; with {escape(r.detector_note)}" if r.detector_note
                                     else ""))
        if r.drift:
            out.print(
                f"  drift update: {r.drift['replaced_rows']:,} of {r.drift['of_rows']:,} "
                f"rows replaced (cap {r.drift['max_drift']:.0%})"
            )
    for r in summary.skipped:
        out.print(f"[dim]{escape(r.modality)}: skipped — {escape(r.reason)}[/dim]")


@contextmanager
def _training_lock(p: Any) -> Iterator[None]:
    """One training at a time per profile: the agent's automatic training, drift update or
    upgrade (a `train` child) and one typed by the user shared the models' staging folder,
    and the second ended in "cannot save ...: No such file or directory" or a mixed model."""
    from activesec.core.instance import AlreadyRunning, InstanceLock
    from activesec.core.paths import make_private_dirs

    with suppress(OSError):  # the lock's own error says what is wrong with the folder
        make_private_dirs(p.run_dir)
    try:
        lock = InstanceLock(p.run_dir / "train.lock", "training").acquire()
    except AlreadyRunning as exc:
        exc.hint = ("wait until it has finished (the agent trains by itself; `activesec status` "
                    "shows its models), then run this again")
        raise
    try:
        yield
    finally:
        lock.release()


def build(
    balabit: str | None = typer.Option(
        None, "--balabit", help="Balabit Mouse Dynamics Challenge folder (pointer background)."
    ),
    aalto: str | None = typer.Option(
        None, "--aalto", help="Aalto 136M keystrokes (tsv/tsv.gz or folder; keyboard background)."
    ),
    max_rows: int = typer.Option(
        20_000, "--max-rows", min=10, help="Most feature rows kept per modality."
    ),
    max_people: int | None = typer.Option(
        None, "--max-people", min=3, help="Read at most N Aalto participants."
    ),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed for the subsample."),
    all_users: bool = typer.Option(
        False, "--all-users",
        help="As root / an administrator: into the machine's folder, for every account "
        "without a background of its own.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Build the background population from public datasets you have: feature vectors only
    (no events, no keys, no user names), subsampled with a seed, into the models directory.

    It is never shipped with ActiveSec (Aalto 136M is licensed for non-commercial use): build
    it from your own copies. Re-running with the same data and seed gives the same rows.
    """
    p = state_paths()
    if not all_users:  # the machine's folder needs no profile of the administrator's
        profile.require(p)
    saved: list[str] = []
    try:
        with sigterm_raises():  # from the start: a SIGTERM is always said
            _build(p, saved, balabit=balabit, aalto=aalto, max_rows=max_rows,
                   max_people=max_people, seed=seed, json_out=json_out, all_users=all_users)
    except Stopped:
        kept = (f"the new {' and '.join(saved)} background was saved, nothing else changed"
                if saved else "the installed background is unchanged")
        raise _sigterm_error(f"background build stopped by SIGTERM: {kept}",
                             "run `activesec background build` again") from None


def _build(p: Paths, saved: list[str], *, balabit: str | None, aalto: str | None,
           max_rows: int, max_people: int | None, seed: int, json_out: bool,
           all_users: bool = False) -> None:
    """`background build` itself; ``saved`` gets each modality whose background is saved
    (with ``all_users``, into the machine's folder, for every account)."""
    from activesec.service import background as bgm

    machine = bgm.machine_dir() if all_users else None
    with _progress(not json_out and interactive()) as progress:
        built = bgm.build(
            balabit=balabit,
            aalto=aalto,
            max_rows=max_rows,
            seed=seed,
            aalto_users=max_people,
            progress=progress,
        )
    result: dict[str, Any] = {}
    for name, b in built.items():
        with signals_held():  # its data and its card: one step (the card's hash matches)
            path = bgm.save(p, b, seed=seed, machine=machine)
            saved.append(name)
        card = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
        result[name] = {
            "file": str(path),
            "rows": len(b.X),
            "people": b.n_people,
            "sources": b.sources,
            "sha256": card.get("sha256"),
        }
    if machine is not None:
        if json_out:
            print_json({"backgrounds": result, "upgradable": []})
            return
        for name, r in result.items():
            out.print(f"[bold]{name}[/bold] background for every account: {r['rows']:,} rows "
                      f"from {r['people']} people -> {r['file']}")
        out.print("every account without a background of its own trains against it; running "
                  "agents refit their one-class fallback models by themselves")
        return
    from activesec.service.models import model_dirs
    from activesec.service.train import fallback_upgrades

    ups = fallback_upgrades(p)  # fallback models this background can now upgrade
    if json_out:
        print_json({"backgrounds": result, "upgradable": [d.name for d in ups]})
        return
    for name, r in result.items():
        out.print(
            f"[bold]{name}[/bold] background: {r['rows']:,} rows from {r['people']} "
            f"people -> {r['file']}"
        )
    if ups:
        out.print("your models were trained without it: a running agent refits them by itself "
                  "(on the rows they were fitted on) — or now: `activesec train --upgrade`")
    elif model_dirs(p):
        out.print("`activesec train` refits your models against it")
    else:
        out.print("training uses it (the agent trains by itself once you are enrolled)")
