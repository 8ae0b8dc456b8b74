"""The requirement card: what was agreed, what is still open, and who holds it up.

The agent keeps the card through the `update_requirement_card` tool; the card's content is
data (versioned by the store), rendered here as the Markdown every surface shows.
"""

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

UPDATE_CARD = "update_requirement_card"

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
_ITEMS = 30
_ITEM_CHARS = 400  # one list item as shown; the stored content keeps the whole text


class CardState(StrEnum):
    """Where the card stands, as shown on it."""

    CLARIFYING = "clarifying"
    READY = "ready for sign-off"
    APPROVED = "approved"
    IMPLEMENTING = "implementing"
    PULL_REQUEST_OPEN = "pull request open"


class OpenQuestion(BaseModel):
    """A question the requirement still waits on."""

    model_config = ConfigDict(frozen=True)

    question: _Text
    waits_on: str = Field(
        default="",
        max_length=200,
        description="Who must answer, by the name shown in the thread; empty for the requester.",
    )


class AnsweredQuestion(BaseModel):
    """A question the thread answered, with the answer."""

    model_config = ConfigDict(frozen=True)

    question: _Text
    answer: _Text


class CardContent(BaseModel):
    """The card's content: the input of `update_requirement_card`, and what the store keeps."""

    model_config = ConfigDict(frozen=True)

    title: _Text = Field(description="A short title for the requested change.")
    problem: _Text = Field(description="The problem, in the requester's own terms.")
    acceptance_criteria: list[_Text] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="Checkable statements that are true once the change is done.",
    )
    out_of_scope: list[_Text] = Field(default_factory=list, max_length=_ITEMS)
    open_questions: list[OpenQuestion] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description="Questions still unanswered (the ones you ask now included).",
    )
    answered: list[AnsweredQuestion] = Field(default_factory=list, max_length=_ITEMS)
    touches: list[_Text] = Field(
        default_factory=list,
        max_length=_ITEMS,
        description=(
            "Paths the change is likely to touch, as `repository:path` (or `path` with one "
            "repository), from the code you read."
        ),
    )
    risks: list[_Text] = Field(default_factory=list, max_length=_ITEMS)
    size: Literal["XS", "S", "M", "L", "XL"] | None = Field(
        default=None, description="Your estimate of the change's size."
    )

    def with_questions(self, asked: list[str], *, waits_on: str = "") -> "CardContent":
        """The card with questions just asked listed as open (those not listed already)."""
        listed = {q.question.casefold() for q in self.open_questions}
        listed |= {q.question.casefold() for q in self.answered}
        added = [
            OpenQuestion(question=text, waits_on=waits_on)
            for text in asked
            if text.strip() and text.strip().casefold() not in listed
        ]
        if not added:
            return self
        return self.model_copy(update={"open_questions": [*self.open_questions, *added]})


def _schema() -> dict[str, Any]:
    schema = CardContent.model_json_schema()
    schema.pop("description", None)
    return schema


CARD_TOOL: dict[str, Any] = {
    "name": UPDATE_CARD,
    "description": (
        "Keep the requirement card of this thread: the one place where the team sees what "
        "is agreed. Call it in every turn before asking or delivering, with the whole card "
        "as it stands now: the problem in the requester's terms, checkable acceptance "
        "criteria, what is out of scope, each open question with whom it waits on, the "
        "answered questions with their answers, the paths the change will likely touch, "
        "risks and a size. People sign the card off before anything is built; any change "
        "after a sign-off asks for it again, so change it only when the requirement changed."
    ),
    "input_schema": _schema(),
}


def parse_card(data: Any) -> CardContent | None:
    """The card in a tool call's input or a stored version; None when it does not fit."""
    try:
        return CardContent.model_validate(data)
    except ValidationError:
        return None


def card_input_error(data: Any) -> str | None:
    """Why a card input does not fit its schema, for the model; None when it fits."""
    try:
        CardContent.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'input'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        return f"The {UPDATE_CARD} input does not match its schema ({problems}). Call it again."
    return None


def changes(before: CardContent | None, after: CardContent) -> list[str]:
    """What changed between two versions, in a few words each ("a new answer")."""
    if before is None:
        return ["first version"]
    named = {
        "title": "the title",
        "problem": "the problem",
        "acceptance_criteria": "the acceptance criteria",
        "out_of_scope": "what is out of scope",
        "open_questions": "the open questions",
        "answered": "a new answer" if len(after.answered) > len(before.answered) else "the answers",
        "touches": "the paths it touches",
        "risks": "the risks",
        "size": "the size",
    }
    return [label for name, label in named.items() if getattr(before, name) != getattr(after, name)]


def _item(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= _ITEM_CHARS else flat[: _ITEM_CHARS - 1] + "…"


def render_card(
    card: CardContent,
    *,
    version: int,
    state: CardState,
    sign_off: str,
    estimate: str | None = None,
) -> str:
    """The card as Markdown, the same on every surface; `sign_off` says who approved it or
    who may, and `estimate` what a run would likely take."""
    lines = [f"### Requirement card: {_item(card.title)}", ""]
    lines.append(f"**State:** {state.value} · version {version}")
    lines += ["", "**Problem**", _item(card.problem)]
    lines += ["", "**Acceptance criteria**"]
    lines += [f"- [ ] {_item(c)}" for c in card.acceptance_criteria] or ["- none agreed yet"]
    if card.out_of_scope:
        lines += ["", "**Out of scope**", *[f"- {_item(o)}" for o in card.out_of_scope]]
    lines += ["", "**Open questions**"]
    lines += [
        f"- {_item(q.question)} _(waiting on {q.waits_on or 'the requester'})_"
        for q in card.open_questions
    ] or ["- none"]
    if card.answered:
        lines += ["", "**Answered**"]
        lines += [f"- {_item(a.question)} → {_item(a.answer)}" for a in card.answered]
    if card.touches:
        lines += ["", "**Likely touches**", *[f"- `{_item(t)}`" for t in card.touches]]
    if card.risks:
        lines += ["", "**Risks**", *[f"- {_item(r)}" for r in card.risks]]
    if estimate or card.size:
        size = f"size {card.size}" if card.size else ""
        lines += ["", "**Estimate**", " · ".join(part for part in (size, estimate) if part)]
    lines += ["", "**Sign-off**", sign_off]
    return "\n".join(lines)
