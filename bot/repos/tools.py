"""The read-only repository tools: list files, read a file, search the code.

Each call reads one snapshot of one repository (a mirror cannot move under it), returns a
ToolResult whose text starts with the repository and commit, and never raises: refusals,
bad input and failures come back as `is_error=True` with a message the model can act on.
"""

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.repos.confine import PathRefusedError, open_no_follow, resolve_inside
from bot.repos.definitions import LIST_FILES, READ_FILE, SEARCH_CODE
from bot.repos.globs import GlobError, compile_glob
from bot.repos.ignore import IgnoreRules
from bot.repos.limits import DEFAULT_LIMITS, ToolLimits
from bot.repos.reading import SNIFF_BYTES, Window, describe_binary, is_binary, render_lines
from bot.repos.repo_set import RepoSet
from bot.repos.ripgrep import (
    RipgrepError,
    RipgrepPatternError,
    find_ripgrep,
    rg_list_files,
    rg_search,
)
from bot.repos.search import (
    SearchCaps,
    SearchOutcome,
    SearchPatternError,
    python_search,
)
from bot.repos.sync import RepoSnapshot, RepoUnavailableError
from bot.repos.walk import walk_visible_files

log = logging.getLogger(__name__)

_LISTINGS_KEPT = 8  # file lists kept, one per (mirror, commit)
_MAX_PATTERN_CHARS = 1000


@dataclass(frozen=True)
class ToolResult:
    """What a tool call gives back: text for the model, and the repository paths it used."""

    text: str
    is_error: bool = False
    files: list[str] = field(default_factory=list)


class ToolInputError(ValueError):
    """Tool input of the wrong shape; the message says which field and what it needs."""


class _RefusalError(Exception):
    """Ends a tool call with an error result (internal)."""


