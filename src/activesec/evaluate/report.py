"""Self-contained HTML report of one or more :class:`EvalResult` (one file, works offline).

Sections: header (dataset, protocol, detectors, version, runtime), summary table, ROC and DET
curves (DET on probit axes), genuine/impostor score distributions, EER against the amount of
data (actions, keystrokes or days since enrolment), per-user table, skips, and — for the user's
own store — feature distributions per label. Charts are inline SVG (:mod:`.svg`); there is no
script, stylesheet link or font to fetch.

The report's folder is made when the report is written; ``evaluate --report DIR`` checks it
beforehand (:func:`report_dir`) without keeping the folders it had to make, so a failed
evaluation leaves none behind — and never removes one that existed before.
"""

from __future__ import annotations

import datetime as _dt
import errno
import math
import os
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from activesec.core.errors import DataError
from activesec.core.paths import make_private_dirs, write_private_text
from activesec.evaluate import metrics
from activesec.evaluate.result import EvalResult, best_first
from activesec.evaluate.svg import PALETTE, Series, chart, step_xy

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;
max-width:1180px;color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;
padding-bottom:4px}h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;font-size:13px}td,th{padding:3px 9px;border-bottom:1px solid #eee;
text-align:right}th{background:#f6f6f6}td:first-child,th:first-child{text-align:left}
table.meta td{text-align:left}.muted{color:#777}.charts{display:flex;flex-wrap:wrap;gap:14px}
.chart .grid{stroke:#eee}.chart .diag{stroke:#bbb;stroke-dasharray:4 4}.chart text{fill:#333}
.chart .ct{font-size:13px;font-weight:600}.chart .tk{font-size:10px}.chart .al{font-size:11px}
.chart .lg{font-size:11px}.scroll{max-height:520px;overflow:auto;display:inline-block}
.skip{color:#a33}table.text td,table.text th{text-align:left}
"""

_DET_TICKS = (0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8)


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.2f}%"


def _num(x: float | None, digits: int = 4) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def _color(n: int) -> str:
    return PALETTE[n % len(PALETTE)]


def _shared_prepare_s(results: Sequence[EvalResult]) -> float | None:
    """Seconds of reading and features shared by several detectors' results (one preparation,
    ``--detector all``), else None: each result's ``runtime_s`` counts them once more."""
    prep = [x for r in results if isinstance(x := r.params.get("prepare_s"), (int, float))]
    if len(results) < 2 or len(prep) < len(results):
        return None
    return float(prep[0])


def _runtime_s(r: EvalResult, shared: float | None) -> float:
    """A detector's own seconds when the reading was shared (as the terminal's "s" column),
    else its whole run's: hist_gb's 15 s read as 19 s and nearest_neighbor's 0 s as 4 s."""
    own = r.params.get("detector_s")
    return float(own) if shared is not None and isinstance(own, (int, float)) else r.runtime_s


def _runtime_line(results: Sequence[EvalResult]) -> str:
    shared = _shared_prepare_s(results)
    each = ", ".join(f"{r.detector}: {_runtime_s(r, shared):.1f} s" for r in results)
    return each if shared is None else f"reading and features {shared:.1f} s once; {each}"


def _header(results: Sequence[EvalResult]) -> str:
    r0 = results[0]
    rows = [
        ("Dataset", r0.dataset),
        ("Protocol", r0.protocol),
        ("Detector" + ("s" if len(results) > 1 else ""), ", ".join(r.detector for r in results)),
        ("Modality", r0.modality),
        ("Users evaluated", str(r0.n_users)),
        ("ActiveSec version", r0.version),
        ("Runtime", _runtime_line(results)),
        ("Generated", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")),
    ]
    body = "".join(f"<tr><td><b>{escape(k)}</b></td><td>{escape(v)}</td></tr>" for k, v in rows)
    return f'<header><h1>ActiveSec evaluation — {escape(r0.dataset)}</h1>' \
           f'<table class="meta">{body}</table></header>'


def _summary(results: Sequence[EvalResult]) -> str:
    shared = _shared_prepare_s(results)
    head = ("<tr><th>Detector</th><th>AUC (pooled)</th><th>EER (pooled)</th>"
            "<th>mean user EER</th><th>SD user EER</th><th>mean user AUC</th><th>users</th>"
            "<th>genuine / impostor units</th><th>runtime</th></tr>")
    rows = "".join(
        f"<tr><td>{escape(r.detector)}</td><td>{_num(r.auc)}</td><td>{_pct(r.eer)}</td>"
        f"<td>{_pct(r.mean_user_eer)}</td><td>{_pct(r.sd_user_eer)}</td>"
        f"<td>{_num(r.mean_user_auc)}</td><td>{r.n_users}</td>"
        f"<td>{r.genuine_scores.size} / {r.impostor_scores.size}</td>"
        f"<td>{_runtime_s(r, shared):.1f} s</td></tr>"
        for r in results
    )
    runtime = ("" if shared is None else f" Runtime: each detector's fit and scoring; reading "
               f"and features took {shared:.1f} s once.")
    note = ('<p class="muted">Pooled: one threshold over all users\' test units. Per user: each '
            "user's own EER, averaged (users skipped for lack of data are listed below, not "
            f"averaged in). EER is interpolated where FRR and FAR cross.{escape(runtime)}</p>")
    return f'<section id="summary"><h2>Summary</h2><table>{head}{rows}</table>{note}</section>'


def _roc_det(results: Sequence[EvalResult]) -> str:
    roc_series, det_series = [], []
    for n, r in enumerate(results):
        ro = metrics.roc(r.genuine_scores, r.impostor_scores)
        x, y = metrics.thin(ro.fpr, ro.tpr)
        label = f"{r.detector} (AUC {r.auc:.3f})"
        roc_series.append(Series(label, x, y, _color(n)))
        d = metrics.det(r.genuine_scores, r.impostor_scores)
        inside = (d.far >= _DET_TICKS[0]) & (d.far <= _DET_TICKS[-1]) & \
                 (d.frr >= _DET_TICKS[0]) & (d.frr <= _DET_TICKS[-1])
        dx, dy = metrics.thin(d.far_probit[inside], d.frr_probit[inside])
        det_series.append(Series(f"{r.detector} (EER {_pct(r.eer)})", dx, dy, _color(n)))
    roc_svg = chart(roc_series, title="ROC", x_label="false alarm rate (genuine rejected, FRR)",
                    y_label="detection rate (impostors rejected, 1 - FAR)",
                    x_range=(0, 1), y_range=(0, 1), diagonal=True, legend="br")
    ticks = [(float(metrics.probit(np.array(t))), f"{100 * t:g}%") for t in _DET_TICKS]
    lo = float(metrics.probit(np.array(_DET_TICKS[0])))
    hi = float(metrics.probit(np.array(_DET_TICKS[-1])))
    det_svg = chart(det_series, title="DET (probit axes)", x_label="FAR (impostors accepted)",
                    y_label="FRR (genuine rejected)", x_range=(lo, hi), y_range=(lo, hi),
                    x_ticks=ticks, y_ticks=ticks, diagonal=True, legend="tr")
    return (f'<section id="roc"><h2>ROC and DET curves</h2><div class="charts">{roc_svg}'
            f"{det_svg}</div></section>")


def _distributions(results: Sequence[EvalResult]) -> str:
    charts = []
    for r in results:
        allv = np.concatenate([r.genuine_scores, r.impostor_scores])
        # the range that shows where the classes overlap: long impostor tails (distance-type
        # scores) are folded into the last bin rather than squeezing the interesting part
        lo = float(min(np.quantile(r.genuine_scores, 0.005),
                       np.quantile(r.impostor_scores, 0.005)))
        hi = float(max(np.quantile(r.genuine_scores, 0.995),
                       np.quantile(r.impostor_scores, 0.90)))
        if hi <= lo:
            lo, hi = float(allv.min()) - 0.5, float(allv.max()) + 0.5
        edges = np.linspace(lo, hi, 41)
        series = []
        for name, v, col in (("genuine", r.genuine_scores, _color(2)),
                             ("impostor", r.impostor_scores, _color(1))):
            h, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
            dens = h / max(1, v.size)
            x, y = step_xy(edges, dens)
            series.append(Series(f"{name} ({v.size})", x, y, col, fill=True))
        charts.append(chart(series, title=f"Score distribution — {r.detector}",
                            x_label="unit score (higher = more likely impostor; "
                                    "outliers in the end bins)",
                            y_label="share of units", x_range=(float(lo), float(hi)),
                            legend="tr"))
        # EER threshold marker is implied by the crossing; keep charts uncluttered.
    return (f'<section id="distributions"><h2>Genuine and impostor score distributions</h2>'
            f'<div class="charts">{"".join(charts)}</div></section>')


def _amount_curves(results: Sequence[EvalResult]) -> str:
    named = [r for r in results if r.curve_name and r.curve]
    if not named:
        return ""
    name = named[0].curve_name or ""
    if name == "by_days":
        labels = [f"{row['days_from']:g}–{row['days_to']:g}" if row["days_to"] is not None
                  else f"≥{row['days_from']:g}" for row in named[0].curve]
        x_label = "days since enrolment"
    else:
        key = "k" if name == "by_actions" else "n"
        labels = [str(row[key]) for row in named[0].curve]
        x_label = "actions scored per session" if key == "k" else "keystrokes scored per unit"
    pos = {lab: n for n, lab in enumerate(labels)}
    pooled, per_user = [], []
    for n, r in enumerate(named):
        xs, e, m = [], [], []
        for row in r.curve:
            if name == "by_days":
                lab = (f"{row['days_from']:g}–{row['days_to']:g}" if row["days_to"] is not None
                       else f"≥{row['days_from']:g}")
            else:
                lab = str(row["k" if name == "by_actions" else "n"])
            if lab not in pos:
                continue
            xs.append(pos[lab])
            e.append(100 * (row["eer"] if row["eer"] is not None else math.nan))
            m.append(100 * (row["mean_user_eer"] if row["mean_user_eer"] is not None
                            else math.nan))
        pooled.append(Series(r.detector, xs, e, _color(n), markers=True))
        per_user.append(Series(r.detector, xs, m, _color(n), markers=True, dash=True))
    ticks = [(float(i), lab) for i, lab in enumerate(labels)]
    xr = (-0.3, max(len(labels) - 0.7, 0.7))
    a = chart(pooled, title="Pooled EER against amount of data", x_label=x_label,
              y_label="EER (%)", x_range=xr, x_ticks=ticks, legend="bl")
    b = chart(per_user, title="Mean per-user EER against amount of data", x_label=x_label,
              y_label="EER (%)", x_range=xr, x_ticks=ticks, legend="bl")
    rows = "".join(
        f"<tr><td>{escape(r.detector)}</td>"
        + "".join(f"<td>{_pct(row['eer'])} / {_pct(row['mean_user_eer'])}</td>" for row in r.curve)
        + "</tr>"
        for r in named
    )
    head = "<tr><th>pooled / mean-user EER</th>" + "".join(
        f"<th>{escape(lab)}</th>" for lab in labels) + "</tr>"
    return (f'<section id="by-amount"><h2>EER against amount of data ({escape(name)})</h2>'
            f'<div class="charts">{a}{b}</div><table>{head}{rows}</table></section>')


def _per_user(results: Sequence[EvalResult]) -> str:
    users: dict[str, dict[str, Any]] = {}
    for r in results:
        for row in r.per_user:
            users.setdefault(row["user"], {})[r.detector] = row
    head = "<tr><th>user</th><th>enrol rows</th><th>genuine</th><th>impostor</th>" + "".join(
        f"<th>EER {escape(r.detector)}</th><th>AUC {escape(r.detector)}</th>" for r in results
    ) + "<th>note</th></tr>"
    body = []
    for user, by_det in users.items():
        first = next(iter(by_det.values()))
        cells = "".join(
            f"<td>{_pct(by_det.get(r.detector, {}).get('eer'))}</td>"
            f"<td>{_num(by_det.get(r.detector, {}).get('auc'), 3)}</td>"
            for r in results
        )
        reasons = {row.get("skipped_reason") for row in by_det.values()} - {None}
        note = (f'<span class="skip" style="float:left">{escape("; ".join(sorted(reasons)))}'
                "</span>" if reasons else "")
        body.append(f"<tr><td>{escape(user)}</td><td>{first.get('n_enrol', '')}</td>"
                    f"<td>{first['n_genuine']}</td><td>{first['n_impostor']}</td>{cells}"
                    f"<td>{note}</td></tr>")
    return (f'<section id="per-user"><h2>Per-user results</h2><div class="scroll"><table>'
            f'{head}{"".join(body)}</table></div></section>')


def _skipped(results: Sequence[EvalResult], left_out: Mapping[str, str]) -> str:
    seen: dict[tuple[str, str], str] = {("detector", d): why for d, why in left_out.items()}
    for r in results:
        for s in r.skipped:
            seen.setdefault((s.what, s.id), s.reason)
    if not seen:
        return '<section id="skipped"><h2>Skipped</h2><p class="muted">Nothing skipped.</p>' \
               "</section>"
    rows = "".join(f"<tr><td>{escape(w)}</td><td>{escape(i)}</td><td>{escape(reason)}</td></tr>"
                   for (w, i), reason in sorted(seen.items()))
    return (f'<section id="skipped"><h2>Skipped ({len(seen)})</h2><div class="scroll">'
            '<table class="text">'
            f"<tr><th>what</th><th>id</th><th>reason</th></tr>{rows}</table></div></section>")


def _features(results: Sequence[EvalResult]) -> str:
    fd = next((r.feature_distributions for r in results if r.feature_distributions), None)
    if not fd:
        return ""
    charts = []
    for feat in fd["features"]:
        series = []
        for n, (label, hist) in enumerate(feat["by_label"].items()):
            edges = np.asarray(feat["edges"])
            x, y = step_xy(edges, np.asarray(hist["share"]))
            series.append(Series(f"{label} ({hist['n']})", x, y, _color(n), fill=True))
        charts.append(chart(series, title=feat["name"], x_label=feat["name"],
                            y_label="share of rows", width=360, height=260))
    return (f'<section id="features"><h2>Feature distributions per label '
            f'({escape(fd.get("kind", ""))})</h2><div class="charts">{"".join(charts)}</div>'
            "</section>")


def render(results: EvalResult | Sequence[EvalResult],
           left_out: Mapping[str, str] | None = None) -> str:
    """The report as one HTML string; ``left_out``: the detectors ``--detector all`` could not
    load or evaluate, and why (listed under *Skipped*, as stderr and the JSON name them)."""
    # best first, as `evaluate --detector all` prints them: every table and legend in that order
    rs = [results] if isinstance(results, EvalResult) else best_first(results)
    if not rs:
        raise DataError("no evaluation result to report", "run an evaluation first")
    parts = [_header(rs), _summary(rs), _roc_det(rs), _distributions(rs), _amount_curves(rs),
             _per_user(rs), _skipped(rs, left_out or {}), _features(rs)]
    title = f"ActiveSec evaluation — {rs[0].dataset}"
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
            + "\n".join(p for p in parts if p) + "</body></html>\n")


def report_dir(out_dir: str | Path) -> Path:
    """``out_dir``, created if needed and checked writable — the CLI calls it before a long
    evaluation, so a bad ``--report`` fails at once rather than after it. The folders it had to
    create are removed again (:func:`_unmake`): a failed evaluation leaves no empty report
    folder behind, and :func:`write_report` makes them once there is a report to write."""
    out = Path(out_dir).expanduser()
    made = _missing(out)
    try:
        return _writable_dir(out)
    finally:
        _unmake(made)


def _writable_dir(out: Path) -> Path:
    if out.exists() and not out.is_dir():
        raise DataError(f"report path {out} exists and is not a directory",
                        "pass a directory to --report")
    try:
        make_private_dirs(out)  # what it makes is private, what exists keeps its mode
    except OSError as exc:
        raise DataError(f"cannot create the report directory {out}: {exc.strerror}",
                        _remedy(exc)) from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise DataError(f"cannot write into the report directory {out}",
                        "pass a directory you can write to --report")
    return out


def _remedy(exc: OSError) -> str:
    """What to do: on a full disk, free space (another folder there would fail alike)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return "free disk space (or pass --report a folder on another disk), then run it again"
    return "pass a directory you can write to --report"


def _missing(out: Path) -> list[Path]:
    """The folders creating ``out`` makes, deepest first (none existed before)."""
    return [p for p in (out, *out.parents) if not p.exists() and not p.is_symlink()]


def _unmake(made: list[Path]) -> None:
    """Remove the folders this process made, deepest first, while they are still empty — never
    one that held something (or existed) before."""
    for p in made:
        try:
            p.rmdir()
        except OSError:
            return


def kept_stamp(mtime_s: float) -> str:
    """``<its time>`` in a kept report's name: its modification time in UTC, as the report's
    "Generated" line (``20261207-044800Z``), so the two agree on any machine's time zone."""
    return _dt.datetime.fromtimestamp(mtime_s, _dt.timezone.utc).strftime("%Y%m%d-%H%M%SZ")


def keep_earlier(out_dir: str | Path) -> Path | None:
    """Rename an earlier ``report.html`` in ``out_dir`` to ``report-<its time>.html`` (its
    time in UTC, :func:`kept_stamp`; never over another file) before a new one is written; its
    new path, None if there was none. A researcher comparing detectors in one folder keeps
    every run's report."""
    path = Path(out_dir).expanduser() / "report.html"
    if not path.is_file():
        return None
    try:
        stamp = kept_stamp(path.stat().st_mtime)
        for n in range(1000):
            kept = path.with_name(f"report-{stamp}" + (f"-{n}" if n else "") + ".html")
            if not kept.exists():
                os.rename(path, kept)
                return kept
    except OSError as exc:
        raise DataError(f"cannot keep the earlier report {path}: {exc.strerror}",
                        "move it away, or pass another directory to --report") from None
    raise DataError(f"cannot keep the earlier report {path}: too many kept reports",
                    "clear out the folder, or pass another directory to --report")


def write_report(results: EvalResult | Sequence[EvalResult], out_dir: str | Path,
                 left_out: Mapping[str, str] | None = None) -> Path:
    """Write ``report.html`` into ``out_dir`` (created if needed) and return its path; if it
    cannot be written, the folders made for it are removed again. ``left_out``: as
    :func:`render`."""
    out = Path(out_dir).expanduser()
    made = _missing(out)
    path = out / "report.html"
    try:
        try:
            write_private_text(_writable_dir(out) / path.name, render(results, left_out))
        except OSError as exc:
            raise DataError(f"cannot write {path}: {exc.strerror}", _remedy(exc)) from None
    except BaseException:
        _unmake(made)
        raise
    return path
