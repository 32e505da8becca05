"""``activesec bench``: the agent's footprint and reaction time on this machine
(:mod:`activesec.service.bench`)."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from activesec.cli._common import (
    err,
    finite,
    interactive,
    out,
    print_json,
    settings,
    state_paths,
)
from activesec.core import profile


def register(app: typer.Typer) -> None:
    app.command()(bench)


def bench(
    seconds: float = typer.Option(
        30.0, "--seconds", help="How long each of the two runs lasts (5 to 86400).",
        callback=finite("--seconds", "give 5 to 86400 seconds; the default 30 s per run is "
                        "enough for stable figures"),
    ),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Measure what the agent costs here: memory, CPU and the time from an action to its trust
    update, on synthetic desktop work (clicks at 125 Hz, typing), enrolling and scoring (your
    models if trained), in a throwaway home: your recordings are neither read nor changed,
    nothing is locked."""
    from activesec.service.bench import measure

    p = state_paths()
    s = settings(p)
    source = p if p.profile_file.exists() and profile.load(p) is not None else None
    say = (lambda msg: err.print(f"[dim]{escape(msg)}[/dim]")) if interactive() and not json_out \
        else None
    res = measure(source, s, seconds, progress=say)
    if json_out:
        print_json(res)
        return
    _show(res)


def _fmt(v: Any, unit: str = "") -> str:
    return "-" if v is None else f"{v:g}{unit}" if isinstance(v, int) else f"{v:.1f}{unit}"


def _show(res: dict[str, Any]) -> None:
    m, en, sc = res["models"], res["enrolling"], res["scoring"]
    whose = ("your profile's models" if m["origin"] == "profile"
             else "a synthetic owner's models (your profile has no usable one)")
    out.print(f"[bold]ActiveSec bench[/bold] — {res['seconds']:g} s per run of {res['stream']}")
    out.print(f"  scoring with {whose}: {escape(', '.join(m['modalities']))}")
    if m["refused"]:
        out.print(f"  [yellow]your models were refused[/yellow]: {escape(m['refused'])}")
    lat = sc.get("latency_ms") or {}
    t = Table(show_edge=False)
    for col in ("", "enrolling", "scoring", "ratio", "target"):
        t.add_column(col, justify="left" if not col else "right")
    tg = res["targets"]

    def mark(key: str) -> str:
        met = tg[key]["met"]
        lim = f"<= {tg[key]['target']:g}"
        return lim if met is None else f"{lim} [green]met[/green]" if met \
            else f"{lim} [red]missed[/red]"

    t.add_row("memory, peak (MB)", _fmt(en["rss_mb"]), _fmt(sc["rss_mb"]),
              _fmt(res["ratios"]["rss"], "x"), mark("rss_mb"))
    t.add_row("CPU, steady (%)", f"{en['cpu_percent_steady']:.2f}",
              f"{sc['cpu_percent_steady']:.2f}", _fmt(res["ratios"]["cpu"], "x"),
              mark("cpu_percent"))
    t.add_row("CPU, whole run (%)", f"{en['cpu_percent']:.2f}", f"{sc['cpu_percent']:.2f}",
              "", "")
    t.add_row("reaction p50 (ms)", "", _fmt(lat.get("p50")), "", "")
    t.add_row("reaction p99 (ms)", "", _fmt(lat.get("p99")), "", mark("latency_p99_ms"))
    t.add_row("scores", "", str(sc["scores"]), "", "")
    t.add_row("events (dropped)", f"{en['events']} ({en['dropped']})",
              f"{sc['events']} ({sc['dropped']})", "", "")
    out.print(t)
    out.print("  CPU is the share of one core; reaction: from the input that completed an action "
              "to its trust update")
    by = ", ".join(f"{escape(k)} {v}" for k, v in sorted(sc["scores_by_modality"].items()))
    out.print(f"  scores by model: {by or '-'}")
    threads = ", ".join(f"{escape(k)} {v:.2f} %" for k, v in sorted(sc["threads"].items()))
    out.print(f"  threads while scoring: {threads or '-'}")
    if sc["sklearn_imported"] and m.get("without_twin"):
        # a plug-in detector's model was told to retrain, which changes nothing
        out.print("  scikit-learn was imported by the agent: "
                  f"{escape(', '.join(m['without_twin']))} "
                  "(a plug-in detector, or a built-in with non-default parameters) has no "
                  "NumPy-only twin and scores with the full model")
    elif sc["sklearn_imported"]:
        out.print("  [red]scikit-learn was imported by the agent[/red] — it should score with "
                  "the NumPy-only model twins; retrain with `activesec train`")
    if not sc["scores"]:
        out.print("  [yellow]nothing was scored[/yellow]: the models cover "
                  f"{escape(', '.join(m['modalities']))}, the stream is a mouse's and a "
                  "keyboard's")
    mc = res["machine"]
    out.print(f"  machine: {mc['system']} {mc['machine']}, {mc['cpus']} CPUs, "
              f"{mc['memory_gb']:g} GB, load {_fmt(mc['load_1min'])}; Python {mc['python']}")