class RepoTools:
    """`list_files`, `read_file` and `search_code` over a RepoSet."""

    def __init__(
        self,
        repos: RepoSet,
        *,
        limits: ToolLimits = DEFAULT_LIMITS,
        use_ripgrep: bool = True,
    ) -> None:
        self.repos = repos
        self.limits = limits
        self.ripgrep = find_ripgrep() if use_ripgrep else None
        self._listings: OrderedDict[tuple[Path, str], list[str]] = OrderedDict()
        self._listing_lock = threading.Lock()

    # Dispatch

    def run_tool(self, *, name: str, tool_input: Mapping[str, Any]) -> ToolResult:
        """Run the named tool with the model's input; always a ToolResult, never an exception."""
        handlers: dict[str, Callable[[Mapping[str, Any]], ToolResult]] = {
            LIST_FILES: self._run_list_files,
            READ_FILE: self._run_read_file,
            SEARCH_CODE: self._run_search_code,
        }
        handler = handlers.get(name)
        if handler is None:
            return ToolResult(f"There is no repository tool called `{name}`.", is_error=True)
        if not isinstance(tool_input, Mapping):
            return ToolResult(f"`{name}` takes an object of named arguments.", is_error=True)
        try:
            return handler(tool_input)
        except ToolInputError as error:
            return ToolResult(f"{name}: {error}", is_error=True)
        except Exception as error:  # a tool call must never take the turn down
            log.exception("repository tool %s failed", name)
            return ToolResult(
                f"{name} failed unexpectedly ({type(error).__name__}).", is_error=True
            )

    def _run_list_files(self, data: Mapping[str, Any]) -> ToolResult:
        return self.list_files(
            repo=_text(data, "repo"),
            pattern=_text(data, "pattern", default="**/*"),
            limit=_number(data, "limit"),
        )

    def _run_read_file(self, data: Mapping[str, Any]) -> ToolResult:
        return self.read_file(
            repo=_text(data, "repo"),
            path=_text(data, "path"),
            start_line=_number(data, "start_line") or 1,
            end_line=_number(data, "end_line"),
        )

    def _run_search_code(self, data: Mapping[str, Any]) -> ToolResult:
        path_glob = data.get("path_glob")
        return self.search_code(
            repo=_text(data, "repo"),
            pattern=_text(data, "pattern"),
            path_glob=_text(data, "path_glob") if path_glob not in (None, "") else None,
            ignore_case=_flag(data, "ignore_case"),
            limit=_number(data, "limit"),
        )

    # The tools

    def list_files(
        self, *, repo: str, pattern: str = "**/*", limit: int | None = None
    ) -> ToolResult:
        """Paths matching a glob, sorted and capped, saying how many more there were."""
        count = _clamp(limit, self.limits.list_default, self.limits.list_max)
        with self._snapshot(repo) as snapshot:
            if isinstance(snapshot, ToolResult):
                return snapshot
            try:
                matcher = compile_glob(pattern)
            except GlobError as error:
                return _error(snapshot, str(error))
            selected = [path for path in self._visible_files(snapshot) if matcher(path)]
            if not selected:
                return ToolResult(f"{snapshot.header}: no files match `{pattern}`.")
            shown = _fit(selected[:count], self.limits.result_chars)
            head = f"{snapshot.header}: {len(selected):,} files match `{pattern}`"
            lines = [
                head
                + (f", showing the first {len(shown):,}:" if len(shown) < len(selected) else ":")
            ]
            lines += shown
            if len(shown) < len(selected):
                lines.append(
                    f"[{len(selected) - len(shown):,} more not shown; narrow the pattern "
                    "(e.g. `src/**/*.py`) or raise `limit`.]"
                )
            return ToolResult("\n".join(lines), files=shown)

    def read_file(
        self, *, repo: str, path: str, start_line: int = 1, end_line: int | None = None
    ) -> ToolResult:
        """A file's lines numbered like `cat -n`, capped; binary files described."""
        with self._snapshot(repo) as snapshot:
            if isinstance(snapshot, ToolResult):
                return snapshot
            try:
                return self._read(snapshot, path, start_line, end_line)
            except _RefusalError as refusal:
                return _error(snapshot, str(refusal))

    def search_code(
        self,
        *,
        repo: str,
        pattern: str,
        path_glob: str | None = None,
        ignore_case: bool = False,
        limit: int | None = None,
    ) -> ToolResult:
        """Lines matching a regular expression as `path:line: text`, capped."""
        count = _clamp(limit, self.limits.search_default, self.limits.search_max)
        with self._snapshot(repo) as snapshot:
            if isinstance(snapshot, ToolResult):
                return snapshot
            if not pattern:
                return _error(snapshot, "Give a regular expression to search for.")
            if len(pattern) > _MAX_PATTERN_CHARS:
                return _error(
                    snapshot,
                    f"The pattern is longer than {_MAX_PATTERN_CHARS:,} characters; "
                    "search for a shorter, distinctive part.",
                )
            try:
                keep = compile_glob(path_glob) if path_glob else _everything
                outcome = self._search(snapshot, pattern, ignore_case, keep, count)
            except (GlobError, SearchPatternError, OSError) as error:
                return _error(snapshot, str(error))
            return _render_search(snapshot, pattern, path_glob, outcome, self.limits)

    # Helpers

    @contextmanager
    def _snapshot(self, repo: str) -> Iterator[RepoSnapshot | ToolResult]:
        mirror = self.repos.get(repo)
        if mirror is None:
            names = ", ".join(f"`{name}`" for name in self.repos.names) or "none"
            yield ToolResult(
                f"There is no repository `{repo}`; the repositories are {names}.", is_error=True
            )
            return
        with ExitStack() as stack:
            try:
                snapshot = stack.enter_context(mirror.reading())
            except RepoUnavailableError as error:
                yield ToolResult(f"{error}; try again later.", is_error=True)
                return
            yield snapshot

    def _visible_files(self, snapshot: RepoSnapshot) -> list[str]:
        """Every file the repository shows; kept per commit for mirrors, whose tree only
        changes when a sync moves the commit."""
        key = (snapshot.root, snapshot.commit) if snapshot.mirrored and snapshot.commit else None
        with self._listing_lock:
            cached = self._listings.get(key) if key else None
        if cached is not None:
            return cached
        files: list[str] | None = None
        if self.ripgrep is not None:
            try:
                files = rg_list_files(
                    self.ripgrep, snapshot.root, timeout=self.limits.timeout_seconds
                )
            except RipgrepError as error:
                log.warning("ripgrep listing failed, walking in Python: %s", error)
        if files is None:
            files = walk_visible_files(snapshot.root)
        if key:
            with self._listing_lock:
                self._listings[key] = files
                while len(self._listings) > _LISTINGS_KEPT:
                    self._listings.popitem(last=False)
        return files

    def _search(
        self,
        snapshot: RepoSnapshot,
        pattern: str,
        ignore_case: bool,
        keep: Callable[[str], bool],
        count: int,
    ) -> SearchOutcome:
        limits = self.limits
        caps = SearchCaps(
            keep=keep,
            limit=count,
            line_chars=limits.match_chars,
            max_file_bytes=limits.max_file_bytes,
            timeout=limits.timeout_seconds,
        )
        if self.ripgrep is not None:
            try:
                return rg_search(
                    self.ripgrep, snapshot.root, pattern, ignore_case=ignore_case, caps=caps
                )
            except RipgrepPatternError:
                pass  # e.g. look-around: Python's re reads it, or says what is wrong
            except RipgrepError as error:
                log.warning("ripgrep search failed, searching in Python: %s", error)
        return python_search(
            root=snapshot.root,
            files=self._visible_files(snapshot),
            pattern=pattern,
            ignore_case=ignore_case,
            caps=caps,
        )

    def _read(
        self, snapshot: RepoSnapshot, path: str, start_line: int, end_line: int | None
    ) -> ToolResult:
        if end_line is not None and end_line < start_line:
            raise _RefusalError("end_line must not be before start_line.")
        root = snapshot.root
        try:
            rel, target = resolve_inside(root, path, IgnoreRules(root))
        except PathRefusedError as refused:
            raise _RefusalError(str(refused)) from None
        if target.is_dir():
            raise _RefusalError(
                f"`{rel}` is a folder; list it with list_files and pattern `{rel}/*`."
            )
        try:
            fd = open_no_follow(root=root, rel=target.relative_to(root).as_posix())
        except FileNotFoundError:
            raise _RefusalError(
                f"`{rel}` does not exist; use list_files to find the right path."
            ) from None
        except OSError:
            raise _RefusalError(f"`{rel}` is not a regular file that can be read.") from None
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(fd).st_size
            if size > self.limits.max_file_bytes:
                raise _RefusalError(
                    f"`{rel}` is {size / 1024 / 1024:.1f} MiB, over the "
                    f"{self.limits.max_file_bytes / 1024 / 1024:g} MiB cap for reading; "
                    "use search_code to find the parts you need."
                )
            head = handle.read(SNIFF_BYTES)
            if is_binary(head):
                return ToolResult(
                    f"{snapshot.header}: {describe_binary(rel, head, size)}", files=[rel]
                )
            handle.seek(0)
            window = Window(
                start=max(1, start_line),
                end=end_line,
                max_lines=self.limits.read_lines,
                line_chars=self.limits.line_chars,
                max_chars=self.limits.result_chars,
            )
            rendered = render_lines(handle, window)
        if rendered.total == 0:
            return ToolResult(f"{snapshot.header}: `{rel}` is empty.", files=[rel])
        if window.start > rendered.total:
            raise _RefusalError(
                f"`{rel}` has {rendered.total:,} lines; start_line {window.start:,} is past the end."
            )
        head_line = (
            f"{snapshot.header}: `{rel}`, lines {rendered.first:,}–{rendered.last:,} "
            f"of {rendered.total:,}"
        )
        parts = [head_line, rendered.body]
        wanted_last = min(end_line or rendered.total, rendered.total)
        if rendered.last < wanted_last:
            why = (
                "the size cap" if rendered.cut_by_size else f"the {self.limits.read_lines}-line cap"
            )
            parts.append(
                f"[Cut at line {rendered.last:,} by {why}; {rendered.total - rendered.last:,} "
                f"lines follow. To read on, call read_file with start_line={rendered.last + 1}.]"
            )
        return ToolResult("\n".join(parts), files=[rel])


