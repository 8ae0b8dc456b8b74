"""The tools every agent has: ask clarifying questions, or deliver the result."""

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

ASK_QUESTIONS = "ask_clarifying_questions"
DELIVER = "deliver_result"

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class Question(BaseModel):
    """One clarifying question, with optional choices."""

    model_config = ConfigDict(frozen=True)

    question: _Text
    choices: list[_Text] = Field(
        default_factory=list,
        max_length=5,
        description="Short answer options, if the answer is a pick.",
    )


class AskQuestionsInput(BaseModel):
    """The input of `ask_clarifying_questions`: the model is given its schema, then checked."""

    intro: str = Field(
        default="", description="One short sentence before the questions (optional)."
    )
    questions: list[Question] = Field(min_length=1, max_length=6)


class DeliverInput(BaseModel):
    """The input of `deliver_result`: the model is given its schema, then checked."""

    title: _Text = Field(description="A short title for the plan.")
    summary: str = Field(description="Two to four sentences for the thread: what and how.")
    document: _Text = Field(description="The full plan in Markdown.")


_INPUTS: dict[str, type[BaseModel]] = {ASK_QUESTIONS: AskQuestionsInput, DELIVER: DeliverInput}


def _input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON schema the model is given; our docstring stays out of it."""
    schema = model.model_json_schema()
    schema.pop("description", None)
    return schema


CONVERSATION_TOOLS: list[dict[str, Any]] = [
    {
        "name": ASK_QUESTIONS,
        "description": (
            "Ask the people in the thread a few focused clarifying questions before designing. "
            "Use it while the requirement is unclear. Give choices when the likely answers are "
            "a short list (they are shown as buttons); leave them out for open questions. "
            "After calling it, stop and wait for the answers."
        ),
        "input_schema": _input_schema(AskQuestionsInput),
    },
    {
        "name": DELIVER,
        "description": (
            "Deliver the design and implementation plan once the requirement is clear. "
            "The document is complete Markdown: context and goals, the design, the "
            "implementation plan in ordered steps, tests, risks and open questions. "
            "When you read the team's code, cite what you relied on as `path:line`."
        ),
        "input_schema": _input_schema(DeliverInput),
    },
]


def input_error(*, name: str, data: Any) -> str | None:
    """Why a conversation tool's input does not fit its schema, for the model; None when it fits."""
    schema = _INPUTS.get(name)
    if schema is None:
        return None
    try:
        schema.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'input'}: {problem['msg']}"
            for problem in error.errors(include_url=False)
        )
        return f"The {name} input does not match its schema ({problems}). Call it again, corrected."
    return None


def parse_questions(data: Any) -> tuple[str, list[Question]]:
    """The intro and questions of an `ask_clarifying_questions` call; none when it is malformed.

    The turn loop has already answered a malformed call with a tool error the model can correct.
    """
    try:
        parsed = AskQuestionsInput.model_validate(data)
    except ValidationError:
        return "", []
    return parsed.intro.strip(), parsed.questions


def render_questions(intro: str, questions: list[Question]) -> str:
    """Questions as numbered Markdown, as stored and as the model sees them later."""
    lines = [intro] if intro else []
    for number, question in enumerate(questions, start=1):
        line = f"{number}. {question.question}"
        if question.choices:
            line += " (" + " / ".join(question.choices) + ")"
        lines.append(line)
    return "\n".join(lines)


def parse_deliverable(data: Any) -> dict[str, str]:
    """Title, summary and document from a `deliver_result` call."""
    data = data if isinstance(data, dict) else {}
    title = str(data.get("title") or "Design and implementation plan").strip()
    summary = str(data.get("summary") or "").strip()
    document = str(data.get("document") or "").strip()
    return {"title": title, "summary": summary, "document": document or summary}


def render_deliverable(deliverable: dict[str, str]) -> str:
    """The deliverable as one Markdown text."""
    parts = [f"# {deliverable['title']}"]
    if deliverable["summary"]:
        parts.append(deliverable["summary"])
    if deliverable["document"] and deliverable["document"] != deliverable["summary"]:
        parts.append(deliverable["document"])
    return "\n\n".join(parts)


def partial_text(name: str, data: Any) -> str:
    """What a deliverable tool's input, still being written, shows so far (a preview): the
    plan's title, summary and document, or the questions' intro and questions."""
    if not isinstance(data, dict):
        return ""
    if name == DELIVER:
        title = data.get("title")
        parts: list[Any] = [f"# {title}" if isinstance(title, str) and title else ""]
        parts += [data.get("summary"), data.get("document")]
        return "\n\n".join(part for part in parts if isinstance(part, str) and part)
    if name == ASK_QUESTIONS:
        intro = data.get("intro")
        lines = [intro] if isinstance(intro, str) and intro else []
        questions = data.get("questions")
        for number, question in enumerate(questions if isinstance(questions, list) else [], 1):
            text = question.get("question") if isinstance(question, dict) else None
            if isinstance(text, str) and text:
                lines.append(f"{number}. {text}")
        return "\n".join(lines)
    return ""


def with_sources(document: str, sources: list[str]) -> str:
    """Add a Sources section naming the files the agent read that the document doesn't cite."""
    missing = [source for source in sources if source.split("@")[0].split(":")[-1] not in document]
    if not missing:
        return document
    lines = "\n".join(f"- `{source}`" for source in missing)
    return f"{document}\n\n## Sources read\n\n{lines}"
