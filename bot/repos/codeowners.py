"""Who owns a path, read from a repository's CODEOWNERS the way GitHub reads it.

- Each line is `pattern owner…`; owners are `@user`, `@org/team` or an email address. A
  line with a pattern and no owners leaves the paths it matches without an owner.
- `#` at the start of a line or of a word starts a comment.
- Patterns follow gitignore with GitHub's exceptions: a leading `/` or a `/` inside the
  pattern anchors it to the root, otherwise it matches at any depth; a trailing `/` matches
  a folder and everything below it; `*` and `?` stay within one folder, `**` crosses
  folders; a pattern ending in `/*` (`docs/*`) matches the files directly in that folder.
- GitHub does not support `!` negation, `[ ]` ranges or escaping `#` with `\\`: such lines
  are skipped and reported as problems, as is any line GitHub would reject.
- The last matching line decides.

Owners map to Slack through the `CODEOWNERS_SLACK` setting (`SlackOwnerMap`), with teams
falling back to the Slack user group of the same handle.
"""

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

# Where GitHub looks for the file, in its order; it uses the first it finds.
CODEOWNERS_LOCATIONS = (".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS")
# GitHub does not load a CODEOWNERS file of 3 MB or more.
MAX_CODEOWNERS_BYTES = 3 * 1024 * 1024

_USER = re.compile(r"@[A-Za-z0-9_-]+")
_TEAM = re.compile(r"@([A-Za-z0-9_-]+)/([A-Za-z0-9_.-]+)")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_SLACK_ID = re.compile(r"[UWS][A-Z0-9]{2,}")

# A pattern character and whether it was escaped with `\`.
_Char = tuple[str, bool]
_STAR: list[_Char] = [("*", False)]
_GLOBSTAR: list[_Char] = [("*", False), ("*", False)]


@dataclass(frozen=True)
class CodeOwnersProblem:
    """A CODEOWNERS line that was skipped, and why."""

    path: str
    line: int
    text: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass(frozen=True)
class CodeOwnersRule:
    """One line of a CODEOWNERS file: a pattern and the owners of what it matches."""

    line: int
    pattern: str
    owners: tuple[str, ...]
    regex: re.Pattern[str] = field(repr=False, compare=False)

    def matches(self, path: str) -> bool:
        """Whether the rule matches a normalised path (a folder ends with `/`)."""
        return self.regex.fullmatch(path) is not None


@dataclass(frozen=True)
class CodeOwners:
    """A parsed CODEOWNERS file."""

    source: str
    rules: tuple[CodeOwnersRule, ...]
    problems: tuple[CodeOwnersProblem, ...] = ()

    def rule_for(self, path: str) -> CodeOwnersRule | None:
        """The line that decides who owns `path`: the last one matching it, if any."""
        normalised = _normalise(path)
        if not normalised:
            return None
        return next((rule for rule in reversed(self.rules) if rule.matches(normalised)), None)

    def owners_of(self, path: str) -> tuple[str, ...]:
        """The owners of `path` (leading `/` optional; a trailing `/` means the folder)."""
        rule = self.rule_for(path)
        return rule.owners if rule else ()

    def owners_of_any(self, paths: Iterable[str]) -> dict[str, tuple[str, ...]]:
        """The owners of each path, keyed by the path as given."""
        return {path: self.owners_of(path) for path in paths}


