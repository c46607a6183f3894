"""Charts drawn on the server as inline SVG: no script, no inline style, nothing fetched.

Only numbers, dates and series names (group, stance or language codes, escaped anyway) appear.
"""

from __future__ import annotations

from datetime import date

from markupsafe import Markup, escape

COLOURS = {
    "russian-state": "#c0392b",
    "western": "#2471a3",
    "ukrainian": "#b7950b",
    "independent-russian": "#7d3c98",
    "fact-checker": "#229954",
    "other": "#7f8c8d",
    "promotes": "#c0392b",
    "refutes": "#229954",
    "reports": "#2471a3",
}
_FALLBACK = ("#1abc9c", "#e67e22", "#34495e", "#8e44ad", "#16a085", "#d35400")


def _colour(name: str, n: int) -> str:
    return COLOURS.get(name, _FALLBACK[n % len(_FALLBACK)])


def line_chart(days: list[date], series: dict[str, list[int]], *, title: str = "", width: int = 640,
               height: int = 200) -> Markup:
    left, right, top, bottom = 34, 8, 22, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max([1, *(v for values in series.values() for v in values)])
    step = plot_w / max(1, len(days) - 1)
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top + 4}" text-anchor="end" font-size="10">{peak}</text>',
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    for n in range(0, len(days), 7):
        x = left + n * step
        parts.append(f'<text x="{x:.1f}" y="{height - 18}" text-anchor="middle" font-size="10">'
                     f'{days[n].strftime("%d %b")}</text>')
    legend_x = left
    for n, (name, values) in enumerate(series.items()):
        points = " ".join(
            f"{left + i * step:.1f},{top + plot_h - plot_h * v / peak:.1f}" for i, v in enumerate(values)
        )
        colour = _colour(name, n)
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{points}">'
                     f'<title>{escape(name)}: {sum(values)}</title></polyline>')
        parts.append(f'<rect x="{legend_x}" y="{height - 10}" width="10" height="4" fill="{colour}"/>'
                     f'<text x="{legend_x + 13}" y="{height - 5}" font-size="10">{escape(name)}</text>')
        legend_x += 16 + 7 * len(name)
    if not series:
        parts.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h / 2}" text-anchor="middle" '
                     'font-size="11">nothing flagged in this range</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - numbers and escaped names only


def sparkline(values: list[int], *, width: int = 120, height: int = 24) -> Markup:
    peak = max([1, *values])
    inset = 2  # keeps the stroke's ends and a last-day peak inside the box instead of half clipped
    step = (width - 2 * inset) / max(1, len(values) - 1)
    points = " ".join(
        f"{inset + i * step:.1f},{height - inset - (height - 2 * inset) * v / peak:.1f}" for i, v in enumerate(values)
    )
    return Markup(  # noqa: S704 - numbers only
        f'<svg class="spark" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" aria-label="last {len(values)} days, peak {peak}">'
        f'<polyline fill="none" stroke="#2471a3" stroke-width="1.4" points="{points}"/></svg>'
    )
