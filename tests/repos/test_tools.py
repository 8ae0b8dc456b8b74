"""The three tools over a mirrored repository: results, caps, binaries, bad input."""

import time
from pathlib import Path

import pytest

from bot.repos import RepoMirror, RepoSet, RepoSpec, RepoTools, ToolLimits
from bot.repos.ripgrep import find_ripgrep
from tests.repos.support import BIG_LINES, LONG_LINE_CHARS, git, write

# list_files


def test_list_files_sorted_with_header(tools: RepoTools, demo: RepoMirror) -> None:
    commit = demo.commit()
    assert commit is not None
    result = tools.list_files(repo="demo", pattern="**/*.py")
    assert not result.is_error
    assert result.files == ["src/app.py", "src/util/strings.py"]
    header, *paths = result.text.splitlines()
    assert header.startswith(f"repo demo @ {commit[:12]} (main, fetched ")
    assert header.endswith("2 files match `**/*.py`:")
    assert paths == result.files


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.py", ["src/app.py", "src/util/strings.py"]),
        ("src/*.py", ["src/app.py"]),
        ("src/", ["src/.gitignore", "src/app.py", "src/keep.log", "src/util/strings.py"]),
        ("docs/**", ["docs/guide.md"]),
        ("*.{md,toml}", ["README.md", "config/settings.toml", "docs/guide.md"]),
        ("**/strings.?y", ["src/util/strings.py"]),
        ("[RX]EADME.md", ["README.md"]),
        ("nothing-*", []),
    ],
)
def test_list_files_patterns(tools: RepoTools, pattern: str, expected: list[str]) -> None:
    assert tools.list_files(repo="demo", pattern=pattern).files == expected


def test_list_files_says_when_nothing_matches(tools: RepoTools) -> None:
    result = tools.list_files(repo="demo", pattern="*.rs")
    assert not result.is_error and "no files match `*.rs`" in result.text


def test_list_files_cap_says_how_many_more(tools: RepoTools) -> None:
    everything = tools.list_files(repo="demo").files
    result = tools.list_files(repo="demo", limit=3)
    assert result.files == everything[:3]
    assert f"{len(everything)} files match `**/*`, showing the first 3:" in result.text
    assert f"[{len(everything) - 3} more not shown;" in result.text


def test_list_files_bad_pattern(tools: RepoTools) -> None:
    result = tools.list_files(repo="demo", pattern="src/{a,b")
    assert result.is_error and "without its `}`" in result.text


# read_file


def test_read_file_numbers_lines_like_cat_n(tools: RepoTools) -> None:
    result = tools.read_file(repo="demo", path="src/util/strings.py")
    assert not result.is_error
    assert result.files == ["src/util/strings.py"]
    header, *lines = result.text.splitlines()
    assert header.endswith("`src/util/strings.py`, lines 1–2 of 2")
    assert lines == [
        "     1\tdef shout(text: str) -> str:",
        "     2\t    return text.upper()  # hello",
    ]


def test_read_file_range(tools: RepoTools) -> None:
    result = tools.read_file(repo="demo", path="big.txt", start_line=10, end_line=12)
    assert result.text.splitlines()[1:] == [
        "    10\tline 10 of a big file",
        "    11\tline 11 of a big file",
        "    12\tline 12 of a big file",
    ]
    assert "lines 10–12 of 3,000" in result.text
    assert "[Cut" not in result.text


def test_read_file_line_cap_says_how_to_read_on(tools: RepoTools) -> None:
    result = tools.read_file(repo="demo", path="big.txt")
    lines = result.text.splitlines()
    assert "lines 1–500 of 3,000" in lines[0]
    assert lines[-2] == "   500\tline 500 of a big file"
    assert lines[-1] == (
        "[Cut at line 500 by the 500-line cap; 2,500 lines follow. "
        "To read on, call read_file with start_line=501.]"
    )
    tail = tools.read_file(repo="demo", path="big.txt", start_line=2999)
    assert tail.text.splitlines()[1:] == [
        "  2999\tline 2999 of a big file",
        "  3000\tline 3000 of a big file",
    ]


