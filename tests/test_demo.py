"""``sla-bot demo``: the real bot plays a scripted day and week against the Slack stand-in.

The English run is the command a newcomer types, as a subprocess (no environment, no tokens;
``--speed 0`` so the suite does not sit through its pauses): it must exit 0 within a minute
and its transcript must show every Slack surface and every scripted event. The Japanese run
is in-process, without pauses.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.i18n import Translator
from bot.outbox.worker import OutboxWorker
from bot.policy import load_policy
from bot.sandbox.demo import run_demo
from bot.services import Services
from handlers.app import LISTENER_THREADS
from handlers.server import BotServer
from tests.harness.policies import EXAMPLE_POLICY
from tests.harness.settings import ROOT

SURFACES = ("channel", "thread", "DM", "ephemeral", "modal", "App Home")


def headers(transcript: str, surface: str) -> list[str]:
    """Header lines of one surface kind (``── <time> · <surface> …``)."""
    return [line for line in transcript.splitlines()
            if line.startswith("── ") and f" · {surface}" in line]


def section(transcript: str, header_part: str) -> str:
    """The body under the first surface header containing ``header_part``, its wrapped lines
    joined (spaces collapsed) so assertions do not depend on the terminal width."""
    lines = transcript.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("── ")
                 and header_part in line)
    body = []
    for line in lines[start + 1:]:
        if line.startswith(("── ", "▶ ")):
            break
        body.append(line)
    return " ".join(" ".join(body).split())


@pytest.fixture(scope="module")
def english(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str, float]:
    """``sla-bot demo --language en --speed 0`` from an empty directory, no environment."""
    cwd = tmp_path_factory.mktemp("fresh")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SLACK_", "DATABASE_URL", "SLA_CONFIG", "INTAKE_TOKEN"))}
    env["HTTP_PROXY"] = env["HTTPS_PROXY"] = "http://127.0.0.1:9"  # must not be used
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "handlers.cli", "--config", str(EXAMPLE_POLICY), "demo",
         "--language", "en", "--speed", "0"],
        cwd=cwd, env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True,
        timeout=120, check=False,
    )
    return done.returncode, done.stdout, done.stderr, time.monotonic() - began


def test_the_demo_exits_0_within_a_minute_leaving_nothing_behind(
    english: tuple[int, str, str, float], tmp_path_factory: pytest.TempPathFactory
) -> None:
    code, out, err, seconds = english
    assert code == 0, err
    assert seconds < 60
    assert "Traceback" not in err and "ERROR" not in err
    assert out.rstrip().splitlines()[-1].startswith("Done. Surfaces shown:")


def test_every_surface_is_shown(english: tuple[int, str, str, float]) -> None:
    _, out, _, _ = english
    for surface in SURFACES:
        assert headers(out, surface), surface
    # each header says whose surface it is and when (simulated local time)
    assert re.search(r"^── Tue 24 Nov 09:58 · DM · @sato ─", out, re.M)
    assert re.search(r"^── Tue 24 Nov 09:58 · ephemeral · only @suzuki sees it ─", out, re.M)
    assert re.search(r"^── Tue 24 Nov 12:10 · App Home of @tanaka ─", out, re.M)
    assert re.search(r"^── Tue 24 Nov 10:30 · modal “Log a touch” · @sato ─", out, re.M)


def test_the_script_plays_every_event(english: tuple[int, str, str, float]) -> None:
    _, out, _, _ = english
    # three MQLs by webhook: hot (a tier of the policy), ordinary, not qualified
    assert 'hot lead · Example KK: HTTP 202 {"lead_id": 1, "reasons": [], "status": "queued"}' \
        in out
    assert "ordinary lead · Acme Logistics: HTTP 202" in out
    assert '"status": "not_qualified"' in out and "score 0 is below 30" in out
    handoff = section(out, "Tue 24 Nov 09:50 · channel #sales")
    assert "Tier 🔥 hot" in handoff and "[ Claim ]" in handoff
    assert "First contact by Tue 24 Nov 10:50 (1 business hour)" in handoff
    # a rep claims, another is refused
    assert "Claimed by @sato." in section(out, "09:58 · thread of “Yamada Hanako — Example KK”")
    assert "Already claimed by @sato." in section(out, "ephemeral · only @suzuki")
    # the channel is nudged about the unclaimed lead
    assert "Still unclaimed after 15 business minutes" in section(out, "10:05 · thread")
    # touches logged through the modal
    assert "@sato logged a touch: call — connected" in out
    assert "@suzuki logged a touch: email — no answer" in out
    # a reminder fires before the deadline, then the breach escalates to the manager
    assert "⏰ Reminder: first contact with Kobayashi Ken (Acme Logistics) is due by Tue 24 " \
        "Nov 11:50" in section(out, "11:20 · DM · @suzuki")
    escalation = section(out, "11:50 · DM · @tanaka")
    assert "SLA breach: first contact missed" in escalation and "[ Reassign ]" in escalation
    # the manager's App Home shows the team, overdue first
    assert "🔴 first contact overdue" in section(out, "App Home of @tanaka")
    # converted with BANT; recycled with a reason; marketing hears both
    marketing = "\n".join(section(out, h.removeprefix("── ").split(" ─")[0])
                          for h in headers(out, "channel #marketing"))
    assert "converted to SQL by @sato" in marketing and "1,200,000" in marketing
    assert "Reason: no need right now" in marketing
    assert "They signed a 2-year contract elsewhere last month." in marketing
    # the marketer's thread reply is kept as feedback
    assert "@kato: Thanks: we'll nurture them until the renewal window." in out
    assert "as marketing feedback on the lead (1 kept)" in out
    # /sla-status typed by the manager
    status = section(out, "16:00 · ephemeral · only @tanaka")
    assert "SLA status · 2026-11" in status and "MQL→SQL rate (converted / decided) · 50 %" \
        in status
    # the weekly digest on Monday, with its chart
    digest = section(out, "Mon 30 Nov 09:00 · channel #sales")
    assert "Weekly SLA digest · 2026-W48" in digest
    assert "Marketer feedback in lead threads: 1" in digest
    assert headers(out, "channel #sales (file)")


def test_the_english_demo_reads_naturally(english: tuple[int, str, str, float]) -> None:
    _, out, _, _ = english
    shown = "\n".join(line for line in out.splitlines() if "HTTP 202 {" not in line)
    for raw in ("lead(s)", "(s)", "0 min late", "page_view", "demo_request", "manufacturing",
                "Mon/Tue", "Touches 1 touch", "[ 123 ]"):
        assert raw not in shown, raw
    handoff = section(out, "Tue 24 Nov 09:50 · channel #sales")
    assert "Tue 24 Nov 08:50 — Demo request: demo request form" in handoff
    assert "Industry Manufacturing" in handoff
    assert "due Tue 24 Nov 11:50, missed just now." in section(out, "11:50 · DM · @tanaka")
    assert "Mon–Fri 09:00–18:00" in section(out, "16:00 · ephemeral · only @tanaka")
    assert "2 leads handed off" in section(out, "Mon 30 Nov 09:00 · channel #sales")
    assert "Touches 1 (agreed minimum 5)" in "\n".join(
        section(out, h.removeprefix("── ").split(" ─")[0])
        for h in headers(out, "channel #marketing"))
    assert "Next: follow-up (touch 2 of 5) by Wed 25 Nov 13:00" in section(
        out, "Tue 24 Nov 13:00 · channel #sales (message updated)")
    assert "[ 1200000 ]" in section(out, "modal “Convert to SQL”, as submitted")


def narrated(transcript: str, text: str) -> int:
    """Where the narration line containing ``text`` begins."""
    return transcript.rindex("\n", 0, transcript.index(text)) + 1


def scene(transcript: str, t: Translator) -> str:
    """The agreement scene: from the first proposal's narration to the deals scene."""
    start = narrated(transcript, t("demo.agreement.propose",
                                   user="@" + t("demo.people.marketer")))
    return transcript[start:narrated(transcript, t("demo.deals.begin"))]


