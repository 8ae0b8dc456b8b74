"""A repository's set-up step: what it is, running it with the registries as its only
network, and keeping its result for the next run on the same project files.

Where the step comes from, first found wins: the REPOS entry's line in IMPLEMENT_SETUP; the
repository's `.agentdesk/setup.sh`; its dev container (`onCreateCommand`,
`updateContentCommand`, `postCreateCommand`); else what its project files call for (a Python
project gets `.venv` with the project and its test extras; a Node project `npm ci`).

The step runs in bubblewrap: the whole system read-only, agentdesk's own places hidden, the
worktree writable, a home and temporary folder of its own, an environment built from
nothing, and a network namespace whose only way out is the registry proxy
(`egress_proxy.py`). What it leaves in the worktree (a virtual environment, `node_modules`)
is never committed, and is kept under IMPLEMENT_WORK_DIR keyed by the hash of the step and
the files it reads, so the next run copies it instead of installing again.
"""

import hashlib
import json
import logging
import re
import shlex
import shutil
import subprocess
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

from bot.implement.egress_proxy import SANDBOX_PATH, egress_proxy, registry_hosts

log = logging.getLogger(__name__)

SETUP_SCRIPT = ".agentdesk/setup.sh"
DEVCONTAINER = ".devcontainer/devcontainer.json"
_DEVCONTAINER_STEPS = ("onCreateCommand", "updateContentCommand", "postCreateCommand")
_TEST_EXTRAS = ("test", "tests", "testing", "dev")
# Files whose content decides what a step installs: a change of any of them is a new key.
_KEY_FILES = (
    SETUP_SCRIPT,
    DEVCONTAINER,
    "pyproject.toml",
    "setup.py",
    "setup.cfg",
    "requirements.txt",
    "requirements-dev.txt",
    "requirements-test.txt",
    "poetry.lock",
    "uv.lock",
    "Pipfile.lock",
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
)
_PROXY_PORT = 3128
_SANDBOX_SOCKET = "/tmp/agentdesk-egress.sock"  # noqa: S108 - inside the sandbox's own /tmp
_OUTPUT_TAIL = 4000


class SetupConfigError(ValueError):
    """IMPLEMENT_SETUP can't be read; the message names the entry."""


@dataclass(frozen=True)
class SetupPlan:
    """The set-up step a repository gets, and where it was found."""

    command: str
    source: str  # "IMPLEMENT_SETUP", ".agentdesk/setup.sh", "dev container", "pyproject.toml", …


@dataclass(frozen=True)
class SetupResult:
    """How a set-up step went."""

    plan: SetupPlan
    ok: bool
    cached: bool
    seconds: float
    output: str  # the tail of what it printed
    left: tuple[str, ...] = ()  # what it left in the worktree (never committed)
    refused: tuple[str, ...] = ()  # hosts it tried to reach and was refused

    def line(self) -> str:
        """One line for the thread and the pull request."""
        where = f"`{_short(self.plan.command)}` (from {self.plan.source})"
        if self.cached:
            return f"Set-up step {where}: its result was reused from an earlier run."
        if self.ok:
            return f"Set-up step {where}: done in {self.seconds:.0f} s."
        return f"Set-up step {where} failed after {self.seconds:.0f} s; the agent works without it."


def parse_setup_setting(text: str) -> dict[str, str]:
    """IMPLEMENT_SETUP as {repository: command}: one `name=command` per line."""
    commands: dict[str, str] = {}
    for line in (part.strip() for part in text.splitlines()):
        if not line or line.startswith("#"):
            continue
        name, sep, command = line.partition("=")
        if not sep or not name.strip() or not command.strip():
            raise SetupConfigError(
                f"IMPLEMENT_SETUP entry `{line}` is not `name=command` (one per line)"
            )
        commands[name.strip()] = command.strip()
    return commands


def find_setup(repo: str, root: Path, *, setting: str = "") -> SetupPlan | None:
    """The set-up step for `repo` checked out at `root`; None when it needs none."""
    configured = parse_setup_setting(setting).get(repo)
    if configured:
        return SetupPlan(configured, "IMPLEMENT_SETUP")
    if (root / SETUP_SCRIPT).is_file():
        return SetupPlan(f"sh {SETUP_SCRIPT}", SETUP_SCRIPT)
    devcontainer = _devcontainer_command(root / DEVCONTAINER)
    if devcontainer:
        return SetupPlan(devcontainer, f"{DEVCONTAINER}")
    return _detected(root)


