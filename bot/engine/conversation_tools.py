"""The tools every agent has: ask clarifying questions, or deliver the result."""

from dataclasses import dataclass
from typing import Any

ASK_QUESTIONS = "ask_clarifying_questions"
DELIVER = "deliver_result"

CONVERSATION_TOOLS: list[dict[str, Any]] = [
    {
        "name": ASK_QUESTIONS,
        "description": (
            "Ask the people in the thread a few focused clarifying questions before designing. "
            "Use it while the requirement is unclear. Give choices when the likely answers are "
            "a short list (they are shown as buttons); leave them out for open questions. "
            "After calling it, stop and wait for the answers."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "intro": {
                    "type": "string",
                    "description": "One short sentence before the questions (optional).",
                },
                "questions": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 6,
                    "items": {
                        "type": "object",
                        "properties": {
                            "question": {"type": "string"},
                            "choices": {
                                "type": "array",
                                "items": {"type": "string"},
                                "maxItems": 5,
                                "description": "Short answer options, if the answer is a pick.",
                            },
                        },
                        "required": ["question"],
                    },
                },
            },
            "required": ["questions"],
        },
    },
    {
        "name": DELIVER,
        "description": (
            "Deliver the design and implementation plan once the requirement is clear. "
            "The document is complete Markdown: context and goals, the design, the "
            "implementation plan in ordered steps, tests, risks and open questions. "
            "When you read the team's code, cite what you relied on as `path:line`."
        ),
        "input_schema": {
            "type": "object",
            "properties": {
                "title": {"type": "string", "description": "A short title for the plan."},
                "summary": {
                    "type": "string",
                    "description": "Two to four sentences for the thread: what and how.",
                },
                "document": {"type": "string", "description": "The full plan in Markdown."},
            },
            "required": ["title", "summary", "document"],
        },
    },
]


@dataclass(frozen=True)
class Question:
    """One clarifying question, with optional choices."""

    question: str
    choices: tuple[str, ...] = ()


def parse_questions(data: Any) -> tuple[str, list[Question]]:
    """The intro and questions from an `ask_clarifying_questions` call, tolerating loose input."""
    data = data if isinstance(data, dict) else {}
    questions: list[Question] = []
    for item in data.get("questions") or []:
        if isinstance(item, str):
            item = {"question": item}
        if not isinstance(item, dict) or not str(item.get("question", "")).strip():
            continue
        choices = tuple(str(c).strip() for c in item.get("choices") or [] if str(c).strip())
        questions.append(Question(question=str(item["question"]).strip(), choices=choices[:5]))
    return str(data.get("intro") or "").strip(), questions


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


def with_sources(document: str, sources: list[str]) -> str:
    """Add a Sources section naming the files the agent read that the document doesn't cite."""
    missing = [source for source in sources if source.split("@")[0].split(":")[-1] not in document]
    if not missing:
        return document
    lines = "\n".join(f"- `{source}`" for source in missing)
    return f"{document}\n\n## Sources read\n\n{lines}"