def deals_scene(transcript: str, t: Translator) -> str:
    """The end of the story (SPEC 10): from its narration to the end."""
    return transcript[narrated(transcript, t("demo.deals.begin")):]


def frames(transcript: str, header_part: str) -> list[str]:
    """Every frame whose header contains ``header_part``: header and body lines, as printed."""
    found, current = [], None
    for line in transcript.splitlines():
        if line.startswith(("── ", "▶ ")) or not line.strip():
            if current is not None:
                found.append("\n".join(current))
            current = [line] if line.startswith("── ") and header_part in line else None
        elif current is not None:
            current.append(line)
    if current is not None:
        found.append("\n".join(current))
    return found


def test_the_agreement_is_revised_in_slack(english: tuple[int, str, str, float]) -> None:
    """SPEC 9 as people live it: proposed, changes requested, revised, approved by both
    sides, in effect on the next sweep, and the next lead handed off under the new number.
    Product wording is read from the catalog, so only the scene's structure is pinned."""
    _, out, _, _ = english
    t = Translator("en")
    part = scene(out, t)
    first_contact = t("agreement.change.key.agreement.first_contact_business_hours",
                      old=2, new=1)
    decision = t("agreement.change.key.agreement.decision_days", old=7, new=5)
    # v2 posted to both channels (the second copy is named, not repeated), with its buttons
    v2 = section(part, "09:30 · channel #sales")
    assert t("agreement.proposal.headline", number=2) in v2
    assert first_contact in v2 and decision in v2
    approve, request = (f"[ {t(f'agreement.proposal.{key}')} ]"
                        for key in ("approve", "request_changes"))
    assert f"{approve} {request}" in v2
    assert headers(part, "channel #marketing · the same as in #sales")
    # sales asks for a change in the modal; the comment shows in both threads
    assert f"@tanaka presses {request} on proposal v2 in #sales" in part
    comment = " ".join(t("demo.notes.change_request").split())
    assert comment in section(part, "modal “Request changes”, as submitted · @tanaka")
    thread = section(part, f"thread of “{t('agreement.proposal.headline', number=2)}” in #sales")
    assert comment in thread and "@tanaka" in thread
    assert headers(part, f"thread of “{t('agreement.proposal.headline', number=2)}” in "
                         "#marketing · the same as in #sales")
    # the revised proposal v3 keeps the decision window and supersedes v2
    v3 = section(part, "10:00 · channel #sales")
    assert t("agreement.proposal.headline", number=3) in v3
    assert first_contact in v3 and decision not in v3
    assert t("agreement.proposal.status_superseded", newer=3) in section(
        part, "10:00 · channel #sales (message updated)")
    # both sides approve; the updated post says so and loses Approve / Request changes
    assert f"@kato presses {approve} on proposal v3 in #marketing" in part
    assert f"@tanaka presses {approve} on proposal v3 in #sales" in part
    approved = part.split(f"@tanaka presses {approve}")[1]
    updated = section(approved, "channel #sales (message updated)")
    assert t("agreement.proposal.status_approved", at="Mon 30 Nov 10:00") in updated
    assert approve not in updated and request not in updated
    # the next sweep activates v3: "in effect" in both channels, after the approvals
    in_effect = section(approved, "channel #sales ─")
    assert t("agreement.in_effect.title", number=3) in in_effect
    assert first_contact in in_effect
    assert t("agreement.in_effect.approved_by", marketing="@kato", sales="@tanaka") in in_effect
    assert headers(approved, "channel #marketing · the same as in #sales")
    # the next lead's hand-off: 1 business hour now, where Acme's had 2 under v1
    assert "First contact by Tue 24 Nov 11:50 (2 business hours)" in out.partition(
        part)[0]
    assert "business hours)" not in part
    handoff = section(part, "10:30 · channel #sales")
    assert "Northwind Trading" in handoff
    assert "First contact by Mon 30 Nov 11:30 (1 business hour)" in handoff
    # the demo's week was not the week of the agreement's change
    assert "The agreement changed" not in section(out, "Mon 30 Nov 09:00 · channel #sales")


