"""A conversation from request to deliverable, through the real SDK against the fake API."""

import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from bot.engine.desk import Desk
from bot.engine.inbound import InboundMessage, Source
from bot.store import queue
from bot.store.models import (
    ConversationStatus,
    MessageKind,
    PendingWork,
    PostState,
    WorkStatus,
)
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import (
    PLAN,
    QUESTIONS,
    RecordingPoster,
    desk_with,
    make_settings,
    stored_conversation,
)


def inbound(
    text: str, *, ts: str, user: str = "U1", name: str = "alice", **extra: object
) -> InboundMessage:
    values: dict[str, object] = {
        "team_id": "T1",
        "channel_id": "C1",
        "thread_ts": "100.000",
        "ts": ts,
        "user_id": user,
        "user_name": name,
        "text": text,
        "source": Source.MENTION,
        "event_keys": (f"msg:T1:C1:{ts}",),
    }
    values.update(extra)
    return InboundMessage(**values)  # type: ignore[arg-type]


@pytest.fixture
def fake() -> FakeAnthropic:
    with FakeAnthropic() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def desk(tmp_path: Path, fake: FakeAnthropic) -> Desk:
    with desk_with(make_settings(tmp_path, fake)) as ready:
        yield ready  # type: ignore[misc]


def test_request_questions_answers_deliverable(desk: Desk, fake: FakeAnthropic) -> None:
    poster = RecordingPoster()
    intake = desk.take_in(
        inbound(
            "I need OAuth login for our users",
            ts="100.000",
            explicit_agent="backend-feature-developer",
        )
    )
    assert intake.conversation_id is not None
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    assert desk.work(poster=poster) == 1

    conversation = stored_conversation(desk, intake.conversation_id)
    assert conversation is not None
    assert conversation.status is ConversationStatus.AWAITING_USER
    assert conversation.agent == "backend-feature-developer"
    questions = poster.posted[-1]
    assert questions.kind is MessageKind.QUESTIONS
    assert questions.text == (
        "A few questions before I design this:\n"
        "1. Which identity providers? (Google / GitHub / Both)\n"
        "2. Do existing password accounts need linking?"
    )
    assert questions.payload is not None
    assert questions.payload["questions"][0]["choices"] == ["Google", "GitHub", "Both"]

    first = fake.message_requests[-1].body
    assert first["system"][0]["text"].startswith("You are working in a team chat thread")
    assert "You are an expert backend developer" in first["system"][0]["text"]
    assert [t["name"] for t in first["tools"]] == [
        "update_requirement_card",
        "ask_clarifying_questions",
        "deliver_result",
    ]
    assert first["model"] == "claude-sonnet-5-5"  # the seed has no model: → the default

    # Two teammates answer; neither mentions the bot.
    desk.take_in(inbound("Both, please", ts="100.100"))
    desk.take_in(inbound("Yes, link by verified email", ts="100.200", user="U2", name="bob"))
    fake.reply_tool_use("deliver_result", PLAN, text_before="Here is the plan.")
    assert desk.work(poster=poster) == 1

    conversation = stored_conversation(desk, intake.conversation_id)
    assert conversation is not None
    assert conversation.status is ConversationStatus.DELIVERED
    deliverable = poster.posted[-1]
    assert deliverable.kind is MessageKind.DELIVERABLE
    assert deliverable.text.startswith("# OAuth login\n\nAdd Google and GitHub sign-in")
    assert deliverable.payload is not None and deliverable.payload["document"] == PLAN["document"]

    second = fake.message_requests[-1].body
    answers = second["messages"][-1]["content"]
    answer_text = " ".join(block["text"] for block in answers)
    assert "[alice (requester)] Both, please" in answer_text
    assert "[bob] Yes, link by verified email" in answer_text
    assert second["messages"][1]["role"] == "assistant"
    assert "1. Which identity providers?" in second["messages"][1]["content"]

    stored = [m for m in desk.messages(intake.conversation_id) if m.kind is not MessageKind.CARD]
    assert [m.role.value for m in stored] == ["user", "assistant", "user", "user", "assistant"]
    assert all(
        m.post_state is PostState.POSTED and m.slack_ts for m in stored if m.role == "assistant"
    )
    turn_usage = [m for m in stored if m.role == "assistant"]
    assert all(m.input_tokens + m.cache_read_tokens + m.cache_write_tokens > 0 for m in turn_usage)
    assert all(m.output_tokens > 0 for m in turn_usage)
    assert conversation.input_tokens == sum(m.input_tokens for m in turn_usage)
    assert conversation.output_tokens == sum(m.output_tokens for m in turn_usage)
    assert conversation.cache_read_tokens == sum(m.cache_read_tokens for m in turn_usage) > 0
    assert conversation.cache_write_tokens == sum(m.cache_write_tokens for m in turn_usage) > 0


