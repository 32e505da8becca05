"""The live agent's commands: ``run``, ``replay``, ``service install|uninstall|status|restart``.

``run`` is the agent in the foreground (:mod:`activesec.service.agent`); it exits 78
(``EX_CONFIG``) on a permanent failure (:mod:`activesec.core.errors`), which the log-in service
does not restart, and leaves the reason of any failure for ``status``
(:mod:`activesec.service.stopped`). ``replay`` is fail2ban-regex's role: recorded sessions
through the very engine, trust model and policy the agent runs, printing the decisions it would
take; ``service`` wraps :mod:`activesec.service.installers` (``restart`` checks the config
first).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from activesec.cli._common import (
    backend_choice,
    err,
    finite,
    foreground_backend,
    out,
    print_json,
    settings,
    state_paths,
)
from activesec.core import profile
from activesec.core.errors import (
    EX_CONFIG,
    ActiveSecError,
    ConfigError,
    DataError,
    permission_denied,
)
from activesec.core.instance import AlreadyRunning
from activesec.core.paths import Paths

service_app = typer.Typer(
    help="Start the agent at log-in (systemd user unit, LaunchAgent, Task Scheduler log-on task).",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(replay)
    app.add_typer(service_app, name="service")


# ---------------------------------------------------------------------------------------- run
def run(
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Decide, log and record, but act on nothing."
    ),
    duration: float | None = typer.Option(
        None, "--duration", "-d",
        callback=finite("--duration", "give seconds, e.g. --duration 60, or leave --duration "
                        "out to run until SIGTERM or Ctrl-C", minimum=0.0),
        help="Stop after S seconds (default: until SIGTERM).",
    ),
    backend: str | None = typer.Option(
        None, "--backend", "-b", callback=backend_choice,
        help="auto | x11 | pynput | evdev (default from config).",
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No live status line."),
    init: bool = typer.Option(
        False, "--init",
        help="Create the profile first when there is none, as `activesec init` does (the "
        "log-in service for every account uses it: an account's first log-in has none).",
    ),
    notify_failure: bool = typer.Option(
        False, "--notify-failure",
        help="When the agent cannot start for a reason no restart fixes, also say so in a "
        "desktop notification (the log-in service uses it: nobody reads its terminal).",
    ),
    wait_for_fix: bool = typer.Option(
        False, "--wait-for-fix",
        help="When the configuration (config file, machine policy, profile) is invalid, wait "
        "until one of those files changes and start then, instead of exiting 78 (the log-in "
        "service uses it: fixing the file is enough, no restart or log-in).",
    ),
) -> None:
    """Run the agent in the foreground: capture, score, decide, act.

    Enrols first when there is no model and trains by itself once enrolment is complete
    (train.auto). Trust below the notify, lock or gate level fires the actions listed in
    actions.on_notify, on_lock, on_gate; scoring, trust and policy are set in the config's
    engine.scoring, engine.trust and engine.policy sections.

    Live status: DATA_DIR/run/agent.json (every second). Decisions with their evidence and
    what each action did: DATA_DIR/decisions.jsonl; trust per minute with input, kept a week:
    DATA_DIR/trust-history.jsonl. SIGTERM (and SIGHUP) flushes and exits 0.

    A configuration error (or an event store that is not ActiveSec's or damaged) exits 78
    (EX_CONFIG), which the log-in service does not restart; other errors exit 2 and are
    retried. Either way the reason is left in DATA_DIR/run/stopped.json for `activesec
    status`, `doctor` and `service status`, until the agent next starts.
    """
    from activesec.service import stopped

    p = state_paths()
    while True:
        try:
            try:
                _run(dry_run, duration, backend, quiet, init)
            except PermissionError as denied:  # e.g. a folder `sudo activesec` made as root
                raise permission_denied(denied) from None
            return
        except AlreadyRunning:
            raise  # the agent that runs is fine: nothing to leave for status
        except ActiveSecError as exc:
            _thaw_left_frozen(p, exc)
            notified = None
            waits = wait_for_fix and isinstance(exc, ConfigError)
            if exc.permanent:  # the log-in service does not restart on this status
                exc.exit_code = EX_CONFIG
                if notify_failure:
                    notified = _told_lately(stopped.read(p), exc)
                    if notified is None:
                        notified = time.time_ns() if _notify_failure(exc, waits) else None
            stopped.record(p, exc, exc.exit_code, notified_wall_ns=notified, waiting=waits,
                           service=notify_failure or wait_for_fix)
            if not waits:
                raise
            err.print(f"error: {escape(str(exc))}; waiting for the configuration to change "
                      "(Ctrl-C to stop)")
            try:
                _wait_for_change(p)
            except (SystemExit, KeyboardInterrupt):
                # stopped while waiting (SIGTERM, Ctrl-C): nothing starts by itself any more
                # once the file is fixed, so status must not say it does
                stopped.record(p, exc, exc.exit_code, notified_wall_ns=notified,
                               service=notify_failure or wait_for_fix)
                raise


def _thaw_left_frozen(p: Paths, exc: ActiveSecError) -> None:
    """Resume the apps a killed agent left suspended when this start fails — a configuration
    it refuses (exit 78, which the log-in service does not restart) kept the child's apps
    frozen until someone fixed the file (:func:`_thaw`); what was resumed is added to the
    error."""
    resumed = _thaw(p)
    if resumed:
        exc.message += f"; meanwhile {resumed}, which an agent that was killed had left suspended"


def _thaw(p: Paths, wait_s: float = 0.0) -> str | None:
    """Resume the apps an agent that was killed left suspended (``<run dir>/gated.json``);
    what was resumed, or None. Needs no configuration: the file names the pids, and only
    those still the processes it suspended are resumed. Never while an agent runs (its gate is
    its own): one that is ending is waited for up to ``wait_s``."""
    import logging
    import time

    from activesec.actions.gate import STATE_FILE, GateAction
    from activesec.core.instance import is_locked

    state = p.run_dir / STATE_FILE
    if not state.exists():
        return None
    lock = p.run_dir / "capture.lock"
    until = time.monotonic() + wait_s
    while is_locked(lock):
        if time.monotonic() >= until:
            return None
        time.sleep(0.1)
    said = logging.getLogger(GateAction.__module__)
    level = said.level
    said.setLevel(logging.ERROR)  # the caller's one line says it
    try:
        gate = GateAction(state_file=state)
        gate.start()
        gate.stop()
    except (ActiveSecError, OSError):
        return None  # what the caller reports matters more; the next start tries again
    finally:
        said.setLevel(level)
    return gate.resumed_at_start


UNINSTALL_WAIT_S = 5.0  # for the stopped agent to release its lock
WAIT_POLL_S = 2.0  # how often --wait-for-fix looks at the files


def _wait_for_change(p: Paths) -> None:
    """Until the config file, the machine policy or the profile changes (path, mtime, size);
    SIGTERM ends the wait, and the command, with exit status 0 as it ends the agent."""
    import signal
    import sys

    from activesec.service.agent import config_stamp

    def stamp() -> tuple[object, ...]:
        try:
            st = p.profile_file.stat()
            prof: tuple[int, int] = (st.st_mtime_ns, st.st_size)
        except OSError:
            prof = (-1, -1)
        return (*config_stamp(p), prof)

    for sig in ("SIGTERM", "SIGHUP"):  # as they end the agent (`foreground_backend`)
        if hasattr(signal, sig):
            signal.signal(getattr(signal, sig), lambda *_: sys.exit(0))
    before = stamp()
    while stamp() == before:
        time.sleep(WAIT_POLL_S)


NOTIFY_AGAIN_S = 3600.0


def _told_lately(last: dict[str, Any] | None, exc: ActiveSecError) -> int | None:
    """When the owner was last notified of this same error, if less than ``NOTIFY_AGAIN_S`` ago
    (else None): launchd retries a failed agent every 30 s whatever the failure — one
    notification an hour is news, one every 30 s is noise."""
    if not last or last.get("message") != exc.message:
        return None
    at = last.get("notified_wall_ns")
    fresh = isinstance(at, int) and 0 <= time.time_ns() - at < NOTIFY_AGAIN_S * 1e9
    return at if fresh else None


def _notify_failure(exc: ActiveSecError, waits: bool = False) -> bool:
    """The owner would otherwise not know the session is unprotected (module docstring of
    :mod:`activesec.service.stopped`); best effort: a failure to notify is only logged."""
    import logging

    from activesec.actions.notify import NotifyAction
    from activesec.service.stopped import RESTART

    body = (f"{exc}. It starts by itself once the file is fixed." if waits
            else f"{exc}. After fixing it, start it again: {RESTART}")
    try:
        result = NotifyAction().show("ActiveSec is not protecting this session", body,
                                     critical=True)
    except Exception as exc_:  # never hide the error being reported
        result = None
        logging.getLogger(__name__).warning("cannot notify that the agent stopped: %s", exc_)
    if result is not None and not result.ok:
        logging.getLogger(__name__).warning("cannot notify that the agent stopped: %s",
                                            result.detail)
    return result is not None and result.ok


def _run(dry_run: bool, duration: float | None, backend: str | None, quiet: bool,
         init: bool) -> None:
    from activesec.capture.apps import foreground_app
    from activesec.core.clock import SystemClock
    from activesec.service import stopped
    from activesec.service.agent import Agent, check_settings

    if init and profile.load(state_paths()) is None:
        from activesec.cli.cmd_capture import set_up

        set_up(None, False, False, next_step=False)  # this is `activesec run` already
    check_settings(settings(state_paths()))  # a bad config is refused before capture starts
    with foreground_backend(backend, "agent or capture") as fg:
        agent = Agent(
            fg.paths,
            fg.settings,
            fg.backend,
            SystemClock(),
            dry_run=dry_run,
            owner=fg.owner,
            app_probe=foreground_app,
            # an edited config file or machine policy applies while running (same flags)
            reload_settings=lambda: settings(
                state_paths(), {"capture": {"backend": backend}} if backend else {}),
        )
        stopped.clear(fg.paths)  # started: a failure left by the last start is over

        def started() -> None:  # once the store is open and capture runs, not before
            if not quiet:
                err.print(
                    f"agent running with [bold]{fg.backend_name}[/bold] ({fg.reason})"
                    f"{' [yellow]dry-run[/yellow]' if dry_run else ''}; Ctrl-C to stop"
                )

        summary = agent.run(duration_s=duration, stop_event=fg.stop, on_started=started)
    if not quiet:
        st = agent.status()
        trust = "-" if st["trust"] is None else f"{st['trust']:.1f}"
        err.print(
            f"stopped: state {st['state']}, trust {trust}, "
            f"{summary.n_decisions} decision(s), {st['stored']:,} events stored"
            + (f" ({st['reason']})" if st["reason"] else "")
        )


# ---------------------------------------------------------------------------------------- replay
@dataclass(frozen=True)
class _ModelPaths(Paths):
    """Paths whose models directory is the one given with ``--model``."""

    models: Path = Path()

    @property
    def models_dir(self) -> Path:
        return self.models


def _recordings(path: Path) -> Iterator[Any]:
    """The recordings under ``path``; the layout is checked now (a wrong path is reported
    before anything else is loaded), the files are read as the iterator is consumed."""
    from activesec.recordings import detect_layout, iter_balabit, iter_layout
    from activesec.recordings.base import by_session

    layout = detect_layout(path)
    if layout not in ("balabit", "mouse-csv", "keys-csv", "mixed-export"):
        raise DataError(
            f"{path} holds the {layout} layout, which has no replayable sessions for the agent",
            "pass a Balabit folder, a mouse/keys layout or an export",
        )

    def read() -> Iterator[Any]:
        if layout == "balabit":
            for split in ("training", "test"):
                if (path / f"{split}_files").is_dir():
                    yield from iter_balabit(path, split)
        elif layout in ("mouse-csv", "keys-csv"):
            yield from iter_layout(path, "mouse" if layout == "mouse-csv" else "keys")
        else:  # an export: a session's mouse and keys files are one session, as the agent
            # saw it (replayed apart, the keyboard never met the pointer's trust)
            yield from by_session(rec for kind in ("mouse", "keys") if (path / kind).is_dir()
                                  for rec in iter_layout(path / kind, kind))

    return read()


def _load(model: Path | None, p: Paths) -> Any:
    from activesec.service.models import load_models

    if model is None:
        return load_models(p)
    if not model.is_dir():
        raise ActiveSecError(
            f"model directory {model} does not exist",
            "pass the models folder (<data dir>/models) of a trained profile",
        )
    mp = _ModelPaths(p.config_dir, p.data_dir, p.log_dir, model)
    return load_models(mp)


def replay(
    path: Path = typer.Argument(
        ...,
        help="Recorded sessions: a Balabit folder, a mouse/keys "
        "layout ROOT/<user>/<session>.csv, or an export.",
    ),
    model: Path | None = typer.Option(
        None, "--model", "-m", help="Models folder (default: this profile's)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Decisions and per-session summaries."),
    speed: float = typer.Option(
        0.0,
        "--speed",
        callback=finite("--speed", "give a factor such as 2 (twice the recorded speed), or 0 "
                        "to replay as fast as possible", minimum=0.0),
        help="Pace the replay at X times the recorded speed (0 = as fast as possible).",
    ),
    user: list[str] = typer.Option([], "--user", "-u", help="Only these users (repeatable)."),
) -> None:
    """Run recorded sessions through the live engine and print the decisions it would take.

    Nothing is acted on and nothing is stored. Each session starts from a fresh engine at full
    trust; after a lock the owner is assumed to unlock (trust reset, grace period), as live.
    Labelled recordings (Balabit's test sessions) also get ANIA/ANGA; a label says whether a
    session is its own user's, so those figures describe a model trained on that user (pick
    the user with --user).
    """
    from activesec.evaluate.continuous import replay_session, summarize
    from activesec.recordings.base import unreadable_rows
    from activesec.service.agent import engine_config

    p = state_paths()
    s = settings(p)
    cfg = engine_config(s)
    recordings = _recordings(path)
    models = _load(model, p)
    results = []
    decisions: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []  # sessions not replayed, and rows left out: said, not lost
    wanted = set(user)
    for rec in recordings:
        if wanted and rec.user not in wanted:
            continue
        bad = unreadable_rows(rec.meta)
        if rec.meta.get("empty") or not len(rec.events):
            skipped.append({"what": "session", "id": f"{rec.user}/{rec.session}",
                            "reason": f"no event ({bad or 'no data row'})"})
            if not json_out:
                out.print(f"[bold]{escape(rec.user)}/{escape(rec.session)}[/bold]: not replayed"
                          f" — no event ({escape(bad or 'no data row')})")
            continue
        if bad:
            skipped.append({"what": "rows", "id": f"{rec.user}/{rec.session}", "reason": bad})
        t0 = time.monotonic()
        genuine = None if "is_illegal" not in rec.meta else not bool(int(rec.meta["is_illegal"]))
        o = replay_session(
            models, rec.events, cfg, user=rec.user, session=rec.session, genuine=genuine
        )
        if speed > 0:  # pace: the session takes its recorded time / speed
            time.sleep(max(0.0, o.duration_s / speed - (time.monotonic() - t0)))
        results.append(o)
        for d in o.decisions:
            decisions.append({"user": rec.user, "session": rec.session, **d.to_dict()})
        if not json_out:
            _print_session(o, ", ".join(sorted(models)) or "none")
            if bad:
                out.print(f"  left out: {escape(bad)}")
    if not results:
        raise DataError(f"no replayable session in {path}", "check the path and --user")
    summary = summarize(results)
    if json_out:
        print_json(
            {
                "decisions": decisions,
                "sessions": [o.summary() for o in results],
                "skipped": skipped,
                "summary": summary
                if summary["impostor_sessions"] or summary["genuine_sessions"]
                else None,
            }
        )
        return
    if summary["impostor_sessions"] or summary["genuine_sessions"]:
        ania, anga = summary["ania"], summary["anga"]
        # as `evaluate --continuous` says it: "ANGA inf actions" read as a number of actions
        anga_text = ("no false lock" if not summary["false_locks"]
                     else f"{anga:,.0f} actions")
        out.print(
            f"labelled sessions: ANIA {'-' if ania is None else f'{ania:.1f}'} actions "
            f"({summary['impostor_locked']}/{summary['impostor_sessions']} impostor "
            f"sessions locked), ANGA {anga_text} "
            f"({summary['false_locks']} false lock(s))"
        )


def _print_session(o: Any, modelled: str) -> None:
    label = "" if o.genuine is None else (" genuine" if o.genuine else " impostor")
    first = o.lock_actions[0] if o.lock_actions else None
    trust = f"final trust {o.final_trust:.1f}" if o.n_actions else "trust never scored"
    unscored = (f"; {o.unmodelled} event(s) not scored: no model for them (models: {modelled})"
                if o.unmodelled else "")
    out.print(
        f"[bold]{escape(o.user)}/{escape(o.session)}[/bold]{label}: {o.n_actions} {o.unit}, "
        f"{len(o.decisions)} decision(s), {trust}"
        + (f", first lock after {first} {o.unit} ({o.first_lock_s:.1f} s)" if first else "")
        + escape(unscored)
    )
    for d in o.decisions:
        dev = d.evidence.get("deviating_features") or []
        why = ", ".join(f"{n} {v:+.1f}" for n, v in dev[:3])
        tail = f"  [{why}]" if why else ""
        out.print(f"  {d.level:<7} trust {d.trust:5.1f}  {escape(d.reason)}{escape(tail)}")


# ---------------------------------------------------------------------------------------- service
def _result_json(res: Any) -> dict[str, Any]:
    return {
        "kind": res.kind,
        "path": str(res.path),
        "ok": res.ok,
        "installed": res.installed,
        "running": res.running,
        "enabled": res.enabled,
        "detail": res.detail,
        "remains": res.remains,
        "commands": res.commands,
        "stopped": res.stopped,
        "outdated": res.outdated,
    }


def _show(res: Any, json_out: bool) -> None:
    if json_out:
        print_json(_result_json(res))
    else:
        (out if res.ok else err).print(f"{res.kind}: {escape(res.detail)}")
    if not res.ok:
        raise typer.Exit(1)


@service_app.command("install")
def service_install(
    kind: str | None = typer.Option(
        None, "--kind", help="systemd | launchd | task (default: this platform's)."
    ),
    exe: str | None = typer.Option(None, "--exe", help="Path of the activesec executable."),
    all_users: bool = typer.Option(
        False, "--all-users",
        help="For every account on this machine (run as root / an administrator).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Install and start `activesec run` at log-in (yours, or with --all-users everyone's)."""
    import dataclasses
    import os

    from activesec.service import installers

    res = installers.install(kind, exe, all_users=all_users)
    if not all_users and res.kind != "task" and hasattr(os, "geteuid") and os.geteuid() == 0:
        # `sudo activesec service install` from the admin's notes: root's own log-in only (and
        # under sudo `systemctl --user` has no bus, so it also "failed" without saying why)
        res = dataclasses.replace(res, detail=f"{res.detail}; as root this is root's own "
                                  "log-in only — for every account's: `sudo activesec service "
                                  "install --all-users`")
    _show(res, json_out)


@service_app.command("uninstall")
def service_uninstall(
    kind: str | None = typer.Option(None, "--kind", help="systemd | launchd | task."),
    all_users: bool = typer.Option(
        False, "--all-users",
        help="For every account on this machine (run as root / an administrator).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Stop and remove the log-in service (not installed is fine); resume the apps an agent
    stopped hard (Windows' /End, systemd's SIGKILL) left suspended."""
    import dataclasses

    from activesec.service import installers

    res = installers.uninstall(kind, all_users=all_users)
    # an agent the service manager stopped hard (Windows' `/End`; systemd's SIGKILL after a
    # stop that timed out) left its gated apps suspended, and no agent starts again to resume
    # them; every account's apps are each account's own (`run` resumes them at its next start)
    resumed = None if all_users else _thaw(state_paths(), wait_s=UNINSTALL_WAIT_S)
    if resumed:
        res = dataclasses.replace(res, detail=f"{res.detail}; {resumed}, which the stopped "
                                  "agent had left suspended")
    _show(res, json_out)


@service_app.command("restart")
def service_restart(
    kind: str | None = typer.Option(None, "--kind", help="systemd | launchd | task."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Start your agent again now, e.g. after fixing the configuration error it stopped on (the
    log-in service does not restart it after one). The configuration is checked first."""
    from activesec.service import installers
    from activesec.service.agent import check_settings

    check_settings(settings(state_paths()))  # still invalid: said here, not in the journal
    _show(installers.restart(kind), json_out)


@service_app.command("status")
def service_status(
    kind: str | None = typer.Option(None, "--kind", help="systemd | launchd | task."),
    all_users: bool = typer.Option(
        False, "--all-users",
        help="For every account on this machine (run as root / an administrator).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Is the log-in service installed and running? When the agent is not running, why it
    last stopped on an error (and how to start it again)."""
    from activesec.service import installers

    res = installers.status(kind, all_users=all_users)
    if json_out:
        print_json(_result_json(res))
    else:
        out.print(f"{res.kind}: {escape(res.detail)}")
