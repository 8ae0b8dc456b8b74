"""Reading the REPOS setting."""

from pathlib import Path

import pytest

from bot.repos import RepoConfigError, RepoSpec, parse_repo_specs


def test_local_folders_and_urls_with_branch_and_token() -> None:
    specs = parse_repo_specs(
        "api=/srv/api, web=https://github.com/acme/web.git#main@WEB_REPO_TOKEN\n"
        "infra=git@github.com:acme/infra.git#release/2.x\n"
        "tools=ssh://git@git.example.com:2222/acme/tools.git"
    )
    assert specs == [
        RepoSpec(name="api", path=Path("/srv/api")),
        RepoSpec(
            name="web",
            url="https://github.com/acme/web.git",
            branch="main",
            token_env="WEB_REPO_TOKEN",
        ),
        RepoSpec(name="infra", url="git@github.com:acme/infra.git", branch="release/2.x"),
        RepoSpec(name="tools", url="ssh://git@git.example.com:2222/acme/tools.git"),
    ]
    assert [spec.is_mirror for spec in specs] == [False, True, True, True]


def test_blank_entries_and_comments_are_skipped() -> None:
    assert parse_repo_specs("") == []
    assert parse_repo_specs(" , \n# old=/srv/old\nsite=file:///srv/site.git,") == [
        RepoSpec(name="site", url="file:///srv/site.git")
    ]


def test_relative_and_home_folders() -> None:
    [here, home] = parse_repo_specs("here=./checkout, home=~/code/app")
    assert here.path == Path("checkout")
    assert home.path == Path("~/code/app").expanduser()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("just-a-path", "is not `name=location`"),
        ("Api=/srv/api", "must be a short slug"),
        ("a b=/srv/api", "must be a short slug"),
        ("api=", "is not `name=location`"),
        ("api=/srv/a, api=/srv/b", "names `api` twice"),
        ("api=/srv/api#main", "takes no `#branch`"),
        ("api=/srv/api@TOKEN", "takes no `#branch` or `@TOKEN`"),
        ("web=git@github.com:acme/web.git@TOKEN", "only sent over https://"),
        ("web=http://git.example.com/web.git@TOKEN", "only sent over https://"),
        ("web=https://github.com/acme/web.git#-upload-pack", "not a usable branch name"),
        ("web=https:///acme/web.git", "has no host"),
    ],
)
def test_bad_entries_are_named(text: str, says: str) -> None:
    with pytest.raises(RepoConfigError) as raised:
        parse_repo_specs(text)
    assert says in str(raised.value)
    assert "REPOS" in str(raised.value)


def test_a_token_over_loopback_http_is_allowed() -> None:
    [spec] = parse_repo_specs("dev=http://127.0.0.1:8080/dev.git@DEV_TOKEN")
    assert spec.token_env == "DEV_TOKEN"


def test_a_password_in_the_url_is_refused_without_echoing_it() -> None:
    with pytest.raises(RepoConfigError) as raised:
        parse_repo_specs("web=https://bot:ghp_s3cretvalue@github.com/acme/web.git")
    message = str(raised.value)
    assert "ghp_s3cretvalue" not in message
    assert "@VARIABLE" in message