def test_second_turn_marks_and_reads_the_cached_prefix(desk: Desk, fake: FakeAnthropic) -> None:
    desk.take_in(inbound("Add audit logs", ts="1.0", explicit_agent="backend-feature-developer"))
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work()
    desk.take_in(inbound("GitHub only", ts="2.0"))
    fake.reply_text("Noted, one more thing: retention?")
    desk.work()

    first, second = (r.body for r in fake.message_requests)
    for body in (first, second):
        assert body["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert body["messages"][-1]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    # The first turn's last user message is marked again in the second request: its prefix
    # is what the first request wrote to the cache.
    assert second["messages"][0]["content"][-1]["cache_control"] == {"type": "ephemeral"}
    assert second["messages"][0] == first["messages"][0]
    stored = [
        m for m in desk.messages(1) if m.role == "assistant" and m.kind is not MessageKind.CARD
    ]
    assert stored[0].cache_write_tokens > 0
    assert stored[1].cache_read_tokens >= stored[0].cache_write_tokens


def test_529_then_success(desk: Desk, fake: FakeAnthropic) -> None:
    fake.reply_error(529, "overloaded_error", "Overloaded", {"retry-after-ms": "1"})
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.take_in(inbound("Add rate limits", ts="1.0", explicit_agent="backend-feature-developer"))
    desk.work()
    assert [r.retry_count for r in fake.message_requests] == [0, 1]
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.status is ConversationStatus.AWAITING_USER


def test_permanent_500_fails_readably_and_retry_works(desk: Desk, fake: FakeAnthropic) -> None:
    poster = RecordingPoster()
    for _ in range(3):
        fake.reply_error(500, "api_error", "Internal server error", {"retry-after-ms": "1"})
    desk.take_in(inbound("Add webhooks", ts="1.0", explicit_agent="backend-feature-developer"))
    desk.work(poster=poster)
    conversation = stored_conversation(desk, 1)
    assert conversation is not None
    assert conversation.status is ConversationStatus.FAILED
    assert conversation.failure_reason == (
        "The model API had an internal error (500) (still after 2 retries)."
    )
    failure = poster.posted[-1]
    assert failure.kind is MessageKind.FAILURE
    assert failure.text == (
        "I couldn't finish this turn. The model API had an internal error (500) "
        "(still after 2 retries). Press Retry to try again."
    )
    assert "Traceback" not in failure.text

    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    assert desk.retry(1)
    desk.work(poster=poster)
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.status is ConversationStatus.AWAITING_USER
    assert conversation.failure_reason is None
    # The failure notice is not shown to the model as something the agent said.
    last = fake.message_requests[-1].body["messages"]
    assert len(last) == 1 and "couldn't finish" not in str(last)


def test_a_database_hiccup_queues_the_turn_again_instead_of_failing_it(
    desk: Desk, fake: FakeAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.engine.turns as turns

    real_add_usage = turns.conversation_records.add_usage
    hiccups = [OperationalError("UPDATE conversation", {}, Exception("database is locked"))]

    def add_usage_once_locked(**kwargs: object) -> None:
        if hiccups:
            raise hiccups.pop()
        real_add_usage(**kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(turns.conversation_records, "add_usage", add_usage_once_locked)
    monkeypatch.setattr(turns, "RETRY_BASE_SECONDS", 0.05)
    poster = RecordingPoster()
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.take_in(inbound("Add exports", ts="1.0", explicit_agent="backend-feature-developer"))

    assert desk.work(poster=poster) == 1
    with Session(desk.engine) as session:
        (turn,) = session.exec(select(PendingWork)).all()
    assert turn.status is WorkStatus.QUEUED and turn.attempts == 1
    assert "database is locked" in (turn.last_error or "")
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.status is not ConversationStatus.FAILED
    assert poster.posted == []  # no failure notice in the thread

    time.sleep(0.1)
    assert desk.work(poster=poster) == 1
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.status is ConversationStatus.AWAITING_USER
    assert [m.kind for m in poster.posted] == [MessageKind.CARD, MessageKind.QUESTIONS]


def test_retry_and_double_delivery_store_one_message(desk: Desk) -> None:
    first = desk.take_in(inbound("Add SSO", ts="5.0", event_keys=("Ev1", "msg:T1:C1:5.0")))
    again = desk.take_in(inbound("Add SSO", ts="5.0", event_keys=("Ev1", "msg:T1:C1:5.0")))
    as_mention = desk.take_in(inbound("Add SSO", ts="5.0", event_keys=("Ev2", "msg:T1:C1:5.0")))
    assert not first.duplicate and again.duplicate and as_mention.duplicate
    assert len(desk.messages(1)) == 1


def test_crash_between_storing_and_posting_posts_once_after_restart(
    tmp_path: Path, fake: FakeAnthropic
) -> None:
    settings = make_settings(tmp_path, fake)
    flaky = RecordingPoster()
    flaky.fail_next = 1
    with desk_with(settings) as desk:
        desk.take_in(inbound("Add exports", ts="1.0", explicit_agent="backend-feature-developer"))
        fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        desk.work(poster=flaky)
        assert flaky.posted == []
        card, pending = desk.messages(1)[1:]
        assert card.post_state is pending.post_state is PostState.PENDING

    poster = RecordingPoster()
    with desk_with(settings) as restarted:  # a new process over the same database
        assert restarted.flush_outbox(poster) == 2
        assert restarted.flush_outbox(poster) == 0
    assert [m.kind for m in poster.posted] == [MessageKind.CARD, MessageKind.QUESTIONS]
    assert len(fake.message_requests) == 1  # the model was not asked again


def test_a_turn_left_running_by_a_dead_worker_resumes(tmp_path: Path, fake: FakeAnthropic) -> None:
    settings = make_settings(tmp_path, fake)
    with desk_with(settings) as desk:
        desk.take_in(inbound("Add search", ts="1.0", explicit_agent="backend-feature-developer"))
        claimed = queue.claim_turn(engine=desk.engine, worker="dead", lease=timedelta(seconds=-1))
        assert claimed is not None and claimed.status is WorkStatus.RUNNING
    with desk_with(settings) as restarted:
        fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
        assert restarted.work() == 1
        conversation = stored_conversation(restarted, 1)
        assert conversation is not None and conversation.status is ConversationStatus.AWAITING_USER


def test_a_running_turn_is_not_claimed_twice(desk: Desk) -> None:
    desk.take_in(inbound("Add search", ts="1.0"))
    lease = timedelta(minutes=5)
    assert queue.claim_turn(engine=desk.engine, worker="a", lease=lease) is not None
    desk.take_in(inbound("and filters", ts="2.0"))
    assert queue.claim_turn(engine=desk.engine, worker="b", lease=lease) is None


def test_plain_text_answer_waits_for_the_user(desk: Desk, fake: FakeAnthropic) -> None:
    desk.take_in(
        inbound("What do you need from me?", ts="1.0", explicit_agent="backend-feature-developer")
    )
    fake.reply_text("Tell me which service this is for.")
    desk.work()
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.status is ConversationStatus.AWAITING_USER
    assert desk.messages(1)[-1].text == "Tell me which service this is for."


def test_cancel_stops_the_thread_and_a_reply_restarts_it(desk: Desk, fake: FakeAnthropic) -> None:
    desk.take_in(inbound("Add billing", ts="1.0", explicit_agent="backend-feature-developer"))
    assert desk.cancel(1, by="alice")
    assert desk.work() == 0
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.status is ConversationStatus.CANCELLED
    assert desk.messages(1)[-1].text == "Cancelled by alice. Reply here to start again."
    assert fake.message_requests == []


def test_a_thread_longer_than_the_context_is_condensed(tmp_path: Path, fake: FakeAnthropic) -> None:
    settings = make_settings(tmp_path, fake, model_context_tokens=12_000, model_max_tokens=1024)
    with desk_with(settings) as desk:
        desk.take_in(
            inbound("Design a reporting API", ts="1.0", explicit_agent="backend-feature-developer")
        )
        for number in range(2, 40):
            desk.take_in(inbound(f"detail {number}: " + "lorem ipsum " * 200, ts=f"{number}.0"))
        fake.reply_tool_use("deliver_result", PLAN)
        desk.work()
        conversation = stored_conversation(desk, 1)
        assert conversation is not None and conversation.status is ConversationStatus.DELIVERED
        body = fake.message_requests[-1].body
        text = str(body["messages"])
        assert "Design a reporting API" in text  # the request itself is kept
        assert "detail 39" in text  # and the newest messages
        assert "earlier messages of this thread are condensed" in text
        assert len(text) < 12_000 * 4
        delivered = desk.messages(1)[-1]
        assert delivered.payload is not None and delivered.payload["condensed"] > 0


def test_prompt_too_long_from_the_api_condenses_harder(tmp_path: Path, fake: FakeAnthropic) -> None:
    settings = make_settings(tmp_path, fake, model_context_tokens=40_000, model_max_tokens=1024)
    with desk_with(settings) as desk:
        desk.take_in(
            inbound("Design a queue", ts="1.0", explicit_agent="backend-feature-developer")
        )
        for number in range(2, 30):
            desk.take_in(inbound(f"note {number}: " + "words " * 400, ts=f"{number}.0"))
        fake.reply_error(
            400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum"
        )
        fake.reply_tool_use("deliver_result", PLAN)
        desk.work()
        conversation = stored_conversation(desk, 1)
        assert conversation is not None and conversation.status is ConversationStatus.DELIVERED
        first, second = (len(str(r.body["messages"])) for r in fake.message_requests)
        assert second < first


@pytest.mark.parametrize("reply", ["yes", "2", "sounds good", "add a settings page too"])
def test_a_reply_stays_with_the_thread_agent_without_routing(
    desk: Desk, fake: FakeAnthropic, reply: str
) -> None:
    desk.take_in(inbound("Add OAuth login", ts="1.0", explicit_agent="backend-feature-developer"))
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work()
    # The channel now defaults elsewhere and the reply may sound like another agent's work:
    # the thread still belongs to its agent, and the router is not asked.
    desk.configure_channel(
        team_id="T1", channel_id="C1", default_agent="frontend-feature-developer"
    )
    desk.take_in(inbound(reply, ts="2.0"))
    fake.reply_text("Noted.")
    desk.work()
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.agent == "backend-feature-developer"
    assert [record.method for record in desk.routing_history(1)] == ["explicit"]
    assert len(fake.message_requests) == 2  # two agent turns, no routing call
    assert "You are an expert backend developer" in str(fake.message_requests[-1].body["system"])


def test_an_agent_file_that_breaks_mid_thread_hands_the_thread_on(
    desk: Desk, fake: FakeAnthropic
) -> None:
    desk.take_in(
        inbound("Add a settings page", ts="1.0", explicit_agent="frontend-feature-developer")
    )
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work()
    broken = desk.settings.agents_dir / "frontend-feature-developer.md"
    broken.write_text("---\nname: frontend-feature-developer\n---\n", encoding="utf-8")
    desk.configure_channel(team_id="T1", channel_id="C1", default_agent="backend-feature-developer")
    desk.take_in(inbound("Both, please", ts="2.0"))
    fake.reply_text("Thanks, working on it.")
    desk.work()
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.agent == "backend-feature-developer"
    assert conversation.status is ConversationStatus.AWAITING_USER
    notice = next(m for m in desk.messages(1) if m.kind is MessageKind.NOTICE)
    assert notice.text == (
        "The agent *frontend-feature-developer* is no longer available, "
        "so I'm finding another one for this thread."
    )
    assert desk.routing_history(1)[-1].method == "channel_default"
    assert "You are an expert backend developer" in str(fake.message_requests[-1].body["system"])


def test_a_huge_message_is_kept_whole_and_the_model_gets_a_bounded_copy(
    desk: Desk, fake: FakeAnthropic
) -> None:
    huge = "We need an export of every order. " * 4000  # ~136,000 characters
    desk.take_in(inbound(huge, ts="1.0", explicit_agent="backend-feature-developer"))
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    desk.work()
    assert desk.messages(1)[0].text == huge
    sent = fake.message_requests[-1].body["messages"][0]["content"][-1]["text"]
    assert len(sent) < 70_000 and "more characters not shown" in sent
    conversation = stored_conversation(desk, 1)
    assert conversation is not None and conversation.title.endswith("…")
    assert len(conversation.title) <= 120


def test_a_malformed_questions_call_is_answered_with_a_tool_error_the_model_corrects(
    desk: Desk, fake: FakeAnthropic
) -> None:
    desk.take_in(inbound("Add audit logs", ts="1.0", explicit_agent="backend-feature-developer"))
    fake.reply_tool_use(
        "ask_clarifying_questions", {"questions": [{"question": "Which?", "choices": 5}]}
    )
    fake.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    assert desk.work() == 1

    conversation = stored_conversation(desk, 1)
    assert conversation is not None
    assert conversation.status is ConversationStatus.AWAITING_USER
    correction = fake.message_requests[-1].body["messages"][-1]["content"][0]
    assert correction["type"] == "tool_result" and correction["is_error"] is True
    assert "questions.0.choices" in correction["content"]
    asked = desk.messages(1)[-1]
    assert asked.kind is MessageKind.QUESTIONS
    assert asked.text.startswith("A few questions before I design this:")


def test_a_refused_key_says_what_to_fix_instead_of_press_retry(tmp_path: Path) -> None:
    poster = RecordingPoster()
    with (
        FakeAnthropic(api_key="the-right-key") as strict,
        desk_with(make_settings(tmp_path, strict, anthropic_api_key="wrong-key")) as desk,
    ):
        desk.take_in(inbound("Add SSO", ts="1.0", explicit_agent="backend-feature-developer"))
        desk.work(poster=poster)
        requests = len(strict.message_requests)
    failure = poster.posted[-1]
    assert failure.kind is MessageKind.FAILURE
    assert "check ANTHROPIC_API_KEY" in failure.text
    assert "Press Retry to try again" not in failure.text
    assert "Retrying won't help until" in failure.text
    assert requests == 1  # a 401 is not retried


def test_an_unreachable_model_server_is_not_named_in_the_thread(tmp_path: Path) -> None:
    with FakeAnthropic() as gone:
        url = gone.base_url
    poster = RecordingPoster()
    settings = make_settings(tmp_path, anthropic_api_key="k", anthropic_base_url=url)
    with desk_with(settings) as desk:
        desk.take_in(inbound("Add SSO", ts="1.0", explicit_agent="backend-feature-developer"))
        desk.work(poster=poster)
        conversation = stored_conversation(desk, 1)
    failure = poster.posted[-1]
    assert failure.kind is MessageKind.FAILURE
    assert "couldn't reach the model API" in failure.text
    assert "Press Retry to try again" in failure.text
    host = url.split("//")[1]
    assert conversation is not None and host not in (conversation.failure_reason or "")
    assert host not in failure.text and "127.0.0.1" not in failure.text