def test_the_deals_end_and_the_review_shows_the_funnel(
    english: tuple[int, str, str, float],
) -> None:
    """SPEC 10 as people live it: the first day's SQL won a week after its conversion and
    the recycled company's next contact lost to a competitor, both reported by the CRM through
    the outcome webhook; Slack hears both; on the 1st the review pack shows the funnel.
    Product wording is read from the catalog, so only the scene's structure is pinned."""
    _, out, _, _ = english
    t = Translator("en")
    part = deals_scene(out, t)
    assert "Done. Surfaces shown:" in part  # the story ends here
    # the cousin: another contact at the recycled lead's company, claimed and converted
    cousin = f"{t('demo.people.contact_cousin')} — Acme Logistics"
    assert "ordinary lead · Acme Logistics: HTTP 202" in part
    assert cousin in section(part, "Tue 1 Dec 10:00 · channel #sales")
    assert f"@suzuki presses [ {t('handoff.convert')} ] on “Acme Logistics”" in part
    assert "800,000" in section(part, "channel #marketing")
    # brief: the claim DM repeats the card, so only its first line; the modal opened empty
    # before is only named
    assert frames(part, "DM · @suzuki")[0].splitlines()[2:] == ["  …"]
    assert frames(part, "modal “Convert to SQL” · @suzuki")[0].splitlines()[1:] == ["  …"]
    # won: a week after its conversion on Thu 26 Nov 11:00, through the outcome webhook
    won_at = part.index(t("demo.deals.won", company="Example KK"))
    lost_at = part.index(t("demo.deals.lost", company="Acme Logistics"))
    review_at = part.index(t("review.title", month="December 2026"))
    assert won_at < lost_at < review_at
    assert f"▶ Thu 3 Dec 11:00  {t('demo.deals.won', company='Example KK')}" in part
    won = part[won_at:lost_at]
    assert re.search(r'^  POST /webhooks/outcome \{"external_id": "hubspot-20391", '
                     r'"outcome": "won", "amount": 1200000, "currency": "JPY", '
                     r'"closed_at": "2026-12-03T11:00:00\+09:00"', won, re.M)
    assert '  HTTP 202 {"lead_id": 1, "status": "recorded"}' in won
    # the thread reply, the hand-off message (in brief: what changed) and marketing's post
    amount = "¥1,200,000"
    assert t("outcome.won", amount=amount) in section(
        won, "thread of “Yamada Hanako — Example KK” in #sales")
    updated = frames(won, "channel #sales (message updated)")[0].splitlines()
    assert updated[1:3] == ["  ▍Yamada Hanako — Example KK", "  …"]
    assert t("outcome.won", amount=amount) in updated[3] and len(updated) == 4
    assert amount in section(won, "channel #marketing") and "Example KK" in section(
        won, "channel #marketing")
    # lost to a competitor with the rep's note: marketing sees the reason and the note
    lost = part[lost_at:review_at]
    assert '"outcome": "lost"' in lost and '"reason": "competitor"' in lost
    reason = t("loss_reason.competitor")
    note = t("demo.notes.lost")
    marketing = section(lost, "channel #marketing")
    assert reason in marketing and note in marketing
    assert t("outcome.with_note", outcome=t("outcome.lost", reason=reason), note=note) in \
        section(lost, f"thread of “{cousin}” in #sales")
    # the digest of that week lists both deals, in brief its deals section only
    digest = frames(part, "Mon 7 Dec 09:00 · channel #sales ─")[0]
    assert "Weekly SLA digest · 2026-W49" in digest and "Example KK" in digest
    assert "Acme Logistics" in digest and reason in digest and digest.endswith("  …")
    # the 1st: the December pack, in brief its title and the funnel, then its chart
    pack = frames(part, "Fri 1 Jan 09:00 · channel #sales ─")[-1]
    assert t("review.title", month="December 2026") in pack
    assert t("review.deals") in pack
    assert t("review.deals_revenue", amounts=amount) in section(pack, "channel #sales")
    assert "won 1" in pack and "1 lost" in pack
    assert t("review.by_source") not in pack and pack.endswith("  …")
    chart = frames(part, "Fri 1 Jan 09:00 · channel #sales (file)")
    assert chart and "December 2026" in chart[0] and "📎" in chart[0]


