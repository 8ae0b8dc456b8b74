"""One call for the forge a run proposes its branch on: a draft pull request on GitHub or a
draft merge request on GitLab, opened once per branch and updated by later runs."""

from dataclasses import dataclass

from bot.config import Settings
from bot.implement.merge_request import MergeRequestError, open_or_update_merge_request
from bot.implement.pull_request import PullRequestError, open_or_update_pull_request
from bot.implement.targets import Forge, RepoTarget


class ChangeRequestError(Exception):
    """The forge refused or could not be reached; the message holds no token."""


@dataclass(frozen=True)
class ChangeRequest:
    """A pull or merge request as the thread shows it."""

    forge: Forge
    number: int  # GitHub's pull request number, GitLab's merge request iid
    url: str  # its web page
    created: bool  # False: an open one for the branch existed and was updated

    @property
    def noun(self) -> str:
        """`pull request` or `merge request`."""
        return self.forge.request_noun

    @property
    def reference(self) -> str:
        """`#12` on GitHub, `!12` on GitLab."""
        return self.forge.reference(self.number)


def open_or_update_change_request(
    *,
    settings: Settings,
    target: RepoTarget,
    token: str | None,
    branch: str,
    base: str,
    title: str,
    body: str,
) -> ChangeRequest:
    """Update the open request whose head is `branch` on the target's forge, or open a draft
    one into `base`; the open one is always looked up first."""
    try:
        if target.forge is Forge.GITLAB:
            merge = open_or_update_merge_request(
                api_url=settings.gitlab_api_url,
                token=token,
                gitlab_project=target.project,
                branch=branch,
                base=base,
                title=title,
                body=body,
            )
            return ChangeRequest(target.forge, merge.iid, merge.web_url, merge.created)
        pull = open_or_update_pull_request(
            api_url=settings.github_api_url,
            token=token,
            github_repo=target.project,
            branch=branch,
            base=base,
            title=title,
            body=body,
        )
        return ChangeRequest(target.forge, pull.number, pull.html_url, pull.created)
    except (PullRequestError, MergeRequestError) as error:
        raise ChangeRequestError(str(error)) from None
