"""`agentdesk route TEXT` (bot/cli/route.py), through a Typer app as the CLI registers it."""

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli.route import route
from bot.config import get_settings
from bot.routing.model_classifier import TOOL_NAME
from tests.fakes.anthropic_server import FakeAnthropic

app = typer.Typer()
app.command("route")(route)


@app.callback()
def _main() -> None:
    """Keep `route` a subcommand, as on the real app."""


runner = CliRunner()
KEYS = {"agent", "method", "confidence", "candidates", "ms"}


def invoke(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["route", *args])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.output)
    return data


def test_json_output_of_a_local_decision(agents_dir: Path) -> None:
    data = invoke(
        "--agents-dir",
        str(agents_dir),
        "--json",
        "--local-only",
        "build OAuth login with database schemas and authentication endpoints",
    )
    assert set(data) == KEYS
    assert data["agent"] == "backend-feature-developer" and data["method"] == "local"
    candidates = data["candidates"]
    assert isinstance(candidates, list) and set(candidates[0]) == {"agent", "score"}
    assert isinstance(data["ms"], float) and isinstance(data["confidence"], float)


def test_without_an_api_key_an_undecided_request_says_so(agents_dir: Path) -> None:
    data = invoke("--agents-dir", str(agents_dir), "--json", "the reports page layout is odd")
    assert data["agent"] is None and data["method"] == "ask"


def test_with_an_api_key_the_model_is_asked(
    agents_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeAnthropic() as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.base_url)
        get_settings.cache_clear()
        fake.reply_tool_use(TOOL_NAME, {"agent": "frontend-feature-developer", "confident": True})
        data = invoke("--agents-dir", str(agents_dir), "--json", "the reports page layout is odd")
        assert (data["agent"], data["method"]) == ("frontend-feature-developer", "model")
        assert len(fake.message_requests) == 1
        local = invoke(
            "--agents-dir", str(agents_dir), "--json", "--local-only", "the reports page layout"
        )
        assert local["agent"] is None and len(fake.message_requests) == 1


def test_human_output(agents_dir: Path) -> None:
    result = runner.invoke(
        app,
        [
            "route",
            "--agents-dir",
            str(agents_dir),
            "build OAuth login with database schemas and authentication endpoints",
        ],
    )
    assert result.exit_code == 0
    assert "agent:      backend-feature-developer" in result.output
    assert "method:     local" in result.output
    assert "candidates:" in result.output and " ms" in result.output


def test_human_output_for_none(agents_dir: Path) -> None:
    result = runner.invoke(app, ["route", "--agents-dir", str(agents_dir), "hello!"])
    assert "agent:      none" in result.output
    assert "Here is what the agents cover" in result.output


def test_default_agents_folder_comes_from_settings(
    agents_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENTS_DIR", str(agents_dir))
    get_settings.cache_clear()
    assert invoke("--json", "Backend Architect: scale it")["agent"] == "Backend Architect"


def test_a_missing_agents_folder_is_explained(tmp_path: Path) -> None:
    result = runner.invoke(app, ["route", "--agents-dir", str(tmp_path / "nope"), "hi"])
    assert result.exit_code == 2
    assert "No agents folder" in result.output and "--agents-dir" in result.output
