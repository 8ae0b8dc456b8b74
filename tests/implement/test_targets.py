"""Which REPOS entries a run can push to, and where its pull request goes."""

import pytest

from bot.implement.targets import TargetError, parse_github_repos, target_for
from bot.repos.spec import parse_repo_spec


def test_an_https_url_names_its_github_repository() -> None:
    target = target_for(parse_repo_spec("web=https://github.com/acme/web.git#main@TOKEN"), {})
    assert (target.github_repo, target.token_env) == ("acme/web", "TOKEN")
    assert target.token({"TOKEN": " secret "}) == "secret"
    assert target.token({}) is None


def test_a_file_remote_needs_implement_github_repos() -> None:
    spec = parse_repo_spec("api=file:///srv/api.git@GH_TOKEN")
    with pytest.raises(TargetError, match='IMPLEMENT_GITHUB_REPOS="api=OWNER/NAME"'):
        target_for(spec, {})
    assert target_for(spec, parse_github_repos("api=acme/api, web=acme/web")).github_repo == (
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
