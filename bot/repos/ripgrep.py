"""Listing and searching with ripgrep, set up to show exactly what the Python walk shows.

The flags make ripgrep honour the repository's `.gitignore` files and nothing else, see
hidden files, follow no symlink, skip binaries and big files, and print in tree order;
`.git` and secret-looking names are excluded by glob and filtered again on the way out.
No positive glob is ever passed: in ripgrep one overrides `.gitignore`.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path

from bot.repos.bounded import bounded_lines
from bot.repos.confine import SECRET_PATTERNS, hidden_reason
from bot.repos.search import SearchCaps, SearchOutcome, make_match, stopped_after
from bot.repos.walk import tree_order

_COMMON_FLAGS = (
    "--no-config",
    "--hidden",
    "--no-ignore-parent",
    "--no-ignore-global",
    "--no-ignore-exclude",
    "--no-ignore-dot",
    "--no-require-git",
    "--no-messages",
    "--color=never",
    "--sort=path",
    "--iglob=!.git",
    *(f"--iglob=!{'**/' if '/' in pattern else ''}{pattern}" for pattern in SECRET_PATTERNS),
)


class RipgrepError(Exception):
    """ripgrep failed for a reason other than the pattern; the caller falls back to Python."""


class RipgrepPatternError(Exception):
    """ripgrep cannot read the pattern (e.g. look-around); Python's `re` may still."""


@lru_cache(maxsize=1)
def find_ripgrep() -> str | None:
    """The `rg` binary: beside this Python (where the `ripgrep` wheel puts it), else on PATH."""
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / ("rg.exe" if os.name == "nt" else "rg")
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("rg")


def rg_list_files(rg: str, root: Path, *, timeout: float) -> list[str]:
    """Every file the repository shows, in tree order."""
    try:
        # Our own flags; the root is a configured folder, not model input.
        done = subprocess.run(  # noqa: S603
            [rg, "--files", *_COMMON_FLAGS, "."],
            cwd=root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RipgrepError(f"listing took longer than {timeout:g} s") from None
    except OSError as error:
        raise RipgrepError(f"ripgrep could not run: {error}") from None
    if done.returncode not in (0, 1):
        raise RipgrepError(done.stderr.decode("utf-8", "replace").strip() or "ripgrep failed")
    paths = (_relative(raw) for raw in done.stdout.split(b"\n") if raw)
    return sorted((p for p in paths if hidden_reason(p) is None), key=tree_order)


def rg_search(
    rg: str,
    root: Path,
    pattern: str,
    *,
    ignore_case: bool,
    caps: SearchCaps,
) -> SearchOutcome:
    """Matching lines in tree order, stopping after `caps.limit` matches that pass `caps.keep`."""
    line_chars, timeout = caps.line_chars, caps.timeout
    command = [
        rg,
        *_COMMON_FLAGS,
        "--encoding=none",
        "--line-number",
        "--with-filename",
        "--no-heading",
        "--null",
        f"--max-filesize={caps.max_file_bytes}",
        f"--max-columns={4 * line_chars + 16}",
        "--max-columns-preview",
    ]
    if ignore_case:
        command.append("--ignore-case")
    command += ["--regexp", pattern, "--", "."]
    outcome = SearchOutcome()
    try:
        # The pattern is passed as one argument after --regexp, never through a shell.
        with bounded_lines(command=command, cwd=root, timeout=timeout) as run:
            for raw in run.lines:
                path_bytes, _, rest = raw.rstrip(b"\n").partition(b"\x00")
                number, _, text = rest.partition(b":")
                rel = _relative(path_bytes)
                if hidden_reason(rel) is not None or not caps.keep(rel) or not number.isdigit():
                    continue
                if len(outcome.matches) == caps.limit:
                    outcome.more = True
                    break
                line = text.decode("utf-8", "replace")
                outcome.matches.append(make_match(rel, int(number), line, line_chars))
    except OSError as error:
        raise RipgrepError(f"ripgrep could not run: {error}") from None
    if run.timed_out:
        outcome.stopped = stopped_after(timeout=timeout)
    elif run.returncode == 2 and not outcome.matches:
        if "regex" in run.stderr:
            raise RipgrepPatternError(run.stderr.strip())
        if run.stderr.strip():
            raise RipgrepError(run.stderr.strip())
    return outcome


def _relative(raw: bytes) -> str:
    path = os.fsdecode(raw)
    return path[2:] if path.startswith("./") else path
