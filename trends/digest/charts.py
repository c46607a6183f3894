"""Small PNG charts of the last 28 days of a narrative, one line per source group.

Drawn with matplotlib's Agg canvas directly (no pyplot: no global state, safe in any thread).
Only narrative ids and group names appear on a chart, never crawled text.
"""

from __future__ import annotations

import io

from narrative_tracker.trends.digest.content import Series

GROUP_COLOURS = {
    "russian-state": "#c0392b",
    "western": "#2471a3",
    "ukrainian": "#d4ac0d",
    "independent-russian": "#7d3c98",
    "fact-checker": "#229954",
    "other": "#7f8c8d",
}


def render_chart(series: Series) -> bytes:
    """A PNG of the series: flagged articles per day and group."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 2.2), dpi=90)
    axes = figure.add_subplot()
    x = list(range(len(series.days)))
    for group, values in series.by_group.items():
        axes.plot(x, values, label=group, color=GROUP_COLOURS.get(group, "#555555"), linewidth=1.6, marker="o", ms=2)
    ticks = list(range(0, len(series.days), 7))
    if series.days and ticks[-1] != len(series.days) - 1:
        ticks.append(len(series.days) - 1)
    axes.set_xticks(ticks, [series.days[n].strftime("%d %b") for n in ticks], fontsize=7)
    axes.tick_params(axis="y", labelsize=7)
    axes.set_ylabel("articles", fontsize=7)
    axes.set_title(series.narrative_id, fontsize=8, loc="left")
    axes.set_ylim(bottom=0)
    axes.grid(axis="y", linewidth=0.4, alpha=0.5)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    if series.by_group:
        axes.legend(fontsize=6, frameon=False, loc="upper left", ncols=min(3, len(series.by_group)))
    # Fixed margins: tight_layout would lay the text out once more and double the drawing time.
    figure.subplots_adjust(left=0.08, right=0.99, top=0.88, bottom=0.14)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def render_charts(series: dict[str, Series]) -> dict[str, bytes]:
    return {name: render_chart(one) for name, one in series.items()}
