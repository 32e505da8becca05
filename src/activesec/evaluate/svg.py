"""Tiny dependency-free SVG charts for the offline HTML report (lines, steps, filled areas).

Everything is inline markup — no JavaScript, fonts or network — so a report opens anywhere and
tests can parse it with ``xml.etree``. Coordinates are computed with NumPy and rounded to 0.1 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf", "#7f7f7f", "#bcbd22")


@dataclass
class Series:
    label: str
    x: Sequence[float] | np.ndarray
    y: Sequence[float] | np.ndarray
    color: str = PALETTE[0]
    fill: bool = False  # shade the area under the curve (histograms)
    markers: bool = False  # draw a dot at every point (short curves)
    dash: bool = False


Tick = tuple[float, str]


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[Tick]:
    if not np.isfinite(lo) or not np.isfinite(hi) or hi <= lo:
        return [(lo, f"{lo:g}")]
    raw = (hi - lo) / n
    mag = 10 ** np.floor(np.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=raw)
    start = np.ceil(lo / step) * step
    vals = np.arange(start, hi + step * 1e-9, step)
    return [(float(v), f"{float(v) + 0.0:.4g}") for v in vals]  # + 0.0: no "-0"


def chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
    x_ticks: Sequence[Tick] | None = None,
    y_ticks: Sequence[Tick] | None = None,
    diagonal: bool = False,
    legend: str = "tl",
    width: int = 440,
    height: int = 330,
) -> str:
    """One chart as an ``<svg>`` element string, with axes, ticks, grid and a legend.

    ``legend``: corner for the legend, ``"tl"``, ``"tr"``, ``"bl"`` or ``"br"``."""
    ml, mr, mt, mb = 58, 14, 30, 46
    pw, ph = width - ml - mr, height - mt - mb
    xs = [np.asarray(s.x, dtype=float) for s in series]
    ys = [np.asarray(s.y, dtype=float) for s in series]
    finite_x = np.concatenate([v[np.isfinite(v)] for v in xs]) if xs else np.zeros(1)
    finite_y = np.concatenate([v[np.isfinite(v)] for v in ys]) if ys else np.zeros(1)
    if x_range is None:
        x_range = ((float(finite_x.min()), float(finite_x.max())) if finite_x.size
                   else (0.0, 1.0))
    if y_range is None:
        top = float(finite_y.max()) if finite_y.size else 1.0
        bottom = min(0.0, float(finite_y.min())) if finite_y.size else 0.0
        y_range = (bottom, top + 0.05 * (top - bottom) if top > bottom else bottom + 1.0)
    x0, x1 = x_range
    y0, y1 = y_range
    if x1 <= x0:
        x1 = x0 + 1.0
    if y1 <= y0:
        y1 = y0 + 1.0

    def px(v: np.ndarray) -> np.ndarray:
        return ml + (np.clip(v, x0, x1) - x0) / (x1 - x0) * pw

    def py(v: np.ndarray) -> np.ndarray:
        return mt + ph - (np.clip(v, y0, y1) - y0) / (y1 - y0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<title>{escape(title)}</title>',
        f'<text x="{ml + pw / 2:.1f}" y="18" text-anchor="middle" class="ct">'
        f"{escape(title)}</text>",
        f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>',
    ]
    for v, lab in x_ticks if x_ticks is not None else _nice_ticks(x0, x1):
        if not x0 - 1e-12 <= v <= x1 + 1e-12:
            continue
        x = float(px(np.array(v)))
        out.append(f'<line x1="{x:.1f}" y1="{mt}" x2="{x:.1f}" y2="{mt + ph}" class="grid"/>')
        out.append(f'<text x="{x:.1f}" y="{mt + ph + 15}" text-anchor="middle" class="tk">'
                   f'{escape(lab)}</text>')
    for v, lab in y_ticks if y_ticks is not None else _nice_ticks(y0, y1):
        if not y0 - 1e-12 <= v <= y1 + 1e-12:
            continue
        y = float(py(np.array(v)))
        out.append(f'<line x1="{ml}" y1="{y:.1f}" x2="{ml + pw}" y2="{y:.1f}" class="grid"/>')
        out.append(f'<text x="{ml - 5}" y="{y + 4:.1f}" text-anchor="end" class="tk">'
                   f'{escape(lab)}</text>')
    out.append(f'<text x="{ml + pw / 2:.1f}" y="{height - 8}" text-anchor="middle" class="al">'
               f'{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{mt + ph / 2:.1f}" text-anchor="middle" class="al" '
               f'transform="rotate(-90 14 {mt + ph / 2:.1f})">{escape(y_label)}</text>')
    if diagonal:
        out.append(f'<line x1="{px(np.array(x0)):.1f}" y1="{py(np.array(y0)):.1f}" '
                   f'x2="{px(np.array(x1)):.1f}" y2="{py(np.array(y1)):.1f}" class="diag"/>')
    for s, xv, yv in zip(series, xs, ys, strict=True):
        ok = np.isfinite(xv) & np.isfinite(yv)
        if not ok.any():
            continue
        X, Y = px(xv[ok]), py(yv[ok])
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(X, Y, strict=True))
        dash = ' stroke-dasharray="5 3"' if s.dash else ""
        if s.fill:
            base = float(py(np.array(max(y0, 0.0))))
            area = f"{X[0]:.1f},{base:.1f} {pts} {X[-1]:.1f},{base:.1f}"
            out.append(f'<polygon points="{area}" fill="{s.color}" fill-opacity="0.25" '
                       f'stroke="none"/>')
        out.append(f'<polyline points="{pts}" fill="none" stroke="{s.color}" '
                   f'stroke-width="1.8"{dash}/>')
        if s.markers:
            out.extend(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3" fill="{s.color}"/>'
                       for a, b in zip(X, Y, strict=True))
    labelled = [s for s in series if s.label]
    box_w = 22 + 6.2 * max((len(s.label) for s in labelled), default=0)
    lx = ml + 8 if legend[1] == "l" else ml + pw - 8 - box_w
    ly = mt + 8 if legend[0] == "t" else mt + ph - 8 - 15 * len(labelled)
    if labelled:
        out.append(f'<rect x="{lx - 4:.1f}" y="{ly - 4:.1f}" width="{box_w:.1f}" '
                   f'height="{15 * len(labelled) + 4}" fill="#fff" fill-opacity="0.85"/>')
    for s in labelled:
        out.append(f'<rect x="{lx:.1f}" y="{ly}" width="12" height="4" fill="{s.color}"/>')
        out.append(f'<text x="{lx + 16:.1f}" y="{ly + 6}" class="lg">{escape(s.label)}</text>')
        ly += 15
    out.append("</svg>")
    return "\n".join(out)


def step_xy(edges: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Histogram outline: points tracing each bin's top edge."""
    x = np.repeat(edges, 2)[1:-1]
    y = np.repeat(values, 2)
    return x, y
