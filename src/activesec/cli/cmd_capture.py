"""Commands around capture: init, capture, label, status, pause, resume, wipe, doctor."""

from __future__ import annotations

import errno
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.markup import escape

from activesec.cli._common import (
    backend_choice,
    err,
    finite,
    foreground_backend,
    human_bytes,
    interactive,
    out,
    plural,
    print_json,
    settings,
    state_paths,
)
from activesec.core import config, profile
from activesec.core.errors import ActiveSecError, ConfigError, PolicyError, StoreError, os_reason
from activesec.core.instance import is_locked, read_pid
from activesec.core.labels import check_label
from activesec.core.paths import Paths, keep_copy, keep_reserve
from activesec.features.describe import in_words


def _open_store(p: Paths, create: bool = False, *, read_only: bool = False) -> Any:
    """``read_only``: a command that only reads (it works on a full disk, Store.open_to_read)."""
    from activesec.store.db import Store

    if not create and not p.database.exists():
        raise ActiveSecError(f"no event store at {p.database}", "run `activesec init` first")
    if read_only:
        return Store.open_to_read(p.database)
    return Store.open(p.database, create=create)


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(capture)
    app.command()(label)
    app.command()(status)
    app.command()(pause)
    app.command()(resume)
    app.command()(wipe)
    app.command()(doctor)


