"""Running git for the mirrors: no prompts, a timeout on every call, tokens kept out of sight.

A token reaches git only through the environment (`GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/
`GIT_CONFIG_VALUE_n`), as an `http.<origin>.extraHeader`; so it is in no argument list, no
config file and no remote URL, and it is only sent to the repository's own host.
"""

import base64
import contextlib
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

# Variables that would point git elsewhere, make it talk, or make it print what it sends.
_DROPPED_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_ASKPASS",
    "SSH_ASKPASS",
    "GIT_TRACE",
    "GIT_TRACE_CURL",
    "GIT_TRACE_PACKET",
    "GIT_CURL_VERBOSE",
)
_STDERR_TAIL_CHARS = 600


class GitError(Exception):
    """A git command failed or timed out; the message holds no secret."""


@dataclass(frozen=True)
class HttpAuth:
    """An access token for one https origin, sent as an HTTP Basic header."""

    origin: str  # scheme://host[:port]/
    secret: str  # the token, or `user:password`

    @classmethod
    def for_url(cls, url: str, secret: str) -> "HttpAuth":
        """Auth scoped to the URL's origin, so a redirect elsewhere never receives it."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port else ""
        return cls(origin=f"{parts.scheme}://{host}{port}/", secret=secret)

    @property
    def header(self) -> str:
        """The `Authorization` header git sends."""
        credentials = self.secret if ":" in self.secret else f"x-access-token:{self.secret}"
        return "Authorization: Basic " + base64.b64encode(credentials.encode()).decode()

    @property
    def redactions(self) -> tuple[str, ...]:
        """Every form of the secret that could show up in git's output."""
        forms = {self.secret, self.header, self.header.split(" ")[-1]}
        forms.update(part for part in self.secret.split(":") if len(part) >= 6)
        return tuple(sorted(forms, key=len, reverse=True))


def git_executable() -> str:
    """The git binary; GitError when git is not installed."""
    found = shutil.which("git")
    if found is None:
        raise GitError("git is not installed (or not on PATH); install it to mirror repositories.")
    return found


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float,
    auth: HttpAuth | None = None,
    check: bool = True,
) -> str:
    """Run `git ARGS` in `cwd` and return its stdout; GitError (redacted) on failure."""
    command = [git_executable(), *args]
    env = git_environment(os.environ, auth=auth)
    # Arguments come from our own code and validated settings, never from a model.
    process = subprocess.Popen(  # noqa: S603
        command,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # so a timeout can end git's helpers too
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        raise GitError(f"`git {args[0]}` took longer than {timeout:g} s and was stopped.") from None
    if check and process.returncode != 0:
        detail = redact(_tail(stderr.decode("utf-8", "replace")), auth)
        raise GitError(f"`git {args[0]}` failed (exit {process.returncode}): {detail}")
    return stdout.decode("utf-8", "replace")


def git_environment(base: Mapping[str, str], *, auth: HttpAuth | None) -> dict[str, str]:
    """The environment for git: quiet, never prompting, with the auth header if any."""
    env = {
        key: value
        for key, value in base.items()
        if key not in _DROPPED_VARIABLES
        and not key.startswith("GIT_CONFIG_KEY_")
        and not key.startswith("GIT_CONFIG_VALUE_")
    }
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GCM_INTERACTIVE"] = "never"
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    config = [("credential.helper", ""), ("core.askPass", "")]
    if auth is not None:
        config.append((f"http.{auth.origin}.extraHeader", auth.header))
    env["GIT_CONFIG_COUNT"] = str(len(config))
    for index, (key, value) in enumerate(config):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    return env


def redact(text: str, auth: HttpAuth | None) -> str:
    """`text` with every form of the auth secret replaced by `***`."""
    if auth is None:
        return text
    for secret in auth.redactions:
        text = text.replace(secret, "***")
    return text


def _tail(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    text = " | ".join(lines[-4:]) or "no error output"
    return text[-_STDERR_TAIL_CHARS:]


def _kill_group(process: "subprocess.Popen[bytes]") -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.communicate()
