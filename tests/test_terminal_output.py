"""SPEC 8: what the CLI prints on a terminal is plain text in one language.

No mrkdwn asterisks or backticks, no ``:emoji:`` shortcodes, no library log lines; the policy's
language (the example's is Japanese) unless ``--language`` says otherwise.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.clock import ManualClock
from handlers import cli
from handlers.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_POLICY = ROOT / "sla.example.toml"
SAMPLE = ROOT / "samples" / "leads.csv"

BOLD = re.compile(r"(?<![\w*])\*[^*\s][^*\n]*\*(?![\w*])")
SHORTCODE = re.compile(r":[a-z_]+:")
LOG_LINE = re.compile(r"^\S*\s*(INFO|WARNING)\b", re.M)
#: hiragana and katakana: the bot's Japanese sentences have them; the sample's user data shown
#: by these commands (ids, source names) does not
KANA = re.compile(r"[\u3040-\u30ff]")

COMMANDS = {
    "report": ["report", "--month", "2026-11"],
    "digest": ["digest", "--dry-run", "--week", "2026-W48"],
    "import": ["import", "--dry-run", "--quiet", str(SAMPLE)],
    "preview": ["preview", "--at", "2026-11-27T17:30"],
}
#: a phrase each command says in Japanese under the example policy
JAPANESE = {
    "report": "月次SLAレビュー",
    "digest": "週次",
    "import": "8行: 受け付け",
    "preview": "期限",
}


@pytest.fixture
def imported(operator_env: Path, monkeypatch: pytest.MonkeyPatch,
             capfd: pytest.CaptureFixture[str]) -> Path:
    """The sample imported on the day it was sent, read two weeks later."""
    clock = {"now": datetime(2026, 11, 24, 1, 0, tzinfo=UTC)}
    monkeypatch.setattr(cli, "SystemClock", lambda: ManualClock(clock["now"]))
    assert main(["--config", str(EXAMPLE_POLICY), "migrate"]) == 0
    assert main(["--config", str(EXAMPLE_POLICY), "import", "--quiet", str(SAMPLE)]) == 1
    clock["now"] = datetime(2026, 12, 8, 1, 0, tzinfo=UTC)
    capfd.readouterr()
    return operator_env


def run(command: str, language: str | None, capfd: pytest.CaptureFixture[str]) -> tuple[str, str]:
    args = [*COMMANDS[command], *(["--language", language] if language else [])]
    main(["--config", str(EXAMPLE_POLICY), *args])
    captured = capfd.readouterr()
    return captured.out, captured.err


def assert_plain(out: str, err: str) -> None:
    assert out.strip()
    assert BOLD.findall(out) == []
    assert "`" not in out
    assert SHORTCODE.findall(out) == []
    assert LOG_LINE.findall(err) == [], err


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("language", [None, "ja", "en"])
def test_terminal_output_is_plain_text_in_one_language(
    imported: Path, capfd: pytest.CaptureFixture[str], command: str, language: str | None
) -> None:
    out, err = run(command, language, capfd)
    assert_plain(out, err)
    if language == "en":
        assert KANA.findall(out) == [], out
    else:  # the example policy's language, or asked for
        assert JAPANESE[command] in out, out


def test_preview_is_plain_text(imported: Path, capfd: pytest.CaptureFixture[str]) -> None:
    out, err = run("preview", None, capfd)
    assert_plain(out, err)
