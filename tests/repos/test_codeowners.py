"""CODEOWNERS read as GitHub reads it, and its owners turned into Slack ids."""

import pytest

from bot.repos.codeowners import (
    CODEOWNERS_LOCATIONS,
    MAX_CODEOWNERS_BYTES,
    SlackOwnerMap,
    SlackOwners,
    find_codeowners,
    owner_kind,
    parse_codeowners,
    parse_slack_owner_map,
    slack_ids_for,
)

# The rules of the example file in GitHub's "About code owners" page, in its order, with an
# inline comment as the page has one. The comments here are ours.
GITHUB_EXAMPLE = """\
# Default owners of everything, unless a later line matches.
*       @global-owner1 @global-owner2

*.js    @js-owner #an inline comment, not an owner
*.go docs@example.com
*.txt @octo-org/octocats
/build/logs/ @doctocat
docs/*  docs@example.com
apps/ @octocat
/docs/ @doctocat
/scripts/ @doctocat @octocat
**/logs @octocat

# The owners of /apps/github left empty, then given to @doctocat.
/apps/ @octocat
/apps/github

/apps/ @octocat
/apps/github @doctocat
"""

GLOBAL = ("@global-owner1", "@global-owner2")


def owners(text: str, path: str) -> tuple[str, ...]:
    return parse_codeowners(text).owners_of(path)


# Each example of the page on its own (after the default line where the page's comment
# speaks of what is not matched), and the owners its comment gives.
@pytest.mark.parametrize(
    ("rules", "path", "expected"),
    [
        ("* @global-owner1 @global-owner2", "README.md", GLOBAL),
        ("* @global-owner1 @global-owner2", "src/deep/main.c", GLOBAL),
        ("* @g1 @g2\n*.js @js-owner", "web/app.js", ("@js-owner",)),
        ("* @g1 @g2\n*.js @js-owner", "web/app.css", ("@g1", "@g2")),
        ("*.go docs@example.com", "cmd/tool/main.go", ("docs@example.com",)),
        ("*.txt @octo-org/octocats", "notes/todo.txt", ("@octo-org/octocats",)),
        ("/build/logs/ @doctocat", "build/logs/today.log", ("@doctocat",)),
        ("/build/logs/ @doctocat", "build/logs/2024/today.log", ("@doctocat",)),
        ("* @g\n/build/logs/ @doctocat", "tools/build/logs/today.log", ("@g",)),
        ("* @g\ndocs/* docs@example.com", "docs/getting-started.md", ("docs@example.com",)),
        ("* @g\ndocs/* docs@example.com", "docs/build-app/troubleshooting.md", ("@g",)),
        ("apps/ @octocat", "apps/web/index.html", ("@octocat",)),
        ("apps/ @octocat", "services/apps/deep/x.rb", ("@octocat",)),
        ("/docs/ @doctocat", "docs/index.md", ("@doctocat",)),
        ("/docs/ @doctocat", "docs/guides/setup.md", ("@doctocat",)),
        ("* @g\n/docs/ @doctocat", "site/docs/index.md", ("@g",)),
        ("/scripts/ @doctocat @octocat", "scripts/deploy.sh", ("@doctocat", "@octocat")),
        ("**/logs @octocat", "build/logs/a.log", ("@octocat",)),
        ("**/logs @octocat", "scripts/logs/a.log", ("@octocat",)),
        ("**/logs @octocat", "deeply/nested/logs/a.log", ("@octocat",)),
        ("/apps/ @octocat\n/apps/github", "apps/web/x.rb", ("@octocat",)),
        ("/apps/ @octocat\n/apps/github", "apps/github/x.rb", ()),
        ("/apps/ @octocat\n/apps/github @doctocat", "apps/github/x.rb", ("@doctocat",)),
        ("/apps/ @octocat\n/apps/github @doctocat", "apps/web/x.rb", ("@octocat",)),
    ],
)
def test_each_github_example_alone(rules: str, path: str, expected: tuple[str, ...]) -> None:
    assert owners(rules, path) == expected


