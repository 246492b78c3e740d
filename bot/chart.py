"""The weekly digest's chart: daily handoffs (bars) and first-contact compliance (line), as PNG.

Drawn with Pillow alone: a few rectangles, a polyline and digits do not need a plotting
library (matplotlib would add tens of megabytes and a font cache for one small picture).
The picture carries only digits and dates, never words, so it reads the same in English and
Japanese without shipping a CJK font; the legend is the upload's comment, in the reader's
language.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from PIL import Image, ImageDraw, ImageFont

__all__ = ["BAR_COLOUR", "LINE_COLOUR", "ChartDay", "render_week_chart"]

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 56, 24, 48
BACKGROUND = (255, 255, 255)
AXIS = (120, 120, 120)
GRID = (230, 230, 230)
TEXT = (60, 60, 60)
BAR_COLOUR = (54, 123, 245)  # handoffs
LINE_COLOUR = (46, 182, 125)  # first-contact compliance
NO_DATA = (200, 200, 200)


@dataclass(frozen=True)
class ChartDay:
    day: date
    handoffs: int
    #: share of leads due for first contact that day that were contacted in time (0..1);
    #: None when no first contact fell due that day
    compliance: float | None


def render_week_chart(days: Sequence[ChartDay]) -> bytes:
    """A PNG: one bar per day for handoffs (left axis), compliance in % as a line (right axis).

    Deterministic for the same input, so a re-render is byte-identical (handy in tests).
    """
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    font = _font(13)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h
    top_count = _nice_max(max((d.handoffs for d in days), default=0))

    for i in range(5):  # grid and both axes' labels: 0, 25, 50, 75, 100 %
        y = bottom - plot_h * i / 4
        draw.line([(LEFT, y), (LEFT + plot_w, y)], fill=GRID)
        count = top_count * i / 4
        label = f"{count:g}" if count == int(count) else f"{count:.1f}"
        _text(draw, (LEFT - 8, y), label, font, anchor="rm")
        _text(draw, (LEFT + plot_w + 8, y), f"{25 * i}%", font, anchor="lm")
    draw.line([(LEFT, TOP), (LEFT, bottom)], fill=AXIS)
    draw.line([(LEFT + plot_w, TOP), (LEFT + plot_w, bottom)], fill=AXIS)
    draw.line([(LEFT, bottom), (LEFT + plot_w, bottom)], fill=AXIS)

    n = max(len(days), 1)
    slot = plot_w / n
    points: list[tuple[float, float]] = []
    for i, day in enumerate(days):
        centre = LEFT + slot * (i + 0.5)
        if day.handoffs:
            height = plot_h * day.handoffs / top_count
            draw.rectangle(
                [centre - slot * 0.3, bottom - height, centre + slot * 0.3, bottom],
                fill=BAR_COLOUR,
            )
            _text(draw, (centre, bottom - height - 4), str(day.handoffs), font, anchor="md")
        _text(draw, (centre, bottom + 8), f"{day.day.month}/{day.day.day}", font, anchor="ma")
        if day.compliance is not None:
            share = min(max(day.compliance, 0.0), 1.0)
            points.append((centre, bottom - plot_h * share))
        elif points:  # a gap: days without a first contact due break the line
            _polyline(draw, points)
            points = []
    _polyline(draw, points)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _polyline(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]]) -> None:
    if len(points) > 1:
        draw.line(points, fill=LINE_COLOUR, width=3, joint="curve")
    for x, y in points:
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=LINE_COLOUR)


def _nice_max(value: int) -> int:
    """The left axis' top: a multiple of 4 at least ``value`` (so the grid lines are whole)."""
    return max(4, -(-value // 4) * 4)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # an old Pillow without scalable default font
        return ImageFont.load_default()


def _text(
    draw: ImageDraw.ImageDraw,
    xy: tuple[float, float],
    text: str,
    font: ImageFont.ImageFont | ImageFont.FreeTypeFont,
    anchor: str,
) -> None:
    try:
        draw.text(xy, text, fill=TEXT, font=font, anchor=anchor)
    except ValueError:  # a bitmap font does not support anchors
        draw.text(xy, text, fill=TEXT, font=font)
