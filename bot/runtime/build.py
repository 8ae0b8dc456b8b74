"""Builds the desk from settings: database (migrated), agents, model client and router."""

import logging

from bot.agents.registry import AgentRegistry
from bot.config import Settings
from bot.engine.desk import Desk
from bot.engine.followups import FollowUps, TimezoneOf
from bot.engine.learned_examples import StoredRouteExamples
from bot.engine.repo_toolbox import RepoToolbox
from bot.llm.client import LLMClient
from bot.repos import RepoTools, ToolLimits, build_repo_set
from bot.routing.model_classifier import ModelClassifier
from bot.routing.router import Router
from bot.runtime.scheduler import SchedulerService
from bot.store.db import make_engine, upgrade

log = logging.getLogger(__name__)


def build_desk(settings: Settings, *, llm: LLMClient | None = None, migrate: bool = True) -> Desk:
    """A ready desk; applies pending migrations first unless told not to."""
    engine = make_engine(settings.database_url, pool_size=settings.database_pool_size)
    if migrate:
        upgrade(engine)
    registry = AgentRegistry(settings.agents_dir)
    llm = llm or LLMClient(settings)
    classifier = ModelClassifier(llm=llm, model=settings.model_router) if llm.configured else None
    router = Router(registry, classifier, learned=StoredRouteExamples(engine))
    repos = build_repo_set(settings)
    toolbox = (
        RepoToolbox(
            repos, RepoTools(repos, limits=ToolLimits(result_chars=settings.repo_tool_max_chars))
        )
        if len(repos)
        else None
    )
    return Desk(
        settings=settings, engine=engine, registry=registry, llm=llm, router=router, toolbox=toolbox
    )


def missing_for_model(settings: Settings) -> str | None:
    """What stops agent turns from running, in one sentence, or None."""
    if settings.anthropic_api_key is None:
        return (
            "ANTHROPIC_API_KEY is not set, so agents can't answer yet (routing still works). "
            "Set it in the environment or .env; ANTHROPIC_BASE_URL can point at any "
            "Anthropic-compatible server."
        )
    return None


def missing_for_slack(settings: Settings) -> list[str]:
    """The Slack settings still missing, each with where to find it."""
    missing = []
    if settings.slack_bot_token is None:
        missing.append("SLACK_BOT_TOKEN (xoxb-…, the app's OAuth & Permissions page)")
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        missing.append(
            "SLACK_APP_TOKEN (xapp-…, for Socket Mode) or SLACK_SIGNING_SECRET (for HTTP mode)"
        )
    return missing


def build_scheduler(
    settings: Settings, desk: Desk, *, timezone_of: TimezoneOf | None = None
) -> SchedulerService:
    """The follow-up scheduler over the desk's database (start it to contend for the lease)."""
    followups = FollowUps(
        engine=desk.engine,
        settings=settings,
        timezone_of=timezone_of or (lambda _user: None),
        repos=desk.repo_set(),
    )
    return SchedulerService(
        engine=desk.engine, settings=settings, followups=followups, repos=desk.repo_set()
    )