# The whole example file: where several lines match, the last one decides.
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("README.md", GLOBAL),
        ("src/app.js", ("@js-owner",)),
        ("cmd/main.go", ("docs@example.com",)),
        ("notes/todo.txt", ("@octo-org/octocats",)),
        ("build/logs/today.log", ("@octocat",)),  # `**/logs` comes after `/build/logs/`
        ("build/other/x.txt", ("@octo-org/octocats",)),
        ("docs/getting-started.md", ("@doctocat",)),  # `/docs/` comes after `docs/*`
        ("docs/build-app/troubleshooting.md", ("@doctocat",)),
        ("site/docs/index.md", GLOBAL),
        ("site/docs/app.js", ("@js-owner",)),
        ("services/apps/x.js", ("@octocat",)),
        ("apps/web/x.rb", ("@octocat",)),
        ("apps/github/x.rb", ("@doctocat",)),
        ("apps/github/logs/x.log", ("@doctocat",)),
        ("scripts/deploy.sh", ("@doctocat", "@octocat")),
        ("scripts/logs/run.log", ("@octocat",)),
        ("deeply/nested/logs/x", ("@octocat",)),
    ],
)
def test_github_example_file(path: str, expected: tuple[str, ...]) -> None:
    assert owners(GITHUB_EXAMPLE, path) == expected


def test_github_example_reads_cleanly() -> None:
    codeowners = parse_codeowners(GITHUB_EXAMPLE)
    assert codeowners.problems == ()
    assert len(codeowners.rules) == 14
    assert codeowners.rules[1].owners == ("@js-owner",)
    assert codeowners.rule_for("apps/github/x.rb") == codeowners.rules[-1]
    assert codeowners.rules[-1].line == 19


def test_last_matching_line_wins() -> None:
    assert owners("*.js @js\n* @all", "a.js") == ("@all",)
    assert owners("* @all\n*.js @js", "a.js") == ("@js",)
    assert owners("* @all\n*.js @js", "a.css") == ("@all",)
    assert owners("/src/ @src\n/src/api/ @api\n/src/ @src-again", "src/api/x.py") == ("@src-again",)


def test_a_line_without_owners_leaves_the_path_unowned() -> None:
    text = "* @all\n/vendor/\n/vendor/ours/ @us"
    assert owners(text, "vendor/lib/x.c") == ()
    assert owners(text, "vendor/ours/x.c") == ("@us",)
    assert owners(text, "src/x.c") == ("@all",)
    assert parse_codeowners(text).rule_for("vendor/lib/x.c") is not None


def test_unmatched_path_has_no_owner() -> None:
    assert owners("/src/ @src", "docs/a.md") == ()
    assert parse_codeowners("/src/ @src").rule_for("docs/a.md") is None


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        # Without a slash, a name matches at any depth, as a file or as a folder.
        ("foo", "foo", True),
        ("foo", "bar/foo", True),
        ("foo", "bar/foo/baz", True),
        ("foo", "foo.txt", False),
        ("foo", "bar/foo.txt", False),
        # A leading slash anchors to the root.
        ("/foo", "foo", True),
        ("/foo", "foo/bar/baz", True),
        ("/foo", "bar/foo", False),
        ("/foo", "fool.txt", False),
        # A slash inside the pattern anchors it too.
        ("foo/bar", "foo/bar", True),
        ("foo/bar", "foo/bar/baz", True),
        ("foo/bar", "baz/foo/bar", False),
        ("foo/bar", "foo/bart", False),
        # A trailing slash: a folder and everything below it, not a file of that name.
        ("foo/", "foo", False),
        ("foo/", "foo/bar", True),
        ("foo/", "bar/foo/baz/qux", True),
        ("/foo/", "bar/foo/baz", False),
        ("foo/bar/", "foo/bar", False),
        ("foo/bar/", "foo/bar/baz", True),
        ("foo/bar/", "x/foo/bar/baz", False),
        # `*` stays within one folder.
        ("*", "foo", True),
        ("*", "bar/foo/baz", True),
        ("f*", "bar/foo", True),
        ("f*", "foo/bar/baz", True),
        ("f*", "bar/baz", False),
        ("/*", "foo", True),
        ("/*", "foo/bar", False),
        ("/f*", "foo/bar", True),
        ("/f*", "bar/foo", False),
        ("f*/", "foo", False),
        ("f*/", "bar/foo/baz", True),
        ("docs/*", "docs/a.md", True),
        ("docs/*", "docs/sub/a.md", False),
        ("docs/*", "docs", False),
        ("docs/*", "x/docs/a.md", False),
        ("docs/*.md", "docs/a.md", True),
        ("docs/*.md", "docs/sub/a.md", False),
        ("foo/*/baz", "foo/bar/baz", True),
        ("foo/*/baz", "foo/baz", False),
        ("foo/*/baz", "foo/a/b/baz", False),
        ("*.js", "a/b/c.js", True),
        ("*.js", "a/b/c.jsx", False),
        ("?.md", "a.md", True),
        ("?.md", "ab.md", False),
        # `**` crosses folders.
        ("**/foo/bar", "foo/bar", True),
        ("**/foo/bar", "a/b/foo/bar/c", True),
        ("**/foo/bar", "foo/x/bar", False),
        ("foo/**", "foo", False),
        ("foo/**", "foo/a/b", True),
        ("foo/**", "x/foo/a", False),
        ("foo/**/bar", "foo/bar", True),
        ("foo/**/bar", "foo/a/b/bar/c", True),
        ("foo/**/bar", "x/foo/bar", False),
        ("foo/**/*.py", "foo/a.py", True),
        ("foo/**/*.py", "foo/a/b/c.py", True),
        ("foo/**/*.py", "foo/a/b/c.pyc", False),
        ("**", "anything/at/all", True),
        # Escapes make a character literal, and paths are case sensitive.
        ("f\\*o", "f*o", True),
        ("f\\*o", "foo", False),
        ("f\\?o", "foo", False),
        ("\\!important", "!important", True),
        ("*.JS", "a.js", False),
        ("a+b(c).txt", "a+b(c).txt", True),
    ],
)
def test_patterns(pattern: str, path: str, matches: bool) -> None:
    codeowners = parse_codeowners(f"{pattern} @owner")
    assert codeowners.problems == ()
    assert (codeowners.owners_of(path) == ("@owner",)) is matches