def parse_codeowners(text: str, *, source: str = "CODEOWNERS") -> CodeOwners:
    """Parse CODEOWNERS text; lines GitHub would not use become problems, never errors."""
    rules: list[CodeOwnersRule] = []
    problems: list[CodeOwnersProblem] = []
    for number, raw in enumerate(text.removeprefix("\ufeff").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parsed = _parse_line(line, number)
        if isinstance(parsed, str):
            problems.append(CodeOwnersProblem(path=source, line=number, text=line, message=parsed))
        else:
            rules.append(parsed)
    return CodeOwners(source=source, rules=tuple(rules), problems=tuple(problems))


def find_codeowners(read: Callable[[str], str | None]) -> CodeOwners | None:
    """The repository's CODEOWNERS from the first of GitHub's locations that `read` finds."""
    for location in CODEOWNERS_LOCATIONS:
        text = read(location)
        if text is None:
            continue
        if len(text.encode("utf-8")) >= MAX_CODEOWNERS_BYTES:
            problem = CodeOwnersProblem(
                path=location,
                line=1,
                text="",
                message="the file is 3 MB or larger, so GitHub ignores it; make it smaller",
            )
            return CodeOwners(source=location, rules=(), problems=(problem,))
        return parse_codeowners(text, source=location)
    return None


def owner_kind(owner: str) -> Literal["user", "team", "email"] | None:
    """`user`, `team` or `email` for a well-formed CODEOWNERS owner, else None."""
    if _TEAM.fullmatch(owner):
        return "team"
    if _USER.fullmatch(owner):
        return "user"
    if _EMAIL.fullmatch(owner):
        return "email"
    return None


def _parse_line(line: str, number: int) -> CodeOwnersRule | str:
    """A rule, or the reason GitHub would skip the line."""
    words = _split_words(line)
    if isinstance(words, str):
        return words
    pattern, *owners = words
    if pattern.startswith("!"):
        return f"`{pattern}`: GitHub does not support negation (`!`) in CODEOWNERS"
    if not pattern.strip("/"):
        return f"`{pattern}` matches no path"
    bad = [owner for owner in owners if owner_kind(owner) is None]
    if bad:
        return f"`{bad[0]}` is not an owner: write `@user`, `@org/team` or an email address"
    regex = _compile(pattern)
    if isinstance(regex, str):
        return regex
    return CodeOwnersRule(
        line=number, pattern=pattern, owners=tuple(dict.fromkeys(owners)), regex=regex
    )


def _split_words(line: str) -> list[str] | str:
    """The whitespace-separated words before any comment, keeping `\\` escapes."""
    words: list[str] = []
    current = ""
    escaped = False
    for char in line:
        if escaped and char == "#":
            return "`\\#`: GitHub does not support escaping `#` in CODEOWNERS"
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char.isspace():
            if current:
                words.append(current)
            current = ""
        elif char == "#" and not current:
            break
        elif char == "#":
            return f"`{current}#…`: GitHub reads `#` as the start of a comment"
        else:
            current += char
    if current:
        words.append(current)
    return words


def _compile(pattern: str) -> re.Pattern[str] | str:
    """The regex a normalised path must match in full, or why the pattern is unusable."""
    segments = _segments(pattern)
    if isinstance(segments, str):
        return segments
    anchored = segments[0] == []
    if anchored:
        segments = segments[1:]
    folder_only = len(segments) > 1 and segments[-1] == []
    segments = [segment for segment in segments if segment]
    floating = not anchored and len(segments) == 1 and segments[0] != _GLOBSTAR

    out = "(?:.*/)?" if floating else ""
    needs_slash = False
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == _GLOBSTAR:
            if index == 0:
                out += ".+" if index == last else "(?:.*/)?"
                needs_slash = False
            elif index == last:
                out += "/.+"
            else:
                out += "(?:/.*)?"
                needs_slash = True
            continue
        out += "/" if needs_slash else ""
        out += "[^/]+" if segment == _STAR else "".join(map(_translate, segment))
        needs_slash = True
    files_directly_in_folder = segments[-1] == _STAR and not floating  # `docs/*`
    if folder_only:
        out += "/.*"
    elif segments[-1] != _GLOBSTAR and not files_directly_in_folder:
        out += "(?:/.*)?"  # a folder's match covers everything below it
    return re.compile(out, re.DOTALL)


def _segments(pattern: str) -> list[list[_Char]] | str:
    """The pattern split at unescaped `/`, or why GitHub would reject it."""
    segments: list[list[_Char]] = [[]]
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            escaped = next(chars, None)
            if escaped is None:
                return f"`{pattern}` ends with a lone `\\`"
            segments[-1].append((escaped, True))
        elif char == "/":
            segments.append([])
        elif char == "[":
            return f"`{pattern}`: GitHub does not support character ranges (`[ ]`) in CODEOWNERS"
        else:
            segments[-1].append((char, False))
    return segments


def _translate(char: _Char) -> str:
    text, escaped = char
    if escaped:
        return re.escape(text)
    if text == "*":
        return "[^/]*"
    if text == "?":
        return "[^/]"
    return re.escape(text)


def _normalise(path: str) -> str:
    """A repository-relative path without a leading `/`; a folder keeps its trailing `/`."""
    folder = path.endswith("/")
    parts = [part for part in path.split("/") if part and part != "."]
    if not parts:
        return ""
    return "/".join(parts) + ("/" if folder else "")


# Slack


@dataclass(frozen=True)
class SlackOwnerMap:
    """CODEOWNERS owners mapped to Slack user (`U…`, `W…`) or user-group (`S…`) ids.

    Keys are owners casefolded; `parse_slack_owner_map` builds it from the setting.
    """

    ids_by_owner: Mapping[str, str] = field(default_factory=dict)

    def id_for(self, owner: str) -> str | None:
        """The Slack id the setting gives `owner` (owners compare without case), if any."""
        return self.ids_by_owner.get(owner.casefold())


@dataclass(frozen=True)
class SlackOwners:
    """The Slack ids found for some owners, and the owners that have none."""

    ids: tuple[str, ...]
    unresolved: tuple[str, ...]


def parse_slack_owner_map(setting: str) -> SlackOwnerMap:
    """Read `CODEOWNERS_SLACK` (`@alice=U0123,@org/backend=S0456`, comma or newline separated)."""
    ids: dict[str, str] = {}
    for raw_entry in re.split(r"[,\n]", setting):
        entry = raw_entry.strip()
        if not entry:
            continue
        owner, equals, slack_id = (part.strip() for part in entry.partition("="))
        if not equals or not owner or not slack_id:
            raise ValueError(
                f"CODEOWNERS_SLACK entry `{entry}` is not `owner=SLACK_ID`; "
                "write it as `@alice=U0123`"
            )
        if owner_kind(owner) is None:
            raise ValueError(
                f"CODEOWNERS_SLACK entry `{entry}`: `{owner}` is not a CODEOWNERS owner; "
                "write `@user`, `@org/team` or an email address"
            )
        if not _SLACK_ID.fullmatch(slack_id):
            raise ValueError(
                f"CODEOWNERS_SLACK entry `{entry}`: `{slack_id}` is not a Slack id; use a "
                "user id (U… or W…) or a user-group id (S…), as Slack shows them"
            )
        key = owner.casefold()
        if ids.get(key, slack_id) != slack_id:
            raise ValueError(
                f"CODEOWNERS_SLACK maps `{owner}` twice, to {ids[key]} and {slack_id}; keep one"
            )
        ids[key] = slack_id
    return SlackOwnerMap(ids_by_owner=ids)


def slack_ids_for(
    *, owners: Iterable[str], mapping: SlackOwnerMap, groups_by_handle: Mapping[str, str]
) -> SlackOwners:
    """Slack ids for CODEOWNERS owners: the setting first, then a team's same-named group."""
    groups = {handle.lstrip("@").casefold(): group for handle, group in groups_by_handle.items()}
    ids: dict[str, None] = {}
    unresolved: dict[str, None] = {}
    for owner in owners:
        slack_id = mapping.id_for(owner)
        team = _TEAM.fullmatch(owner)
        if slack_id is None and team:
            org, slug = team.group(1).casefold(), team.group(2).casefold()
            slack_id = groups.get(slug) or groups.get(f"{org}-{slug}")
        if slack_id is None:
            unresolved[owner] = None
        else:
            ids[slack_id] = None
    return SlackOwners(ids=tuple(ids), unresolved=tuple(unresolved))