def test_the_demo_in_japanese_and_without_pauses(tmp_path: Path) -> None:
    out = io.StringIO()

    def start_bot(services: Services, worker: OutboxWorker) -> BotServer:
        server = BotServer(services, host="127.0.0.1", port=0, start_scheduler=False)
        server.worker = worker
        return server.start()

    began = time.monotonic()
    seen = run_demo(load_policy(EXAMPLE_POLICY), start_bot=start_bot,
                    listener_threads=LISTENER_THREADS, language="ja", speed=0, out=out)
    assert time.monotonic() - began < 30
    text = out.getvalue()
    assert set(seen) == set(SURFACES)
    assert "@佐藤 が「株式会社サンプル」の [ 担当する ] を押します" in text
    assert "すでに @佐藤 が担当しています。" in section(text, "@鈴木 にだけ表示")
    assert "まで時間が進みます" in text and "@田中 が /sla-status と入力します" in text
    assert "11/30(月) 09:00 · チャンネル #sales" in text
    assert "Claim" not in text and "Reminder" not in text  # the bot spoke Japanese throughout
    assert_reads_as_japanese(text)
    assert_the_agreement_scene_in_japanese(text)
    assert_the_deals_scene_in_japanese(text)


def assert_the_deals_scene_in_japanese(text: str) -> None:
    """The end of the story in Japanese: 受注, 失注 (競合に決定) and the review's funnel, and
    nothing in English but commands, ids, the BANT terms the modal names and the CRM's and
    the bot's machine exchange (the outcome webhook's request and answer lines)."""
    t = Translator("ja")
    part = deals_scene(text, t)
    assert t("demo.deals.won", company="株式会社サンプル") in part
    assert "🏆 受注 ￥1,200,000" in part
    lost = section(part[part.index(t("demo.deals.lost", company="アクメ物流")):],
                   "チャンネル #marketing")
    assert "競合に決定" in lost and t("demo.notes.lost") in lost
    pack = frames(part, "1/1(金) 09:00 · チャンネル #sales ─")[-1]
    assert t("review.title", month="2026年12月") in pack and t("review.deals") in pack
    assert "受注 1件" in pack and "失注1件" in pack
    assert frames(part, "1/1(金) 09:00 · チャンネル #sales（ファイル）")
    shown = "\n".join(line for line in part.splitlines()
                      if "HTTP 202 {" not in line and "POST /webhooks/outcome {" not in line)
    words = set(re.findall(r"[A-Za-z][A-Za-z-]+", shown))
    assert words <= {"POST", "webhooks", "outcome", "CRM", "MQL", "SQL", "SLA", "BANT",
                     "Budget", "Authority", "Need", "Timeline", "hubspot", "pricing", "sales",
                     "marketing"}, words


