"""Stored messages as Slack messages: Markdown blocks, question buttons, and actions."""

import json
from dataclasses import dataclass
from typing import Any

from slack_sdk.models.blocks import ContextActionsBlock, FeedbackButtonsElement
from slack_sdk.models.blocks.basic_components import FeedbackButtonObject

from bot.engine.views import MessageKind, Reply, ThreadRef
from bot.slack.markup import MAX_MARKDOWN_CHARS, plain_preview, sanitize_for_slack, split_markdown

CHOOSE_AGENT = "agentdesk_choose_agent"
ANSWER = "agentdesk_answer"
CANCEL = "agentdesk_cancel"
RETRY = "agentdesk_retry"
HANDOFF = "agentdesk_handoff"
FEEDBACK = "agentdesk_feedback"
APPROVE = "approve_requirements"  # a contract: other tools press it by this id
IMPLEMENT = "agentdesk_implement"  # implementation runs (bot/implement) from here to the end
IMPLEMENT_REPO = "agentdesk_implement_repo"
IMPLEMENT_STOP = "agentdesk_implement_stop"
IMPLEMENT_RETRY = "agentdesk_implement_retry"

_BUTTON_TEXT = 75
_MAX_CHOICE_BUTTONS = 5
_MAX_OPTIONS = 100


@dataclass(frozen=True)
class SlackMessage:
    """One chat.postMessage worth of content."""

    blocks: list[dict[str, Any]]
    text: str
    attachment: tuple[str, str] | None = None  # (filename, content) to upload in the thread


def action_value(**data: Any) -> str:
    """A compact JSON value for a button (Slack allows 2,000 characters)."""
    return json.dumps(data, separators=(",", ":"))[:2000]


def read_action_value(value: str | None) -> dict[str, Any]:
    """The dict a button carried; empty when it is not ours."""
    try:
        data = json.loads(value or "")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def render(message: Reply, *, thread: ThreadRef, agents: list[str]) -> list[SlackMessage]:
    """The Slack messages that show a stored reply (long text becomes several)."""
    conversation_id = thread.id
    text = sanitize_for_slack(message.text)
    payload = message.payload or {}
    if message.kind is MessageKind.CARD:
        return [_card(conversation_id, text, payload)]
    if message.kind is MessageKind.REMINDER:  # the mentions we make on purpose
        named = [payload["requester_id"]] if payload.get("requester_id") else []
        named += [str(who) for who in payload.get("escalate_to") or []]
        if named:
            text = " ".join(_mention(who) for who in named) + f" {text}"
    actions: list[dict[str, Any]] = []
    attachment: tuple[str, str] | None = None
    if message.kind is MessageKind.QUESTIONS:
        actions = [
            *_question_buttons(conversation_id, payload),
            _actions("questions", [_button("Cancel", CANCEL, action_value(c=conversation_id))]),
        ]
    elif message.kind is MessageKind.DELIVERABLE:
        summary = "\n\n".join(
            part
            for part in (
                payload.get("lead", ""),
                f"**{payload.get('title', 'Plan')}**",
                payload.get("summary", ""),
            )
            if part
        )
        if len(text) > len(summary) + 200:
            attachment = (_filename(payload.get("title", "plan")), text)
            text = sanitize_for_slack(summary) + "\n\n_The full plan is attached below._"
        if payload.get("card_version"):
            text += f"\n\n_Builds on the requirement card, version {payload['card_version']}._"
        actions = [
            feedback_buttons(conversation_id, message.id),
            *_handoff(conversation_id, thread.agent, agents),
            implement_actions(conversation_id),
        ]
    elif message.kind is MessageKind.CHOOSE_AGENT:
        buttons = [
            _button(name, CHOOSE_AGENT, action_value(c=conversation_id, a=name), index=i)
            for i, name in enumerate(payload.get("candidates", [])[:_MAX_CHOICE_BUTTONS])
        ]
        actions = [_actions("choose", buttons)] if buttons else []
    elif payload.get("implementation_run"):
        actions = _implementation_actions(conversation_id, message.kind, payload)
    elif message.kind is MessageKind.FAILURE:
        actions = [
            _actions(
                "failure",
                [
                    _button("Retry", RETRY, action_value(c=conversation_id), style="primary"),
                    _button("Cancel", CANCEL, action_value(c=conversation_id)),
                ],
            )
        ]
    pieces = split_markdown(text)
    messages = [
        SlackMessage(blocks=[{"type": "markdown", "text": piece}], text=plain_preview(piece))
        for piece in pieces
    ]
    last = messages[-1]
    messages[-1] = SlackMessage(blocks=last.blocks + actions, text=last.text, attachment=attachment)
    return messages


