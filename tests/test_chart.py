"""The digest's chart: its own title, axis names and legend, Japanese in a real font, and a
file from the CLI (``sla-bot digest --week … --chart FILE.png``)."""

from __future__ import annotations

import io
import tomllib
from datetime import date
from pathlib import Path

import pytest
from PIL import Image, ImageFont

from bot.clock import ManualClock
from bot.policy import Policy
from bot.reporting.chart import FONT_FILE, LINE_COLOUR, ChartDay, ChartLabels, render_week_chart
from tests.harness import FakeSlack
from tests.harness.bot_env import make_services
from tests.harness.databases import Database
from tests.harness.digest_world import PNG_SIGNATURE, World, jst
from tests.harness.images import dark_pixels, drawn_as_notdef
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.settings import ROOT

FONT = ROOT / "bot" / "fonts" / FONT_FILE
LOCALES = ROOT / "bot" / "locales"


def chart_strings(language: str) -> dict[str, str]:
    table = tomllib.loads((LOCALES / f"{language}.toml").read_text(encoding="utf-8"))
    return table["digest"]["chart"]


@pytest.mark.parametrize("language", ["en", "ja"])
def test_every_character_of_the_chart_labels_is_in_the_shipped_font(language: str) -> None:
    """A label with a glyph the subset lacks would be tofu: rebuild it (bot/fonts/build.py)."""
    font = ImageFont.truetype(str(FONT), 16)
    text = "".join(chart_strings(language).values()) + "0123456789/%-W（）–·"
    missing = sorted({c for c in text if not c.isspace() and drawn_as_notdef(font, c)})
    assert missing == []


def test_the_check_itself_sees_a_missing_glyph() -> None:
    font = ImageFont.truetype(str(FONT), 16)
    assert drawn_as_notdef(font, "\uac00")  # Hangul: not in the Japanese subset
    assert not drawn_as_notdef(font, "件")


def labels(language: str) -> ChartLabels:
    strings = chart_strings(language)
    return ChartLabels(
        title=strings["title"].format(week="2026-W48", days="11/23–11/29"),
        x_axis=strings["x_axis"],
        left_axis=strings["left_axis"],
        right_axis=strings["right_axis"],
        bars=strings["bars"],
        line=strings["line"],
    )


WEEK = [ChartDay(date(2026, 11, 23 + i), handoffs=(2, 2, 0, 3, 1, 0, 0)[i],
                 compliance=(0.54, 0.54, None, 1.0, 0.0, None, None)[i]) for i in range(7)]


def colours(image: Image.Image, box: tuple[int, int, int, int]) -> set[tuple[int, ...]]:
    region = image.crop(box).convert("RGB")
    return {region.getpixel((x, y)) for x in range(region.width) for y in range(region.height)}


@pytest.mark.parametrize("language", ["en", "ja"])
def test_the_chart_has_a_title_axis_names_and_a_legend(language: str) -> None:
    png = render_week_chart(WEEK, labels(language))
    assert png.startswith(PNG_SIGNATURE)
    image = Image.open(io.BytesIO(png))
    assert image.size == (800, 440)
    assert 10_000 < len(png) < 200_000
    assert dark_pixels(image, (0, 0, 800, 40)) > 150  # the title
    assert dark_pixels(image, (0, 92, 40, 370)) > 60  # the left axis' name, along the axis
    assert dark_pixels(image, (760, 92, 800, 370)) > 60  # the right axis' name
    assert dark_pixels(image, (200, 400, 600, 440)) > 30  # the x axis' name
    legend = colours(image, (0, 44, 800, 70))
    assert LINE_COLOUR in legend and (54, 123, 245) in legend  # both swatches


def test_japanese_is_drawn_with_glyphs_not_boxes() -> None:
    """The same title drawn in the chart's font and in a font without Japanese differ."""
    title = labels("ja").title
    font = ImageFont.truetype(str(FONT), 19)
    assert not any(drawn_as_notdef(font, c) for c in title if not c.isspace())
    png = render_week_chart(WEEK, labels("ja"))
    image = Image.open(io.BytesIO(png))
    # Japanese glyphs are dense: far more ink than a row of empty boxes would leave
    assert dark_pixels(image, (0, 0, 800, 40)) > 400


def test_the_line_never_runs_through_a_bars_count() -> None:
    """Monday and Tuesday's line (54 %) passes where their counts stand; the counts win."""
    image = Image.open(io.BytesIO(render_week_chart(WEEK, labels("en")))).convert("RGB")
    plot_w, plot_h, bottom = 800 - 84 - 84, 440 - 92 - 70, 440 - 70
    for day in (0, 1):
        centre = round(84 + plot_w / 7 * (day + 0.5))
        count_bottom = round(bottom - plot_h * 2 / 4 - 4)
        box = (centre - 3, count_bottom - 9, centre + 3, count_bottom - 2)
        assert LINE_COLOUR not in colours(image, box)
        line_y = round(bottom - plot_h * 0.54)
        assert count_bottom - 14 <= line_y <= count_bottom  # the test's premise


def test_cli_writes_the_weeks_chart_to_a_file(
    operator_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fake_slack: FakeSlack,
    sqlite_db: Database,
    policy: Policy,
) -> None:
    from handlers.cli import main

    clock = ManualClock(jst(11, 24, 10))
    world = World(make_services(fake_slack, sqlite_db, policy, clock), clock, fake_slack)
    world.busy_week()
    monkeypatch.setenv("DATABASE_URL", sqlite_db.url)
    out_file = operator_env / "w48.png"
    assert main(["--config", str(EXAMPLE_POLICY), "digest", "--week", "2026-W48",
                 "--chart", str(out_file)]) == 0
    assert "w48.png" in capsys.readouterr().out
    png = out_file.read_bytes()
    assert png.startswith(PNG_SIGNATURE) and Image.open(io.BytesIO(png)).size == (800, 440)
    assert fake_slack.calls_to("files.getUploadURLExternal") == []  # nothing posted

    assert main(["--config", str(EXAMPLE_POLICY), "digest", "--week", "2026-W40",
                 "--chart", str(operator_env / "quiet.png")]) == 1
    assert "その週に引き渡されたリードがありません" in capsys.readouterr().err
    assert not (operator_env / "quiet.png").exists()
