"""`agentdesk doctor`: checks tokens, scopes, the database, the agents and the model key."""

import json
from dataclasses import dataclass
from pathlib import Path

import anthropic
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.agents.model import Severity
from bot.agents.registry import load_roster
from bot.config import Settings
from bot.llm.client import LLMClient
from bot.repos import RepoConfigError, parse_repo_specs
from bot.slack.manifest import BOT_EVENTS, BOT_SCOPES
from bot.store.db import current_revision, describe_url, make_engine

MANIFEST = Path(__file__).resolve().parent.parent / "manifest.json"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def required_scopes(*, manifest: Path = MANIFEST) -> set[str] | None:
    """The bot scopes the app manifest asks for; None when the manifest can't be read."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return set(data["oauth_config"]["scopes"]["bot"]) | set(BOT_SCOPES)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def manifest_problems(*, manifest: Path = MANIFEST) -> list[str] | None:
    """What the manifest lacks of the scopes, events and features agentdesk uses; None when
    it can't be read."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        scopes = set(data["oauth_config"]["scopes"]["bot"])
        events = set(data["settings"]["event_subscriptions"]["bot_events"])
        features = data["features"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    problems = [f"scope {scope}" for scope in BOT_SCOPES if scope not in scopes]
    problems += [f"event {event}" for event in BOT_EVENTS if event not in events]
    app_home = features.get("app_home") or {}
    if not app_home.get("home_tab_enabled"):
        problems.append("the Home tab (features.app_home.home_tab_enabled)")
    if not app_home.get("messages_tab_enabled"):
        problems.append("agent DMs (features.app_home.messages_tab_enabled)")
    if "agent_view" not in features:
        problems.append("the agent messaging experience (features.agent_view)")
    return problems


def run_checks(settings: Settings, *, manifest: Path = MANIFEST) -> list[Check]:
    """Every check, in the order a person would fix things."""
    return [
        _manifest_check(manifest),
        *_slack_checks(settings, manifest=manifest),
        _database_check(settings),
        _agents_check(settings),
        _repos_check(settings),
        _model_check(settings),
    ]


def _manifest_check(manifest: Path) -> Check:
    problems = manifest_problems(manifest=manifest)
    if problems is None:
        return Check(
            "Slack manifest",
            False,
            f"{manifest} can't be read",
            "Run `agentdesk doctor` from a checkout that has the app's manifest.json.",
        )
    return Check(
        "Slack manifest",
        not problems,
        "carries every scope, event and feature agentdesk uses"
        if not problems
        else "lacks " + ", ".join(problems),
        "" if not problems else "Update manifest.json (see README, 'Slack app manifest').",
    )


def _slack_checks(settings: Settings, *, manifest: Path) -> list[Check]:
    checks: list[Check] = []
    token = settings.slack_bot_token
    oauth = bool(settings.slack_client_id) and settings.slack_client_secret is not None
    if oauth:
        checks.append(
            Check(
                "Slack installs",
                True,
                "OAuth mode: any workspace installs from /slack/install on the serve port",
            )
        )
    if token is None and oauth:
        pass  # each workspace's token comes from its install
    elif token is None:
        checks.append(
            Check(
                "Slack bot token",
                False,
                "SLACK_BOT_TOKEN is not set",
                "Install the app from manifest.json and copy the Bot User OAuth Token (xoxb-…).",
            )
        )
    else:
        client = WebClient(token=token.get_secret_value(), base_url=settings.slack_api_url)
        try:
            response = client.auth_test()
        except SlackApiError as error:
            checks.append(
                Check(
                    "Slack bot token",
                    False,
                    f"auth.test failed: {error.response.get('error')}",
                    "Reinstall the app and copy a fresh xoxb- token into SLACK_BOT_TOKEN.",
                )
            )
        except Exception as error:  # network trouble: say so rather than crash
            checks.append(
                Check(
                    "Slack bot token",
                    False,
                    f"could not reach Slack: {error}",
                    "Check SLACK_API_URL and the network.",
                )
            )
        else:
            checks.append(
                Check(
                    "Slack bot token",
                    True,
                    f"bot {response.get('user')} ({response.get('user_id')}) in {response.get('team')}",
                )
            )
            granted = {
                s.strip()
                for s in (response.headers.get("x-oauth-scopes") or "").split(",")
                if s.strip()
            }
            checks.append(_scopes_check(granted, required_scopes(manifest=manifest), manifest))
    modes = []
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.get_secret_value()
        good = app_token.startswith("xapp-")
        modes.append("Socket Mode")
        checks.append(
            Check(
                "Slack app token",
                good,
                "set" if good else "SLACK_APP_TOKEN does not start with xapp-",
                ""
                if good
                else "Create an app-level token with connections:write (Basic Information).",
            )
        )
    if settings.slack_signing_secret is not None:
        modes.append("HTTP mode (agentdesk serve)")
    checks.append(
        Check(
            "Slack mode",
            bool(modes),
            ", ".join(modes)
            if modes
            else "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set",
            ""
            if modes
            else "Set SLACK_APP_TOKEN for Socket Mode, or SLACK_SIGNING_SECRET for HTTP mode.",
        )
    )
    return checks


def _scopes_check(granted: set[str], required: set[str] | None, manifest: Path) -> Check:
    if required is None:
        return Check(
            "Slack scopes",
            False,
            f"cannot tell what is missing: {manifest} can't be read "
            f"(granted: {', '.join(sorted(granted)) or 'none'})",
            "Run `agentdesk doctor` from a checkout that has the app's manifest.json.",
        )
    missing = sorted(required - granted)
    return Check(
        "Slack scopes",
        not missing,
        "all granted" if not missing else "missing: " + ", ".join(missing),
        "Add the scopes (or re-create the app from manifest.json) and reinstall it."
        if missing
        else "",
    )


def _database_check(settings: Settings) -> Check:
    where = describe_url(settings.database_url)
    try:
        engine = make_engine(settings.database_url)
        revision = current_revision(engine)
        engine.dispose()
    except Exception as error:
        return Check(
            "Database", False, f"{where}: {type(error).__name__}: {error}", "Check DATABASE_URL."
        )
    if revision is None:
        return Check(
            "Database", True, f"{where}: empty; migrations run at start (or `agentdesk db upgrade`)"
        )
    return Check("Database", True, f"{where}: revision {revision}")


def _agents_check(settings: Settings) -> Check:
    roster = load_roster(settings.agents_dir)
    errors = [p for p in roster.problems if p.severity is Severity.ERROR]
    if not len(roster):
        return Check(
            "Agents",
            False,
            f"no agents in {settings.agents_dir}",
            "Set AGENTS_DIR or add agent files.",
        )
    detail = f"{len(roster)} agents in {settings.agents_dir}"
    if errors:
        return Check(
            "Agents", False, f"{detail}, {len(errors)} error(s)", "Run `agentdesk agents check`."
        )
    return Check("Agents", True, detail)


def _repos_check(settings: Settings) -> Check:
    if not settings.repos.strip():
        return Check("Repositories", True, "none configured (REPOS): agents don't read code")
    try:
        specs = parse_repo_specs(settings.repos)
    except RepoConfigError as error:
        return Check("Repositories", False, str(error), "Fix REPOS (see the README).")
    missing = [
        spec.name for spec in specs if spec.path is not None and not spec.path.expanduser().is_dir()
    ]
    if missing:
        return Check(
            "Repositories", False, "no such folder for: " + ", ".join(missing), "Fix REPOS."
        )
    return Check("Repositories", True, ", ".join(f"{s.name} ({s.location})" for s in specs))


def _model_check(settings: Settings) -> Check:
    if settings.anthropic_api_key is None:
        return Check(
            "Model API key",
            False,
            "ANTHROPIC_API_KEY is not set",
            "Set it; ANTHROPIC_BASE_URL can point at any Anthropic-compatible server.",
        )
    client = LLMClient(settings)
    try:
        counted = client.sdk.messages.count_tokens(
            model=settings.model_default, messages=[{"role": "user", "content": "ping"}]
        )
    except anthropic.AuthenticationError:
        return Check(
            "Model API key", False, "the key was refused (401)", "Check ANTHROPIC_API_KEY."
        )
    except anthropic.APIError as error:
        return Check(
            "Model API key",
            False,
            f"the model API answered: {error}",
            "Check ANTHROPIC_BASE_URL and MODEL_DEFAULT.",
        )
    return Check(
        "Model API key",
        True,
        f"accepted ({settings.model_default}, {counted.input_tokens} tokens counted)",
    )