def _render_search(
    snapshot: RepoSnapshot,
    pattern: str,
    path_glob: str | None,
    outcome: SearchOutcome,
    limits: ToolLimits,
) -> ToolResult:
    where = f" in files matching `{path_glob}`" if path_glob else ""
    if not outcome.matches:
        note = f" ({outcome.stopped})" if outcome.stopped else ""
        return ToolResult(f"{snapshot.header}: no matches for `{pattern}`{where}{note}.")
    lines: list[str] = []
    used = 0
    for match in outcome.matches:
        line = f"{match.path}:{match.line}: {match.text}" + (" …[line cut]" if match.cut else "")
        if lines and used + len(line) + 1 > limits.result_chars:
            break
        lines.append(line)
        used += len(line) + 1
    shown = outcome.matches[: len(lines)]
    files = list(dict.fromkeys(match.path for match in shown))
    more = outcome.more or len(shown) < len(outcome.matches)
    count = f"{len(shown):,}{'+' if more else ''}"
    header = (
        f"{snapshot.header}: {count} matching lines for `{pattern}`{where} in {len(files):,} files"
    )
    footer = []
    if more:
        footer.append(
            f"[Cut at {len(shown):,} matching lines; more exist. Narrow the pattern, set "
            "path_glob, or raise `limit` to see the rest.]"
        )
    if outcome.stopped:
        footer.append(f"[Incomplete: {outcome.stopped}.]")
    return ToolResult("\n".join([header + ":", *lines, *footer]), files=files)


def _error(snapshot: RepoSnapshot, message: str) -> ToolResult:
    return ToolResult(f"{snapshot.header}: {message}", is_error=True)


def _everything(_path: str) -> bool:
    return True


def _clamp(value: int | None, default: int, maximum: int) -> int:
    return default if value is None else max(1, min(value, maximum))


def _fit(paths: list[str], max_chars: int) -> list[str]:
    """The leading paths whose lines fit in `max_chars`."""
    used = 0
    for index, path in enumerate(paths):
        used += len(path) + 1
        if used > max_chars and index:
            return paths[:index]
    return paths


def _text(data: Mapping[str, Any], key: str, *, default: str | None = None) -> str:
    value = data.get(key)
    if value is None:
        if default is None:
            raise ToolInputError(f"`{key}` is required.")
        return default
    if not isinstance(value, str):
        raise ToolInputError(f"`{key}` must be a string.")
    return value


def _number(data: Mapping[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise ToolInputError(f"`{key}` must be a whole number.")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 1:
        raise ToolInputError(f"`{key}` must be a whole number of at least 1.")
    return value


def _flag(data: Mapping[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        raise ToolInputError(f"`{key}` must be true or false.")
    return value