def init(
    user: str | None = typer.Option(
        None, "--user", "-u", help="The owner's label (default: your login name)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Recreate the profile and config file (recorded events are "
        "kept, and an edited config file as config.toml.bak-<time>)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Create the owner profile, config file, data directory and event store.

    Idempotent: running it again changes nothing unless --force is given.
    """
    set_up(user, force, json_out)


def set_up(user: str | None, force: bool, json_out: bool, *, next_step: bool = True) -> None:
    """What `init` does; ``next_step``: end by pointing at `doctor` and `run` (not when `run
    --init` is what runs it)."""
    if user is not None:
        user = check_label(user, "user")
    p = state_paths().ensure()
    if p.database.exists():  # a store this version cannot open (a newer version's, another
        # program's) is refused before the profile or the config file is rewritten for it
        from activesec.store.db import check_file

        check_file(p.database)
    existing = profile.load(p) if p.profile_file.exists() and not force else None
    renamed_from: str | None = None
    if existing is not None:
        if user and user != existing.user:
            raise ActiveSecError(
                f"a profile for '{existing.user}' already exists in {p.data_dir}",
                "use --force to replace it (events are kept)",
            )
        created = False
        prof = existing
    else:
        # nothing is written unless both files can be: a directory in the place of either is
        # the user's, so it is named, never deleted
        _check_replaceable(p.profile_file, p.config_file)
        before = _previous_owner(p) if force else None
        prof = _writing(p.profile_file, lambda: profile.create(p, user or profile.default_user()))
        created = True
        if before is not None and before != prof.user:
            renamed_from = before
    backup: Path | None = None
    if created or not p.config_file.exists():
        from activesec.engine.pipeline import EngineConfig

        _check_replaceable(p.config_file)
        reference = {"engine": EngineConfig}
        text = config.default_toml(prof.user, reference)
        if p.config_file.exists() and p.config_file.read_bytes() != text.encode():
            # --force replaces a file the user may have edited (gate rules, levels): keep it
            backup = _writing(p.config_file, lambda: keep_copy(p.config_file))
        _writing(p.config_file, lambda: config.write_default(p, prof.user, reference))
    config.load(p)  # validate what is there now
    with _open_store(p, create=True) as store:  # creates the store, or checks an existing one
        if renamed_from is not None and store.current_label() == renamed_from:
            store.set_current_label(None)  # `label --owner` once stored the owner's name
    keep_reserve(p)  # the space `pause` needs on a full disk
    owner_note: str | None = None
    if renamed_from is not None:
        from activesec.service.models import model_dirs

        if model_dirs(p):
            owner_note = (f"the owner was '{renamed_from}': recordings keep that label, and the "
                          f"models learnt that person — `activesec train --reset` re-enrols "
                          f"{prof.user}")
    if json_out:
        print_json(
            {
                "user": prof.user,
                "created": created,
                "config": str(p.config_file),
                "database": str(p.database),
                "data_dir": str(p.data_dir),
                "config_backup": None if backup is None else str(backup),
                "previous_owner": renamed_from,
                "note": owner_note,
            }
        )
        return
    verb = "Created" if created else "Already set up:"
    out.print(f"{verb} profile for [bold]{escape(prof.user)}[/bold]")
    out.print(f"  config   {p.config_file}")
    if backup is not None:
        out.print(f"  previous config kept as {backup} (copy back what you need)")
    out.print(f"  database {p.database}")
    if owner_note is not None:
        out.print(f"  [yellow]note[/yellow]: {escape(owner_note)}")
    if next_step:
        out.print(
            "Next: `activesec doctor` checks this machine; `activesec run` starts the agent, "
            "which enrols you and then protects the session."
        )


def _previous_owner(p: Paths) -> str | None:
    """The profile's user before `init --force` replaces it (None: none, or unreadable)."""
    try:
        before = profile.load(p)
    except ActiveSecError:
        return None
    return None if before is None else before.user


def _check_replaceable(*files: Path) -> None:
    for f in files:
        if f.exists() and not f.is_file():
            kind = "a directory" if f.is_dir() else "not a regular file"
            raise ActiveSecError(
                f"{f} is {kind}, so `init` cannot write it; nothing was changed",
                f"move {f} out of the way (init never deletes it) and run init again",
            )


T = TypeVar("T")


def _writing(f: Path, write: Callable[[], T]) -> T:
    """Run ``write`` (which writes ``f``); an OSError (a full disk) becomes a one-line error."""
    try:
        return write()
    except OSError as exc:
        raise ActiveSecError(
            f"cannot write {f}: {os_reason(exc)}",
            "free disk space and run `activesec init --force` again"
            if exc.errno == errno.ENOSPC else f"check the permissions of {f.parent}",
        ) from None


def capture(
    duration: float | None = typer.Option(
        None,
        "--duration",
        "-d",
        callback=finite("--duration", "give seconds, e.g. --duration 60, or leave --duration "
                        "out to capture until Ctrl-C or SIGTERM", minimum=0.0),
        help="Stop after S seconds (default: until Ctrl-C or SIGTERM).",
    ),
    backend: str | None = typer.Option(
        None, "--backend", "-b", callback=backend_choice,
        help="auto | x11 | pynput | evdev (default from config).",
    ),
    label_: str | None = typer.Option(
        None, "--label", help="Label for this session (default: the current label, see `label`)."
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live status line."),
) -> None:
    """Capture pointer and keystroke timing into the private store, in the foreground.

    Exits 0 after --duration, on Ctrl-C and on SIGTERM, always flushing to disk first.
    """
    from activesec.capture.apps import foreground_app
    from activesec.capture.runner import CaptureRunner
    from activesec.core.clock import SystemClock

    if label_ is not None:
        label_ = check_label(label_)

    with foreground_backend(backend, "capture") as fg:
        runner = CaptureRunner(
            fg.backend,
            fg.paths.database,
            fg.settings,
            SystemClock(),
            app_probe=foreground_app,
            label=label_,
            owner=fg.owner,
        )
        def started() -> None:  # once the store is open and capture runs, not before
            if not quiet:
                err.print(
                    f"capturing with [bold]{fg.backend_name}[/bold] ({fg.reason}); "
                    "Ctrl-C to stop"
                )

        live = interactive() and not quiet
        last = [0.0]

        def _tick(stats: Any) -> None:
            now = time.monotonic()
            if not live or now - last[0] < 0.5:
                return
            last[0] = now
            err.print(
                f"\r{stats.events_per_s:8.0f} ev/s  stored {stats.stored:>10,}  "
                f"dropped {stats.dropped:>6,}{'  PAUSED' if stats.paused else ''}",
                end="",
            )

        stats = runner.run(duration_s=duration, stop_event=fg.stop, on_tick=_tick,
                           on_started=started)
    if live:
        err.print()
    if not quiet:
        err.print(f"stopped: {stats.stored:,} events stored, {stats.dropped:,} dropped")
    if runner.error is not None:  # the backend died: events so far are stored, say why
        raise runner.error


def label(
    name: str = typer.Argument(
        "", help="Label for the sessions that follow (e.g. another person's name)."
    ),
    owner: bool = typer.Option(
        False, "--owner", help="Go back to labelling sessions as the owner."
    ),
) -> None:
    """Mark the sessions that follow as NAME, e.g. to record another person for evaluation."""
    if name and owner:
        raise ActiveSecError(f"give a label or --owner, not both (got {name!r} and --owner)",
                             "`activesec label --owner` goes back to the owner's label")
    if not name and not owner:
        raise ActiveSecError("give a label or --owner", "e.g. `activesec label guest1`")
    new = check_label(name) if name else None
    p = state_paths()
    # --owner clears the label rather than storing the owner's name: renaming the owner later
    # (`init --force --user`, the config's `user`) then relabels what follows too
    if new is None:
        try:
            shown = profile.owner(p, settings(p).user)
        except ConfigError:  # a broken config file must not stop relabelling (`status` says)
            shown = profile.require(p).user
    else:
        shown = new
    _control(p, lambda store: store.set_current_label(new))
    out.print(f"sessions from now on are labelled [bold]{escape(shown)}[/bold]"
              + ("" if new else " (the owner)"))


APP_SHOWN = 8


def status(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Profile, sessions, events per kind, enrolment progress, store size, drops, the apps
    in front lately (the names gate rules match), the agent's state, its lowest trust in the last
    24 hours and its last alert."""
    from activesec.service.report import APP_DAYS, SCREEN_HINT, screen_note, status_data
    from activesec.service.stopped import describe

    p = state_paths()
    data = status_data(p, _settings_for_status(p))
    if json_out:
        print_json(data)
        return
    e = data["enrolment"]
    ag = data["agent"]
    if ag["running"]:
        trust = "" if ag["trust"] is None else f", trust {ag['trust']:.0f}/100"
        state = f"agent {ag['state']}{trust}"
    else:
        state = "capturing" if data["capturing"] else "not capturing"
    pause = data["pause"]

    def paused_at(ns: int) -> str:
        return time.strftime("%a %d %b %H:%M", time.localtime(ns / 1e9))

    if data["paused"]:
        state += f" (paused since {paused_at(pause['since_wall_ns'])})" if pause["since_wall_ns"] \
            else " (paused)"
    out.print(f"[bold]ActiveSec[/bold] — owner {escape(data['user'])}, {state}")
    if pause["last"]:
        out.print(f"  paused       last from {paused_at(pause['last']['from_wall_ns'])} to "
                  f"{paused_at(pause['last']['to_wall_ns'])}: input then was neither recorded nor "
                  "judged (`activesec pause` or the dashboard's Pause)")
    out.print(
        f"  sessions     {data['sessions']} (labels: {escape(', '.join(data['labels'])) or '-'}; "
        f"next: {escape(data['current_label'])})"
    )
    out.print("  events       " + ", ".join(f"{k} {v:,}" for k, v in data["events"].items()))
    out.print(f"  dropped      {data['dropped']:,}")
    if ag["running"] and (ag["screen_locked"] or ag["screensaver_active"]):
        by = "by the agent" if ag["screen_locked"] else "by you or the screensaver"
        out.print(f"  screen       locked {by}: input is neither stored nor scored "
                  f"({ag['withheld_locked']:,} events withheld since the agent started)")
    out.print(f"  store        {human_bytes(data['store_bytes'])} at {data['database']}")
    if data["disk_full"]:
        full = data["disk_full"]
        free = "" if full["free_bytes"] is None else f" ({human_bytes(full['free_bytes'])} free)"
        out.print(f"  [red]disk full[/red]    {escape(full['data_dir'])}{free}: nothing new can "
                  "be stored, this is what the store held — free disk space or lower "
                  "store.keep_days", soft_wrap=True)
    out.print(
        f"  enrolment    pointer {e['pointer_events']:,}/{e['pointer_needed']:,} "
        f"({e['pointer_progress']:.0%}), keys {e['keystrokes']:,}/{e['keystrokes_needed']:,} "
        f"({e['keys_progress']:.0%})"
    )
    for m in data["models"]:
        if m["ok"]:
            out.print(
                f"  model        {m['name']}: {m['detector']} (threshold {m['threshold']:.3g})"
            )
            if m.get("fallback"):
                out.print("               [yellow]one-class fallback[/yellow]: "
                          f"{escape(m['fallback'])} — once a background is built (`activesec "
                          "doctor` says how) the agent refits it by itself, or now with "
                          "`activesec train --upgrade`")
            refused = m.get("update_refused")
            if refused:
                when = time.strftime("%Y-%m-%d %H:%M",
                                     time.localtime(refused["at_wall_ns"] / 1e9))
                out.print(f"               last update refused {when}: "
                          f"{escape(refused['reason'])} (if your input changed for good, "
                          "`activesec train --reset` re-enrols)")
        else:
            out.print(f"  model        {m['name']}: [red]refused[/red] — {escape(m['problem'])}")
    if not data["models"]:
        out.print(f"  model        none yet ({escape(str(e['trains']))})")
    if data["screen"]["changed"]:
        out.print(f"  [yellow]screen[/yellow]       "
                  f"{screen_note(data['screen']['changed'], data['screen']['current'])}; "
                  f"{SCREEN_HINT}")
    if ag["running"]:
        for name, n in sorted((ag.get("unscored_pointer") or {}).items()):
            kind = name.partition(":")[2] or name
            out.print(f"  unscored     {kind}: {n:,} events since the agent started, not judged: "
                      f"no {kind} model yet (the agent trains one by itself once there are "
                      f"{e['pointer_needed']:,} of them)")
    apps = [a["name"] for a in data["apps"]["recent"]]
    if apps:
        shown = ", ".join(escape(name) for name in apps[:APP_SHOWN])
        more = f" +{len(apps) - APP_SHOWN} more" if len(apps) > APP_SHOWN else ""
        out.print(
            f"  apps         {shown}{more} (in front in the last {APP_DAYS} days, latest "
            "first; gate rules match these names)"
        )
    pol = data["policy"]
    if pol is not None:
        pinned = ", ".join(f"{k} = {config.toml_value(v)}" for k, v in pol["enforced"].items())
        out.print(f"  policy       {escape(pol['path'])}: "
                  + (f"enforces {escape(pinned)} (your own settings cannot change these)"
                     if pinned else "enforces nothing")
                  + (f"; sets the defaults of {escape(', '.join(pol['defaults']))}"
                     if pol["defaults"] else ""))
    if ag["running"] and ag["reason"]:
        out.print(f"  why          {escape(str(ag['reason']))}")
    if ag.get("training_note"):
        out.print(f"  training     {ag['training_note']}")
    if ag.get("store_error"):
        out.print(f"  [red]storing[/red]      the agent cannot store input "
                  f"({escape(str(ag['store_error']))}): it goes on scoring and acting, and "
                  "counts what it cannot store as dropped")
    if ag["running"] and ag.get("config"):
        out.print(f"  [yellow]config[/yellow]       {escape(str(ag['config']))}")
    retry = ag.get("upgrade_retry")
    if retry:
        at = time.strftime("%a %H:%M", time.localtime(retry["at_wall_ns"] / 1e9))
        out.print(f"  [yellow]upgrade[/yellow]      refitting the fallback model failed "
                  f"({escape(str(retry['error']))}): the agent tries again at {at}, then less "
                  "often (up to once a day); a new background file or `activesec train "
                  "--upgrade` tries now")
    if ag["stopped"]:
        colour = "red" if ag["stopped"].get("permanent") else "yellow"
        out.print(f"  agent        [{colour}]{escape(describe(ag['stopped']))}[/{colour}]")
    lat = ag.get("latency_ms")
    if lat:
        out.print(f"  reaction     trust updated {lat['p50']:.0f} ms (p50) / {lat['p99']:.0f} ms "
                  f"(p99) after an action ends (last {lat['n']} actions)")
    th = data["trust_history"]
    if th["minutes"]:
        at = time.strftime("%a %H:%M", time.localtime(th["lowest_at_s"]))
        out.print(f"  trust        lowest {th['lowest']:.0f}/100 in the last {th['hours']} h, "
                  f"at {at} ({plural(th['updates'], 'update')} in "
                  f"{plural(th['minutes'], 'minute')} with input)")
    gate = ag.get("gate")
    if gate:
        out.print(f"  gated        {escape(gate_line(gate))}")
    left = data["gate_left_frozen"]
    if left:
        pids = ", ".join(f"{e['app']} pid {e['pid']}" for e in left)
        now = " ".join(str(e["pid"]) for e in left)
        out.print(f"  gated        [red]left suspended by an agent that was killed[/red]: "
                  f"{escape(pids)} — the next `activesec run` resumes them (or now: "
                  f"`kill -CONT {now}`)")
    last = ag["last_decision"]
    if last:
        out.print(f"  last alert   {last.get('level')}: {escape(str(last.get('reason')))}")
        for a in last.get("actions") or []:
            if not a.get("ok", True):  # e.g. a lock that could not lock: the session is open
                out.print(f"               [red]{escape(str(a.get('name')))} failed[/red]: "
                          f"{escape(str(a.get('detail')))}")
        dev = last.get("deviating_features") or []
        if dev and last.get("level") in ("notify", "lock", "gate"):
            feats = "; ".join(f"{escape(in_words(str(n)))} {_one_decimal(v)} ({escape(str(n))})"
                              for n, v in dev)
            # re-enrolling is the advice while a model judges you, not once you re-enrol
            injected = all(str(n) == "injected_events" for n, _ in dev)
            advice = ("" if ag["state"] == "enrolling" else
                      # re-enrolling does not make a program's input trusted
                      "; input a program injected (xdotool, a VNC server, an on-screen keyboard) "
                      "is distrusted: `activesec doctor` names such tools running, and "
                      '[engine.scoring] injected = "score" judges it as yours' if injected else
                      "; if it was you on an unusual day — a new mouse, an injured hand — "
                      "`activesec train --reset` re-enrols")
            out.print(f"               why: the last action differed most from your profile in "
                      f"{feats} (your usual spreads above + or below - your usual value)"
                      f"{escape(advice)}")


def _one_decimal(v: float) -> str:
    """``v`` signed, to one decimal rounded half up as the dashboard's ``toFixed(1)`` rounds
    (12.25 -> +12.3, where Python's format gives +12.2): both show the same number."""
    from decimal import ROUND_HALF_UP, Decimal

    return f"{Decimal(float(v)).quantize(Decimal('0.1'), ROUND_HALF_UP):+}"


def _settings_for_status(p: Paths) -> Any:
    """The settings, checked as `run` checks them; when they are invalid, the error also says
    what the agent did about them
    — a running agent refused the edit and still protects, or they stopped it and how to
    restart it (status cannot show the rest without them)."""
    from activesec.service import stopped
    from activesec.service.agent import check_settings
    from activesec.service.report import running_agent

    try:
        s = settings(p)
        check_settings(s)  # [engine] and actions too: what `run` would refuse
        return s
    except ConfigError as exc:
        agent = running_agent(p)
        entry = stopped.read(p)
        if agent is not None:  # an edit the running agent refused too: it still protects
            exc.hint = "; ".join(x for x in (
                exc.hint, f"the running agent (pid {agent.get('pid')}) has not applied it and "
                "keeps protecting with the settings it had") if x)
        elif entry and entry.get("permanent") and not is_locked(p.run_dir / "capture.lock"):
            exc.hint = "; ".join(x for x in (exc.hint, stopped.restart_note(entry)) if x)
        raise


def gate_line(gate: dict[str, Any]) -> str:
    """The agent's gate (status file ``gate``) in one line: what, since when, why, until."""
    apps = []
    for a in gate["apps"]:
        if a["mode"] == "close" and a.get("closed_pids"):
            apps.append(f"{a['app']} closed (pids {', '.join(map(str, a['closed_pids']))}), "
                        "and again if started")
        elif a["mode"] == "close":
            apps.append(f"{a['app']} closed when started (not running)")
        elif a["suspended_pids"]:
            apps.append(f"{a['app']} suspended (pids {', '.join(map(str, a['suspended_pids']))})")
        else:
            apps.append(f"{a['app']} suspended when started (not running)")
    since = time.strftime("%a %H:%M:%S", time.localtime(gate["since_wall_ns"] / 1e9))
    dry = " [dry run: nothing touched]" if gate.get("dry_run") else ""
    return (f"{'; '.join(apps) or 'no gate rules'}{dry} — since {since}, {gate['reason']}; "
            f"lifted once {gate['until']}")


def _set_paused(paused: bool) -> None:
    """Flip the store's pause flag; a running capture or agent reads it within one poll."""
    p = state_paths()
    profile.require(p)
    _control(p, lambda store: store.set_paused(paused))


def _control(p: Paths, change: Callable[[Any], None]) -> None:
    """A small write that must work on a full disk (pause, resume, label)."""
    from activesec.store.db import control_write

    if not p.database.exists():  # as _open_store says it
        raise ActiveSecError(f"no event store at {p.database}", "run `activesec init` first")
    control_write(p, change)


def pause() -> None:
    """Stop recording at once (a running capture discards input until `resume`)."""
    _set_paused(True)
    out.print("paused: input is not being recorded")


def resume() -> None:
    """Resume recording after `pause`."""
    _set_paused(False)
    out.print("resumed")


def wipe(
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
) -> None:
    """Delete every recorded event, session and model, the decision log, the trust history and
    the logs that copy decisions (alert log, agent log). The profile, the config and the
    background population are kept."""
    import shutil

    from activesec.service import history
    from activesec.service.agent import status_path
    from activesec.service.decisions import DecisionLog, decisions_path
    from activesec.service.report import running_agent

    p = state_paths()
    profile.require(p)
    if not yes:
        if not interactive():
            raise ActiveSecError("wipe needs confirmation", "run `activesec wipe --yes`")
        typer.confirm("Delete all recorded events and models?", abort=True)
    _wipe_store(p)
    from activesec.actions import alertlog

    # what follows deletes files: one that cannot be deleted (a read-only folder, an alert log
    # elsewhere) must not keep the others, nor end in a traceback that hides what is left
    failed: list[OSError] = []

    def attempt(delete: Callable[..., object], *args: Any) -> None:
        try:
            delete(*args)
        except OSError as exc:
            failed.append(exc)

    # the owner's models go; the background population (other people's public-data feature
    # vectors, `background build`) is not the owner's data and stays, as `train --reset` keeps it
    try:
        entries = list(p.models_dir.iterdir()) if p.models_dir.is_dir() else []
    except OSError as exc:  # a folder of another account's (`sudo activesec train`)
        failed.append(exc)
        entries = []
    for f in entries:
        if f.name.startswith("background-") and f.is_file():
            continue
        if f.is_dir() and not f.is_symlink():
            attempt(shutil.rmtree, f)
        else:
            attempt(f.unlink)
    attempt(p.ensure)
    # derived from what was wiped; a running agent clears them too when it sees the wipe
    attempt(DecisionLog(decisions_path(p)).clear)
    attempt(history.clear, history.history_path(p))
    # a stopped agent's status file keeps its last decision and enrolment counts, which
    # described the wiped data (a running agent rewrites its own once it sees the wipe)
    try:
        stopped_agent = running_agent(p) is None
    except OSError as exc:  # run/ of another account's: its status file is out of reach too
        failed.append(exc)
        stopped_agent = False
    if stopped_agent:
        attempt(status_path(p).unlink, True)
    # copies of those decisions: the alert log, and the agent's log (which notes each one)
    alert_logs, unknown = _alert_log_paths(p)
    for f in (*alert_logs, p.log_file):
        attempt(alertlog.clear, f)
    if failed:
        first = failed[0]
        where = Path(first.filename) if first.filename else p.data_dir
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        raise ActiveSecError(
            f"wipe deleted every event and session, but not {where}{more}: "
            f"{first.strerror or first}",
            f"delete it yourself or make {where.parent} writable by you, then run "
            "`activesec wipe --yes` again",
        )
    if unknown is not None:
        raise ActiveSecError(
            "wipe deleted every event and session, but could not tell where the alert log is "
            f"([actions.params.alertlog] path): {unknown.message}",
            f"{unknown.hint or 'fix the file'}, then run `activesec wipe --yes` again",
        )
    out.print("wiped: all events, sessions, models, decisions, trust history and logs deleted "
              "(the background population is kept; decisions already sent to syslog are not "
              "recalled)")


def _wipe_store(p: Paths) -> None:
    """Empty the store in place (:meth:`Store.wipe`); on a full disk, where that cannot run
    (SQLite writes each page it deletes to its write-ahead log first), replace it with an empty
    one in one step (:func:`~activesec.store.wipe.wipe_by_replacing`)."""
    from activesec.core.paths import FREE_SPACE_WARN_BYTES, free_bytes, keep_reserve
    from activesec.store.wipe import wipe_by_replacing

    try:
        with _open_store(p) as store:
            store.wipe()
        return
    except StoreError:
        free = free_bytes(p.data_dir)
        if (free is None or not p.database.exists()
                or free >= max(FREE_SPACE_WARN_BYTES, 2 * p.database.stat().st_size)):
            raise
    wipe_by_replacing(p)
    keep_reserve(p)  # wipe used it; taken again where the freed space allows


def _alert_log_paths(p: Paths) -> tuple[list[Path], ActiveSecError | None]:
    """Where the alert log is (``[actions.params.alertlog] path``), also when the settings do
    not load: wipe must still work then. With one invalid value elsewhere, the path is read
    from the files as written — each place that names one (the account's file, the machine
    policy), and the default place. When a file cannot even be read, the error too: the
    configured log may then be somewhere wipe cannot know."""
    from activesec.actions.alertlog import FILE_NAME, configured_path
    from activesec.core.site import dotted_value, load_site, read_toml

    default = p.log_dir / FILE_NAME
    try:
        configured = settings(p).actions.params.get("alertlog", {}).get("path")
        return [configured_path(configured) if configured else default], None
    except (ActiveSecError, TypeError):  # not a path: the agent refuses it, wipe goes on
        pass
    found, unknown = [default], None
    tables: list[dict[str, Any]] = []
    try:
        site = load_site()
        tables += [site.enforced, site.defaults]
    except ActiveSecError as exc:
        unknown = exc
    try:
        if p.config_file.is_file():
            tables.append(read_toml(p.config_file))
    except (OSError, ValueError, RecursionError):
        try:
            settings(p)  # the one-line reason load() gives for this file
        except ActiveSecError as exc:
            unknown = unknown or exc
    for table in tables:
        path = dotted_value(table, "actions.params.alertlog.path")
        try:
            if path and configured_path(path) not in found:
                found.append(configured_path(path))
        except (ActiveSecError, TypeError):  # not a path: nothing was ever written there
            continue
    return found, unknown


def _with_engine_check(checks: list[Any]) -> list[Any]:
    """The capture layer's config check cannot see ``[engine]``, detectors or actions (they sit
    in higher layers): validate them here too, so `doctor` never says "valid" to a file `run`
    refuses."""
    from dataclasses import replace

    from activesec.capture.doctor import INVALID_POLICY
    from activesec.service.agent import check_settings

    for i, c in enumerate(checks):
        if c.name == "config" and c.status in ("ok", "warn"):
            try:
                check_settings(settings(state_paths()))
            except ActiveSecError as exc:
                checks[i] = replace(c, status="fail", detail=exc.message, hint=exc.hint)
                if isinstance(exc, PolicyError):  # it is the policy's, not "ok"
                    checks = [replace(m, status="fail", detail=f"{m.detail}; but it is invalid "
                                      "(the config check above says why)",
                                      hint=INVALID_POLICY.hint)
                              if m.name == "machine policy" else m for m in checks]
    return checks


def _profile_check() -> Any:
    """The owner profile every command reads first: a damaged one stops `run` (exit 78)."""
    from activesec.capture.doctor import Check

    p = state_paths()
    try:
        prof = profile.load(p)
    except ActiveSecError as exc:
        return Check("profile", "fail", exc.message, exc.hint)
    if prof is None:
        return Check("profile", "fail", f"no ActiveSec profile in {p.data_dir}",
                     "run `activesec init` first")
    try:
        named = settings(p).user
    except ActiveSecError:
        named = ""  # the config check reports it
    owner = (f"owner {named} (the config's `user`; the profile's is {prof.user})"
             if named and named != prof.user else f"owner {prof.user}")
    return Check("profile", "ok", f"{p.profile_file}: {owner}")


def _model_checks() -> list[Any]:
    """The ``models`` and ``screen`` checks, from one verification of the trained models (each
    model's files are read and hashed once). The owner's sessions give each pointer model's
    screen; without a readable store the models are still checked. [] when the settings cannot
    be read, or the models (the config, profile or data directory check reports it)."""
    from activesec.service.report import models
    from activesec.store.db import Store

    p = state_paths()
    sessions = None
    try:
        s = settings(p)
    except (ActiveSecError, OSError):
        return []
    if p.database.exists():  # else the store check reports it
        try:
            owner = profile.owner(p, s.user)
            with Store.open_to_read(p.database, check=False) as store:
                sessions = store.sessions()
        except (ActiveSecError, OSError):
            sessions = None  # the profile or store check reports it
    try:
        found = models(p, None if sessions is None
                       else [si for si in sessions if si.label == owner])
    except (ActiveSecError, OSError):
        return []
    checks = [_models_check(found, s.train.auto),
              None if sessions is None else _screen_check(found, sessions, s)]
    return [c for c in checks if c is not None]


def _models_check(found: list[dict[str, Any]], auto: bool) -> Any:
    """The trained models as the agent would load them (the same verification `status` shows):
    which ones score, trained when — and those refused (built by another version, for another
    feature schema or plug-in version, altered files), which `doctor` never said, with what
    happens next. None before the first model (the enrolment is `status`'s to show)."""
    from activesec.capture.doctor import Check
    from activesec.service.models import RETRAIN

    if not found:
        return None
    good = [f"{m['name']}: {m['detector']}, trained {m['created'] or 'at an unknown time'}"
            for m in found if m["ok"]]
    bad = [f"{m['name']} refused: {str(m['problem']).removesuffix(f' — {RETRAIN}')}"
           for m in found if not m["ok"]]
    detail = "; ".join([*good, *bad])
    if not bad:
        return Check("models", "ok", detail)
    scoring = ("the other models go on scoring" if good
               else "nothing is judged meanwhile: the agent only enrols")
    if not auto:  # nothing retrains it: the owner must
        return Check("models", "fail", f"{detail} ({scoring})",
                     "`[train] auto` is off, so the agent does not retrain: run `activesec "
                     "train`")
    return Check("models", "warn", f"{detail} ({scoring})",
                 "a running agent retrains by itself once its enrolment data suffices "
                 "(`activesec status` shows the progress); or now: `activesec train`")


def _screen_check(found: list[dict[str, Any]], sessions: list[Any], s: Any) -> Any:
    """Is the screen now markedly another than the one each pointer model (``found``, with
    ``trained_screen``) was trained on (distances are in pixels: README, "Laptops")? The screen
    is what the capture backend reports here, else the newest of ``sessions`` (the running
    agent's). None when no pointer model or no screen is known (imported recordings keep
    none)."""
    from activesec.capture.doctor import Check
    from activesec.capture.select import choose_backend, create_backend
    from activesec.service.report import SCREEN_HINT, current_screen, screen_changes, screen_note

    now = None
    try:  # what the capture backend sees now (another screen plugged in since the last session)
        info = create_backend(choose_backend(s.capture.backend)[0], s).info()
        now = list(info.screen) if info.screen else None
    except Exception:  # no backend here (the backend check says why): the sessions
        now = None
    now = now or current_screen(sessions)
    trained = [m for m in found if m.get("trained_screen")]
    if not now or not trained:
        return None
    changed = screen_changes(trained, now)
    if changed:
        return Check("screen", "warn", screen_note(changed, now), SCREEN_HINT)
    return Check("screen", "ok", f"{now[0]}x{now[1]}, as the pointer models were trained on ("
                 + ", ".join(f"{m['name']}: {m['trained_screen'][0]}x{m['trained_screen'][1]}"
                             for m in trained) + ")")


def _store_check() -> Any:
    """The event store opened as every command opens it (header, schema, quick check) plus a
    full integrity pass: a damaged store otherwise shows only in the commands that use it."""
    from activesec.capture.doctor import Check
    from activesec.store.db import Store

    p = state_paths()
    if not p.database.exists():
        return Check("store", "warn", f"no event store at {p.database} yet",
                     "run `activesec init`")
    try:
        with Store.open_to_read(p.database) as store:
            result = store.integrity_check()
            n = store.counts().get("sessions", 0)
            read_only = store.read_only
    except ActiveSecError as exc:
        return Check("store", "fail", exc.message, exc.hint)
    if result != "ok":
        return Check("store", "fail", f"the event store {p.database} is damaged ({result})",
                     "move the file aside (or restore a backup) and run `activesec init`")
    if read_only:  # the free space check says what to do
        return Check("store", "warn", f"{p.database}: {n} sessions, schema and integrity ok, "
                     "but it can only be read: its disk is full", "free disk space")
    return Check("store", "ok", f"{p.database}: {n} sessions, schema and integrity ok")


def _agent_session() -> Any:
    """`doctor` in a shell with no display (over SSH, from cron or config management) checks
    the desktop session the running agent captures in: the agent's display, X authority and
    session bus are taken into this process, so the backend, display and lock checks answer
    for that session rather than fail for this shell. None when there is a display here, no
    agent runs, or its session cannot be read (Linux only: /proc)."""
    import os
    import sys

    from activesec.capture.doctor import Check, process_session_env

    if not sys.platform.startswith("linux") or os.environ.get("DISPLAY") \
            or os.environ.get("WAYLAND_DISPLAY"):
        return None
    lock = state_paths().run_dir / "capture.lock"
    pid = read_pid(lock) if is_locked(lock) else None
    env = process_session_env(pid) if pid else {}
    if not env:
        return None
    os.environ.update(env)
    shown = ", ".join(f"{k}={env[k]}" for k in ("WAYLAND_DISPLAY", "DISPLAY") if k in env)
    return Check("session", "ok", "this shell has no display: the checks use the desktop "
                 f"session of the running agent (pid {pid}, {shown})")


def _agent_check() -> Any:
    """Why the agent last stopped, when it stopped on an error and none runs since: a
    permanent failure fails the check (the log-in service does not restart it)."""
    from activesec.capture.doctor import Check
    from activesec.service import stopped

    p = state_paths()
    entry = stopped.read(p)
    if entry is None or is_locked(p.run_dir / "capture.lock"):
        return None
    hint = "; ".join(x for x in (entry.get("hint"), f"then `{stopped.restart_command(entry)}`")
                     if x)
    return Check("agent", "fail" if entry.get("permanent") else "warn",
                 f"the agent {stopped.headline(entry)}: {entry['message']}",
                 hint)


def _service_check(**kw: Any) -> Any:
    """The log-in service file (yours, and every account's when there is one) against what
    `service install` writes now: an install from an older version keeps running the old unit
    and nothing else tells the user. None when no service is installed; ``kw``:
    :class:`~activesec.service.installers.Installer`'s (tests)."""
    from activesec.capture.doctor import Check
    from activesec.service.installers import OUTDATED_WHY, Installer

    found = []
    for all_users in (False, True):
        try:
            inst = Installer(all_users=all_users, **kw)
            if inst.path.exists():
                found.append((inst, inst.outdated()))
        except (ActiveSecError, OSError):
            continue
    if not found:
        return None
    old = [i for i, outdated in found if outdated]
    if not old:
        return Check("service", "ok", "; ".join(f"{i.path}: as this version installs it"
                                                for i, _ in found))
    return Check("service", "warn", "; ".join(f"the log-in service file {i.path} {OUTDATED_WHY}"
                                              for i in old),
                 " and ".join("run `activesec service install --all-users` again as root / "
                              "an administrator" if i.all_users
                              else "run `activesec service install` again" for i in old))


def _background_check() -> Any:
    """Whether training will contrast the owner with other people, as the default detectors
    do, or fall back to a much weaker one-class detector; None when the config does not load
    (the config check reports it)."""
    from activesec.capture.doctor import Check
    from activesec.service.background import REBUILD
    from activesec.service.train import FALLBACK, background_use, fallback_upgrades

    p = state_paths()
    try:
        uses = background_use(p, settings(p))
    except ActiveSecError:
        return None
    missing = [u for u in uses if u.state == "missing"]
    unusable = [u for u in uses if u.state == "unusable"]
    if ups := fallback_upgrades(p):  # built after training: the fallback models still score
        rest = "".join(f"; no usable background for {u.modality}: training uses the one-class "
                       f"{FALLBACK[u.modality]}" for u in missing + unusable)
        return Check("background", "warn", f"{', '.join(d.name for d in ups)} still use the "
                     "one-class fallback they were trained with, though a background for them "
                     f"is installed now{rest}",
                     "a running agent refits them by itself; or now: `activesec train --upgrade`")
    if unusable:
        return Check("background", "warn", "; ".join(
            f"{u.detail}: training falls back to the one-class {FALLBACK[u.modality]}"
            for u in unusable), REBUILD)
    if missing:
        return Check("background", "warn", "no background population (other people's feature "
                     "rows), so training uses " + "; ".join(
                         f"the one-class {FALLBACK[u.modality]} for {u.modality} instead of "
                         f"{u.detector} ({FALLBACK_COST[u.modality]})" for u in missing),
                     BUILD_HINT)
    return Check("background", "ok", "; ".join(
        f"{u.modality}: {u.detector}, " + (u.detail if u.state == "installed" else
                                            "needs no background") for u in uses))


#: what the one-class fallback costs (README, *Evaluation*: the fallbacks measured the same way)
FALLBACK_COST = {"pointer": "Balabit pooled EER 29 % against 6 %",
                 "keyboard": "Aalto mean per-user EER 15 % against 5 %"}
#: where `doctor` and the README send a user without a background population
BUILD_HINT = ("build it from public data you download: `activesec background build --balabit "
              "PATH --aalto PATH` (README, 'Background population', says where to get them)")


def _gate_check() -> Any:
    """Will the gate rules gate anything? Rules that ``on_gate`` never runs, and rules whose
    name matches no process now and no app in front lately (a typo gates nothing, silently)."""
    from activesec.actions.gate import FOREIGN, GateAction, normalise, with_comm_names
    from activesec.capture.doctor import Check
    from activesec.service.report import APP_DAYS
    from activesec.store.db import NS_PER_DAY, Store

    p = state_paths()
    try:
        s = settings(p)
        rules = s.actions.params.get("gate", {}).get("rules") or []
        gate = GateAction(rules=rules)
    except ActiveSecError:
        return None  # the config check reports it
    if not gate.rules:
        if "gate" not in s.actions.on_gate:
            return None
        return Check("gate", "warn", "actions.on_gate runs 'gate', but there are no gate rules: "
                     "nothing will be gated", "add rules under [actions.params.gate], e.g. "
                     'rules = [{ name = "games", match = "steam", mode = "suspend" }]')
    if "gate" not in s.actions.on_gate:
        return Check("gate", "warn", f"{len(gate.rules)} gate rule(s) configured, but "
                     f"actions.on_gate = {list(s.actions.on_gate)} does not run 'gate': "
                     "nothing will be gated", 'set on_gate = ["gate", "alertlog"]')
    seen: set[str] = set()
    if p.database.exists():
        try:
            with Store.open_to_read(p.database, check=False) as store:
                since = time.time_ns() - APP_DAYS * NS_PER_DAY
                seen = {normalise(name) for name, _ in store.recent_apps(since_wall_ns=since)}
            seen = with_comm_names(seen)  # as `ps -e` shows them
        except ActiveSecError:
            pass  # the store check reports it
    survey = gate.survey()
    parts, unknown, foreign = [], [], []
    for r in gate.rules:
        pids, why = survey[r.name]
        if pids:
            parts.append(f"{r.name} ({r.mode} {r.shown()}): running now")
        elif normalise(r.match) in seen:  # the store keeps names only, never arguments
            parts.append(f"{r.name} ({r.mode} {r.shown()}): in front in the last {APP_DAYS} "
                         "days" + (" (by name)" if r.args else ""))
        elif why.startswith(FOREIGN):
            foreign.append(f"{r.name} ({r.shown()}) {why.split(' — ')[0]}")
        else:
            unknown.append(f"{r.name} ({r.shown()})")
    if foreign:  # a parent's agent cannot gate the game the child plays in the child's account
        return Check("gate", "warn", "; ".join(foreign) + ": this account's agent never "
                     "touches another account's processes", "the agent in the account that "
                     "runs the app gates it: `sudo activesec service install --all-users` and "
                     "a machine policy with these rules (README, 'A parent')")
    if unknown:
        return Check("gate", "warn", f"no process matches {', '.join(unknown)} now, and no app "
                     f"of that name was in front in the last {APP_DAYS} days: a misspelt name "
                     "gates nothing", "`activesec status` lists the app names gate rules match "
                     "(or `ps -e` while the app runs)")
    return Check("gate", "ok", "; ".join(parts))


def _command_check() -> Any:
    """Is the program the ``command`` action runs here? A hook templated onto every machine (a
    pager, an admin's script) but missing on one failed at each decision there, which only that
    account's ``status`` said afterwards — ``doctor`` said nothing. None when no level runs
    ``command``, it runs through a shell, or the config does not load."""
    import os
    import shutil

    from activesec.actions import registry
    from activesec.actions.command import CommandAction
    from activesec.capture.doctor import Check
    from activesec.core.site import dotted_keys, load_site

    try:
        s = settings(state_paths())
        a = s.actions
        levels = [lvl for lvl in ("on_notify", "on_lock", "on_gate") if "command" in
                  getattr(a, lvl)]
        if not levels:
            return None
        cmd = registry.create("command", **a.params.get("command", {}))
        enforced = dotted_keys(load_site().enforced)
    except ActiveSecError:
        return None
    if not isinstance(cmd, CommandAction) or cmd.shell:
        return None
    path = cmd.env.get("PATH", os.environ.get("PATH", os.defpath))
    missing: list[tuple[str, str]] = []
    found: list[tuple[str, str]] = []
    runs = ", ".join(levels)
    when = {"argv": f"every decision of {runs}", "revert_argv": "every restore (gate lifted)"}
    for key, argv in (("argv", cmd.argv), ("revert_argv", cmd.revert_argv)):
        if argv is None or (key == "revert_argv" and "on_gate" not in levels):
            continue  # a revert runs only when a gate is lifted
        exe = argv[0]
        if cmd.cwd and os.sep in exe and not os.path.isabs(exe):
            exe = os.path.join(cmd.cwd, exe)  # as Popen finds it
        (found if shutil.which(exe, path=path) else missing).append((key, argv[0]))
    if not missing:
        return Check("command", "ok", "; ".join(f"{key} runs {exe}" for key, exe in found)
                     + f" ({runs})")
    what = "; ".join(f"[actions.params.command] {key} runs {exe}, which is not installed here "
                     f"(or not executable): {when[key]} fails to run it" for key, exe in missing)
    mine = [key for key, _ in missing if f"actions.params.command.{key}" not in enforced]
    hint = ("install it, or fix [actions.params.command] in config.toml (a full path: the log-in "
            "service's PATH may differ from your shell's)" if mine else
            "the machine policy sets it: ask whoever manages this machine to install it here "
            "or fix the policy")
    return Check("command", "fail", what, hint)


def _lock_check() -> Any:
    """Can a lock decision lock this session here, and will the agent know it is locked?
    None when the config does not load (the config check reports it)."""
    import os
    import shutil
    import sys

    from activesec.actions import registry
    from activesec.actions.command import CommandAction
    from activesec.actions.lock import LockAction, screensaver_active
    from activesec.capture.doctor import Check
    from activesec.core.site import dotted_keys, load_site

    try:
        s = settings(state_paths())
        on_lock = list(s.actions.on_lock)
        actions = {n: registry.create(n, **s.actions.params.get(n, {})) for n in on_lock}
        policy = load_site()
    except ActiveSecError:
        return None
    pinned = dotted_keys(policy.enforced)

    def policy_hint(hint: str, *keys: str) -> str:
        """``hint`` is the account's to follow unless the policy enforces one of ``keys``."""
        held = [k for k in pinned if any(k == key or k.startswith(f"{key}.") for key in keys)]
        if not held:
            return hint
        return (f"the machine policy {policy.path} enforces {', '.join(held)}: ask whoever "
                f"manages this machine ({hint})")

    if not on_lock:
        return Check("lock", "ok", "locking is off (actions.on_lock = []): trust below the lock "
                     "level notifies instead")
    lockers = [n for n, a in actions.items() if a.locks_session]
    if not lockers:
        return Check("lock", "warn", f"actions.on_lock = {on_lock} runs nothing that locks the "
                     "session: a lock decision only reports, and is repeated while trust stays "
                     "low", policy_hint('add "lock" to on_lock (or a command that runs your '
                                        "own locker)", "actions.on_lock"))
    parts, missing = [], []
    lock = actions.get("lock")
    if isinstance(lock, LockAction):
        tried = lock.available()
        usable = [a.method for a in tried if a.ok]
        if usable:
            parts.append(f"lock tries {', '.join(usable)}")
        else:
            missing.append("lock: no method is available here ("
                           + "; ".join(f"{a.method}: {a.detail}" for a in tried) + ")")
    command = actions.get("command")
    if not (isinstance(command, CommandAction) and command.locks_session):
        command = None  # a pager command that locks nothing, or none
    if command is not None:
        exe = command.argv[0]
        if command.shell or shutil.which(exe):  # a path, or a name on the PATH
            parts.append(f"command runs {exe}")
        else:
            missing.append(f"command: {exe} is not installed")
    parts += [f"{n} (a plug-in)" for n in lockers if n not in ("lock", "command")]
    hint = ("install a locker the lock action knows (xdg-utils' xdg-screensaver, xscreensaver, "
            "light-locker's dm-tool; a desktop with systemd-logind), or set [actions.params."
            'command] argv to yours (e.g. i3lock) and add "command" to on_lock')
    hint = policy_hint(hint, "actions.on_lock", "actions.params.lock",
                       "actions.params.command")
    if not parts:
        return Check("lock", "warn", "a lock decision would lock nothing: " + "; ".join(missing),
                     hint)
    active, query = (None, None)
    if sys.platform == "linux" and os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        active, query = screensaver_active()
    if sys.platform == "win32":
        watch = "the agent learns lock and unlock from the input desktop (Winlogon's: locked)"
    elif sys.platform == "darwin":
        watch = "the agent learns lock and unlock from the window server's session"
    elif query is not None:
        watch = f"the agent learns lock and unlock from {query[0]} (active now: {active})"
        if command is not None and os.environ.get("DISPLAY"):  # i3lock on xfce: unknown to it
            watch += (", and that your command's locker is up while it holds the X display "
                      "(a locker that service does not know)")
    elif os.environ.get("DISPLAY"):
        watch = ("no screensaver service answers: after a lock, an X11 locker holding the "
                 "display counts as locked, and otherwise input resuming counts as the unlock")
    else:
        watch = "no screensaver service answers: input resuming after a lock counts as the unlock"
    return Check("lock", "warn" if missing else "ok", "; ".join([*parts, *missing, watch]),
                 hint if missing else "")


def _injector_check() -> Any:
    """Known injecting tools (on-screen keyboards, VNC servers…) running as this account while
    injected input is distrusted; None when none runs or the config does not load."""
    import psutil

    from activesec.capture.doctor import injector_check
    from activesec.service.agent import engine_config

    try:
        mode = engine_config(settings(state_paths())).scoring.injected
    except ActiveSecError:
        return None  # the config check reports it
    me = psutil.Process().username()  # this account's tools only (a VNC server of another
    names = [proc.info.get("name") or ""  # account's session injects into that session)
             for proc in psutil.process_iter(["name", "username"])
             if proc.info.get("username") == me]
    return injector_check(mode, names)


def _plugin_check() -> Any:
    """The plug-ins installed (detectors and actions, each with the package it comes from), and
    those that cannot be used — one that fails to load, is not a detector or action class, or
    is named like a built-in (not used): these were said only when a command named them, or in
    the agent's log. None when no plug-in is installed."""
    from importlib.metadata import entry_points

    from activesec.actions import registry as actions
    from activesec.capture.doctor import Check
    from activesec.detectors import registry as detectors

    def origin(ep: Any) -> str:
        dist = getattr(ep, "dist", None)
        return f" ({dist.name} {dist.version})" if dist is not None else ""

    good: list[str] = []
    bad: list[str] = []
    not_loaded = detectors.not_loaded()
    for ep in entry_points(group=detectors.ENTRY_POINT_GROUP):
        if ep.name in not_loaded:
            bad.append(f"detector plug-in {ep.name!r}{origin(ep)}: {not_loaded[ep.name]}")
        elif detectors.get(ep.name)._is_plugin():
            good.append(f"detector {ep.name}{origin(ep)}")
    for ep in entry_points(group=actions.GROUP):
        if ep.name in actions.BUILTINS:
            bad.append(f"action plug-in {ep.name!r}{origin(ep)}: not used: named like the "
                       "built-in; give it another name")
            continue
        try:
            actions.load(ep.name)
        except ActiveSecError as exc:
            bad.append(f"{exc.message}{origin(ep)}")
            continue
        good.append(f"action {ep.name}{origin(ep)}")
    if not good and not bad:
        return None
    detail = "; ".join([*good, *(f"not usable: {b}" for b in bad)])
    if bad:
        return Check("plug-ins", "warn", detail,
                     "fix or reinstall the package named, or uninstall it (README, 'Writing an "
                     "action' and 'To compare your own detector')")
    return Check("plug-ins", "ok", detail)


def doctor(json_out: bool = typer.Option(False, "--json", help="Machine-readable output.")) -> None:
    """Which capture backend will be used and why; display, permission and platform problems;
    whether training has a background population; whether the gate rules name apps seen on
    this machine; whether a lock decision can lock the session here; the data directory's free
    space and the event store's integrity; the trained models, and those refused and why;
    whether the screen differs markedly from the one the pointer models learnt on; why the
    agent stopped, when it stopped on an error; the plug-ins installed. In a shell with no
    display (over SSH), the display checks are those of the running agent's desktop session."""
    from activesec.capture.doctor import run_checks
    from activesec.engine.pipeline import EngineConfig

    session = _agent_session()  # before any check: they all read the session's variables
    # loads and validates the config itself; lists what [engine] sets unlike its defaults
    checks = _with_engine_check(run_checks(None, sections={"engine": EngineConfig().model_dump()}))
    if session is not None:
        checks.insert(0, session)
    for extra in (_profile_check(), _background_check(), _gate_check(), _command_check(),
                  _lock_check(), _injector_check(), _service_check(), _plugin_check()):
        if extra is not None:
            checks.append(extra)
    checks.append(_store_check())
    checks.extend(_model_checks())
    agent = _agent_check()
    if agent is not None:
        checks.append(agent)
    rows = [
        {"name": c.name, "status": c.status, "detail": c.detail, "hint": c.hint} for c in checks
    ]
    failed = any(r["status"] == "fail" for r in rows)
    if json_out:
        print_json({"ok": not failed, "checks": rows})
    else:
        marks = {
            "ok": "[green]ok  [/green]",
            "warn": "[yellow]warn[/yellow]",
            "fail": "[red]FAIL[/red]",
        }
        for r in rows:
            # details quote file contents and paths: never rich markup ("[enforced]")
            out.print(f"{marks.get(r['status'], r['status'])} {r['name']}: "
                      f"{escape(r['detail'])}")
            if r["hint"] and r["status"] != "ok":
                out.print(f"       → {escape(r['hint'])}")
    if failed:
        raise typer.Exit(1)
