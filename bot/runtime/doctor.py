"""`agentdesk doctor`: checks tokens, scopes, the database, the agents and the model key.

The same checks guard start-up: `run`, `serve`, `scheduler` and the db commands call
`database_check`, `agents_folder_check` and `slack_token_check` (through `bot.runtime.startup`).
Heavy libraries are imported inside the checks that use them, to keep the CLI quick.
"""

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.store.db import DatabaseUrlError, describe_url

MANIFEST = Path(__file__).resolve().parents[2] / "manifest.json"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's report."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def find_manifest() -> Path:
    """The app manifest: beside the code, else in the working folder (as in the container
    image, where the package is installed apart from the checkout)."""
    return MANIFEST if MANIFEST.exists() else Path("manifest.json")


def required_scopes(*, manifest: Path) -> set[str] | None:
    """The bot scopes the app manifest asks for; None when the manifest can't be read."""
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
        return set(data["oauth_config"]["scopes"]["bot"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def manifest_problems(*, manifest: Path | None = None) -> list[str] | None:
    """What the manifest lacks of the scopes, events and features agentdesk uses; None when
    it can't be read."""
    from bot.slack.manifest import BOT_EVENTS, BOT_SCOPES

    try:
        data = json.loads((manifest or find_manifest()).read_text(encoding="utf-8"))
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


def run_checks(settings: Settings, *, manifest: Path | None = None) -> list[Check]:
    """Every check, in the order a person would fix things."""
    from bot.runtime.setup_check import setup_check

    manifest = manifest or find_manifest()
    return [
        _manifest_check(manifest),
        *_slack_checks(settings, manifest=manifest),
        database_check(settings),
        _agents_check(settings),
        _repos_check(settings),
        _implement_check(settings),
        _sign_off_check(settings),
        setup_check(settings),
        _model_check(settings),
    ]


def slack_token_check(settings: Settings) -> tuple[Check, Any]:
    """Ask Slack who the bot token belongs to (`auth.test`); the response when it answered."""
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    token = settings.slack_bot_token
    if token is None:
        return Check(
            "Slack bot token",
            False,
            "SLACK_BOT_TOKEN is not set",
            "Install the app from manifest.json and copy the Bot User OAuth Token (xoxb-…).",
        ), None
    # One try, and the SDK's own error logs kept quiet: this check reports the failure itself.
    quiet = logging.getLogger("bot.runtime.doctor.slack")
    quiet.setLevel(logging.CRITICAL)
    client = WebClient(
        token=token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=15,
        retry_handlers=[],
        logger=quiet,
    )
    try:
        response = client.auth_test()
    except SlackApiError as error:
        return Check(
            "Slack bot token",
            False,
            f"Slack refused SLACK_BOT_TOKEN (auth.test failed: {error.response.get('error')})",
            "Reinstall the app and copy a fresh xoxb- token into SLACK_BOT_TOKEN.",
        ), None
    except Exception as error:  # network trouble: say so rather than crash
        return Check(
            "Slack bot token",
            False,
            f"could not reach Slack at {settings.slack_api_url}: {_one_line(error)}",
            "Check the network (and SLACK_API_URL if you set it), then start again.",
        ), None
    return Check(
        "Slack bot token",
        True,
        f"bot {response.get('user')} ({response.get('user_id')}) in {response.get('team')}",
    ), response


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
        "" if not problems else "Update manifest.json (see docs/slack.md).",
    )


def _slack_checks(settings: Settings, *, manifest: Path) -> list[Check]:
    checks: list[Check] = []
    oauth = bool(settings.slack_client_id) and settings.slack_client_secret is not None
    if oauth:
        checks.append(
            Check(
                "Slack installs",
                True,
                "OAuth mode: any workspace installs from /slack/install on the serve port",
            )
        )
    response = None
    if settings.slack_bot_token is not None or not oauth:  # with OAuth, installs bring tokens
        token_check, response = slack_token_check(settings)
        checks.append(token_check)
    if response is not None:
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


def database_check(settings: Settings) -> Check:
    """Whether DATABASE_URL is usable and the database answers, with its revision."""
    from bot.store.db import current_revision, make_engine

    where = describe_url(settings.database_url)
    try:
        engine = make_engine(settings.database_url)
    except DatabaseUrlError as error:
        return Check("Database", False, error.problem, error.fix)
    try:
        revision = current_revision(engine)
    except Exception as error:
        return Check("Database", False, *_database_trouble(where, error))
    finally:
        engine.dispose()
    if revision is None:
        return Check(
            "Database", True, f"{where}: empty; migrations run at start (or `agentdesk db upgrade`)"
        )
    return Check("Database", True, f"{where}: revision {revision}")


def _database_trouble(where: str, error: Exception) -> tuple[str, str]:
    """What went wrong reaching the database, and what to do about it."""
    cause = _one_line(getattr(error, "orig", None) or error)
    if "does not exist" in cause and "database" in cause:
        return (
            f"{where}: the database does not exist ({cause})",
            "Create it (createdb NAME, or CREATE DATABASE) or fix the name in DATABASE_URL.",
        )
    if "password authentication failed" in cause or "authentication" in cause:
        return (f"{where}: login refused ({cause})", "Fix the user and password in DATABASE_URL.")
    return (
        f"{where}: can't connect ({cause})",
        "Start the database server, or fix the host and port in DATABASE_URL.",
    )


def agents_folder_check(settings: Settings) -> Check:
    """Whether AGENTS_DIR is a folder (an empty or missing one is a set-up mistake)."""
    directory = settings.agents_dir
    if not directory.is_dir():
        return Check(
            "Agents",
            False,
            f"AGENTS_DIR {directory} is not a folder",
            "Set AGENTS_DIR to the folder of agent files (this repository's agents/).",
        )
    return Check("Agents", True, f"folder {directory}")


def _agents_check(settings: Settings) -> Check:
    from bot.agents.model import Severity
    from bot.agents.registry import load_roster

    folder = agents_folder_check(settings)
    if not folder.ok:
        return folder
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
    from bot.repos import RepoConfigError, parse_repo_specs

    if not settings.repos.strip():
        return Check("Repositories", True, "none configured (REPOS): agents don't read code")
    try:
        specs = parse_repo_specs(settings.repos)
    except RepoConfigError as error:
        return Check("Repositories", False, str(error), "Fix REPOS (see docs/agents.md).")
    missing = [
        spec.name for spec in specs if spec.path is not None and not spec.path.expanduser().is_dir()
    ]
    if missing:
        return Check(
            "Repositories", False, "no such folder for: " + ", ".join(missing), "Fix REPOS."
        )
    return Check("Repositories", True, ", ".join(f"{s.name} ({s.location})" for s in specs))


def _implement_check(settings: Settings) -> Check:
    """Implementation runs: the extra, the sandbox, and the repositories they can push to, with
    where each one's pull or merge requests go."""
    import importlib.util

    from bot.implement.availability import INSTALL_HINT, implement_extra_missing, sandbox_missing
    from bot.implement.targets import (
        Forge,
        TargetError,
        parse_github_repos,
        parse_gitlab_projects,
        target_for,
    )
    from bot.repos import RepoConfigError, parse_repo_specs

    name = "Implementation runs"
    where = (
        "on everywhere"
        if settings.implement_enabled
        else "per channel (`/feature channel implement on`)"
    )
    missing = implement_extra_missing()
    if missing:
        return Check(name, not settings.implement_enabled, f"{where}; {missing}")
    try:
        github_repos = parse_github_repos(settings.implement_github_repos)
        gitlab_projects = parse_gitlab_projects(settings.implement_gitlab_projects)
        specs = parse_repo_specs(settings.repos)
    except (TargetError, RepoConfigError) as error:
        return Check(
            name,
            False,
            str(error),
            "Fix IMPLEMENT_GITHUB_REPOS, IMPLEMENT_GITLAB_PROJECTS or REPOS.",
        )
    places: dict[Forge, list[str]] = {Forge.GITHUB: [], Forge.GITLAB: []}
    problems = []
    for spec in specs:
        try:
            target = target_for(spec, github_repos, gitlab_projects)
            places[target.forge].append(f"{target.name} → {target.project}")
        except TargetError as error:
            problems.append(str(error))
    no_gitlab_client = bool(places[Forge.GITLAB]) and importlib.util.find_spec("gitlab") is None
    if no_gitlab_client:
        problems.append(f"GitLab merge requests need python-gitlab (`{INSTALL_HINT}`).")
    sandbox = sandbox_missing()
    going = []
    if places[Forge.GITHUB]:
        going.append(f"pull requests in {', '.join(places[Forge.GITHUB])} on GitHub")
    if places[Forge.GITLAB]:
        going.append(
            f"merge requests in {', '.join(places[Forge.GITLAB])} on GitLab "
            f"({settings.gitlab_api_url})"
        )
    detail = f"{where}; " + ("; ".join(going) or "no repository to push to")
    if sandbox:
        detail += f"; {sandbox}, so commands are refused and tests not run"
    if problems:
        detail += "; " + " ".join(problems)
    usable = any(going) and not no_gitlab_client
    return Check(name, usable or not settings.implement_enabled, detail)


def _sign_off_check(settings: Settings) -> Check:
    """Who signs off requirement cards, and whether CODEOWNERS_SLACK can be read."""
    from bot.config import split_ids
    from bot.repos.codeowners import parse_slack_owner_map

    name = "Sign-off"
    try:
        owners = parse_slack_owner_map(settings.codeowners_slack)
    except ValueError as error:
        return Check(name, False, str(error), "Fix CODEOWNERS_SLACK (`@user=U123,@org/team=S456`).")
    approvers = split_ids(settings.approvers)
    who = f"the approvers ({len(approvers)})" if approvers else "each request's requester"
    if not settings.require_codeowners:
        return Check(name, True, f"{who} sign requirement cards off")
    mapped = len(owners.ids_by_owner)
    return Check(
        name,
        True,
        f"a code owner of the card's paths (CODEOWNERS; {mapped} owners in CODEOWNERS_SLACK, "
        f"teams also found as Slack user groups by handle); else {who}",
    )


def _model_check(settings: Settings) -> Check:
    import anthropic

    from bot.llm.client import LLMClient

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


def _one_line(error: object) -> str:
    """An exception's message on one line (drivers like to add hints on more lines)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[0] if lines else type(error).__name__


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
