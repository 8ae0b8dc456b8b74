"""Turning one file into what `read_file` returns: numbered lines, or a binary's description."""

import mimetypes
from dataclasses import dataclass
from typing import BinaryIO

SNIFF_BYTES = 8192

# Leading bytes of common binary formats, for a better guess than the extension gives.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or a format built on it: jar, docx, xlsx, wheel)"),
    (b"\x1f\x8b", "a gzip-compressed file"),
    (b"BZh", "a bzip2-compressed file"),
    (b"\xfd7zXZ\x00", "an xz-compressed file"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x7fELF", "an ELF executable or library"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O executable"),
    (b"MZ", "a Windows executable"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"\x00asm", "a WebAssembly module"),
    (b"wOFF", "a WOFF font"),
    (b"wOF2", "a WOFF2 font"),
    (b"\xca\xfe\xba\xbe", "a Java class file"),
    (b"RIFF", "a RIFF file (WAV audio, AVI video or WebP image)"),
    (b"OggS", "an Ogg audio file"),
    (b"ID3", "an MP3 audio file"),
)


@dataclass(frozen=True)
class Window:
    """Which lines to show, and the caps that apply."""

    start: int
    end: int | None  # inclusive; None: as far as the caps allow
    max_lines: int
    line_chars: int
    max_chars: int


@dataclass(frozen=True)
class Rendered:
    """Numbered lines from a text file, and where they stopped."""

    body: str
    first: int
    last: int  # the last line shown (first - 1 when none)
    total: int
    cut_by_size: bool  # stopped early because of the character cap


def is_binary(head: bytes) -> bool:
    """Whether a file's first bytes say it is not text: a NUL byte, or a binary format's
    signature followed by bytes that are not UTF-8."""
    if b"\x00" in head:
        return True
    if not any(head.startswith(sig) for sig, _ in _SIGNATURES):
        return False
    return "\ufffd" in head[:-3].decode("utf-8", "replace")


def describe_binary(rel: str, head: bytes, size: int) -> str:
    """One sentence saying what a binary file probably is, instead of its bytes."""
    kind = next((label for sig, label in _SIGNATURES if head.startswith(sig)), None)
    if kind is None:
        guessed, _ = mimetypes.guess_type(rel, strict=False)
        kind = f"binary data ({guessed})" if guessed else "binary data of an unknown type"
    return f"`{rel}` is a binary file, {_size(size)}, apparently {kind}; its bytes are not shown."


def render_lines(handle: BinaryIO, window: Window) -> Rendered:
    """`cat -n`-style lines of the window, within the caps; reads on only to count lines."""
    last_allowed = window.start + window.max_lines - 1
    if window.end is not None:
        last_allowed = min(last_allowed, window.end)
    shown: list[str] = []
    used = 0
    last = window.start - 1
    cut_by_size = False
    total = 0
    for total, raw in enumerate(handle, start=1):
        if total < window.start or total > last_allowed or cut_by_size:
            continue
        line = raw.decode("utf-8", "replace").rstrip("\r\n")
        if len(line) > window.line_chars:
            line = (
                line[: window.line_chars]
                + f" …[line cut: {len(line) - window.line_chars:,} more characters]"
            )
        entry = f"{total:>6}\t{line}"
        if shown and used + len(entry) + 1 > window.max_chars:
            cut_by_size = True
            continue
        shown.append(entry)
        used += len(entry) + 1
        last = total
    return Rendered("\n".join(shown), window.start, last, total, cut_by_size)


def _size(size: int) -> str:
    if size < 1024:
        return f"{size:,} bytes"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KiB ({size:,} bytes)"
    return f"{size / 1024 / 1024:.1f} MiB ({size:,} bytes)"
