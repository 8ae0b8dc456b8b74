"""What replies look like in Slack and how they get there: fast acks, signs of life, Markdown
within Slack's limits, safe mentions, files, and rate limits waited out."""

import re
import time
from typing import Any

import pytest

from tests.fakes.slack_server import MAX_MARKDOWN_CHARS, visible_text
from tests.slack.conftest import BOT_USER, CHANNEL, SlackHarness
from tests.support import QUESTIONS


def _markdown_chars(message: dict[str, Any]) -> int:
    blocks = message.get("blocks") or []
    return sum(len(b["text"]) for b in blocks if b["type"] == "markdown")


def test_slow_model_ack_is_immediate_and_a_status_shows_within_a_second(
    harness: SlackHarness,
) -> None:
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS, delay_seconds=3.5)
    ts = harness.slack.add_user_message(CHANNEL, f"<@{BOT_USER}> Add SSO", "U1")
    started = time.monotonic()
    responses = [harness.event(event) for event in harness.events_for(CHANNEL, ts)]
    assert all(r.seconds < 1.0 for r in responses), [r.seconds for r in responses]

    harness.slack.wait_for(
        lambda: harness.slack.current_status(CHANNEL, ts), timeout=1.0, message="a status"
    )
    assert time.monotonic() - started < 1.0
    assert harness.bot_messages(CHANNEL, ts) == []  # the model is still thinking
    harness.slack.wait_for(lambda: len(harness.slack.statuses) >= 2)
    assert sorted(s["status"] for s in harness.slack.statuses) == [
        "agentdesk is reading your message…",
        "backend-feature-developer is thinking…",
    ]
    harness.wait_for_bot(CHANNEL, ts)
    assert harness.slack.current_status(CHANNEL, ts) is None  # the reply cleared it
    assert harness.slack.reactions == []


def test_a_reaction_shows_life_where_set_status_is_refused(harness: SlackHarness) -> None:
    harness.slack.fail_next(
        "assistant.threads.setStatus",
        error="missing_scope",
        times=10,
        extra={"needed": "assistant:write", "provided": "chat:write"},
    )
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS, delay_seconds=0.5)
    ts = harness.slack.add_user_message(CHANNEL, f"<@{BOT_USER}> Add SSO", "U1")
    started = time.monotonic()
    for event in harness.events_for(CHANNEL, ts):
        harness.event(event)
    harness.slack.wait_for(lambda: harness.slack.reactions, timeout=1.0, message="a reaction")
    assert time.monotonic() - started < 1.0
    assert harness.slack.reactions == [
        {"channel": CHANNEL, "ts": ts, "name": "eyes", "user": BOT_USER}
    ]
    harness.wait_for_bot(CHANNEL, ts)
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, ts)) == 1
    assert harness.slack.statuses == []  # every attempt was refused
    assert len(harness.slack.calls_to("assistant.threads.setStatus")) >= 1


def test_long_replies_are_split_into_markdown_blocks_within_the_limit(
    harness: SlackHarness,
) -> None:
    paragraphs = [
        f"### Part {n}\n\n" + " ".join(f"word{n}x{i}" for i in range(300)) for n in range(12)
    ]
    code = "```python\n" + "\n".join(f"value_{i} = {i}" for i in range(400)) + "\n```"
    long_text = "\n\n".join([*paragraphs[:6], code, *paragraphs[6:]])
    assert len(long_text) > 3 * MAX_MARKDOWN_CHARS
    harness.anthropic.reply_text(long_text)
    ts = harness.mention("Explain the whole system to me")

    harness.wait_for_text(CHANNEL, ts, "### Part 11")
    harness.wait_idle()
    replies = harness.bot_messages(CHANNEL, ts)
    assert len(replies) >= 4
    for reply in replies:
        assert reply["thread_ts"] == ts
        assert [b["type"] for b in reply["blocks"]] == ["markdown"]
        assert 0 < _markdown_chars(reply) <= MAX_MARKDOWN_CHARS
        assert len(reply["text"]) <= 300  # the notification preview, not the whole text
        assert reply["blocks"][0]["text"].count("```") % 2 == 0  # code blocks closed
    shown = "\n".join(r["blocks"][0]["text"] for r in replies)
    words = re.findall(r"word\d+x\d+|value_\d+ = \d+", shown)
    assert words == re.findall(r"word\d+x\d+|value_\d+ = \d+", long_text)  # nothing lost


def test_broadcasts_and_invented_mentions_are_stripped(harness: SlackHarness) -> None:
    harness.anthropic.reply_text(
        "<!here> heads up <!channel>, and @everyone too.\n\n"
        "I asked <@U0MALLORY|mallory> and <@U0NOBODY> and <!subteam^S123|@oncall> about it."
    )
    ts = harness.mention("Who should review this?")
    (reply,) = harness.wait_for_bot(CHANNEL, ts)
    shown = visible_text(reply) + reply["text"]
    for forbidden in ("<!here>", "<!channel>", "@everyone", "<@", "<!subteam"):
        assert forbidden not in shown
    assert "heads up" in shown
    assert "I asked mallory and someone" in shown


