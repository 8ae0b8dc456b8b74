"""Which REPOS entries a run can push to, and where its pull or merge request goes."""

import re

import pytest

from bot.implement.targets import (
    Forge,
    TargetError,
    parse_github_repos,
    parse_gitlab_projects,
    target_for,
)
from bot.repos.spec import parse_repo_spec


def test_an_https_url_names_its_github_repository() -> None:
    target = target_for(parse_repo_spec("web=https://github.com/acme/web.git#main@TOKEN"), {})
    assert (target.forge, target.project, target.token_env) == (Forge.GITHUB, "acme/web", "TOKEN")
    assert target.token({"TOKEN": " secret "}) == "secret"
    assert target.token({}) is None


def test_a_file_remote_needs_implement_github_repos() -> None:
    spec = parse_repo_spec("api=file:///srv/api.git@GH_TOKEN")
    with pytest.raises(TargetError, match='IMPLEMENT_GITHUB_REPOS="api=OWNER/NAME"'):
        target_for(spec, {})
    assert target_for(spec, parse_github_repos("api=acme/api, web=acme/web")).project == (
        "acme/api"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("api=/srv/api", "local folder"),
        ("api=git@github.com:acme/api.git", "not ssh"),
        ("api=ssh://git@github.com/acme/api.git", "not ssh"),
    ],
)
def test_repositories_a_run_cannot_push_to(entry: str, message: str) -> None:
    with pytest.raises(TargetError, match=message):
        target_for(parse_repo_spec(entry), {"api": "acme/api"})


def test_a_bad_implement_github_repos_entry_is_named() -> None:
    with pytest.raises(TargetError, match="`api=acme` is not `name=OWNER/NAME`"):
        parse_github_repos("api=acme")


def test_an_entry_in_implement_gitlab_projects_opens_merge_requests_there() -> None:
    projects = parse_gitlab_projects("api=acme/api,\nweb = acme/frontend/web")
    assert projects == {"api": "acme/api", "web": "acme/frontend/web"}
    spec = parse_repo_spec("web=https://gitlab.example/acme/frontend/web.git@GL_TOKEN")
    target = target_for(spec, {}, projects)
    assert (target.forge, target.project, target.token_env) == (
        Forge.GITLAB,
        "acme/frontend/web",
        "GL_TOKEN",
    )
    assert (target.forge.request_noun, target.forge.reference(3)) == ("merge request", "!3")
    other = target_for(
        parse_repo_spec("docs=file:///srv/docs.git"), {"docs": "acme/docs"}, projects
    )
    assert (other.forge, other.forge.reference(3)) == (Forge.GITHUB, "#3")


def test_an_entry_named_for_both_forges_is_refused_by_name() -> None:
    spec = parse_repo_spec("api=file:///srv/api.git@TOKEN")
    with pytest.raises(TargetError, match="repo api is named in both IMPLEMENT_GITHUB_REPOS"):
        target_for(spec, {"api": "acme/api"}, {"api": "acme/api"})


@pytest.mark.parametrize("entry", ["api=acme", "api", "=acme/api", "api=acme/ api"])
def test_a_bad_implement_gitlab_projects_entry_is_named(entry: str) -> None:
    expected = f"IMPLEMENT_GITLAB_PROJECTS entry `{entry}` is not `name=group/project`."
    with pytest.raises(TargetError, match=re.escape(expected)):
        parse_gitlab_projects(entry)
