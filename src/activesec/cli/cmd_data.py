"""Commands that move recordings in and out: export and import."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

import typer
from rich.markup import escape

from activesec.cli._common import out, plural, print_json, settings, state_paths
from activesec.cli.cmd_capture import _open_store
from activesec.core import profile
from activesec.core.errors import ActiveSecError

_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_MAX_WALL_S = (2**63 - 1) / 1e9


def parse_since(text: str, now_s: float | None = None) -> int:
    """``7d``, ``12h``, ``30m`` (relative to now) or an ISO date/time -> wall-clock ns."""
    now = time.time() if now_s is None else now_s
    t = text.strip().lower()
    m = _REL.match(t)
    if m:
        seconds = now - float(m.group(1)) * _UNIT_S[m.group(2)]
    else:
        try:
            dt = datetime.fromisoformat(text.strip())
            if dt.tzinfo is None:
                dt = dt.astimezone()  # local time, as a user means it
            seconds = dt.astimezone(timezone.utc).timestamp()
        except (ValueError, OverflowError, OSError):
            raise ActiveSecError(
                f"cannot read --since {text!r}",
                "use e.g. 7d, 12h, 2026-11-01 or 2026-11-01T08:00",
            ) from None
    if not 0 <= seconds < _MAX_WALL_S:  # the store keeps wall times as int64 ns since 1970
        raise ActiveSecError(
            f"--since {text!r} is {'before 1970' if seconds < 0 else 'after the year 2262'}",
            "give e.g. 30d or 2026-11-01, or leave --since out to export everything",
        )
    return int(seconds * 1e9)


def register(app: typer.Typer) -> None:
    app.command()(export)
    app.command(name="import")(import_)


def export(
    out_path: str = typer.Option(
        ...,
        "--out",
        "-o",
        help="Directory or URL: s3:// needs the s3 extra, gs:// the gcs extra, other fsspec "
        "URLs (memory://, …) the cloud extra.",
    ),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv | parquet"),
    since: str | None = typer.Option(
        None, "--since", help="Only sessions since: 7d, 12h, or an ISO date."
    ),
    with_injected: bool = typer.Option(
        False, "--with-injected",
        help="Keep injected input (XTEST, SendInput), flagged in an `injected` column.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Write recordings in the generic layouts: OUT/mouse/<label>/<session>.csv and OUT/keys/….

    Keys are written as classes (letter, digit, space, …), never as key identities. This is the
    only command that writes your data outside ActiveSec's private directory.
    """
    from activesec.store.exchange import export as do_export

    formats: dict[str, Literal["csv", "parquet"]] = {"csv": "csv", "parquet": "parquet"}
    if fmt not in formats:
        raise ActiveSecError(
            f"unknown export format {fmt!r}", "use --format csv or --format parquet"
        )
    p = state_paths()
    profile.require(p)
    since_ns = parse_since(since) if since else None
    with _open_store(p, read_only=True) as store:  # a full disk still exports elsewhere
        summary = do_export(store, out_path, fmt=formats[fmt], since_wall_ns=since_ns,
                            with_injected=with_injected)
    if json_out:
        print_json(summary)
    else:
        out.print(f"exported {plural(summary['sessions'], 'session')}, "
                  f"{plural(summary['files'], 'file')} to {escape(out_path)}")
        if summary["injected_left_out"]:
            out.print(f"left out {plural(summary['injected_left_out'], 'injected event')} (XTEST, "
                      "SendInput): as plain rows they would import back as your own input; "
                      "--with-injected keeps them, flagged")
        if summary["injected_only_sessions"]:
            only = summary["injected_only_sessions"]
            out.print(f"not exported: {plural(only, 'session')} that held only injected input")


def import_(
    source: str = typer.Argument(
        ..., help="Directory or URL holding mouse/ and/or keys/ in the generic layouts."
    ),
    label_: str | None = typer.Option(
        None, "--label", help="Label for all imported sessions (default: the <user> folder)."
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Add recordings made elsewhere (generic layouts, e.g. an export) as labelled sessions."""
    from activesec.core.labels import check_label
    from activesec.recordings.base import why_unreadable
    from activesec.store.exchange import import_recordings

    if label_ is not None:
        label_ = check_label(label_)
    p = state_paths()
    profile.require(p)
    if "://" not in source and not Path(source).exists():
        raise ActiveSecError(
            f"{source} does not exist", "give a directory written by `activesec export`"
        )
    st = settings(p)
    keep_days = st.store.keep_days
    with _open_store(p) as store:
        summary = import_recordings(store, source, label=label_, keep_days=keep_days)
    owner = profile.owner(p, st.user)
    others = [name for name in summary["labels"] if name != owner]
    if json_out:
        print_json(summary)
    else:
        notes = []
        if summary.get("already_present"):
            notes.append(f"{summary['already_present']} already present (imported before, or "
                         "exported from this profile), skipped")
        if summary.get("empty_sessions"):
            notes.append(f"{summary['empty_sessions']} without any readable row, skipped")
        if summary.get("skipped_rows"):
            notes.append(f"{plural(summary['skipped_rows'], 'unreadable row')} skipped ("
                         f"{why_unreadable(summary.get('unreadable', {}))})")
        if summary.get("dated_by_file"):
            notes.append(f"{summary['dated_by_file']} dated by their files' Unix times")
        out.print(
            f"imported {plural(summary['sessions'], 'session')} "
            f"({plural(summary['events'], 'event')})"
            + "".join(f"; {n}" for n in notes)
        )
        if others:  # labelled by their folders: someone else's to ActiveSec, never trained on
            out.print(f"labelled {escape(', '.join(others))}, not {escape(owner)} (the owner): "
                      "they neither count toward enrolment nor train your profile — if they "
                      f"are yours, import them again with `--label {escape(owner)}`")
        if summary.get("past_keep_days"):
            out.print(f"{summary['past_keep_days']} of them ended over {keep_days} days ago: "
                      "the agent's retention (\\[store] keep_days) deletes them when it next runs; "
                      "set keep_days = 0 in the config to keep them")