def test_read_file_character_cap(repos: RepoSet, engine: str) -> None:
    tools = RepoTools(repos, limits=ToolLimits(result_chars=1000), use_ripgrep=engine == "ripgrep")
    result = tools.read_file(repo="demo", path="big.txt")
    body = result.text.splitlines()[1:-1]
    assert sum(len(line) + 1 for line in body) <= 1000
    last = int(body[-1].split("\t")[0])
    assert f"[Cut at line {last} by the size cap;" in result.text
    assert f"start_line={last + 1}" in result.text


def test_read_file_cuts_long_lines(tools: RepoTools) -> None:
    result = tools.read_file(repo="demo", path="long_line.txt")
    first = result.text.splitlines()[1]
    assert first.endswith(f" …[line cut: {LONG_LINE_CHARS - 2000:,} more characters]")
    assert len(first) < 2100
    assert result.text.splitlines()[2] == "     2\tshort"


def test_read_file_strips_crlf(tools: RepoTools) -> None:
    assert tools.read_file(repo="demo", path="crlf.txt").text.splitlines()[1:] == [
        "     1\thello",
        "     2\tworld",
    ]


def test_binary_files_are_described_not_dumped(tools: RepoTools) -> None:
    result = tools.read_file(repo="demo", path="logo.png")
    assert not result.is_error
    assert "`logo.png` is a binary file, 69 bytes, apparently a PNG image" in result.text
    assert "IHDR" not in result.text and "\x89" not in result.text
    assert result.files == ["logo.png"]


def test_unknown_binary_uses_the_extension(mirror: RepoMirror) -> None:
    write(mirror.root, "data/blob.bin", b"\x00\x01\x02" * 1000)
    result = RepoTools(RepoSet([mirror])).read_file(repo="demo", path="data/blob.bin")
    assert "3,000 bytes" in result.text and "binary data" in result.text


def test_read_file_errors_the_model_can_act_on(tools: RepoTools) -> None:
    missing = tools.read_file(repo="demo", path="src/nope.py")
    assert missing.is_error and "does not exist; use list_files" in missing.text
    folder = tools.read_file(repo="demo", path="src/util")
    assert folder.is_error and "pattern `src/util/*`" in folder.text
    past = tools.read_file(repo="demo", path="README.md", start_line=99)
    assert past.is_error and "has 3 lines; start_line 99 is past the end" in past.text
    backwards = tools.read_file(repo="demo", path="README.md", start_line=3, end_line=2)
    assert backwards.is_error


def test_files_over_the_size_cap_are_not_read(repos: RepoSet) -> None:
    tools = RepoTools(repos, limits=ToolLimits(max_file_bytes=1000))
    result = tools.read_file(repo="demo", path="big.txt")
    assert result.is_error and "cap for reading; use search_code" in result.text


# search_code


def test_search_returns_path_line_text(tools: RepoTools, demo: RepoMirror) -> None:
    commit = demo.commit()
    assert commit is not None
    result = tools.search_code(repo="demo", pattern=r"def \w+\(")
    assert not result.is_error
    lines = result.text.splitlines()
    assert lines[0].startswith(f"repo demo @ {commit[:12]}")
    assert lines[0].endswith("3 matching lines for `def \\w+\\(` in 2 files:")
    assert lines[1:] == [
        "src/app.py:4: def main() -> str:",
        "src/app.py:8: def greet(name: str) -> str:",
        "src/util/strings.py:1: def shout(text: str) -> str:",
    ]
    assert result.files == ["src/app.py", "src/util/strings.py"]


def test_search_with_path_glob_and_case(tools: RepoTools) -> None:
    result = tools.search_code(repo="demo", pattern="HELLO", path_glob="*.md", ignore_case=True)
    assert result.files == ["README.md", "docs/guide.md"]
    assert "in files matching `*.md`" in result.text
    assert tools.search_code(repo="demo", pattern="HELLO", path_glob="*.md").files == []


def test_search_cap_says_it_was_cut(tools: RepoTools) -> None:
    result = tools.search_code(repo="demo", pattern=r"^line \d+", limit=5)
    assert result.text.splitlines()[1:6] == [
        f"big.txt:{n}: line {n} of a big file" for n in range(1, 6)
    ]
    assert "5+ matching lines" in result.text
    assert "[Cut at 5 matching lines; more exist." in result.text


def test_search_character_cap(repos: RepoSet, engine: str) -> None:
    tools = RepoTools(repos, limits=ToolLimits(result_chars=500), use_ripgrep=engine == "ripgrep")
    result = tools.search_code(repo="demo", pattern=r"^line \d+", limit=BIG_LINES)
    assert len(result.text) < 800
    assert "more exist" in result.text


