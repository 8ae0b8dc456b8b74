"""How much one repository tool call may return."""

from dataclasses import dataclass


@dataclass(frozen=True)
class ToolLimits:
    """Caps on tool results; every cut is said in the result, with how to see the rest."""

    list_default: int = 200  # paths list_files returns unless asked for fewer or more
    list_max: int = 1000
    search_default: int = 100  # matching lines search_code returns by default
    search_max: int = 500
    read_lines: int = 500  # most lines one read_file call returns
    line_chars: int = 2000  # a longer line is cut in read_file
    match_chars: int = 300  # a longer matching line is cut in search_code
    result_chars: int = 30_000  # most characters any result holds
    max_file_bytes: int = 10 * 1024 * 1024  # larger files are neither read nor searched
    timeout_seconds: float = 20.0  # a listing or search running longer is stopped


DEFAULT_LIMITS = ToolLimits()
