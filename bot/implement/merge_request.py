"""The run's draft merge request through the GitLab REST API (python-gitlab; GitLab.com or a
self-managed instance).

Exactly one merge request per conversation: the open one whose source branch is the run's
branch is looked up first and its description updated; only when there is none is one
created, as a draft (GitLab's `Draft: ` title prefix).
"""

from dataclasses import dataclass
from typing import Any

from bot.implement.availability import INSTALL_HINT

DRAFT_PREFIX = "Draft: "
_TITLE_LIMIT = 255  # GitLab's longest merge request title
_RETRIES = 3  # after a connection error or a 5xx answer


class MergeRequestError(Exception):
    """GitLab refused or could not be reached; the message holds no token."""


@dataclass(frozen=True)
class MergeRequestRef:
    """The merge request as the thread shows it."""

    iid: int  # the project's own number for it (`!iid`)
    web_url: str
    created: bool  # False: an open one for the branch existed and was updated


def open_or_update_merge_request(
    *,
    api_url: str,
    token: str | None,
    gitlab_project: str,
    branch: str,
    base: str,
    title: str,
    body: str,
) -> MergeRequestRef:
    """Find the open merge request whose source is `branch`, update its description, or open
    a draft one into `base`."""
    try:
        import gitlab  # the optional extra, loaded only when a GitLab target opens a request
    except ImportError:
        raise MergeRequestError(
            f"GitLab merge requests need python-gitlab: install it with `{INSTALL_HINT}`."
        ) from None
    try:
        with gitlab.Gitlab(
            url=instance_url(api_url),
            private_token=token,
            timeout=30,
            retry_transient_errors=True,
        ) as client:
            project = client.projects.get(gitlab_project, max_retries=_RETRIES)
            for existing in project.mergerequests.list(
                state="opened", source_branch=branch, iterator=True, max_retries=_RETRIES
            ):
                existing.description = body
                existing.save(max_retries=_RETRIES)
                return _ref(existing, created=False)
            created = project.mergerequests.create(
                {
                    "source_branch": branch,
                    "target_branch": base,
                    "title": (DRAFT_PREFIX + title)[:_TITLE_LIMIT],
                    "description": body,
                },
                max_retries=_RETRIES,
            )
            return _ref(created, created=True)
    except gitlab.GitlabError as error:
        raise MergeRequestError(
            f"GitLab answered {error.response_code or 'nothing'} for {gitlab_project}: "
            f"{_reason(error.error_message)}"
        ) from None
    except OSError as error:  # requests' connection errors and timeouts
        raise MergeRequestError(f"GitLab could not be reached at {api_url}: {error}") from None


def instance_url(api_url: str) -> str:
    """GITLAB_API_URL as python-gitlab wants it: the instance, without `/api/v4`."""
    return api_url.rstrip("/").removesuffix("/api/v4")


def _ref(merge_request: Any, *, created: bool) -> MergeRequestRef:
    return MergeRequestRef(
        iid=int(merge_request.iid), web_url=str(merge_request.web_url), created=created
    )


def _reason(message: object) -> str:
    """GitLab's `message`: a string, a list of strings, or a dict of field → messages."""
    if isinstance(message, list):
        return "; ".join(str(part) for part in message) or "no reason given"
    if isinstance(message, dict):
        return "; ".join(f"{field} {_reason(value)}" for field, value in message.items())
    return str(message or "no reason given")
