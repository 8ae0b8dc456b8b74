"""The run's draft pull request through the GitHub REST API (PyGithub; any base URL).

Exactly one pull request per conversation: the open one for the branch is looked up first
and updated; only when there is none is one created.
"""

from dataclasses import dataclass


class PullRequestError(Exception):
    """GitHub refused or could not be reached; the message holds no token."""


@dataclass(frozen=True)
class PullRequestRef:
    """The pull request as the thread shows it."""

    number: int
    html_url: str
    created: bool  # False: an open one for the branch existed and was updated


def open_or_update_pull_request(
    *,
    api_url: str,
    token: str | None,
    github_repo: str,
    branch: str,
    base: str,
    title: str,
    body: str,
) -> PullRequestRef:
    """Find the open pull request whose head is `branch`, update its body, or open a draft."""
    from github import Auth, Github, GithubException  # the optional extra

    client = Github(
        base_url=api_url.rstrip("/"),
        auth=Auth.Token(token) if token else None,
        timeout=30,
        retry=3,
        seconds_between_requests=None,
    )
    try:
        repo = client.get_repo(github_repo)
        repo.get_git_ref(f"heads/{branch}")  # the push arrived where the API looks
        owner = github_repo.split("/", 1)[0]
        for existing in repo.get_pulls(state="open", head=f"{owner}:{branch}"):
            existing.edit(body=body)
            return PullRequestRef(number=existing.number, html_url=existing.html_url, created=False)
        created = repo.create_pull(base=base, head=branch, title=title, body=body, draft=True)
        return PullRequestRef(number=created.number, html_url=created.html_url, created=True)
    except GithubException as error:
        message = error.message or (
            error.data.get("message") if isinstance(error.data, dict) else None
        )
        raise PullRequestError(
            f"GitHub answered {error.status} for {github_repo}: {message or 'no reason given'}"
        ) from None
    except OSError as error:
        raise PullRequestError(f"GitHub could not be reached at {api_url}: {error}") from None
    finally:
        client.close()
