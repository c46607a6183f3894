"""Small PNG charts of the last 28 days of a narrative, one line per source group.

Drawn with Pillow's ImageDraw, not matplotlib: importing matplotlib took about 0.5 s of every
digest run and each chart another 0.07 s, for a picture of a few lines and labels. The chart is
drawn at twice its size and reduced, which smooths the lines and the text (ImageDraw does not
anti-alias lines). PNG stays the format because e-mail clients show PNG and many drop SVG.
Only narrative ids, group names, dates and numbers appear on a chart, never crawled text.
"""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from narrative_tracker.trends.digest.content import Series

GROUP_COLOURS = {
    "russian-state": "#c0392b",
    "western": "#2471a3",
    "ukrainian": "#d4ac0d",
    "independent-russian": "#7d3c98",
    "fact-checker": "#229954",
    "other": "#7f8c8d",
}
OTHER_COLOUR = "#555555"

#: The final picture, in pixels (what the matplotlib version produced: 6.4 x 2.2 inches at 90 dpi).
WIDTH, HEIGHT = 576, 198
#: Drawn this many times larger, then reduced.
SCALE = 2
#: Plot area inside the picture (final pixels).
LEFT, RIGHT, TOP, BOTTOM = 44, 8, 24, 26
#: At most this many labelled values on the y axis.
Y_TICKS = 5
AXIS, GRID, TEXT = "#444444", "#dddddd", "#222222"


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """Pillow's built-in font at ``size`` pixels (its bitmap font when Pillow lacks FreeType)."""
    return ImageFont.load_default(size=size * SCALE)


@cache
def _vertical_label(text: str) -> Image.Image:
    """``text`` written bottom to top, as a mask (drawn once per process)."""
    font = _font(9)
    left, top, right, bottom = font.getbbox(text)
    mask = Image.new("L", (int(right - left) + 2, int(bottom - top) + 2), 0)
    ImageDraw.Draw(mask).text((1 - left, 1 - top), text, fill=255, font=font)
    return mask.rotate(90, expand=True)


def _y_step(peak: int) -> int:
    """A round step (1, 2 or 5 times a power of ten) giving at most ``Y_TICKS`` steps up to ``peak``."""
    power = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * power
            if peak <= step * Y_TICKS:
                return step
        power *= 10


def _x_ticks(days: int) -> list[int]:
    ticks = list(range(0, days, 7))
    if ticks and ticks[-1] != days - 1:
        ticks.append(days - 1)
    return ticks


def render_chart(series: Series) -> bytes:
    """A PNG of the series: flagged articles per day and group."""
    s = SCALE
    image = Image.new("RGB", (WIDTH * s, HEIGHT * s), "white")
    draw = ImageDraw.Draw(image)
    small, title_font = _font(9), _font(10)
    plot_left, plot_right = LEFT * s, (WIDTH - RIGHT) * s
    plot_top, plot_bottom = TOP * s, (HEIGHT - BOTTOM) * s
    peak = max([1, *(v for values in series.by_group.values() for v in values)])
    step = _y_step(peak)
    top_value = step * -(-peak // step)  # the first step at or above the peak

    def y_of(value: float) -> float:
        return plot_bottom - (plot_bottom - plot_top) * value / top_value

    count = len(series.days)

    def x_of(index: int) -> float:
        return plot_left + (plot_right - plot_left) * index / max(1, count - 1)

    for value in range(0, top_value + 1, step):  # light grid lines with their values
        y = y_of(value)
        if value:
            draw.line([(plot_left, y), (plot_right, y)], fill=GRID, width=s)
        draw.text((plot_left - 4 * s, y), str(value), fill=TEXT, font=small, anchor="rm")
    draw.line([(plot_left, plot_top), (plot_left, plot_bottom)], fill=AXIS, width=s)
    draw.line([(plot_left, plot_bottom), (plot_right, plot_bottom)], fill=AXIS, width=s)
    for index in _x_ticks(count):
        x = x_of(index)
        draw.line([(x, plot_bottom), (x, plot_bottom + 3 * s)], fill=AXIS, width=s)
        anchor = "rt" if index == count - 1 else "mt"  # the last date ends at the edge, not beyond it
        draw.text((x, plot_bottom + 5 * s), series.days[index].strftime("%d %b"), fill=TEXT, font=small, anchor=anchor)
    label = _vertical_label("articles")
    image.paste(TEXT, (3 * s, int((plot_top + plot_bottom - label.height) / 2)), label)
    draw.text((plot_left, 4 * s), series.narrative_id, fill=TEXT, font=title_font, anchor="lt")

    legend_x, legend_y = plot_left + 8 * s, plot_top + 4 * s
    for n, (group, values) in enumerate(series.by_group.items()):
        colour = GROUP_COLOURS.get(group, OTHER_COLOUR)
        points = [(x_of(i), y_of(v)) for i, v in enumerate(values)]
        draw.line(points, fill=colour, width=2 * s, joint="curve")
        for x, y in points:
            draw.ellipse([(x - 1.5 * s, y - 1.5 * s), (x + 1.5 * s, y + 1.5 * s)], fill=colour)
        # Legend: up to three groups a row, in the plot's upper left corner.
        column, row = n % 3, n // 3
        x, y = legend_x + column * 150 * s, legend_y + row * 12 * s
        draw.line([(x, y + 5 * s), (x + 14 * s, y + 5 * s)], fill=colour, width=2 * s)
        draw.text((x + 18 * s, y + 5 * s), group, fill=TEXT, font=small, anchor="lm")

    buffer = io.BytesIO()
    image.reduce(s).save(buffer, format="PNG", compress_level=3)  # 6 costs twice the time for 1% less
    return buffer.getvalue()


def render_charts(series: dict[str, Series]) -> dict[str, bytes]:
    return {name: render_chart(one) for name, one in series.items()}