def _mention(slack_id: str) -> str:
    """A user (`U…`, `W…`) or user group (`S…`) mention."""
    return f"<!subteam^{slack_id}>" if slack_id.startswith("S") else f"<@{slack_id}>"


def _card(conversation_id: int, text: str, payload: dict[str, Any]) -> SlackMessage:
    """The requirement card: one message, edited in place, so never split."""
    if len(text) > MAX_MARKDOWN_CHARS - 100:
        text = text[: MAX_MARKDOWN_CHARS - 100] + "\n\n_(The card is cut short here.)_"
    blocks: list[dict[str, Any]] = [{"type": "markdown", "text": text}]
    state, version = payload.get("state"), payload.get("version")
    if state == "ready for sign-off":
        value = action_value(c=conversation_id, v=version)
        blocks.append(_actions("card", [_button("Approve", APPROVE, value, style="primary")]))
    elif state == "approved":
        blocks.append(implement_actions(conversation_id))
    return SlackMessage(blocks=blocks, text=plain_preview(text))


def _question_buttons(conversation_id: int, payload: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = []
    for number, question in enumerate(payload.get("questions", []), start=1):
        choices = question.get("choices") or []
        if not choices:
            continue
        buttons = [
            _button(
                choice,
                ANSWER,
                action_value(c=conversation_id, q=number, v=choice[:500]),
                index=index,
            )
            for index, choice in enumerate(choices[:_MAX_CHOICE_BUTTONS])
        ]
        blocks.append(
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"Question {number}:"}]}
        )
        blocks.append(_actions(f"q{number}", buttons))
    return blocks


def feedback_buttons(conversation_id: int, message_id: int | None) -> dict[str, Any]:
    """Slack's native thumbs up / down under a deliverable; a click names the message."""
    block = ContextActionsBlock(
        block_id=f"agentdesk_feedback_{message_id}",
        elements=[
            FeedbackButtonsElement(
                action_id=FEEDBACK,
                positive_button=FeedbackButtonObject(
                    text="Helpful",
                    accessibility_label="Mark this plan as helpful",
                    value=action_value(c=conversation_id, m=message_id, v="up"),
                ),
                negative_button=FeedbackButtonObject(
                    text="Not quite",
                    accessibility_label="Mark this plan as not quite right",
                    value=action_value(c=conversation_id, m=message_id, v="down"),
                ),
            )
        ],
    )
    return block.to_dict()


def _handoff(conversation_id: int, current: str | None, agents: list[str]) -> list[dict[str, Any]]:
    elements: list[dict[str, Any]] = []
    others = [name for name in agents if name != current][:_MAX_OPTIONS]
    if others:
        elements.append(
            {
                "type": "static_select",
                "action_id": HANDOFF,
                "placeholder": {"type": "plain_text", "text": "Hand to another agent"},
                "options": [
                    {
                        "text": {"type": "plain_text", "text": name[:_BUTTON_TEXT]},
                        "value": action_value(c=conversation_id, a=name),
                    }
                    for name in others
                ],
            }
        )
    return [_actions("deliverable", elements)] if elements else []


def implement_actions(conversation_id: int, repos: list[str] | None = None) -> dict[str, Any]:
    """The Implement button under a deliverable, or one button per repository to choose."""
    if repos:
        buttons = [
            _button(name, IMPLEMENT_REPO, action_value(c=conversation_id, r=name), index=i)
            for i, name in enumerate(repos[:_MAX_CHOICE_BUTTONS])
        ]
        return _actions("implement_repo", buttons)
    return _actions(
        "implement",
        [_button("Implement", IMPLEMENT, action_value(c=conversation_id), style="primary")],
    )


def _implementation_actions(
    conversation_id: int, kind: MessageKind, payload: dict[str, Any]
) -> list[dict[str, Any]]:
    value = action_value(c=conversation_id, run=payload["implementation_run"])
    if payload.get("stoppable"):
        return [_actions("implement_stop", [_button("Stop", IMPLEMENT_STOP, value)])]
    if payload.get("retryable"):
        retry = _button("Retry", IMPLEMENT_RETRY, value, style="primary")
        return [_actions("implement_retry", [retry])]
    return []


def _actions(block_id: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "actions", "block_id": f"agentdesk_{block_id}", "elements": elements}


def _button(
    label: str, action_id: str, value: str, *, index: int | None = None, style: str | None = None
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id if index is None else f"{action_id}_{index}",
        "text": {"type": "plain_text", "text": label[:_BUTTON_TEXT] or "…", "emoji": True},
        "value": value,
    }
    if style:
        button["style"] = style
    return button


def _filename(title: str) -> str:
    slug = "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")
    return f"{'-'.join(filter(None, slug.split('-')))[:60] or 'plan'}.md"