def _devcontainer_command(path: Path) -> str | None:
    if not path.is_file():
        return None
    try:
        config = json.loads(_without_comments(path.read_text(encoding="utf-8")))
    except (ValueError, OSError):
        log.info("could not read %s; looking for another set-up step", path)
        return None
    steps: list[str] = []
    for key in _DEVCONTAINER_STEPS:
        value = config.get(key) if isinstance(config, dict) else None
        for command in value.values() if isinstance(value, dict) else [value]:
            if isinstance(command, str) and command.strip():
                steps.append(command.strip())
            elif isinstance(command, list) and all(isinstance(c, str) for c in command):
                steps.append(shlex.join(command))
    return " && ".join(f"({step})" for step in steps) or None


def _without_comments(text: str) -> str:
    """JSON with comments and trailing commas (devcontainer.json's dialect) as plain JSON."""
    text = re.sub(
        r'("(?:\\.|[^"\\])*")|//[^\n]*|/\*.*?\*/', lambda m: m.group(1) or "", text, flags=re.S
    )
    return re.sub(r",(\s*[}\]])", r"\1", text)


def _detected(root: Path) -> SetupPlan | None:
    venv = "python3 -m venv .venv && .venv/bin/python -m pip install --progress-bar off"
    if (root / "pyproject.toml").is_file():
        try:
            project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, OSError):
            project = {}
        optional = (project.get("project") or {}).get("optional-dependencies") or {}
        extras = [name for name in _TEST_EXTRAS if name in optional]
        target = f".[{','.join(extras)}]" if extras else "."
        return SetupPlan(f"{venv} -e {shlex.quote(target)}", "pyproject.toml")
    requirements = [
        name
        for name in ("requirements.txt", "requirements-dev.txt", "requirements-test.txt")
        if (root / name).is_file()
    ]
    if requirements:
        files = " ".join(f"-r {name}" for name in requirements)
        return SetupPlan(f"{venv} {files}", ", ".join(requirements))
    if (root / "package.json").is_file():
        locked = (root / "package-lock.json").is_file() or (root / "npm-shrinkwrap.json").is_file()
        return SetupPlan("npm ci" if locked else "npm install", "package.json")
    return None


def cache_folder(work_dir: Path) -> Path:
    """Where set-up results are kept: `.setup-cache` in IMPLEMENT_WORK_DIR."""
    return work_dir.expanduser().resolve() / ".setup-cache"


def cache_key(plan: SetupPlan, root: Path) -> str:
    """The step and the content of every file that decides what it installs."""
    digest = hashlib.sha256(plan.command.encode())
    for name in _KEY_FILES:
        path = root / name
        if path.is_file():
            digest.update(name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:32]


@dataclass(frozen=True)
class SetupWalls:
    """What the step's sandbox hides and where it writes."""

    hidden: tuple[Path, ...]  # agentdesk's own places (`isolation.protected_paths`)
    private: Path  # the run's private folder: the step's home and temporary folder go here
    readable: tuple[Path, ...] = ()  # given back inside hidden places (the repository's mirror)
    extra_hosts: tuple[str, ...] = ()
    timeout_seconds: float = 900.0


def run_setup(
    plan: SetupPlan,
    *,
    repo: str,
    worktree: Path,
    walls: SetupWalls,
    cache_dir: Path,
) -> SetupResult:
    """Run the step in `worktree` (or copy a cached result in), with the registries as its
    only network and nothing of agentdesk's in reach."""
    key = cache_key(plan, worktree)
    cached = cache_dir / repo / key
    started = time.monotonic()
    if (cached / "meta.json").is_file():
        try:
            left = _restore(cached, worktree)
        except (OSError, ValueError, KeyError) as error:
            log.warning("the cached set-up of %s can't be used (%s); running it", repo, error)
            shutil.rmtree(cached, ignore_errors=True)
        else:
            return SetupResult(plan, True, True, time.monotonic() - started, "", left)
    before = {entry.name for entry in worktree.iterdir()}
    ok, output, refused = _sandboxed(plan.command, worktree=worktree, walls=walls)
    left = tuple(sorted(entry.name for entry in worktree.iterdir() if entry.name not in before))
    seconds = time.monotonic() - started
    if ok and left:
        _store(cached, worktree, left, plan=plan)
    return SetupResult(plan, ok, False, seconds, output, left, tuple(refused))


