"""Secrets that must never leave a run: the exact values agentdesk holds and common token shapes.

A `SecretGuard` knows every secret value agentdesk holds (settings, the repositories' tokens,
secret-looking environment variables, the database password) and the shapes of well-known
tokens (detect-secrets' regular-expression detectors, plus Anthropic keys). It names what it
finds, never the value, and blanks values out of text bound for Slack, a pull request or a log.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

REDACTED = "[redacted]"
_MIN_SECRET_CHARS = 8  # shorter values would match ordinary text
_ANTHROPIC_KEY = re.compile(r"sk-ant-[A-Za-z0-9_-]{20,}")


@dataclass(frozen=True)
class Finding:
    """A secret seen in some text: what kind, and where (never the value)."""

    kind: str  # `the value of SLACK_BOT_TOKEN`, `a Slack Token`, …
    where: str


@cache
def _shape_detectors() -> tuple[tuple[str, Any], ...]:
    # Imported here: only implementation runs need them (the optional `implement` extra).
    from detect_secrets.plugins.aws import AWSKeyDetector
    from detect_secrets.plugins.discord import DiscordBotTokenDetector
    from detect_secrets.plugins.github_token import GitHubTokenDetector
    from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
    from detect_secrets.plugins.npm import NpmDetector
    from detect_secrets.plugins.openai import OpenAIDetector
    from detect_secrets.plugins.private_key import PrivateKeyDetector
    from detect_secrets.plugins.pypi_token import PypiTokenDetector
    from detect_secrets.plugins.sendgrid import SendGridDetector
    from detect_secrets.plugins.slack import SlackDetector
    from detect_secrets.plugins.stripe import StripeDetector
    from detect_secrets.plugins.telegram_token import TelegramBotTokenDetector

    detectors = (
        AWSKeyDetector,
        DiscordBotTokenDetector,
        GitHubTokenDetector,
        GitLabTokenDetector,
        NpmDetector,
        OpenAIDetector,
        PrivateKeyDetector,
        PypiTokenDetector,
        SendGridDetector,
        SlackDetector,
        StripeDetector,
        TelegramBotTokenDetector,
    )
    return tuple((str(d.secret_type), d()) for d in detectors)


class SecretGuard:
    """Finds and blanks out agentdesk's secrets and well-known token shapes."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        # value -> its name; the longest first, so a value inside another is blanked whole
        self._values = {
            value: name for value, name in secrets.items() if len(value) >= _MIN_SECRET_CHARS
        }
        self._ordered = sorted(self._values, key=len, reverse=True)

    def _shapes(self, text: str) -> Iterable[tuple[str, str]]:
        for match in _ANTHROPIC_KEY.findall(text):
            yield "an Anthropic API key", match
        for kind, detector in _shape_detectors():
            for pattern in detector.denylist:
                for match in pattern.finditer(text):
                    yield f"a {kind}", match.group(0)

    def findings(self, text: str, *, where: str) -> list[Finding]:
        """Every secret value or token shape in `text` (each kind once)."""
        kinds: dict[str, None] = {}
        for value in self._ordered:
            if value in text:
                kinds[f"the value of {self._values[value]}"] = None
        for kind, _ in self._shapes(text):
            kinds[kind] = None
        return [Finding(kind=kind, where=where) for kind in kinds]

    def redact(self, text: str) -> str:
        """`text` with every secret value and token shape replaced by `[redacted]`."""
        for value in self._ordered:
            text = text.replace(value, REDACTED)
        for _, match in list(self._shapes(text)):
            text = text.replace(match, REDACTED)
        return text


_SQLITE_MAGIC = b"SQLite format 3\x00"
_DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3", ".db3", ".mdb", ".dump")
_KEY_SUFFIXES = (".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk")
_KEY_NAMES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_CREDENTIAL_NAMES = (".netrc", ".pgpass", ".git-credentials", "credentials.json", ".htpasswd")
_ENV_TEMPLATES = (".sample", ".example", ".template", ".dist", ".defaults")


def unsafe_file(path: Path) -> str | None:
    """Why a file must not be committed (it looks like a secret or a database), or None."""
    name = path.name.lower()
    if name in (".env", ".envrc") or (
        name.startswith(".env.") and not name.endswith(_ENV_TEMPLATES)
    ):
        return "an environment file"
    if name in _KEY_NAMES or name.endswith(_KEY_SUFFIXES):
        return "a key file"
    if name in _CREDENTIAL_NAMES:
        return "a credentials file"
    if name.endswith(_DATABASE_SUFFIXES):
        return "a database file"
    try:
        with path.open("rb") as file:
            head = file.read(len(_SQLITE_MAGIC))
    except OSError:
        return None
    if head == _SQLITE_MAGIC or head.startswith(b"PGDMP"):
        return "a database file"
    return None
