"""Regular-expression search, in Python: the fallback when ripgrep is missing or refuses.

It follows ripgrep's rules so both give the same matches: lines split on `\\n`, a file
with a NUL byte is binary and skipped, files over the size cap are skipped, and a pattern
matches within one line.
"""

import json
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bot.repos.bounded import bounded_lines
from bot.repos.confine import read_bytes_no_follow

# Constructs that can match in a lone line but not in the same line inside the whole file;
# with any of them, every line is tried instead of first testing the whole file.
_CONTEXT_SENSITIVE = (
    "\\A",
    "\\Z",
    "(?=",
    "(?!",
    "(?<=",
    "(?<!",
    "(?>",
    "(?(",
    "*+",
    "++",
    "?+",
    "}+",
)


class SearchPatternError(ValueError):
    """A regular expression that does not compile; the message says what is wrong."""


@dataclass(frozen=True)
class Match:
    """One matching line."""

    path: str
    line: int
    text: str  # cut to the line cap
    cut: bool = False  # the line was longer than the cap


@dataclass(frozen=True)
class SearchCaps:
    """Which files count, and how much a search may return and take."""

    keep: Callable[[str], bool]  # path filter (path_glob)
    limit: int  # most matching lines
    line_chars: int  # a longer matching line is cut
    max_file_bytes: int  # larger files are skipped
    timeout: float  # seconds


@dataclass
class SearchOutcome:
    """The matches found, in tree order, and whether more were left out."""

    matches: list[Match] = field(default_factory=list)
    more: bool = False  # stopped at the limit: there are further matches
    stopped: str | None = None  # why the search ended early, other than the limit


def compile_pattern(pattern: str, *, ignore_case: bool) -> re.Pattern[str]:
    """The pattern compiled once; SearchPatternError with Python's reason when it is bad."""
    flags = re.IGNORECASE if ignore_case else 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(pattern, flags)
    except (re.error, RecursionError, OverflowError) as error:
        raise SearchPatternError(
            f"`{pattern}` is not a valid regular expression ({error}); escape special "
            "characters such as `(`, `[`, `.` or `*` with a backslash to match them literally."
        ) from None


def python_search(
    *, root: Path, files: Iterable[str], pattern: str, ignore_case: bool, caps: SearchCaps
) -> SearchOutcome:
    """Search `files` (relative, in tree order) for `pattern`, stopping after `caps.limit`.

    Python's `re` backtracks: one pattern can run for hours on one line. The search runs in
    a child process that is killed at the deadline, keeping the matches found by then.
    """
    compile_pattern(pattern, ignore_case=ignore_case)  # a bad pattern is said here, not lost
    request = {
        "root": str(root),
        "files": [rel for rel in files if caps.keep(rel)],
        "pattern": pattern,
        "ignore_case": ignore_case,
        "limit": caps.limit + 1,
        "line_chars": caps.line_chars,
        "max_file_bytes": caps.max_file_bytes,
    }
    # -I: the repository is the working directory, and nothing in it may be imported.
    command = [sys.executable, "-I", "-m", "bot.repos.search_child"]
    outcome = SearchOutcome()
    stdin = json.dumps(request).encode()
    with bounded_lines(command=command, cwd=root, timeout=caps.timeout, stdin=stdin) as run:
        for raw in run.lines:
            rel, number, line = json.loads(raw)
            if len(outcome.matches) == caps.limit:
                outcome.more = True
                break
            outcome.matches.append(make_match(rel, number, line, caps.line_chars))
    if run.timed_out:
        outcome.stopped = stopped_after(timeout=caps.timeout)
    elif run.returncode and not outcome.more:
        raise OSError(f"the Python search failed: {run.stderr.strip()[-500:]}")
    return outcome


def matching_lines(
    *, root: Path, files: Iterable[str], regex: re.Pattern[str], max_file_bytes: int
) -> Iterator[tuple[str, int, str]]:
    """Each matching line as (path, line number, text), file by file in the order given."""
    whole = _whole_file_regex(regex)
    for rel in files:
        text = _read_text(root, rel, max_file_bytes)
        if not text or (whole is not None and whole.search(text) is None):
            continue
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        for number, line in enumerate(lines, start=1):
            if regex.search(line) is not None:
                yield rel, number, line


def stopped_after(*, timeout: float) -> str:
    """Why a search ended early: its time was up."""
    return f"the search took longer than {timeout:g} s and was stopped"


def make_match(rel: str, number: int, line: str, line_chars: int) -> Match:
    """A Match for a line as found, cut to the cap (shared by both engines)."""
    text = line.rstrip("\r")
    return Match(rel, number, text[:line_chars], cut=len(text) > line_chars)


def _whole_file_regex(regex: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern for testing a whole file at once, when that cannot miss a line's match."""
    if any(construct in regex.pattern for construct in _CONTEXT_SENSITIVE):
        return None
    return re.compile(regex.pattern, regex.flags | re.MULTILINE)


def _read_text(root: Path, rel: str, max_file_bytes: int) -> str | None:
    try:
        data = read_bytes_no_follow(root=root, rel=rel, max_bytes=max_file_bytes)
    except OSError:
        return None
    if data is None or b"\x00" in data:
        return None
    return data.decode("utf-8", "replace")