def test_escaped_spaces_in_a_pattern() -> None:
    codeowners = parse_codeowners("path\\ with\\ spaces/ @space-owner")
    assert codeowners.owners_of("path with spaces/file.txt") == ("@space-owner",)
    assert codeowners.owners_of("path/file.txt") == ()


@pytest.mark.parametrize("path", ["docs/a.md", "/docs/a.md", "./docs/a.md", "docs//a.md"])
def test_paths_with_or_without_a_leading_slash(path: str) -> None:
    assert owners("/docs/ @d", path) == ("@d",)


def test_a_path_ending_with_a_slash_is_the_folder_itself() -> None:
    codeowners = parse_codeowners(
        "* @all\n/apps/ @apps\n/tools @tools\n/build/* @build-files\nlogs/ @logs"
    )
    assert codeowners.owners_of("apps/") == ("@apps",)
    assert codeowners.owners_of("/apps/") == ("@apps",)
    assert codeowners.owners_of("apps") == ("@all",)  # a file named apps: `/apps/` is folders only
    assert codeowners.owners_of("tools/") == ("@tools",)
    assert codeowners.owners_of("src/logs/") == ("@logs",)
    # `build/*` owns the files directly in build/, not the folders there.
    assert codeowners.owners_of("build/out.txt") == ("@build-files",)
    assert codeowners.owners_of("build/sub/") == ("@all",)
    assert codeowners.owners_of("lib/") == ("@all",)


def test_the_root_itself_has_no_owner() -> None:
    assert owners("* @all", "/") == ()
    assert owners("* @all", "") == ()


def test_owners_of_any_keys_paths_as_given() -> None:
    codeowners = parse_codeowners(GITHUB_EXAMPLE)
    paths = ["/src/app.js", "apps/github/", "README.md", "apps/github/x.rb"]
    assert codeowners.owners_of_any(paths) == {
        "/src/app.js": ("@js-owner",),
        "apps/github/": ("@doctocat",),
        "README.md": GLOBAL,
        "apps/github/x.rb": ("@doctocat",),
    }
    assert codeowners.owners_of_any([]) == {}


def test_comments_blank_lines_crlf_and_bom() -> None:
    text = "\ufeff# owners\r\n\r\n   # indented comment\r\n*.py @py # trailing\r\n\t\r\n"
    codeowners = parse_codeowners(text)
    assert codeowners.problems == ()
    assert [(rule.line, rule.pattern, rule.owners) for rule in codeowners.rules] == [
        (4, "*.py", ("@py",))
    ]