def test_a_long_deliverable_is_attached_as_a_file_in_the_thread(harness: SlackHarness) -> None:
    document = "\n\n".join(
        f"## Step {n}\n\n" + " ".join(f"detail{n}x{i}" for i in range(200)) for n in range(15)
    )
    plan = {
        "title": "Billing revamp",
        "summary": "Move billing to usage-based plans.",
        "document": document,
    }
    harness.anthropic.reply_tool_use("deliver_result", plan, text_before="Here is the plan.")
    ts = harness.mention("Plan the billing revamp; everything is decided")

    message = harness.wait_for_text(CHANNEL, ts, "The full plan is attached below.")
    shown = visible_text(message)
    assert "Here is the plan." in shown
    assert "**Billing revamp**" in shown
    assert "Move billing to usage-based plans." in shown
    assert "detail3x7" not in shown
    assert _markdown_chars(message) <= MAX_MARKDOWN_CHARS
    (upload,) = harness.slack.wait_for(lambda: harness.slack.files, message="the plan file")
    assert upload["name"] == "billing-revamp.md"
    assert upload["channel"] == CHANNEL
    assert upload["thread_ts"] == ts
    content = upload["content"].decode()
    assert content.startswith("# Billing revamp\n\nMove billing to usage-based plans.")
    assert document in content
    harness.wait_idle()
    replies = harness.bot_messages(CHANNEL, ts)
    assert len(replies) == 2  # the summary and the file share, both in the thread
    assert replies[1]["files"][0]["name"] == "billing-revamp.md"


def test_a_429_from_post_message_is_waited_out_and_the_reply_arrives_once(
    harness: SlackHarness,
) -> None:
    harness.slack.fail_next("chat.postMessage", status=429, retry_after="1")
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    started = time.monotonic()
    ts = harness.mention("Add SSO")
    harness.wait_for_bot(CHANNEL, ts)
    assert time.monotonic() - started >= 1.0  # Retry-After was honoured
    harness.wait_idle()
    posts = harness.slack.calls_to("chat.postMessage")  # the card first: it met the 429
    assert len(posts) == 3
    assert posts[0]["text"] == posts[1]["text"] != posts[2]["text"]
    assert len(harness.bot_messages(CHANNEL, ts)) == 1
    assert harness.card(CHANNEL, ts) is not None
    assert len(harness.agent_requests()) == 1


def test_a_refused_post_stays_in_the_outbox_and_is_posted_once_later(
    harness: SlackHarness,
) -> None:
    harness.slack.fail_next("chat.postMessage", error="internal_error", status=200)
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    ts = harness.mention("Add SSO")
    harness.wait_for_bot(CHANNEL, ts, timeout=10)
    harness.wait_idle()
    assert len(harness.bot_messages(CHANNEL, ts)) == 1
    assert harness.card(CHANNEL, ts) is not None
    assert len(harness.slack.calls_to("chat.postMessage")) == 3  # the card, refused at first
    assert len(harness.agent_requests()) == 1  # posting again did not ask the model again


def test_a_long_reply_cut_short_by_a_failure_is_completed_once(harness: SlackHarness) -> None:
    paragraphs = [f"Section {n}: " + " ".join(f"item{n}x{i}" for i in range(400)) for n in range(8)]
    harness.anthropic.reply_text("\n\n".join(paragraphs))
    # Slack takes the first part of the reply, then refuses the second once.
    real_post = harness.slack._methods["chat.postMessage"]
    calls = 0

    def first_part_then_refuse(params: dict[str, object]) -> dict[str, object]:
        nonlocal calls
        calls += 1
        result = real_post(params)
        if calls == 1:
            harness.slack.fail_next("chat.postMessage", error="internal_error", status=200)
        return result

    harness.slack._methods["chat.postMessage"] = first_part_then_refuse
    ts = harness.mention("Explain everything")
    harness.wait_for_text(CHANNEL, ts, "Section 7:", timeout=10)
    harness.wait_idle()
    shown = "\n".join(harness.bot_texts(CHANNEL, ts))
    for n in range(8):
        assert shown.count(f"Section {n}:") == 1, harness.slack.dump()
    assert len(harness.agent_requests()) == 1


def test_a_plan_file_lost_after_its_summary_is_uploaded_when_the_post_resumes(
    harness: SlackHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = "\n\n".join(f"## Step {n}\n\n" + "detail " * 300 for n in range(6))
    plan = {"title": "Billing revamp", "summary": "Usage-based plans.", "document": document}
    poster = harness.app.worker.poster
    attach = poster._attach  # type: ignore[attr-defined]
    crashes = iter([True])

    def crash_once(*args: Any) -> None:
        if next(crashes, False):
            raise ConnectionError("the process died between the summary and the file")
        attach(*args)

    monkeypatch.setattr(poster, "_attach", crash_once)
    harness.anthropic.reply_tool_use("deliver_result", plan)
    ts = harness.mention("Plan the billing revamp; everything is decided")
    harness.slack.wait_for(lambda: harness.slack.files, message="the plan file")
    harness.wait_idle()
    assert [f["name"] for f in harness.slack.files] == ["billing-revamp.md"]
    summaries = [
        m
        for m in harness.bot_messages(CHANNEL, ts)
        if "The full plan is attached below." in visible_text(m)
    ]
    assert len(summaries) == 1