def test_search_cuts_long_lines(tools: RepoTools) -> None:
    result = tools.search_code(repo="demo", pattern="^hello x+")
    [line] = result.text.splitlines()[1:]
    assert line.startswith("long_line.txt:1: hello xxx")
    assert line.endswith("x …[line cut]")
    assert len(line) == len("long_line.txt:1: ") + 300 + len(" …[line cut]")


def test_search_skips_binary_files(tools: RepoTools) -> None:
    assert tools.search_code(repo="demo", pattern="IHDR").files == []


def test_bad_regex_is_an_error_string(tools: RepoTools) -> None:
    result = tools.search_code(repo="demo", pattern="greet(")
    assert result.is_error
    assert "`greet(` is not a valid regular expression" in result.text
    assert "escape special characters" in result.text


def test_lookaround_works_with_either_engine(tools: RepoTools) -> None:
    result = tools.search_code(repo="demo", pattern=r"(?<=def )greet")
    assert result.text.splitlines()[1:] == ["src/app.py:8: def greet(name: str) -> str:"]


# The thread method: a regex match holds the interpreter, so a signal would never get in.
@pytest.mark.timeout(60, method="thread")
def test_a_catastrophic_pattern_is_stopped_at_the_deadline(tmp_path: Path, engine: str) -> None:
    upstream = tmp_path / "slow"
    upstream.mkdir()
    git("init", "--quiet", "--initial-branch=main", cwd=upstream)
    write(upstream, "a.txt", "a" * 64 + "\n")
    git("add", "-A", cwd=upstream)
    git("commit", "--quiet", "-m", "a", cwd=upstream)
    mirror = RepoMirror(RepoSpec(name="slow", url=upstream.as_uri()), tmp_path / "cache")
    mirror.sync()
    tools = RepoTools(
        RepoSet([mirror]),
        limits=ToolLimits(timeout_seconds=1),
        use_ripgrep=engine == "ripgrep",
    )
    started = time.monotonic()
    result = tools.search_code(repo="slow", pattern="(?=(a+)+b)")  # look-ahead: Python's re
    assert time.monotonic() - started < 10
    assert "the search took longer than 1 s and was stopped" in result.text


def test_no_matches_is_not_an_error(tools: RepoTools) -> None:
    result = tools.search_code(repo="demo", pattern="zebra")
    assert not result.is_error and "no matches for `zebra`" in result.text


@pytest.mark.skipif(find_ripgrep() is None, reason="ripgrep (rg) is not installed")
@pytest.mark.parametrize(
    ("pattern", "path_glob", "ignore_case"),
    [
        ("hello", None, False),
        (r"^\s+return", None, False),
        ("HELLO", None, True),
        (r"line 1\d\d ", "big.txt", False),
        ("^$", None, False),
        (r"world\r?$", None, False),
        (r"\bshout\b", "src/**", False),
        ("e", "*.md", False),
    ],
)
def test_ripgrep_and_python_give_the_same_results(
    repos: RepoSet, pattern: str, path_glob: str | None, ignore_case: bool
) -> None:
    fast = RepoTools(repos, use_ripgrep=True)
    fallback = RepoTools(repos, use_ripgrep=False)
    assert fast.ripgrep is not None and fallback.ripgrep is None
    fast_result = fast.search_code(
        repo="demo", pattern=pattern, path_glob=path_glob, ignore_case=ignore_case, limit=400
    )
    assert fast_result == fallback.search_code(
        repo="demo", pattern=pattern, path_glob=path_glob, ignore_case=ignore_case, limit=400
    )
    assert fast_result.files
    assert fast.list_files(repo="demo", pattern="**") == fallback.list_files(
        repo="demo", pattern="**"
    )


