"""The conversation tools' input is checked against the schema the model is given."""

import pytest

from bot.engine.conversation_tools import (
    ASK_QUESTIONS,
    CONVERSATION_TOOLS,
    DELIVER,
    AskQuestionsInput,
    input_error,
    parse_questions,
)


@pytest.mark.parametrize(
    "data",
    [
        {"questions": [{"question": "Which?", "choices": 5}]},
        {"questions": "Which provider?"},
        {"questions": []},
        {"questions": [{"question": "   "}]},
        {"questions": [{"question": "Which?", "choices": ["a", "b", "c", "d", "e", "f"]}]},
        ["not", "an", "object"],
        None,
    ],
)
def test_a_malformed_call_gives_no_questions_and_a_correctable_error(data: object) -> None:
    assert parse_questions(data) == ("", [])
    error = input_error(name=ASK_QUESTIONS, data=data)
    assert error is not None and "Call it again" in error


def test_a_well_formed_call_is_read_as_sent() -> None:
    data = {"intro": " Before I start: ", "questions": [{"question": " Which? ", "choices": ["A"]}]}
    assert input_error(name=ASK_QUESTIONS, data=data) is None
    intro, questions = parse_questions(data)
    assert intro == "Before I start:"
    assert [(q.question, q.choices) for q in questions] == [("Which?", ["A"])]


def test_the_model_is_given_the_schema_that_checks_it() -> None:
    (ask,) = [tool for tool in CONVERSATION_TOOLS if tool["name"] == ASK_QUESTIONS]
    schema = AskQuestionsInput.model_json_schema()
    assert ask["input_schema"]["properties"] == schema["properties"]
    assert ask["input_schema"]["required"] == ["questions"]


def test_a_deliverable_without_a_document_is_refused() -> None:
    assert input_error(name=DELIVER, data={"title": "Plan", "summary": "Short."}) is not None
    assert input_error(name=DELIVER, data={"title": "T", "summary": "S", "document": "D"}) is None
