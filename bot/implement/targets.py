"""Where a run works and what it opens: the REPOS entry, its pull-request repository, its token."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.repos.spec import RepoSpec

_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class TargetError(ValueError):
    """A repository that cannot take an implementation run; the message says what to set."""


@dataclass(frozen=True)
class RepoTarget:
    """One repository a run can push to and open a pull request in."""

    name: str  # the REPOS entry's name
    url: str  # git remote (https:// or file://), never holding a token
    github_repo: str  # OWNER/NAME for the REST API
    token_env: str | None  # the variable holding the push and API token

    def token(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The access token, read now from the environment (never stored)."""
        if self.token_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.token_env, "").strip()
        return value or None


def parse_github_repos(text: str) -> dict[str, str]:
    """Read IMPLEMENT_GITHUB_REPOS: `name=OWNER/NAME` entries, comma- or newline-separated."""
    mapping: dict[str, str] = {}
    for entry in (part.strip() for part in re.split(r"[,\n]", text)):
        if not entry:
            continue
        name, equals, repo = (part.strip() for part in entry.partition("="))
        if not equals or not _OWNER_NAME.match(repo):
            raise TargetError(f"IMPLEMENT_GITHUB_REPOS entry `{entry}` is not `name=OWNER/NAME`.")
        mapping[name] = repo
    return mapping


def target_for(spec: RepoSpec, github_repos: Mapping[str, str]) -> RepoTarget:
    """The run target of a REPOS entry; TargetError when it is a local folder or has no
    pull-request repository."""
    if spec.url is None:
        raise TargetError(
            f"repo {spec.name} is a local folder; implementation runs need a git URL "
            "(https:// or file://) in REPOS to push a branch to."
        )
    scheme = urlsplit(spec.url).scheme if "://" in spec.url else "ssh"
    if scheme not in ("https", "http", "file"):
        raise TargetError(
            f"repo {spec.name}: implementation runs push over https:// (or to a file:// "
            f"remote), not {scheme}."
        )
    github_repo = github_repos.get(spec.name) or _owner_name_from(spec.url)
    if github_repo is None:
        raise TargetError(
            f"repo {spec.name}: say which GitHub repository gets the pull request with "
            f'IMPLEMENT_GITHUB_REPOS="{spec.name}=OWNER/NAME".'
        )
    return RepoTarget(
        name=spec.name, url=spec.url, github_repo=github_repo, token_env=spec.token_env
    )


def _owner_name_from(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        return None
    path = parts.path.strip("/").removesuffix(".git")
    segments = path.split("/")
    return "/".join(segments[-2:]) if len(segments) >= 2 and all(segments[-2:]) else None