@pytest.mark.skipif(find_ripgrep() is None, reason="ripgrep (rg) is not installed")
def test_both_engines_agree_on_a_messy_tree(tmp_path: Path) -> None:
    root = tmp_path / "messy"
    write(root, ".gitignore", "/top-only.txt\n*.tmp\n!keep.tmp\nnested/deep/\n")
    write(root, "a-b/x.txt", "needle\n")
    write(root, "a/b.txt", "needle\n")
    write(root, "a.txt", "needle\n")
    write(root, "top-only.txt", "needle\n")
    write(root, "sub/top-only.txt", "needle\n")
    write(root, "x.tmp", "needle\n")
    write(root, "sub/keep.tmp", "needle\n")
    write(root, "nested/deep/y.txt", "needle\n")
    write(root, "nested/deeper/y.txt", "needle\n")
    write(root, "sub/.gitignore", "*.txt\n")
    write(root, "sub/z.txt", "needle\n")
    write(root, "Ünïcode/naïve.txt", "needle ünï\n")
    write(root, "empty.txt", "")
    write(root, "no-newline.txt", "needle")
    repos = RepoSet([RepoMirror(RepoSpec(name="messy", path=root), tmp_path / "cache")])
    fast, fallback = RepoTools(repos, use_ripgrep=True), RepoTools(repos, use_ripgrep=False)
    listed = fast.list_files(repo="messy")
    assert listed == fallback.list_files(repo="messy")
    assert listed.files == [
        ".gitignore",
        "a/b.txt",
        "a-b/x.txt",
        "a.txt",
        "empty.txt",
        "nested/deeper/y.txt",
        "no-newline.txt",
        "sub/.gitignore",
        "sub/keep.tmp",
        "Ünïcode/naïve.txt",
    ]
    for pattern in ("needle", "^$", "ünï", "needle$"):
        assert fast.search_code(repo="messy", pattern=pattern) == fallback.search_code(
            repo="messy", pattern=pattern
        )


# run_tool


def test_run_tool_dispatches(tools: RepoTools) -> None:
    result = tools.run_tool(
        name="read_file", tool_input={"repo": "demo", "path": "README.md", "start_line": "2"}
    )
    assert not result.is_error and "lines 2–3 of 3" in result.text
    listed = tools.run_tool(name="list_files", tool_input={"repo": "demo", "pattern": "docs/*"})
    assert listed.files == ["docs/guide.md"]
    found = tools.run_tool(
        name="search_code",
        tool_input={"repo": "demo", "pattern": "say", "ignore_case": True, "path_glob": ""},
    )
    assert found.files == ["docs/guide.md"]


@pytest.mark.parametrize(
    ("name", "tool_input", "says"),
    [
        ("write_file", {"repo": "demo"}, "no repository tool called `write_file`"),
        ("read_file", {"path": "README.md"}, "`repo` is required"),
        ("read_file", {"repo": "demo"}, "`path` is required"),
        ("read_file", {"repo": "demo", "path": 7}, "`path` must be a string"),
        ("read_file", {"repo": "demo", "path": "a", "start_line": 0}, "at least 1"),
        ("read_file", {"repo": "demo", "path": "a", "start_line": True}, "whole number"),
        ("list_files", {"repo": "demo", "limit": "many"}, "whole number"),
        ("search_code", {"repo": "demo"}, "`pattern` is required"),
        ("search_code", {"repo": "demo", "pattern": ""}, "Give a regular expression"),
        ("search_code", {"repo": "demo", "pattern": "a" * 1001}, "longer than 1,000 characters"),
        ("search_code", {"repo": "demo", "pattern": "x", "ignore_case": "yes"}, "true or false"),
        (
            "list_files",
            {"repo": "nope"},
            "There is no repository `nope`; the repositories are `demo`",
        ),
        ("list_files", ["demo"], "takes an object"),
    ],
)
def test_run_tool_refuses_bad_input_without_raising(
    tools: RepoTools, name: str, tool_input: object, says: str
) -> None:
    result = tools.run_tool(name=name, tool_input=tool_input)  # type: ignore[arg-type]
    assert result.is_error
    assert says in result.text


def test_run_tool_turns_surprises_into_errors(
    tools: RepoTools, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: object, **_kwargs: object) -> list[str]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(tools, "_visible_files", explode)
    result = tools.run_tool(name="list_files", tool_input={"repo": "demo"})
    assert result.is_error and "list_files failed unexpectedly (RuntimeError)" in result.text


def test_a_broken_ripgrep_falls_back_to_python(repos: RepoSet, tmp_path: Path) -> None:
    tools = RepoTools(repos, use_ripgrep=True)
    tools.ripgrep = str(tmp_path / "no-such-rg")
    assert tools.list_files(repo="demo", pattern="*.py").files == [
        "src/app.py",
        "src/util/strings.py",
    ]
    assert tools.search_code(repo="demo", pattern="def greet").files == ["src/app.py"]
