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


# ------------------------------------------------------------- refusals in the policy's language


def broken_policy(directory: Path, language: str = "ja") -> Path:
    """The example policy with a bad number, a bad channel, a missing key and a typo."""
    text = EXAMPLE_POLICY.read_text(encoding="utf-8")
    text = text.replace('language = "ja"', f'language = "{language}"', 1)
    text = text.replace("min_touches = 5 ", "min_touches = 0 ", 1)
    text = re.sub(r'handoff = "C[A-Z0-9]+"', 'handoff = "#sales"', text, count=1)
    text = re.sub(r'(?m)^version = ".*"$', "", text, count=1)
    text = text.replace("[reminders]", "[reminders]\nquiet_hour = true", 1)
    path = directory / "broken.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_refused_policy_is_explained_in_the_language_it_declares(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The dotted keys stay as written; what is wrong with each is said in Japanese."""
    path = broken_policy(operator_env)
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("設定に問題があります:\n")
    for line in (
        "agreement.min_touches: 0より大きい値にしてください（指定値: 0）",
        "reminders.quiet_hour: 不明なキーです（綴りを確認してください。sla.example.toml を参照）",
        "mql_definition.version: 必須ですが設定されていません",
        "channels.handoff: C0123ABCD のような Slack のチャンネル ID で指定してください"
        "（指定値: '#sales'）",
    ):
        assert line in err, err
    for english in ("required", "unknown key", "greater than", "expected", "got"):
        assert english not in err, err
    # every command that loads it answers the same way
    assert main(["--config", str(path), "sweep"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("設定エラー:\n") and "必須ですが設定されていません" in err, err
    assert main(["preview", "--policy", str(path)]) == 2
    assert "0より大きい値にしてください" in capsys.readouterr().err


def test_a_refused_policy_in_english_reads_as_before(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = broken_policy(operator_env, language="en")
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert f"  ✗ {path}: agreement.min_touches: Input should be greater than 0 (got 0)\n" in err
    assert f"  ✗ {path}: mql_definition.version: required, not set\n" in err
    assert ("channels.handoff: expected a Slack channel id like C0123ABCD, got '#sales'\n"
            in err)
    # --language wins over the file's, even for a file that cannot be read as a policy
    assert main(["--config", str(broken_policy(operator_env)), "check-config",
                 "--language", "en"]) == 2
    assert "mql_definition.version: required, not set" in capsys.readouterr().err


def test_a_file_that_is_not_toml_or_not_there_is_said_in_the_policys_language(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = operator_env / "bad.toml"
    bad.write_text('language = "ja"\n[agreement\nmin_touches = 5\n', encoding="utf-8")
    assert main(["--config", str(bad), "check-config"]) == 2
    err = capsys.readouterr().err
    assert "TOML として読み込めません（2行目、" in err and "not valid" not in err, err
    assert main(["--config", str(operator_env / "missing.toml"), "check-config",
                 "--language", "ja"]) == 2
    assert "ファイルが見つかりません（sla.example.toml を sla.toml にコピー" in \
        capsys.readouterr().err


def test_import_file_problems_and_row_problems_are_in_the_policys_language(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["migrate"]) == 0
    capsys.readouterr()
    config = ["--config", str(EXAMPLE_POLICY), "import", "--quiet"]
    assert main([*config, str(operator_env / "nowhere.csv")]) == 2
    assert capsys.readouterr().err == (
        f"{operator_env / 'nowhere.csv'} を取り込めません: 読み込めません: ファイルがありません\n")
    header = operator_env / "header.csv"
    header.write_text("external_id,who,score,Score\n", encoding="utf-8")
    assert main([*config, str(header)]) == 2
    err = capsys.readouterr().err
    assert "列名が重複しています: score。必須の列がありません: qualified_at, contact_name" in err
    shift_jis = operator_env / "sjis.csv"
    shift_jis.write_bytes("external_id,qualified_at,contact_name\nx,2026,佐藤\n".encode("cp932"))
    assert main([*config, str(shift_jis)]) == 2
    err = capsys.readouterr().err
    assert "UTF-8 ではありません" in err and "save it" not in err
    assert main([*config, str(header), "--language", "en"]) == 2
    assert "repeated columns: score; missing required columns: qualified_at, contact_name" in \
        capsys.readouterr().err


def test_preview_explains_a_bad_lead_and_an_unqualified_one_in_japanese(
    operator_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = operator_env / "bad.json"
    bad.write_text('{"external_id": "x", "source": "web", "qualified_at": 12, "contact": {}}',
                   encoding="utf-8")
    assert main(["preview", "--policy", str(EXAMPLE_POLICY), "--lead", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{bad}: リードとして正しくありません:\n"), err
    assert "  contact.name: 必須です\n" in err and "数値は使えません" in err
    assert "required" not in err and "must be" not in err
    plain = operator_env / "plain.json"
    plain.write_text('{"external_id": "x", "source": "web", "qualified_at": '
                     '"2026-11-24T09:00:00+09:00", "contact": {"name": "Sato"}}',
                     encoding="utf-8")
    assert main(["preview", "--policy", str(EXAMPLE_POLICY), "--lead", str(plain),
                 "--at", "2026-11-24T10:00"]) == 0
    out = capsys.readouterr().out
    assert "MQL 定義" in out and "役職が不明です" in out and "title unknown" not in out, out
    assert main(["preview", "--policy", str(EXAMPLE_POLICY), "--at", "tomorrow"]) == 2
    assert "--at: 2027-01-08T17:30 や" in capsys.readouterr().err
