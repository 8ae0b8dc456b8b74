"""Helpers for tests that run agentdesk as its own process against the fakes."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.conftest import PROJECT_ROOT
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.slack_server import FakeSlack


def app_environment(
    *, slack: FakeSlack, model: FakeAnthropic, database: Path, **slack_settings: str
) -> dict[str, str]:
    """The environment of an agentdesk process pointed at the fakes and a SQLite file."""
    env = {
        **os.environ,
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_API_URL": slack.api_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": model.base_url,
        "DATABASE_URL": f"sqlite:///{database}",
        "AGENTS_DIR": str(PROJECT_ROOT / "agents"),
    }
    for name in ("SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"):
        env.pop(name, None)
    env.update(slack_settings)
    return env


def mention_envelope(
    slack: FakeSlack, *, channel: str, text: str, user: str, event_id: str
) -> tuple[str, dict[str, Any]]:
    """A mention written in the fake channel, and the `app_mention` envelope Slack sends."""
    ts = slack.add_user_message(channel, f"<@UBOT> {text}", user)
    event = {
        "type": "app_mention",
        "user": user,
        "text": f"<@UBOT> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
    }
    envelope = {
        "team_id": "T0001",
        "api_app_id": "A0001",
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "event": event,
        "authorizations": [{"team_id": "T0001", "user_id": "UBOT", "is_bot": True}],
    }
    return ts, envelope


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def child_pids(pid: int) -> list[int]:
    """The processes a process started (an app's worker processes), from /proc."""
    return [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]


def http_text(url: str) -> str:
    """The body of a GET that answers 200."""
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
        return str(response.read().decode())


def http_get(url: str) -> int:
    """The status of a GET (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


class ServedApp:
    """`agentdesk serve` as its own process; each `start` is a new life on the same port,
    its output in `serve-<life>.log` in `folder`."""

    def __init__(self, *, env: dict[str, str], folder: Path) -> None:
        self.env = env
        self.folder = folder
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.lives = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> "ServedApp":
        """Start a new life and wait until /healthz answers 200."""
        self.lives += 1
        port = str(self.port)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", port],
                cwd=self.folder,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its worker processes share its group: see `stop`
            )
        deadline = time.monotonic() + timeout
        while http_get(f"{self.base_url}/healthz") != 200:
            assert self.process.poll() is None, f"serve exited:\n{self.output()}"
            assert time.monotonic() < deadline, f"no /healthz in {timeout} s:\n{self.output()}"
            time.sleep(0.05)
        return self

    def stop(self, sig: signal.Signals, timeout: float = 20.0) -> float:
        """Send `sig` and wait for the process to end; returns how long that took. SIGKILL
        goes to the whole process group, the app and its worker processes, as when its
        machine or container dies; other signals to the app alone, which stops its workers."""
        assert self.process is not None
        started = time.monotonic()
        if sig is signal.SIGKILL:
            os.killpg(self.process.pid, signal.SIGKILL)
        else:
            self.process.send_signal(sig)
        self.process.wait(timeout=timeout)
        self._wait_group_gone(timeout)
        return time.monotonic() - started

    def _wait_group_gone(self, timeout: float) -> None:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.02)
        raise AssertionError(f"worker processes still running {timeout} s after the app")

    @property
    def log_path(self) -> Path:
        return self.folder / f"serve-{self.lives}.log"

    def output(self) -> str:
        """What the current life printed so far."""
        return self.log_path.read_text(errors="replace")

    def close(self) -> None:
        """Kill whatever still runs (a test that failed half-way)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