def test_owner_forms_and_duplicates() -> None:
    codeowners = parse_codeowners("* @alice @org/team-a alice@example.com @alice")
    assert codeowners.problems == ()
    assert codeowners.owners_of("x") == ("@alice", "@org/team-a", "alice@example.com")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("!docs/keep.md @d", "negation"),
        ("*.py[co] @py", "character ranges"),
        ("[Dd]ocs/ @d", "character ranges"),
        ("\\#notes.md @n", "escaping `#`"),
        ("C#/ @dotnet", "comment"),
        ("/src/ @org/team# @x", "comment"),
        ("/src/ alice", "`alice` is not an owner"),
        ("/src/ @alice @@bob", "`@@bob` is not an owner"),
        ("/src/ @org/team/sub", "`@org/team/sub` is not an owner"),
        ("/src\\", "lone `\\`"),
        ("/ @root", "matches no path"),
    ],
)
def test_lines_github_would_skip(line: str, message: str) -> None:
    codeowners = parse_codeowners(f"* @all\n{line}\n/last/ @last")
    assert [rule.pattern for rule in codeowners.rules] == ["*", "/last/"]
    [problem] = codeowners.problems
    assert problem.line == 2
    assert problem.text == line
    assert message in problem.message
    assert str(problem).startswith("CODEOWNERS:2: ")


def test_a_skipped_negation_unsets_nothing() -> None:
    codeowners = parse_codeowners("/docs/ @docs\n!/docs/public/ @nobody\n!/docs/public/")
    assert codeowners.owners_of("docs/public/index.md") == ("@docs",)
    assert [problem.line for problem in codeowners.problems] == [2, 3]


def test_problems_name_the_file_they_came_from() -> None:
    codeowners = parse_codeowners("!x @a", source=".github/CODEOWNERS")
    assert str(codeowners.problems[0]).startswith(".github/CODEOWNERS:1: ")


@pytest.mark.parametrize(
    ("present", "used"),
    [
        ({".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"}, ".github/CODEOWNERS"),
        ({"CODEOWNERS", "docs/CODEOWNERS"}, "CODEOWNERS"),
        ({"docs/CODEOWNERS"}, "docs/CODEOWNERS"),
        ({".github/CODEOWNERS", "docs/CODEOWNERS"}, ".github/CODEOWNERS"),
    ],
)
def test_find_codeowners_uses_the_first_location_github_finds(present: set[str], used: str) -> None:
    asked: list[str] = []

    owner = {".github/CODEOWNERS": "@dot-github", "CODEOWNERS": "@root", "docs/CODEOWNERS": "@docs"}

    def read(path: str) -> str | None:
        asked.append(path)
        return f"* {owner[path]}" if path in present else None

    codeowners = find_codeowners(read)
    assert codeowners is not None
    assert codeowners.source == used
    assert codeowners.problems == ()
    assert codeowners.owners_of("x.py") == (owner[used],)
    assert asked == list(CODEOWNERS_LOCATIONS[: CODEOWNERS_LOCATIONS.index(used) + 1])


def test_find_codeowners_without_a_file() -> None:
    assert find_codeowners(lambda _path: None) is None


def test_an_empty_file_in_an_earlier_location_still_wins() -> None:
    files = {".github/CODEOWNERS": "", "CODEOWNERS": "* @root-owner"}
    codeowners = find_codeowners(files.get)
    assert codeowners is not None
    assert codeowners.source == ".github/CODEOWNERS"
    assert codeowners.owners_of("x.py") == ()


def test_a_file_github_finds_too_large_is_not_used() -> None:
    line = "/src/ @owner\n"
    big = line * (MAX_CODEOWNERS_BYTES // len(line) + 1)
    codeowners = find_codeowners({"CODEOWNERS": big}.get)
    assert codeowners is not None
    assert codeowners.rules == ()
    assert codeowners.owners_of("src/a.py") == ()
    assert "3 MB" in codeowners.problems[0].message


@pytest.mark.parametrize(
    ("owner", "kind"),
    [
        ("@alice", "user"),
        ("@octo-org/octocats", "team"),
        ("docs@example.com", "email"),
        ("alice", None),
        ("@", None),
        ("@org/", None),
        ("user@localhost", None),
    ],
)
def test_owner_kind(owner: str, kind: str | None) -> None:
    assert owner_kind(owner) == kind


# Slack


def test_parse_slack_owner_map() -> None:
    mapping = parse_slack_owner_map(
        " @alice=U0123 , @org/backend = S0456,\n bob@example.com=U0789\n\n@Carol=W0ABC,"
    )
    assert mapping.id_for("@alice") == "U0123"
    assert mapping.id_for("@org/backend") == "S0456"
    assert mapping.id_for("Bob@Example.com") == "U0789"
    assert mapping.id_for("@carol") == "W0ABC"
    assert mapping.id_for("@dave") is None
    assert len(mapping.ids_by_owner) == 4


def test_an_empty_setting_maps_nothing() -> None:
    assert parse_slack_owner_map("") == SlackOwnerMap()
    assert parse_slack_owner_map(" ,\n ") == SlackOwnerMap()


def test_the_same_mapping_twice_is_fine() -> None:
    assert parse_slack_owner_map("@alice=U01,@Alice=U01").id_for("@alice") == "U01"


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("@alice", "`@alice` is not `owner=SLACK_ID`"),
        ("@alice=", "`@alice=` is not `owner=SLACK_ID`"),
        ("=U0123", "`=U0123` is not `owner=SLACK_ID`"),
        ("@alice=U0123,alice=U0456", "`alice` is not a CODEOWNERS owner"),
        ("@alice=u0123", "`u0123` is not a Slack id"),
        ("@alice=C0123", "`C0123` is not a Slack id"),
        ("@alice=<@U0123>", "is not a Slack id"),
        ("@alice=U0123=U0456", "is not a Slack id"),
        ("@alice=U0123\n@ALICE=U0456", "maps `@ALICE` twice, to U0123 and U0456"),
    ],
)
def test_malformed_slack_owner_map(setting: str, message: str) -> None:
    with pytest.raises(ValueError, match="CODEOWNERS_SLACK") as error:
        parse_slack_owner_map(setting)
    assert message in str(error.value)


