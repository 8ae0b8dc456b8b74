"""Text between Slack and the model: Slack's markup in, safe Markdown out, split to fit."""

import html
import re

# Slack counts at most 12,000 characters of markdown per message (all markdown blocks).
MAX_MARKDOWN_CHARS = 12_000
_CHUNK_CHARS = 11_500  # leaves room for a "(continued)" line and the Slack translation

_BROADCAST = re.compile(
    r"<!(?:here|channel|everyone)(?:\|[^>]*)?>|(?<!\w)@(?:here|channel|everyone)\b"
)
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_SUBTEAM = re.compile(r"<!subteam\^[A-Z0-9]+(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#([CG][A-Z0-9]+)(?:\|([^>]*))?>")
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)


def from_slack(text: str, *, bot_user_id: str | None, names: dict[str, str] | None = None) -> str:
    """A message as a person meant it: the bot's mention removed, links and names readable."""
    names = names or {}

    def user(match: re.Match[str]) -> str:
        if match.group(1) == bot_user_id:
            return ""
        return "@" + (match.group(2) or names.get(match.group(1)) or match.group(1))

    text = _USER_MENTION.sub(user, text)
    text = _SUBTEAM.sub(lambda m: "@" + (m.group(1) or "group").lstrip("@"), text)
    text = _CHANNEL.sub(lambda m: "#" + (m.group(2) or m.group(1)), text)
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    return html.unescape(text.strip())


def sanitize_for_slack(markdown: str) -> str:
    """Remove broadcasts and invented user mentions from model-written Markdown."""
    text = _BROADCAST.sub("", markdown)
    text = _USER_MENTION.sub(lambda m: m.group(2) or "someone", text)
    return _SUBTEAM.sub(lambda m: m.group(1) or "a group", text)


def split_markdown(markdown: str, limit: int = _CHUNK_CHARS) -> list[str]:
    """Split Markdown into pieces under `limit`, at paragraph or line ends, never inside code.

    A code block longer than the limit is closed at the cut and reopened in the next piece.
    """
    if len(markdown) <= limit:
        return [markdown]
    pieces: list[str] = []
    current = ""
    fence: str | None = None  # the fence line of a code block open at the end of `current`
    for line in markdown.splitlines(keepends=True):
        while len(line) > limit:  # a single enormous line
            head, line = line[: limit // 2], line[limit // 2 :]
            current, fence = _append(pieces, current, head, fence, limit)
        current, fence = _append(pieces, current, line, fence, limit)
    if current.strip():
        pieces.append(current.rstrip("\n") + ("\n```" if fence else ""))
    return pieces


def _append(
    pieces: list[str], current: str, line: str, fence: str | None, limit: int
) -> tuple[str, str | None]:
    closing = "\n```" if fence else ""
    if len(current) + len(line) + len(closing) > limit and current.strip():
        cut = _paragraph_cut(current) if fence is None else None
        if cut is not None and cut > len(current) // 2:
            pieces.append(current[:cut].rstrip("\n"))
            current = current[cut:].lstrip("\n")
        else:
            pieces.append(current.rstrip("\n") + closing)
            current = (fence + "\n") if fence else ""
    current += line
    match = _FENCE.match(line.lstrip())
    if match:
        fence = None if fence else line.strip()
    return current, fence


def _paragraph_cut(text: str) -> int | None:
    """The end of the last blank line in text, if there is one (and no open code block)."""
    index = text.rfind("\n\n")
    if index <= 0 or text[:index].count("```") % 2:
        return None
    return index + 2


def plain_preview(markdown: str, limit: int = 300) -> str:
    """A one-line preview for notifications (the `text` fallback)."""
    flat = " ".join(re.sub(r"[#*_`>~]", "", markdown).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
