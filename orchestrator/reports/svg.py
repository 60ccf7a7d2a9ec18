"""Charts as inline SVG: no script, no external file, scaled by their viewBox to any width.

Colours come from CSS classes (`s1`, `s2`, `limit`...) set by the page's stylesheet, so one
chart reads in light and dark themes. Every chart carries `data-chart` (for tests) and a
`<title>` (for screen readers).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

W, H = 640, 220
PAD_L, PAD_R, PAD_T, PAD_B = 44, 12, 14, 28


def _nice_max(value: float) -> float:
    """A round axis maximum at or above `value`."""
    if value <= 0:
        return 1.0
    step = 10 ** (len(str(int(value))) - 1)
    for factor in (1, 2, 2.5, 5, 10):
        if value <= factor * step:
            return float(factor * step)
    return float(10 * step)


def _frame(kind: str, title: str, body: list[str], top: float) -> str:
    inner_h = H - PAD_T - PAD_B
    grid = []
    for i in range(5):
        y = PAD_T + inner_h * i / 4
        value = top * (4 - i) / 4
        label = f"{value:,.0f}" if top >= 4 else f"{value:,.1f}"
        grid.append(f'<line class="grid" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>')
        grid.append(
            f'<text class="axis" x="{PAD_L - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>'
        )
    return (
        f'<svg class="chart" data-chart="{kind}" viewBox="0 0 {W} {H}" role="img" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>{''.join(grid)}{''.join(body)}</svg>"
    )


def bars(
    kind: str,
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
) -> str:
    """Grouped vertical bars: one group per label, one bar per series (classes s1, s2, ...)."""
    top = _nice_max(max((v for _, values in series for v in values), default=0))
    inner_w, inner_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    group = inner_w / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    body = []
    for i, label in enumerate(labels):
        x0 = PAD_L + i * group + group * 0.1
        for j, (name, values) in enumerate(series):
            h = inner_h * values[i] / top
            body.append(
                f'<rect class="s{j + 1}" x="{x0 + j * bar:.1f}" y="{PAD_T + inner_h - h:.1f}" '
                f'width="{bar:.1f}" height="{h:.1f}"><title>{escape(label)}: '
                f"{escape(name)} {values[i]:,.0f}</title></rect>"
            )
        if len(labels) <= 12 or i % 3 == 0:
            body.append(
                f'<text class="axis" x="{x0 + group * 0.4:.1f}" y="{H - PAD_B + 16}" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return _frame(kind, title, body, top)


def line(
    kind: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    *,
    limits: Sequence[tuple[str, float]] = (),
) -> str:
    """A filled step line of `values` with horizontal reference lines (`limits`)."""
    top = _nice_max(max([*values, *(v for _, v in limits)], default=0) * 1.05)
    inner_w, inner_h = W - PAD_L - PAD_R, H - PAD_T - PAD_B
    n = max(len(values) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD_L + inner_w * i / n, PAD_T + inner_h - inner_h * v / top

    points = [f"{x:.1f},{y:.1f}" for x, y in (xy(i, v) for i, v in enumerate(values))]
    body = []
    if points:
        base = PAD_T + inner_h
        body.append(
            f'<polygon class="area" points="{PAD_L},{base} {" ".join(points)} '
            f'{xy(len(values) - 1, 0)[0]:.1f},{base}"/>'
        )
        body.append(f'<polyline class="s1 line" points="{" ".join(points)}"/>')
    for name, value in limits:
        y = xy(0, value)[1]
        body.append(
            f'<line class="limit" x1="{PAD_L}" x2="{W - PAD_R}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        body.append(
            f'<text class="axis limit-label" x="{W - PAD_R - 4}" y="{y - 4:.1f}" '
            f'text-anchor="end">{escape(name)} {value:,.0f}</text>'
        )
    for i in sorted({0, len(labels) // 2, len(labels) - 1}) if labels else []:
        anchor = "start" if i == 0 else "end" if i == len(labels) - 1 else "middle"
        body.append(
            f'<text class="axis" x="{xy(i, 0)[0]:.1f}" y="{H - PAD_B + 16}" '
            f'text-anchor="{anchor}">{escape(labels[i])}</text>'
        )
    return _frame(kind, title, body, top)


def meter(kind: str, title: str, parts: Sequence[tuple[str, str, float]], total: float) -> str:
    """A horizontal stacked bar: `parts` are (label, css class, amount) out of `total`."""
    width, height = 640, 26
    body, x = [], 0.0
    for label, css, amount in parts:
        w = width * amount / total if total else 0.0
        body.append(
            f'<rect class="{css}" x="{x:.1f}" y="0" width="{w:.1f}" height="{height}">'
            f"<title>{escape(label)} {amount:,.0f}</title></rect>"
        )
        x += w
    return (
        f'<svg class="meter" data-chart="{kind}" viewBox="0 0 {width} {height}" role="img" '
        f'preserveAspectRatio="none" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}'
        f'</title><rect class="track" width="{width}" height="{height}"/>{"".join(body)}</svg>'
    )
