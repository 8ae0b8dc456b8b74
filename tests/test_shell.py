"""The local shell: a one-person thread in the terminal through the same router and engine."""

import io
from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from bot.cli.main import app
from bot.shell import Shell
from tests.fakes.anthropic_server import FakeAnthropic
from tests.support import ROUTED_TO_BACKEND, desk_with, make_settings


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=160, color_system=None), out


def test_shell_routes_asks_and_delivers(tmp_path: Path) -> None:
    console, out = _console()
    with FakeAnthropic() as fake, desk_with(make_settings(tmp_path, fake)) as desk:
        fake.reply_tool_use(
            "ask_clarifying_questions",
            {"questions": [{"question": "Which providers?", "choices": ["Google", "GitHub"]}]},
        )
        fake.reply_tool_use(
            "deliver_result",
            {
                "title": "OAuth login",
                "summary": "Add Google sign-in.",
                "document": "## Steps\n1. Do it.",
            },
        )
        shell = Shell(desk, console, plans_dir=tmp_path / "plans")
        shell.run(
            [
                "/agent backend-feature-developer",
                "I need OAuth login functionality for my users",
                "Google",
                "/approve",
                "/why",
                "/quit",
                "never read",
            ]
        )
    text = out.getvalue()
    assert "The next request goes to backend-feature-developer." in text
    assert "→ backend-feature-developer (explicit" in text
    assert "Which providers? (Google / GitHub)" in text
    assert "OAuth login" in text and "Add Google sign-in." in text
    # The card: first with the open question, then answered, then signed off.
    assert "requirement card" in text and "Acceptance criteria" in text
    assert "Which providers? (waiting on the requester)" in text
    assert "Which providers? → Google" in text
    assert "you signed off the requirement card (version 2)" in text
    assert "Approved by you" in text
    (plan,) = (tmp_path / "plans").iterdir()
    assert plan.read_text(encoding="utf-8").startswith("# OAuth login")
    assert len(fake.message_requests) == 2


def test_shell_without_a_key_routes_then_says_what_is_missing(tmp_path: Path) -> None:
    console, out = _console()
    with desk_with(make_settings(tmp_path)) as desk:
        Shell(desk, console, plans_dir=tmp_path / "plans").run(
            [
                "Add dark mode toggle buttons to the settings screen layout",
                "/retry",
                "/new",
                "/cancel",
            ]
        )
    text = " ".join(out.getvalue().split())
    assert "→ frontend-feature-developer (local" in text
    assert "No model API key is set: put ANTHROPIC_API_KEY in the environment or .env" in text
    assert "ANTHROPIC_BASE_URL can point at any Anthropic-compatible server" in text
    assert "Retrying won't help until whoever runs agentdesk fixes that." in text
    assert "Type /retry once it is fixed." in text
    assert "Nothing to cancel." in text


def test_unknown_agent_and_command_are_explained(tmp_path: Path) -> None:
    console, out = _console()
    with desk_with(make_settings(tmp_path)) as desk:
        Shell(desk, console, plans_dir=tmp_path).run(["/agent nobody", "/frobnicate", "/help"])
    text = out.getvalue()
    assert "No agent named 'nobody'." in text
    assert "Unknown command /frobnicate. Type /help." in text
    assert "/agent NAME" in text


def test_run_without_slack_or_key_migrates_and_says_what_is_missing(tmp_path: Path) -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["run"], input="")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "migrated; 5 agents loaded" in text
    assert "ANTHROPIC_API_KEY is not set" in text
    assert "Slack is not connected" in text and "SLACK_BOT_TOKEN" in text
    assert (tmp_path / "agentdesk.db").exists()


def test_serve_without_slack_settings_says_what_is_missing() -> None:
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, ["serve"])
    assert result.exit_code == 2
    assert "HTTP mode needs SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET" in " ".join(
        result.output.split()
    )


def test_conversations_can_be_read_back(tmp_path: Path) -> None:
    console, _ = _console()
    with FakeAnthropic() as fake, desk_with(make_settings(tmp_path, fake)) as desk:
        fake.reply_tool_use("choose_agent", ROUTED_TO_BACKEND)  # OAuth fits two agents
        fake.reply_tool_use(
            "ask_clarifying_questions", {"questions": [{"question": "Which providers?"}]}
        )
        Shell(desk, console, plans_dir=tmp_path).run(["I need OAuth login for my users"])
    runner = CliRunner(
        env={"COLUMNS": "200", "DATABASE_URL": f"sqlite:///{tmp_path / 'agentdesk.db'}"}
    )
    listed = runner.invoke(app, ["conversations", "list"])
    assert listed.exit_code == 0, listed.output
    assert "awaiting_user" in listed.output and "I need OAuth login" in listed.output
    shown = runner.invoke(app, ["conversations", "show", "1"])
    assert shown.exit_code == 0, shown.output
    assert "model → backend-feature-developer" in shown.output
    assert "[questions] backend-feature-developer" in shown.output
    assert "1. Which providers?" in shown.output
    assert "Requirement card: I need OAuth login" in shown.output
    assert "Open questions" in shown.output and "Which providers? _(waiting on" in shown.output
    assert "[card]" not in shown.output  # shown once, above the messages
    history = runner.invoke(app, ["conversations", "show", "1", "--history"])
    assert history.exit_code == 0, history.output
    assert "card version 1 · backend-feature-developer" in history.output
    missing = runner.invoke(app, ["conversations", "show", "99"])
    assert missing.exit_code == 1 and "No conversation 99." in missing.output