GROUPS = {"backend": "S0BE", "octo-org-web": "S0WEB", "@Design": "S0DES"}


def test_explicit_mapping_wins_over_a_group_of_the_same_handle() -> None:
    mapping = parse_slack_owner_map("@octo-org/backend=S0999")
    result = slack_ids_for(owners=["@octo-org/backend"], mapping=mapping, groups_by_handle=GROUPS)
    assert result == SlackOwners(ids=("S0999",), unresolved=())


@pytest.mark.parametrize(
    ("team", "group"),
    [
        ("@octo-org/backend", "S0BE"),  # the team slug
        ("@octo-org/web", "S0WEB"),  # org-team
        ("@Octo-Org/Design", "S0DES"),  # handles compare without case or leading @
    ],
)
def test_a_team_resolves_to_the_group_with_its_handle(team: str, group: str) -> None:
    result = slack_ids_for(owners=[team], mapping=SlackOwnerMap(), groups_by_handle=GROUPS)
    assert result == SlackOwners(ids=(group,), unresolved=())


def test_the_team_slug_is_tried_before_org_team() -> None:
    groups = {"octo-org-backend": "S0LONG", "backend": "S0SHORT"}
    result = slack_ids_for(
        owners=["@octo-org/backend"], mapping=SlackOwnerMap(), groups_by_handle=groups
    )
    assert result.ids == ("S0SHORT",)


def test_unresolved_owners_are_reported() -> None:
    mapping = parse_slack_owner_map("@alice=U0123,bob@example.com=U0789")
    result = slack_ids_for(
        owners=["@alice", "@carol", "@octo-org/mobile", "bob@example.com", "eve@example.com"],
        mapping=mapping,
        groups_by_handle=GROUPS,
    )
    assert result.ids == ("U0123", "U0789")
    assert result.unresolved == ("@carol", "@octo-org/mobile", "eve@example.com")


def test_a_user_is_never_matched_to_a_group_by_name() -> None:
    result = slack_ids_for(owners=["@backend"], mapping=SlackOwnerMap(), groups_by_handle=GROUPS)
    assert result == SlackOwners(ids=(), unresolved=("@backend",))


def test_ids_are_listed_once_in_owner_order() -> None:
    mapping = parse_slack_owner_map("@alice=U01,@alice-alt=U01,@bob=U02")
    result = slack_ids_for(
        owners=["@bob", "@alice", "@alice-alt", "@bob", "@octo-org/backend"],
        mapping=mapping,
        groups_by_handle=GROUPS,
    )
    assert result == SlackOwners(ids=("U02", "U01", "S0BE"), unresolved=())


def test_owners_of_a_change_to_slack_ids() -> None:
    codeowners = parse_codeowners(GITHUB_EXAMPLE)
    mapping = parse_slack_owner_map("@js-owner=U0JS,@doctocat=U0DOC")
    touched = codeowners.owners_of_any(["web/app.js", "apps/github/x.rb", "notes/a.txt"])
    everyone = [owner for path_owners in touched.values() for owner in path_owners]
    result = slack_ids_for(owners=everyone, mapping=mapping, groups_by_handle={"octocats": "S01"})
    assert result == SlackOwners(ids=("U0JS", "U0DOC", "S01"), unresolved=())
