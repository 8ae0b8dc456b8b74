"""`GET /metrics`: Prometheus text with acks, turns, queue, model latency, tokens, cost and
Slack API errors, measured on the real app served over HTTP."""

import pytest
from prometheus_client.parser import text_string_to_metric_families
from slack_sdk.errors import SlackApiError

from bot.slack.api_errors import ErrorCounter
from tests.slack.conftest import BACKEND, CHANNEL, SlackHarness
from tests.support import QUESTIONS


def scrape(harness: SlackHarness) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `/metrics`, keyed by name and sorted labels."""
    response = harness.get("/metrics")
    assert response.status == 200
    assert response.headers.get("content-type", "").startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.body):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_a_mention_shows_up_in_every_metric(harness: SlackHarness) -> None:
    before = scrape(harness)
    harness.anthropic.reply_tool_use("ask_clarifying_questions", QUESTIONS)
    ts = harness.mention("Add SSO for admins")
    harness.wait_for_bot(CHANNEL, ts)
    harness.wait_idle()
    after = scrape(harness)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("agentdesk_slack_ack_seconds_count") >= 1
    assert grew("agentdesk_turns_total", outcome="awaiting_user") == 1
    assert grew("agentdesk_queue_wait_seconds_count") >= 1
    model = harness.agent_requests()[-1]["model"]
    assert grew("agentdesk_model_request_seconds_count", model=model, result="ok") >= 1
    assert grew("agentdesk_model_tokens_total", agent=BACKEND, kind="input") > 0
    assert grew("agentdesk_model_tokens_total", agent=BACKEND, kind="output") > 0
    assert grew("agentdesk_model_cost_dollars_total", agent=BACKEND) > 0
    assert ("agentdesk_queue_depth", (("state", "queued"),)) in after
    assert ("agentdesk_queue_oldest_wait_seconds", ()) in after
    if harness.slack.calls_to("reactions.add"):  # the :eyes: fallback ran and was refused
        assert (
            grew("agentdesk_slack_api_errors_total", error="invalid_name", method="reactions.add")
            == 1
        )


def test_slack_api_errors_are_counted_by_method(harness: SlackHarness) -> None:
    client = harness.app.services.client_for(None)
    assert isinstance(client.retry_handlers[0], ErrorCounter)
    before = scrape(harness)
    harness.slack.fail_next("users.info", error="user_not_found")
    with pytest.raises(SlackApiError):
        client.users_info(user="U404")
    harness.slack.fail_next("chat.postMessage", status=500, error="internal_error", times=3)
    with pytest.raises(SlackApiError):
        client.chat_postMessage(channel=CHANNEL, thread_ts="1.000", text="hello")
    after = scrape(harness)
    key = (
        "agentdesk_slack_api_errors_total",
        (("error", "user_not_found"), ("method", "users.info")),
    )
    assert after[key] - before.get(key, 0.0) == 1
    key = (
        "agentdesk_slack_api_errors_total",
        (("error", "http_500"), ("method", "chat.postMessage")),
    )
    assert after[key] - before.get(key, 0.0) == 3  # the first try and both retries
