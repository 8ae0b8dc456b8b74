"""Where a run works and what it opens: the REPOS entry, its forge (GitHub or GitLab) and
project there, its token."""

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from bot.repos.spec import RepoSpec

_OWNER_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_GITLAB_PATH = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+$")  # group/…/project


class TargetError(ValueError):
    """A repository that cannot take an implementation run; the message says what to set."""


class Forge(StrEnum):
    """Where a run's branch is proposed: a GitHub pull request or a GitLab merge request."""

    GITHUB = "GitHub"
    GITLAB = "GitLab"

    @property
    def request_noun(self) -> str:
        """What the forge calls the request: `pull request` or `merge request`."""
        return "pull request" if self is Forge.GITHUB else "merge request"

    def reference(self, number: int) -> str:
        """How the forge writes a request's number: `#12` on GitHub, `!12` on GitLab."""
        return f"#{number}" if self is Forge.GITHUB else f"!{number}"


@dataclass(frozen=True)
class RepoTarget:
    """One repository a run can push to and open a pull or merge request in."""

    name: str  # the REPOS entry's name
    url: str  # git remote (https:// or file://), never holding a token
    forge: Forge
    project: str  # GitHub's OWNER/NAME, or GitLab's group/…/project path
    token_env: str | None  # the variable holding the push and API token

    def token(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The access token, read now from the environment (never stored)."""
        if self.token_env is None:
            return None
        value = (os.environ if environ is None else environ).get(self.token_env, "").strip()
        return value or None


def parse_github_repos(text: str) -> dict[str, str]:
    """Read IMPLEMENT_GITHUB_REPOS: `name=OWNER/NAME` entries, comma- or newline-separated."""
    return _parse_mapping(
        text, setting="IMPLEMENT_GITHUB_REPOS", shape="name=OWNER/NAME", pattern=_OWNER_NAME
    )


def parse_gitlab_projects(text: str) -> dict[str, str]:
    """Read IMPLEMENT_GITLAB_PROJECTS: `name=group/project` entries (subgroups allowed),
    comma- or newline-separated."""
    return _parse_mapping(
        text, setting="IMPLEMENT_GITLAB_PROJECTS", shape="name=group/project", pattern=_GITLAB_PATH
    )


def _parse_mapping(
    text: str, *, setting: str, shape: str, pattern: re.Pattern[str]
) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for entry in (part.strip() for part in re.split(r"[,\n]", text)):
        if not entry:
            continue
        name, equals, project = (part.strip() for part in entry.partition("="))
        if not equals or not name or not pattern.match(project):
            raise TargetError(f"{setting} entry `{entry}` is not `{shape}`.")
        mapping[name] = project
    return mapping


def target_for(
    spec: RepoSpec,
    github_repos: Mapping[str, str],
    gitlab_projects: Mapping[str, str] | None = None,
) -> RepoTarget:
    """The run target of a REPOS entry; TargetError when it is a local folder, has no
    pull- or merge-request project, or is named for both forges."""
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
    gitlab_project = (gitlab_projects or {}).get(spec.name)
    if gitlab_project is not None:
        if spec.name in github_repos:
            raise TargetError(
                f"repo {spec.name} is named in both IMPLEMENT_GITHUB_REPOS and "
                "IMPLEMENT_GITLAB_PROJECTS; keep it in the one whose forge should get its "
                "requests."
            )
        return RepoTarget(
            name=spec.name,
            url=spec.url,
            forge=Forge.GITLAB,
            project=gitlab_project,
            token_env=spec.token_env,
        )
    github_repo = github_repos.get(spec.name) or _owner_name_from(spec.url)
    if github_repo is None:
        raise TargetError(
            f"repo {spec.name}: say which GitHub repository gets the pull request with "
            f'IMPLEMENT_GITHUB_REPOS="{spec.name}=OWNER/NAME" (or which GitLab project gets '
            f'the merge request with IMPLEMENT_GITLAB_PROJECTS="{spec.name}=group/project").'
        )
    return RepoTarget(
        name=spec.name,
        url=spec.url,
        forge=Forge.GITHUB,
        project=github_repo,
        token_env=spec.token_env,
    )


def _owner_name_from(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        return None
    path = parts.path.strip("/").removesuffix(".git")
    segments = path.split("/")
    return "/".join(segments[-2:]) if len(segments) >= 2 and all(segments[-2:]) else None