def assert_the_agreement_scene_in_japanese(text: str) -> None:
    """The agreement scene plays in Japanese too, and says nothing in English: what is left
    in Latin letters are commands, ids, channel names and the intake's machine answer."""
    t = Translator("ja")
    part = scene(text, t)
    assert t("demo.agreement.press", user="@田中", channel="#sales", number=2,
             button=t("agreement.proposal.request_changes")) in part
    assert t("agreement.proposal.headline", number=3) in part
    assert t("demo.notes.change_request") in section(part, "#sales のスレッド")
    assert t("agreement.proposal.status_superseded", newer=3) in part
    assert t("agreement.in_effect.title", number=3) in part
    assert "#marketing · #sales と同じ内容" in part
    handoff = section(part, "10:30 · チャンネル #sales")
    assert "北風商事" in handoff and "初回接触期限: 11/30(月) 11:30（1営業時間以内）" in handoff
    shown = "\n".join(line for line in part.splitlines() if "HTTP 202 {" not in line)
    words = set(re.findall(r"[A-Za-z][A-Za-z-]+", shown))
    assert words <= {"sla-bot", "agreement", "propose", "sales", "marketing", "MQL", "SQL", "SLA",
                     "hubspot", "pricing"}, words


def assert_reads_as_japanese(text: str) -> None:
    """Nothing raw or English reaches the reader of a Japanese demo (SPEC 8). The webhook's
    answers (``HTTP 202 {…}``) are what the MA tool receives, machine-facing, so left out."""
    shown = "\n".join(line for line in text.splitlines() if "HTTP 202 {" not in line)
    frames = [line for line in shown.splitlines() if line.startswith("── ")]
    for english in (" channel ", " DM ", "ephemeral", "sees it", "thread of", " modal ",
                    "App Home", "(message updated)", "(file)"):
        assert not [f for f in frames if english in f], english
    for raw in ("lead(s)", "(s)", "0 min late", "0分 超過", "page_view", "demo_request",
                "manufacturing", "Mon/", "コンタクト", "[ 123 ]"):
        assert raw not in shown, raw
    # no space between a number and its unit (a bold count keeps one: Slack shows "*2*件"
    # with its asterisks, so "件" after a bold number is not checked)
    assert not re.search(r"\d (分|回|名)", shown), re.search(r".{20}\d (分|回|名)", shown)
    assert "19分超過" in shown and "接触回数 1回" in shown
    assert "月〜金 09:00–18:00" in shown
    assert "行動履歴（3件） • 11/24(火) 08:50 — デモ依頼: demo request form" in section(
        text, "09:50 · チャンネル #sales")
    assert "業種 製造業" in section(text, "09:50 · チャンネル #sales")
    assert "期限 11/24(火) 11:50 をたった今過ぎました。" in section(
        text, "11:50 · ダイレクトメッセージ · @田中")
    # the tier note is said with the intake, never inside a later lead's frame
    tier = text.index("「hot」ティアに該当")
    assert tier < text.index("── ")
    # what the demo typed into a modal is shown, not a placeholder
    submitted = section(text, "モーダル「SQL 化する」（送信した内容）")
    assert "[x] 予算（Budget）" in submitted and "[ 1200000 ]" in submitted
    # a touch is logged but follow-ups are still owed: the next one is what comes next
    assert "次の期限: 11/25(水) 13:00 までにフォローアップ（5回中 2回目の接触）" in section(
        text, "13:00 · チャンネル #sales（メッセージを更新）")
    assert text.rstrip().splitlines()[-1].startswith("完了。表示した画面: チャンネル ")


def test_a_bad_speed_is_refused() -> None:
    from handlers.cli import main

    assert main(["demo", "--speed", "-1"]) == 2
