"""Every setting agentdesk reads, from the environment and `.env`, documented once here."""

import os
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_USER_ID = re.compile(r"[UW][A-Z0-9]+")
_GROUP_ID = re.compile(r"[UWS][A-Z0-9]+")


class Settings(BaseSettings):
    """agentdesk's configuration. Each field is an environment variable of the same name."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        populate_by_name=True,
    )

    # Slack
    slack_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_BOT_TOKEN", "SLACK_CLI_XOXB", "slack_bot_token"),
        description="Bot token (xoxb-…) from the app's OAuth & Permissions page "
        "(`slack run` passes it as SLACK_CLI_XOXB).",
    )
    slack_signing_secret: SecretStr | None = Field(
        default=None, description="Signing secret from Basic Information; verifies HTTP requests."
    )
    slack_app_token: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_APP_TOKEN", "SLACK_CLI_XAPP", "slack_app_token"),
        description="App-level token (xapp-…) with connections:write, for Socket Mode "
        "(`slack run` passes it as SLACK_CLI_XAPP).",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/",
        description="Base URL of Slack's Web API; tests point it at a local fake.",
    )
    slack_client_id: str | None = Field(
        default=None,
        description="Client ID from Basic Information; with SLACK_CLIENT_SECRET it turns on "
        "OAuth installs for any workspace (/slack/install).",
    )
    slack_client_secret: SecretStr | None = Field(
        default=None, description="Client secret from Basic Information (OAuth mode)."
    )
    admin_user_ids: str = Field(
        default="",
        description="Comma-separated Slack user IDs who may change any channel's settings "
        "and see the admin part of the Home tab, besides workspace admins.",
    )

    # Anthropic
    anthropic_api_key: SecretStr | None = Field(
        default=None, description="Key for the Anthropic Messages API; without it nothing is sent."
    )
    anthropic_base_url: str | None = Field(
        default=None,
        description="Any Anthropic-compatible Messages API server; unset means Anthropic's own.",
    )
    model_default: str = Field(
        default="claude-sonnet-5-5", description="Model for agents with no `model:` or `inherit`."
    )
    model_sonnet: str = Field(
        default="claude-sonnet-5-5", description="What `model: sonnet` means."
    )
    model_opus: str = Field(default="claude-opus-5-5", description="What `model: opus` means.")
    model_haiku: str = Field(default="claude-haiku-5-5", description="What `model: haiku` means.")
    model_router: str = Field(
        default="claude-haiku-5-5", description="Small fast model the router asks when unsure."
    )
    model_max_tokens: int = Field(
        default=8192, ge=256, le=20000, description="Most tokens one agent turn may write."
    )
    model_context_tokens: int = Field(
        default=200_000,
        ge=8000,
        description="The model's context window; older turns are condensed to stay inside it.",
    )
    model_max_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a model call on 408, 409, 429, 5xx, 529 and connection errors.",
    )
    model_retry_wait_cap_seconds: float = Field(
        default=20.0, ge=0, description="Longest wait between retries, whatever Retry-After says."
    )
    agent_max_tool_steps: int = Field(
        default=12, ge=1, description="Most tool calls (reading code) in one agent turn."
    )
    agent_turn_input_token_budget: int = Field(
        default=400_000,
        ge=10_000,
        description="Input tokens one agent turn may spend (all its model calls) before it must wrap up.",
    )
    model_timeout_seconds: float = Field(
        default=120.0, gt=0, description="Timeout of one model request, in seconds."
    )
    model_prices: str = Field(
        default="",
        description="Dollar prices per million tokens overriding the built-in table: "
        "`model=input/output[/cache_read/cache_write]`, comma-separated; a model id prefix "
        "matches every model that starts with it. Unset: list prices by family.",
    )
    channel_monthly_budget_usd: float = Field(
        default=0.0,
        ge=0,
        description="Dollars of model use each channel may spend per calendar month (UTC) "
        "before agentdesk answers politely instead of calling the model; 0 means no budget. "
        "A channel's own budget (the channel_setting table) overrides it.",
    )

    # Storage and agents
    database_url: str = Field(
        default="sqlite:///agentdesk.db",
        description="SQLAlchemy URL: a SQLite file by default, postgresql+psycopg://… in production.",
    )
    database_pool_size: int = Field(
        default=20,
        ge=1,
        description="PostgreSQL connections each process keeps open (twice that for "
        "`agentdesk serve`: its acks have a pool of their own); threads beyond it wait.",
    )
    agents_dir: Path = Field(
        default=Path("agents"), description="Folder of agent files (Claude Code subagent format)."
    )

    # Repositories agents may read
    repos: str = Field(
        default="",
        description="Repositories agents may read: comma- or newline-separated "
        "`name=location[#branch][@TOKEN_ENV_VAR]`; a local folder is read in place, a git URL "
        "is cloned and fetched. Empty: no repository tools.",
    )
    repos_cache_dir: Path = Field(
        default=Path(".agentdesk/repos"),
        description="Folder where repositories given by URL are cloned.",
    )
    repos_fetch_interval_seconds: int = Field(
        default=600, ge=60, description="How often mirrored repositories are fetched."
    )
    repos_git_timeout_seconds: float = Field(
        default=300.0, gt=0, description="Longest one clone or fetch may take."
    )
    repo_tool_max_chars: int = Field(
        default=30_000, ge=2000, description="Most characters one repository tool result returns."
    )

    # HTTP server and logs
    port: int = Field(default=3000, ge=1, le=65535, description="Port of `agentdesk serve`.")
    log_format: str = Field(
        default="text",
        pattern="^(text|json)$",
        description="`text` for people, `json` for log collectors: one JSON object a line, "
        "with `conversation_id` on every line written during an agent turn.",
    )

    # Work queue
    worker_processes: int = Field(
        default=1,
        ge=0,
        description="Processes `agentdesk serve` starts to run agent turns, apart from the one "
        "answering Slack (0 = run them in that process).",
    )
    worker_niceness: int | None = Field(
        default=None,
        ge=0,
        le=19,
        description="How much lower the CPU priority of those worker processes is than the "
        "answering one's (nice): by default 10 with PostgreSQL, so acks come first, and 0 with "
        "SQLite, where a worker holding the file's write lock must not wait behind the acks "
        "that need it.",
    )
    turn_concurrency: int = Field(
        default=200,
        ge=1,
        description="Agent turns (and inbound requests) one process works on at once.",
    )
    model_calls_in_flight: int = Field(
        default=200, ge=1, description="Most model requests one process has open at once."
    )
    turns_per_user: int = Field(
        default=3,
        ge=0,
        description="Most turns one requester may have running at once; others wait (0 = no cap).",
    )
    turns_per_channel: int = Field(
        default=50,
        ge=0,
        description="Most turns one channel may have running at once; others wait (0 = no cap).",
    )
    turn_lease_seconds: int = Field(
        default=30,
        ge=5,
        description="Lease on a running turn, renewed while it runs; a crashed process's "
        "turns are taken over after it (at once on the same host).",
    )
    turn_max_attempts: int = Field(
        default=3, ge=1, description="Attempts at one turn before the conversation fails."
    )
    prune_after_days: int = Field(
        default=14,
        ge=1,
        description="Days to keep seen-event keys, finished turns and taken-in requests.",
    )

    # Follow-ups (the scheduler)
    reminder_after_working_hours: float = Field(
        default=8.0,
        gt=0,
        description="Working hours a requester may leave questions unanswered before a reminder.",
    )
    reminder_max: int = Field(
        default=2, ge=0, description="Most reminders one conversation gets (0 turns them off)."
    )
    escalate_after: float = Field(
        default=16.0,
        ge=0,
        description="Working hours a question or a card ready for sign-off may wait before the "
        "approvers (or the channel's creator) are asked to step in; 0 turns it off.",
    )
    working_hours_start: int = Field(
        default=9, ge=0, le=23, description="Hour (in the person's own zone) working hours start."
    )
    working_hours_end: int = Field(
        default=17, ge=1, le=24, description="Hour (in the person's own zone) working hours end."
    )
    working_days: str = Field(
        default="mon,tue,wed,thu,fri", description="Days reminders may be sent, comma-separated."
    )
    default_timezone: str = Field(
        default="UTC", description="Time zone for people whose own zone is unknown."
    )
    auto_close_after_days: float = Field(
        default=7.0, gt=0, description="Days without activity before a conversation is closed."
    )
    digest_channel: str | None = Field(
        default=None,
        description="Channel ID that gets the digest (`C123`), or one per workspace "
        "(`T1:C123,T2:C456`); unset means no digest.",
    )
    digest_frequency: str = Field(
        default="weekly", pattern="^(daily|weekly)$", description="`daily` or `weekly` (Mondays)."
    )
    digest_hour: int = Field(
        default=9, ge=0, le=23, description="Hour the digest is posted, in DIGEST_TIMEZONE."
    )
    digest_timezone: str = Field(default="UTC", description="Time zone of DIGEST_HOUR.")
    retention_days: int = Field(
        default=0,
        ge=0,
        description="Delete message text older than this many days (0 = keep forever).",
    )
    scheduler_in_process: bool = Field(
        default=True,
        description="Run the scheduler inside `serve`/`run`; false when `agentdesk scheduler` runs.",
    )
    scheduler_interval_seconds: int = Field(
        default=300, ge=10, description="How often the follow-up sweep runs."
    )
    scheduler_lease_seconds: int = Field(
        default=90, ge=10, description="How long a scheduler holds its lease between renewals."
    )
    scheduler_misfire_grace_seconds: int = Field(
        default=3600, ge=1, description="How late a missed sweep may still run after a restart."
    )

    @field_validator("worker_niceness", mode="before")
    @classmethod
    def _empty_is_the_default(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("model_prices")
    @classmethod
    def _prices_are_readable(cls, value: str) -> str:
        from bot.accounting.prices import parse_prices

        parse_prices(value)  # raises PriceError (a ValueError) naming the bad entry
        return value

    @field_validator("approvers", "implement_approvers")
    @classmethod
    def _slack_ids(cls, value: str, info: ValidationInfo) -> str:
        groups = info.field_name == "approvers"  # IMPLEMENT_APPROVERS takes people only
        for entry in sorted(split_ids(value)):
            if not (_GROUP_ID if groups else _USER_ID).fullmatch(entry):
                kinds = (
                    "a Slack user id (U…, W…) or user-group id (S…)"
                    if groups
                    else ("a Slack user id (U…, W…)")
                )
                raise ValueError(f"`{entry}` is not {kinds}, as Slack shows them")
        return value

    # Implementation runs (Claude Code in a sandboxed worktree, ending in a draft pull request)
    implement_enabled: bool = Field(
        default=False,
        description="Allow implementation runs in every channel; off, a channel can turn them "
        "on with `/feature channel implement on`.",
    )
    approvers: str = Field(
        default="",
        description="Who may sign off requirement cards: Slack user ids and user-group ids "
        "(`U123,S456`), comma-separated; empty means each conversation's requester.",
    )
    require_codeowners: bool = Field(
        default=False,
        description="Cards are signed off by a code owner of the paths they name (the "
        "repository's CODEOWNERS), instead of the requester or APPROVERS.",
    )
    codeowners_slack: str = Field(
        default="",
        description="CODEOWNERS owners as Slack ids, `@user=U123,@org/team=S456,a@b.c=U789`; a "
        "team without an entry is the Slack user group whose handle is the team's name.",
    )
    implement_approvers: str = Field(
        default="",
        description="Slack user ids (comma-separated) who may start an implementation run; "
        "empty means the conversation's requester.",
    )
    github_api_url: str = Field(
        default="https://api.github.com",
        description="GitHub REST API base URL (GitHub Enterprise: https://HOST/api/v3).",
    )
    implement_github_repos: str = Field(
        default="",
        description="Pull request repository per REPOS entry, `name=OWNER/NAME`, comma-separated; "
        "needed for file:// remotes and mirrors (an https:// URL's path is used otherwise).",
    )
    gitlab_api_url: str = Field(
        default="https://gitlab.com",
        description="GitLab instance for merge requests (self-managed: https://HOST); the "
        "REST API is its /api/v4.",
    )
    implement_gitlab_projects: str = Field(
        default="",
        description="Merge request project per REPOS entry, `name=group/project` (subgroups "
        "allowed), comma-separated; such an entry opens GitLab merge requests instead of GitHub "
        "pull requests, with its REPOS token.",
    )
    implement_max_turns: int = Field(
        default=60, ge=1, description="Most model turns Claude Code may take in one run."
    )
    implement_max_seconds: int = Field(
        default=1800, ge=10, description="Longest one implementation run may take, in seconds."
    )
    implement_setup: str = Field(
        default="",
        description="A set-up command per REPOS entry, one `name=command` per line; without "
        "one, a run uses the repository's .agentdesk/setup.sh, its dev container's commands, or "
        "what its project files call for.",
    )
    implement_setup_hosts: str = Field(
        default="",
        description="Hosts a set-up step may reach besides the package registries this "
        "machine's pip and npm use, comma-separated.",
    )
    implement_setup_seconds: int = Field(
        default=900, ge=10, description="Longest a set-up step may take, in seconds."
    )
    implement_max_cost_usd: float = Field(
        default=5.0, gt=0, description="Most one implementation run may spend on the model, in USD."
    )
    implement_work_dir: Path = Field(
        default=Path(".agentdesk/worktrees"),
        description="Folder for the runs' git worktrees (each removed when its run ends).",
    )
    implement_concurrency: int = Field(
        default=2, ge=1, le=32, description="Implementation runs one process works at once."
    )
    implement_in_process: bool = Field(
        default=True,
        description="`serve`/`run` work implementation runs themselves; false leaves them to "
        "`agentdesk work --implement` processes (Implement still queues them at once).",
    )


def split_ids(value: str) -> frozenset[str]:
    """The IDs of a comma-separated (or one-a-line) setting such as ADMIN_USER_IDS."""
    return frozenset(part.strip() for part in value.replace("\n", ",").split(",") if part.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


_SECRET_NAME = re.compile(
    r"(^|_)(TOKENS?|SECRETS?|PASSWORD|PASSWD|CREDENTIALS?|APIKEY)(_|$)|_KEY$", re.IGNORECASE
)


def held_secrets(
    settings: Settings,
    *,
    token_variables: Iterable[str] = (),
    environ: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every secret agentdesk holds, value -> the name it goes by."""
    environ = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, SecretStr) and value.get_secret_value():
            found[value.get_secret_value()] = name.upper()
    password = urlsplit(settings.database_url).password
    if password:
        found[password] = "the database password"
    for name in token_variables:
        if environ.get(name, "").strip():
            found[environ[name].strip()] = name
    for name, value in environ.items():
        if _SECRET_NAME.search(name) and value.strip():
            found.setdefault(value.strip(), name)
    for value, name in list(found.items()):
        if ":" in value:  # `user:password` tokens: the password alone too
            found.setdefault(value.split(":", 1)[1], name)
    return found