def _sandboxed(command: str, *, worktree: Path, walls: SetupWalls) -> tuple[bool, str, list[str]]:
    home, tmp = walls.private / "setup-home", walls.private / "setup-tmp"
    home.mkdir(exist_ok=True)
    tmp.mkdir(exist_ok=True)
    # A unix socket's path has room for about 100 bytes: the socket lives in a short folder.
    socket_folder = Path(tempfile.mkdtemp(prefix="agentdesk-"))
    proxy_socket = socket_folder / "egress.sock"
    proxy = f"http://127.0.0.1:{_PROXY_PORT}"
    environment = {
        "PATH": SANDBOX_PATH,
        "HOME": str(home),
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        **{name: proxy for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")},
        "NO_PROXY": "localhost,127.0.0.1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "npm_config_update_notifier": "false",
    }
    bridge = (
        f"socat TCP-LISTEN:{_PROXY_PORT},bind=127.0.0.1,fork,reuseaddr "
        f"UNIX-CONNECT:{_SANDBOX_SOCKET} & "
        f"i=0; while [ $i -lt 50 ] && ! (exec 3<>/dev/tcp/127.0.0.1/{_PROXY_PORT}) 2>/dev/null; "
        "do i=$((i+1)); sleep 0.05; done; "
    )
    argv = [
        "bwrap",
        "--die-with-parent",
        "--new-session",
        "--unshare-all",
        "--clearenv",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        "--tmpfs",
        "/tmp",  # noqa: S108
    ]
    for hidden in walls.hidden:
        if hidden.is_dir():
            argv += ["--tmpfs", str(hidden)]
        elif hidden.exists():
            argv += ["--ro-bind", "/dev/null", str(hidden)]
    for place in walls.readable:
        argv += ["--ro-bind", str(place), str(place)]
    for place in (worktree, home, tmp):
        argv += ["--bind", str(place), str(place)]
    argv += ["--bind", str(proxy_socket), _SANDBOX_SOCKET, "--chdir", str(worktree)]
    for name, value in environment.items():
        argv += ["--setenv", name, value]
    argv += ["bash", "-c", bridge + command]
    allowed = registry_hosts(walls.extra_hosts)
    refused: list[str] = []
    try:
        with egress_proxy(proxy_socket, allowed) as refused:
            done = subprocess.run(  # noqa: S603
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                errors="replace",
                timeout=walls.timeout_seconds,
                check=False,
            )
    except subprocess.TimeoutExpired as error:
        printed = error.stdout if isinstance(error.stdout, str) else ""
        stopped = f"[stopped after {walls.timeout_seconds:.0f} s]"
        return False, f"{printed[-_OUTPUT_TAIL:]}\n{stopped}", list(refused)
    finally:
        shutil.rmtree(socket_folder, ignore_errors=True)
    return done.returncode == 0, done.stdout[-_OUTPUT_TAIL:], list(refused)


def _store(cached: Path, worktree: Path, left: tuple[str, ...], *, plan: SetupPlan) -> None:
    """Keep what the step left, and where it was made (paths inside are rewritten on restore)."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{cached.name}-", dir=cached.parent))
    try:
        for name in left:
            source = worktree / name
            if source.is_dir() and not source.is_symlink():
                shutil.copytree(source, partial / name, symlinks=True)
            else:
                shutil.copy2(source, partial / name, follow_symlinks=False)
        meta = {"made_in": str(worktree), "left": list(left), "command": plan.command}
        (partial / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        if cached.exists():  # another run kept the same result first
            shutil.rmtree(partial, ignore_errors=True)
            return
        partial.rename(cached)
    except OSError:
        log.warning("could not keep the set-up step's result", exc_info=True)
        shutil.rmtree(partial, ignore_errors=True)


def _restore(cached: Path, worktree: Path) -> tuple[str, ...]:
    meta = json.loads((cached / "meta.json").read_text(encoding="utf-8"))
    made_in, left = str(meta["made_in"]), tuple(str(name) for name in meta["left"])
    for name in left:
        source, target = cached / name, worktree / name
        if source.is_dir() and not source.is_symlink():
            shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(source, target, follow_symlinks=False)
        _relocate(target, made_in, str(worktree))
    return left


# Where an installed environment names the folder it was made in.
_RELOCATED = re.compile(r"(\.pth|__editable__.*\.py|direct_url\.json|pyvenv\.cfg|RECORD)$")


def _relocate(place: Path, old: str, new: str) -> None:
    """Point an environment copied from another worktree at this one: editable installs,
    and the interpreter line of its scripts."""
    files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
    for path in files:
        if path.is_symlink():
            continue
        scripted = path.parent.name == "bin"
        if not (scripted or _RELOCATED.search(path.name)):
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if old.encode() in data[: 1 << 20] and b"\0" not in data[:1024]:
            path.write_bytes(data.replace(old.encode(), new.encode()))


def _short(command: str) -> str:
    flat = " ".join(command.split())
    return flat if len(flat) <= 120 else flat[:119] + "…"


def describe(plan: SetupPlan | None) -> str:
    """What doctor says about a repository's step."""
    if plan is None:
        return "no set-up step (none configured, and no project file that calls for one)"
    return f"set-up step `{_short(plan.command)}` (from {plan.source})"


def setup_hosts(settings_hosts: str) -> tuple[str, ...]:
    """IMPLEMENT_SETUP_HOSTS as a tuple of host names."""
    return tuple(h.strip() for h in re.split(r"[,\s]+", settings_hosts) if h.strip())
