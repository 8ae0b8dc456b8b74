"""What keeps a run's commands away from agentdesk: a bare environment, a key they can't read,
and agentdesk's own files hidden from the sandbox.

- Claude Code starts through `cli_launcher.py` with an environment built from nothing (PATH,
  a HOME of its own, the locale, its endpoint), so no token of agentdesk's reaches the CLI or
  the commands it runs.
- The model key reaches Claude Code through its `apiKeyHelper` setting: a script in the run's
  private folder that prints a key file. The CLI runs it outside the sandbox; the sandbox hides
  the folder, so commands can read neither.
- The sandbox's `filesystem.denyRead` hides agentdesk's working directory and home, the
  database's folder, `.env`, the mirrors and folders of every repository, and every run's folder;
  `allowRead` gives back only this run's worktree, its repository's mirror (git needs it) and
  its temporary folder.
"""

import contextlib
import json
import os
import shlex
import shutil
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.config import Settings
from bot.repos.spec import RepoConfigError, parse_repo_specs

_LAUNCHER = Path(__file__).with_name("cli_launcher.py")
_SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
_LOCALE_VARIABLES = ("LANG", "LC_ALL", "LC_CTYPE", "TZ")
# Caches and build output a run's commands leave behind: never part of the change.
RUN_EXCLUDES = (
    "__pycache__/",
    "*.py[cod]",
    ".pytest_cache/",
    ".mypy_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".tox/",
    ".nox/",
    ".coverage",
    ".coverage.*",
    "htmlcov/",
    "*.egg-info/",
    ".venv/",
    "node_modules/",
    ".npm/",
    ".cache/",
    ".gradle/",
    ".DS_Store",
)


@dataclass(frozen=True)
class RunIsolation:
    """One run's private folder and how Claude Code is started inside its walls."""

    folder: Path  # private: the CLI's home, the key helper, the temporary folder
    cli_path: Path  # the launcher, which the SDK starts as its CLI
    cli: str  # the real CLI the launcher becomes
    environment: dict[str, str]  # the CLI's whole environment (the launcher's input)
    settings: dict[str, Any]  # Claude Code settings (`--settings`)
    deny_read: tuple[str, ...]
    allow_read: tuple[str, ...]
    excludes_file: Path  # git's run-level ignore list

    @property
    def launcher_variables(self) -> dict[str, str]:
        """What the SDK passes to the launcher, which keeps only the run's environment."""
        return {"AGENTDESK_RUN_ENV": json.dumps(self.environment), "AGENTDESK_RUN_CLI": self.cli}


def protected_paths(settings: Settings, *, cwd: Path | None = None) -> list[Path]:
    """agentdesk's own places, which no run's command may read."""
    cwd = (cwd or Path.cwd()).resolve()
    places = [cwd, Path.home(), cwd / ".env"]
    places += [settings.repos_cache_dir, settings.implement_work_dir]
    try:
        database = make_url(settings.database_url).database
    except ArgumentError:
        database = None
    if database and database != ":memory:" and settings.database_url.startswith("sqlite"):
        places.append(Path(database).parent)
    with contextlib.suppress(RepoConfigError):  # a broken REPOS reaches no run; doctor says so
        places += [spec.path for spec in parse_repo_specs(settings.repos) if spec.path is not None]
    resolved = {(cwd / p.expanduser()).resolve() for p in places}  # absolute p: cwd / p is p
    return sorted(p for p in resolved if p != Path(p.anchor))  # hiding `/` hides everything


@contextmanager
def isolated_run(
    *,
    settings: Settings,
    worktree: Path,
    mirror_root: Path,
    api_key: str | None,
    environ: Mapping[str, str] | None = None,
    cli: str | None = None,
) -> Iterator[RunIsolation]:
    """Make the run's private folder (removed on the way out) and describe its walls."""
    environ = os.environ if environ is None else environ
    parent = settings.implement_work_dir.expanduser().resolve()
    parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=".private-", dir=parent))
    try:
        yield _prepare(
            folder,
            settings=settings,
            worktree=worktree.resolve(),
            mirror_root=mirror_root.resolve(),
            api_key=api_key,
            environ=environ,
            cli=cli or _bundled_cli(),
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _prepare(
    folder: Path,
    *,
    settings: Settings,
    worktree: Path,
    mirror_root: Path,
    api_key: str | None,
    environ: Mapping[str, str],
    cli: str,
) -> RunIsolation:
    home, tmp = folder / "home", folder / "tmp"
    home.mkdir()
    tmp.mkdir()
    denied = protected_paths(settings)
    claude_settings: dict[str, Any] = {}
    if api_key:
        key_file = folder / "model-key"
        key_file.touch(mode=0o600)
        key_file.write_text(api_key, encoding="utf-8")
        helper = folder / "model-key-helper"
        helper.write_text(f"#!/bin/sh\nexec cat {shlex.quote(str(key_file))}\n", "utf-8")
        helper.chmod(0o700)
        claude_settings["apiKeyHelper"] = str(helper)
    launcher = folder / "claude"
    launcher.write_text(
        f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -I {shlex.quote(str(_LAUNCHER))} "$@"\n',
        encoding="utf-8",
    )
    launcher.chmod(0o700)
    excludes = folder / "git-excludes"
    excludes.write_text("\n".join(RUN_EXCLUDES) + "\n", encoding="utf-8")
    environment = {
        "PATH": _run_path(environ.get("PATH", ""), denied),
        "HOME": str(home),
        "CLAUDE_CONFIG_DIR": str(home / ".claude"),
        "CLAUDE_CODE_TMPDIR": str(tmp),
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        **{name: environ[name] for name in _LOCALE_VARIABLES if environ.get(name)},
    }
    if settings.anthropic_base_url:
        environment["ANTHROPIC_BASE_URL"] = settings.anthropic_base_url
    return RunIsolation(
        folder=folder,
        cli_path=launcher,
        cli=cli,
        environment=environment,
        settings=claude_settings,
        deny_read=tuple(str(p) for p in [*denied, folder]),
        allow_read=(str(worktree), str(mirror_root), str(tmp)),
        excludes_file=excludes,
    )


def _run_path(path: str, denied: list[Path]) -> str:
    """agentdesk's PATH without folders the sandbox hides, then the system's own folders."""
    kept: list[str] = []
    for entry in [*path.split(os.pathsep), *_SYSTEM_PATH]:
        if not entry or entry in kept or not Path(entry).is_absolute():
            continue
        resolved = Path(entry).resolve()
        if any(resolved == d or d in resolved.parents for d in denied):
            continue
        kept.append(entry)
    return os.pathsep.join(kept)


def _bundled_cli() -> str:
    """The Claude Code CLI that claude-agent-sdk ships, else the one on PATH."""
    import claude_agent_sdk

    bundled = Path(claude_agent_sdk.__file__).parent / "_bundled" / "claude"
    if bundled.is_file():
        return str(bundled)
    found = shutil.which("claude")
    if found is None:
        raise FileNotFoundError("Claude Code's CLI is neither in claude-agent-sdk nor on PATH")
    return found
