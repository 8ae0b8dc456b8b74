"""Regular-expression search, in Python: the fallback when ripgrep is missing or refuses.

It follows ripgrep's rules so both give the same matches: lines split on `\\n`, a file
with a NUL byte is binary and skipped, files over the size cap are skipped, and a pattern
matches within one line.
"""

import re
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from bot.repos.confine import read_bytes_no_follow

# Constructs that can match in a lone line but not in the same line inside the whole file;
# with any of them, every line is tried instead of first testing the whole file.
_CONTEXT_SENSITIVE = ("\\A", "\\Z", "(?<!", "(?!", "(?>", "(?(", "*+", "++", "?+", "}+")


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
    root: Path,
    files: Iterable[str],
    regex: re.Pattern[str],
    caps: SearchCaps,
) -> SearchOutcome:
    """Search `files` (relative, in tree order) for `regex`, stopping after `caps.limit`."""
    outcome = SearchOutcome()
    whole = _whole_file_regex(regex)
    deadline = time.monotonic() + caps.timeout
    for rel in files:
        if not caps.keep(rel):
            continue
        if time.monotonic() > deadline:
            outcome.stopped = f"the search took longer than {caps.timeout:g} s and was stopped"
            break
        text = _read_text(root / rel, caps.max_file_bytes)
        if not text or (whole is not None and whole.search(text) is None):
            continue
        lines = text.split("\n")
        if text.endswith("\n"):
            lines.pop()
        for number, line in enumerate(lines, start=1):
            if regex.search(line) is None:
                continue
            if len(outcome.matches) == caps.limit:
                outcome.more = True
                return outcome
            outcome.matches.append(make_match(rel, number, line, caps.line_chars))
    return outcome


def make_match(rel: str, number: int, line: str, line_chars: int) -> Match:
    """A Match for a line as found, cut to the cap (shared by both engines)."""
    text = line.rstrip("\r")
    return Match(rel, number, text[:line_chars], cut=len(text) > line_chars)


def _whole_file_regex(regex: re.Pattern[str]) -> re.Pattern[str] | None:
    """The pattern for testing a whole file at once, when that cannot miss a line's match."""
    if any(construct in regex.pattern for construct in _CONTEXT_SENSITIVE):
        return None
    return re.compile(regex.pattern, regex.flags | re.MULTILINE)


def _read_text(path: Path, max_file_bytes: int) -> str | None:
    try:
        data = read_bytes_no_follow(path, max_file_bytes)
    except OSError:
        return None
    if data is None or b"\x00" in data:
        return None
    return data.decode("utf-8", "replace")
