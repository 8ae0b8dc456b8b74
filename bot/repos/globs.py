"""File-name patterns for `list_files` and `search_code`'s `path_glob`.

- `*` matches within one path component, `?` one character, `[abc]`/`[!abc]` a class,
  `{a,b}` either alternative, `**` any number of folders (`src/**/*.ts`).
- A pattern without `/` matches a file name at any depth (`*.py`, `Dockerfile`); one with
  `/` matches the path from the repository root (`src/*.py`, `docs/**`).
- A trailing `/` means everything below the folder (`src/` is `src/**`).
- A leading `/` or `./` is dropped; matching is case-sensitive, as git is.
"""

import re
from collections.abc import Callable


class GlobError(ValueError):
    """A pattern that cannot be read; the message says how to write it."""


def compile_glob(pattern: str) -> Callable[[str], bool]:
    """A predicate telling whether a repository-relative path matches `pattern`."""
    text = pattern.strip()
    while text.startswith("./"):
        text = text[2:]
    text = text.lstrip("/")
    if text.endswith("/"):
        text += "**"
    if not text or text == "**":
        return lambda _path: True
    if "/" not in text:
        text = "**/" + text
    regex = re.compile(_translate(text, pattern) + r"\Z", re.DOTALL)
    return lambda path: regex.match(path) is not None


def _translate(text: str, original: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith("**/", i) and (i == 0 or text[i - 1] == "/"):
            out.append("(?:.*/)?")
            i += 3
        elif text.startswith("**", i) and (i == 0 or text[i - 1] == "/") and i + 2 == len(text):
            out.append(".*")
            i += 2
        elif char == "*":
            while i < len(text) and text[i] == "*":
                i += 1
            out.append("[^/]*")
            continue
        elif char == "?":
            out.append("[^/]")
            i += 1
        elif char == "[":
            end = text.find("]", i + 2)
            if end == -1:
                out.append(re.escape(char))
                i += 1
                continue
            body = text[i + 1 : end]
            negate = body[:1] in ("!", "^")
            body = body[1:] if negate else body
            out.append(
                ("[^/" if negate else "[") + body.replace("\\", "\\\\").replace("[", "\\[") + "]"
            )
            i = end + 1
        elif char == "{":
            end, alternatives = _brace(text, i, original)
            out.append("(?:" + "|".join(_translate(alt, original) for alt in alternatives) + ")")
            i = end + 1
        else:
            out.append(re.escape(char))
            i += 1
    return "".join(out)


def _brace(text: str, start: int, original: str) -> tuple[int, list[str]]:
    """The index of the `}` closing the brace at `start`, and its comma-separated parts."""
    depth, parts, current = 0, [], start + 1
    for index in range(start, len(text)):
        if text[index] == "{":
            depth += 1
        elif text[index] == "}":
            depth -= 1
            if depth == 0:
                parts.append(text[current:index])
                return index, parts
        elif text[index] == "," and depth == 1:
            parts.append(text[current:index])
            current = index + 1
    raise GlobError(f"The pattern `{original}` has a `{{` without its `}}`; write `{{a,b}}`.")
