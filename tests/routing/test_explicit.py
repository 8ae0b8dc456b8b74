"""Step 1: a request, a button or `--agent` names the agent."""

from collections.abc import Callable

import pytest

from bot.agents.registry import Roster
from bot.routing.explicit import agent_option, match_agent_name, parse_explicit
from tests.routing.conftest import agent_text


@pytest.mark.parametrize(
    ("text", "agent", "rest"),
    [
        (
            "backend-feature-developer: add OAuth login",
            "backend-feature-developer",
            "add OAuth login",
        ),
        ("Backend Architect: plan the sharding", "Backend Architect", "plan the sharding"),
        ("backend architect, plan the sharding", "Backend Architect", "plan the sharding"),
        ("@frontend-feature-developer: dark mode", "frontend-feature-developer", "dark mode"),
        ("backend-feature-develper: add OAuth", "backend-feature-developer", "add OAuth"),
        (
            "--agent frontend-feature-developer make the button blue",
            "frontend-feature-developer",
            "make the button blue",
        ),
        (
            "make the button blue --agent=frontend",
            "frontend-feature-developer",
            "make the button blue",
        ),
        ('--agent "Backend Architect" plan it', "Backend Architect", "plan it"),
        (
            "backend-feature-developer add OAuth login",
            "backend-feature-developer",
            "add OAuth login",
        ),
        ("Backend Architect plan the sharding", "Backend Architect", "plan the sharding"),
    ],
)
def test_names_an_agent(roster: Roster, text: str, agent: str, rest: str) -> None:
    named, remaining = parse_explicit(text, roster)
    assert named is not None and named.name == agent
    assert remaining == rest


@pytest.mark.parametrize(
    "text",
    [
        "Backend work is needed: add OAuth",
        "Note: the login page is broken",
        "Frontend: the button is misaligned",
        "Please add a dark mode toggle",
        "Backend developers say the API is slow",
        "https://example.com/page is broken",
        "--agent nobody-by-this-name do it",
        "",
    ],
)
def test_ordinary_sentences_name_no_agent(roster: Roster, text: str) -> None:
    assert parse_explicit(text, roster) == (None, text)


def test_a_common_word_as_an_agent_name_does_not_fire(make_roster: Callable[..., Roster]) -> None:
    roster = make_roster({"review.md": agent_text("review", "Reviews pull requests.")})
    assert parse_explicit("Review the login page", roster)[0] is None
    named, rest = parse_explicit("review: the login page", roster)
    assert named is not None and rest == "the login page"


def test_match_agent_name_ignores_case_and_separators(roster: Roster) -> None:
    agent = match_agent_name("BACKEND_ARCHITECT", roster)
    assert agent is not None and agent.name == "Backend Architect"
    assert match_agent_name("frontend", roster) is not None
    assert match_agent_name("", roster) is None
    assert match_agent_name("backend-feature-developer", []) is None


def test_ambiguous_names_match_nothing(roster: Roster, make_roster: Callable[..., Roster]) -> None:
    # "backend" starts both "backend-feature-developer" and "Backend Architect".
    assert match_agent_name("backend", roster) is None
    twins = make_roster(
        {
            "a.md": agent_text("code-reviewer-a", "Reviews code."),
            "b.md": agent_text("code-reviewer-b", "Reviews code."),
        }
    )
    assert match_agent_name("code-reviewer-c", twins) is None  # a tie between a and b
    assert parse_explicit("code-reviewer: look at this", twins)[0] is None


@pytest.mark.parametrize(
    ("text", "name", "rest"),
    [
        ("--agent backend add OAuth", "backend", "add OAuth"),
        ("add OAuth --agent=backend", "backend", "add OAuth"),
        ('--agent "Backend Architect" add OAuth', "Backend Architect", "add OAuth"),
        (
            "--AGENT 'data-reporting-analyst' weekly report",
            "data-reporting-analyst",
            "weekly report",
        ),
        ("--agent backend", "backend", ""),
        ("add a --agents flag", None, "add a --agents flag"),
    ],
)
def test_the_agent_option_is_read_one_way_everywhere(
    text: str, name: str | None, rest: str
) -> None:
    assert agent_option(text) == (name, rest)
