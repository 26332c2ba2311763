"""Plots for the HTML report, drawn here as SVG text: no plotting library, nothing fetched.

Each function takes plain data and returns one ``<svg>`` element with its own title, axes and
legend, to be embedded inline (the page opens anywhere, offline). Times are UTC nanoseconds shown
in Seoul time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from gatherer.clock import to_seoul

W, H = 900, 260
LEFT, RIGHT, TOP, BOTTOM = 100, 150, 30, 40
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")
MAX_CELLS = 240
"""Cells per heatmap row, at most."""
STATUS_COLOURS = {"filled": "#2ca02c", "partly": "#ff7f0e", "not_fillable": "#d62728", "pending": "#7f7f7f"}


def _text(x: float, y: float, text: str, size: int = 11, anchor: str = "start") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}">{escape(text)}</text>'


def _line(x1: float, y1: float, x2: float, y2: float, colour: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{colour}"/>'


def _hm(ns: int, span_ns: int) -> str:
    t = to_seoul(ns)
    if span_ns < 20 * 10**9:
        return t.strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d}"
    return t.strftime("%H:%M:%S" if span_ns < 600 * 10**9 else "%H:%M")


def _open(title: str, height: int = H, css_class: str = "plot") -> list[str]:
    return [
        f'<svg class="{css_class}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {height}"'
        f' width="{W}" height="{height}" font-family="sans-serif" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{W}" height="{height}" fill="white"/>',
        f'<text x="{LEFT}" y="18" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]


def _time_axis(lo: int, hi: int, height: int) -> list[str]:
    out = [_line(LEFT, height - BOTTOM, W - RIGHT, height - BOTTOM, "#333")]
    for i in range(6):
        t = lo + (hi - lo) * i // 5
        x = _x(t, lo, hi)
        out.append(_line(x, height - BOTTOM, x, height - BOTTOM + 4, "#333"))
        out.append(_text(x, height - BOTTOM + 16, _hm(t, hi - lo), anchor="middle"))
    return out


def _x(t: int, lo: int, hi: int) -> float:
    return LEFT + (W - LEFT - RIGHT) * (t - lo) / max(1, hi - lo)


def _legend(names: Sequence[str], colours: Sequence[str]) -> list[str]:
    out = []
    for i, (name, colour) in enumerate(zip(names, colours, strict=True)):
        y = TOP + 14 * i
        out.append(f'<rect x="{W - RIGHT + 10}" y="{y}" width="10" height="10" fill="{colour}"/>')
        out.append(f'<text x="{W - RIGHT + 24}" y="{y + 9}" font-size="11">{escape(name)}</text>')
    return out


def empty(title: str, why: str) -> str:
    out = _open(title, 80)
    out.append(f'<text x="{LEFT}" y="50" font-size="12" fill="#555">{escape(why)}</text></svg>')
    return "\n".join(out)


def rate_lines(title: str, series: Mapping[str, Mapping[int, int]], bucket_ns: int, lo: int, hi: int) -> str:
    """One line per name: counts per time bucket (start ns -> count), drawn as a rate per minute."""
    if not series or hi <= lo:
        return empty(title, "no data recorded")
    per_min = 60 * 10**9 / bucket_ns
    top = max((n * per_min for s in series.values() for n in s.values()), default=1.0) or 1.0
    out = _open(title)
    out += _time_axis(lo, hi, H)
    plot_h = H - TOP - BOTTOM
    for i in range(5):
        v = top * i / 4
        y = H - BOTTOM - plot_h * i / 4
        out.append(_line(LEFT, y, W - RIGHT, y, "#ddd"))
        out.append(_text(LEFT - 6, y + 4, f"{v:,.0f}", anchor="end"))
    names = sorted(series)
    colours = [PALETTE[i % len(PALETTE)] for i in range(len(names))]
    for name, colour in zip(names, colours, strict=True):
        counts = series[name]
        points = []
        t = lo - lo % bucket_ns
        while t < hi:
            y = H - BOTTOM - plot_h * counts.get(t, 0) * per_min / top
            points.append(f"{_x(max(t, lo), lo, hi):.1f},{y:.1f}")
            t += bucket_ns
        out.append(
            f'<polyline class="series" data-name="{escape(name)}" fill="none" stroke="{colour}"'
            f' stroke-width="1.5" points="{" ".join(points)}"/>'
        )
        if len(points) <= 3:  # too short to see as a line
            for pt in points:
                cx, cy = pt.split(",")
                out.append(f'<circle cx="{cx}" cy="{cy}" r="3" fill="{colour}"/>')
    out += _legend(names, colours)
    out.append("</svg>")
    return "\n".join(out)


def timeline(
    title: str,
    lanes: Sequence[str],
    bars: Sequence[tuple[int, int, int, str, str]],
    lo: int,
    hi: int,
) -> str:
    """Lanes (one per connection or feed) with bars (lane index, start, end, colour, label)."""
    if not lanes:
        return empty(title, "no reconnects and no gaps: every connection stayed up, every volume chain held")
    lane_h = 16
    height = TOP + BOTTOM + lane_h * len(lanes) + 10
    out = _open(title, height)
    out += _time_axis(lo, hi, height)
    for i, lane in enumerate(lanes):
        y = TOP + 6 + i * lane_h
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 11}" font-size="10" text-anchor="end">{escape(lane)}</text>'
        )
        out.append(f'<line x1="{LEFT}" y1="{y + 7}" x2="{W - RIGHT}" y2="{y + 7}" stroke="#eee"/>')
    for lane_i, start, end, colour, label in bars:
        y = TOP + 6 + lane_i * lane_h
        x0 = _x(max(start, lo), lo, hi)
        x1 = max(x0 + 2.0, _x(min(end, hi), lo, hi))
        out.append(
            f'<rect class="bar" x="{x0:.1f}" y="{y + 2}" width="{x1 - x0:.1f}" height="{lane_h - 5}"'
            f' fill="{colour}"><title>{escape(label)}</title></rect>'
        )
    names = ["outage", *STATUS_COLOURS]
    out += _legend(names, ["#444", *STATUS_COLOURS.values()])
    out.append("</svg>")
    return "\n".join(out)


def heatmap(title: str, rows: Mapping[str, Mapping[int, int]], bucket_ns: int, lo: int, hi: int) -> str:
    """Rows (market/channel) by time buckets; a cell's shade is its frames against the row's busiest."""
    if not rows or hi <= lo:
        return empty(title, "no data recorded")
    row_h = 18
    height = TOP + BOTTOM + row_h * len(rows) + 10
    out = _open(title, height)
    out += _time_axis(lo, hi, height)
    # At most MAX_CELLS cells a row, whatever the span: a day of minutes stays a small page.
    step = bucket_ns * max(1, -(-(hi - lo) // bucket_ns) // MAX_CELLS + 1)
    first = lo - lo % step
    n_buckets = max(1, -(-(hi - first) // step))
    cell_w = (W - LEFT - RIGHT) / n_buckets
    for i, name in enumerate(sorted(rows)):
        counts: dict[int, int] = {}
        for t, n in rows[name].items():
            cell = t - t % step
            counts[cell] = counts.get(cell, 0) + n
        top = max(counts.values(), default=0) or 1
        y = TOP + 6 + i * row_h
        out.append(
            f'<text x="{LEFT - 6}" y="{y + 12}" font-size="10" text-anchor="end">{escape(name)}</text>'
        )
        for b in range(n_buckets):
            n = counts.get(first + b * step, 0)
            shade = "#f3d3d3" if n == 0 else f"rgba(31,119,180,{0.25 + 0.75 * n / top:.2f})"
            out.append(
                f'<rect class="cell" x="{LEFT + b * cell_w:.1f}" y="{y}" width="{cell_w + 0.3:.1f}"'
                f' height="{row_h - 3}" fill="{shade}"><title>{escape(name)}: {n:,}</title></rect>'
            )
    out += _legend(["no data", "frames (row max = dark)"], ["#f3d3d3", "rgba(31,119,180,1)"])
    out.append("</svg>")
    return "\n".join(out)


def bars(title: str, items: Sequence[tuple[str, int, str]], unit: str) -> str:
    """Horizontal bars: (label, value, colour)."""
    if not items:
        return empty(title, "no volume gaps: nothing needed backfilling")
    bar_h = 20
    height = TOP + 20 + bar_h * len(items)
    top = max(v for _l, v, _c in items) or 1
    out = _open(title, height)
    for i, (label, value, colour) in enumerate(items):
        y = TOP + 6 + i * bar_h
        width = (W - LEFT - RIGHT - 80) * value / top
        out.append(_text(LEFT + 90, y + 13, label, anchor="end"))
        out.append(
            f'<rect class="bar" x="{LEFT + 96}" y="{y}" width="{width:.1f}"'
            f' height="{bar_h - 5}" fill="{colour}"/>'
        )
        out.append(_text(LEFT + 100 + width, y + 13, f"{value:,} {unit}"))
    out.append("</svg>")
    return "\n".join(out)
