"""The reports' charts, as PNG: the weekly digest's daily handoffs (bars) and first-contact
compliance (line), and the monthly review's funnel MQL → SQL → won.

Drawn with Pillow alone: a few rectangles, a polyline and some text do not need a plotting
library (matplotlib would add tens of megabytes and a font cache for one small picture).
A chart is read without the message around it (forwarded, opened full screen), so it carries
its own title, axis names and legend, in the reader's language: the words come in
``ChartLabels`` from the view, and Japanese is drawn with the font the project ships
(``bot/fonts``), never as empty boxes.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib import resources

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "BAR_COLOUR",
    "FONT_FILE",
    "FUNNEL_COLOURS",
    "LINE_COLOUR",
    "ChartDay",
    "ChartLabels",
    "FunnelLabels",
    "FunnelStage",
    "render_funnel_chart",
    "render_week_chart",
]

WIDTH, HEIGHT = 800, 440
LEFT, RIGHT = 84, 84
TOP = 92  # title and legend above the plot
BOTTOM = 70  # dates and the x axis' name below it
BACKGROUND = (255, 255, 255)
AXIS = (120, 120, 120)
GRID = (230, 230, 230)
TEXT = (60, 60, 60)
TITLE = (30, 30, 30)
BAR_COLOUR = (54, 123, 245)  # handoffs
LINE_COLOUR = (46, 182, 125)  # first-contact compliance
#: the chart's font: a subset of Noto Sans CJK JP (see ``bot/fonts/build.py``)
FONT_FILE = "chart-sans-jp.otf"
#: the funnel's stages, top to bottom (MQL, SQL, won); a longer funnel repeats the last
FUNNEL_COLOURS = ((54, 123, 245), (122, 92, 230), (46, 182, 125))


@dataclass(frozen=True)
class ChartDay:
    day: date
    handoffs: int
    #: share of leads due for first contact that day that were contacted in time (0..1);
    #: None when no first contact fell due that day
    compliance: float | None


@dataclass(frozen=True)
class ChartLabels:
    """Every word on the chart, already translated (views build it; the chart only draws)."""

    title: str
    x_axis: str
    left_axis: str
    right_axis: str
    bars: str
    line: str


def render_week_chart(days: Sequence[ChartDay], labels: ChartLabels) -> bytes:
    """A PNG: one bar per day for handoffs (left axis), compliance in % as a line (right axis).

    The bars' counts are drawn last, with a halo, so the line never runs through them.
    Deterministic for the same input, so a re-render is byte-identical (handy in tests).
    """
    image = Image.new("RGB", (WIDTH, HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    small, axis_font, title_font = _font(13), _font(14), _font(19)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h
    top_count = _nice_max(max((d.handoffs for d in days), default=0))

    draw.text((WIDTH / 2, 16), labels.title, fill=TITLE, font=title_font, anchor="mt")
    _legend(draw, labels, axis_font, y=56)

    for i in range(5):  # grid and both axes' ticks: 0, 25, 50, 75, 100 %
        y = bottom - plot_h * i / 4
        draw.line([(LEFT, y), (LEFT + plot_w, y)], fill=GRID)
        count = top_count * i / 4
        tick = f"{count:g}" if count == int(count) else f"{count:.1f}"
        draw.text((LEFT - 8, y), tick, fill=TEXT, font=small, anchor="rm")
        draw.text((LEFT + plot_w + 8, y), f"{25 * i}%", fill=TEXT, font=small, anchor="lm")
    draw.line([(LEFT, TOP), (LEFT, bottom)], fill=AXIS)
    draw.line([(LEFT + plot_w, TOP), (LEFT + plot_w, bottom)], fill=AXIS)
    draw.line([(LEFT, bottom), (LEFT + plot_w, bottom)], fill=AXIS)
    _vertical(image, labels.left_axis, axis_font, centre=(22, TOP + plot_h / 2), angle=90)
    _vertical(image, labels.right_axis, axis_font, centre=(WIDTH - 22, TOP + plot_h / 2),
              angle=270)
    draw.text((LEFT + plot_w / 2, HEIGHT - 12), labels.x_axis, fill=TEXT, font=axis_font,
              anchor="md")

    n = max(len(days), 1)
    slot = plot_w / n
    counts: list[tuple[float, float, str]] = []
    segments: list[list[tuple[float, float]]] = [[]]
    for i, day in enumerate(days):
        centre = LEFT + slot * (i + 0.5)
        if day.handoffs:
            height = plot_h * day.handoffs / top_count
            draw.rectangle(
                [centre - slot * 0.3, bottom - height, centre + slot * 0.3, bottom],
                fill=BAR_COLOUR,
            )
            counts.append((centre, bottom - height - 4, str(day.handoffs)))
        draw.text((centre, bottom + 8), f"{day.day.month}/{day.day.day}", fill=TEXT,
                  font=small, anchor="ma")
        if day.compliance is not None:
            share = min(max(day.compliance, 0.0), 1.0)
            segments[-1].append((centre, bottom - plot_h * share))
        elif segments[-1]:  # a gap: days without a first contact due break the line
            segments.append([])
    for points in segments:
        _polyline(draw, points)
    for x, y, text in counts:
        draw.text((x, y), text, fill=TEXT, font=small, anchor="md", stroke_width=3,
                  stroke_fill=BACKGROUND)

    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


@dataclass(frozen=True)
class FunnelStage:
    """One stage of the funnel: its name and count, and how the stage above led to it (the
    rate as the reader reads it, e.g. "30 % of decided"; None for the first stage). Words
    already translated by the view."""

    name: str
    count: int
    step: str | None = None


@dataclass(frozen=True)
class FunnelLabels:
    title: str
    #: one line under the funnel saying what the rates are rates of
    footnote: str


FUNNEL_HEIGHT = 440
FUNNEL_NAME_RIGHT = 190  # stage names end here; the bars are centred in what is right of it
FUNNEL_MIN_BAR = 6  # a stage of 0 is a sliver, not nothing: the stage exists


def render_funnel_chart(stages: Sequence[FunnelStage], labels: FunnelLabels) -> bytes:
    """A PNG: one centred bar per stage, its width in proportion to the largest stage, the
    count on it, the step's rate between stages, a title and a footnote.

    Deterministic for the same input (a re-render is byte-identical).
    """
    image = Image.new("RGB", (WIDTH, FUNNEL_HEIGHT), BACKGROUND)
    draw = ImageDraw.Draw(image)
    name_font, count_font, step_font = _font(17), _font(17), _font(14)
    small, title_font = _font(13), _font(19)
    draw.text((WIDTH / 2, 16), labels.title, fill=TITLE, font=title_font, anchor="mt")
    top, bottom = 44, FUNNEL_HEIGHT - 48
    n = max(len(stages), 1)
    row = (bottom - top) / n
    bar_h = min(row * 0.55, 64)
    centre = FUNNEL_NAME_RIGHT + (WIDTH - FUNNEL_NAME_RIGHT - 40) / 2
    widest = WIDTH - FUNNEL_NAME_RIGHT - 80
    largest = max((s.count for s in stages), default=0) or 1
    for i, stage in enumerate(stages):
        y = top + row * i + (row - bar_h) / 2 + row * 0.2
        width = max(widest * stage.count / largest, FUNNEL_MIN_BAR)
        colour = FUNNEL_COLOURS[min(i, len(FUNNEL_COLOURS) - 1)]
        draw.rectangle([centre - width / 2, y, centre + width / 2, y + bar_h], fill=colour)
        draw.text((FUNNEL_NAME_RIGHT - 16, y + bar_h / 2), stage.name, fill=TITLE,
                  font=name_font, anchor="rm")
        draw.text((centre, y + bar_h / 2), f"{stage.count:,}", fill=TITLE, font=count_font,
                  anchor="mm", stroke_width=3, stroke_fill=BACKGROUND)
        if stage.step:  # between this bar and the one above, with an arrow down
            draw.text((centre, y - row * 0.2), f"↓ {stage.step}", fill=TEXT, font=step_font,
                      anchor="mm")
    draw.text((WIDTH / 2, FUNNEL_HEIGHT - 18), labels.footnote, fill=TEXT, font=small,
              anchor="md")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _legend(
    draw: ImageDraw.ImageDraw, labels: ChartLabels, font: ImageFont.FreeTypeFont, y: float
) -> None:
    """Two entries centred under the title: a bar swatch and a line swatch, each named."""
    gap, swatch = 28, 26
    widths = [draw.textlength(labels.bars, font=font), draw.textlength(labels.line, font=font)]
    total = 2 * (swatch + 8) + sum(widths) + gap
    x = (WIDTH - total) / 2
    draw.rectangle([x, y - 7, x + swatch, y + 7], fill=BAR_COLOUR)
    draw.text((x + swatch + 8, y), labels.bars, fill=TEXT, font=font, anchor="lm")
    x += swatch + 8 + widths[0] + gap
    draw.line([(x, y), (x + swatch, y)], fill=LINE_COLOUR, width=3)
    draw.ellipse([x + swatch / 2 - 4, y - 4, x + swatch / 2 + 4, y + 4], fill=LINE_COLOUR)
    draw.text((x + swatch + 8, y), labels.line, fill=TEXT, font=font, anchor="lm")


def _vertical(
    image: Image.Image,
    text: str,
    font: ImageFont.FreeTypeFont,
    centre: tuple[float, float],
    angle: int,
) -> None:
    """An axis name written along its axis (rotated), centred on ``centre``."""
    left, top, right, bottom = font.getbbox(text)
    label = Image.new("RGB", (int(right - left) + 4, int(bottom - top) + 4), BACKGROUND)
    ImageDraw.Draw(label).text((2 - left, 2 - top), text, fill=TEXT, font=font)
    rotated = label.rotate(angle, expand=True, fillcolor=BACKGROUND)
    image.paste(rotated, (int(centre[0] - rotated.width / 2), int(centre[1] - rotated.height / 2)))


def _polyline(draw: ImageDraw.ImageDraw, points: list[tuple[float, float]]) -> None:
    if len(points) > 1:
        draw.line(points, fill=LINE_COLOUR, width=3, joint="curve")
    for x, y in points:
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=LINE_COLOUR)


def _nice_max(value: int) -> int:
    """The left axis' top: a multiple of 4 at least ``value`` (so the grid lines are whole)."""
    return max(4, -(-value // 4) * 4)


@cache
def _font(size: int) -> ImageFont.FreeTypeFont:
    with resources.as_file(resources.files("bot.fonts") / FONT_FILE) as path:
        return ImageFont.truetype(str(path), size)
