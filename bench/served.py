"""Shared by the benchmarks that drive `agentdesk serve` as its own process over signed HTTP.

Not a benchmark itself: the fakes' setup, a fresh database per run (a SQLite file, or a
PostgreSQL database created and dropped), the served process, signed posts, and its RSS.
"""

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `tests` (the fakes) lives in the checkout
    sys.path.insert(0, str(ROOT))

from slack_sdk.signature import SignatureVerifier  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bot.store.db import make_engine, normalise_url  # noqa: E402
from tests.fakes.anthropic_server import FakeAnthropic  # noqa: E402
from tests.fakes.slack_server import FakeSlack  # noqa: E402
from tests.slack.processes import app_environment, child_pids, mention_envelope  # noqa: E402

SECRET = "bench-signing-secret"
POSTGRES_ENV = "AGENTDESK_TEST_POSTGRES_URL"
PROFILE_ENV = "AGENTDESK_BENCH_PROFILE"
PROFILE_IDLE_ENV = "AGENTDESK_BENCH_PROFILE_IDLE"
PROFILE_GIL_ENV = "AGENTDESK_BENCH_PROFILE_GIL"
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
AGENT = "backend-feature-developer"
QUESTIONS = {
    "intro": "A few questions before I design this:",
    "questions": [
        {"question": "Which identity providers?", "choices": ["Google", "GitHub", "Both"]},
        {"question": "Do existing password accounts need linking?"},
    ],
}
ANSWER_MARK = "Which identity providers?"
# Settings the benchmarks report (the app runs with its defaults: none of these is set).
REPORTED_SETTINGS = (
    "worker_processes",
    "turn_concurrency",
    "model_calls_in_flight",
    "turns_per_user",
    "turns_per_channel",
    "turn_lease_seconds",
)


def people(count: int) -> list[str]:
    """Distinct Slack user ids."""
    return [f"U{index:05d}" for index in range(count)]


def channels(count: int) -> list[str]:
    """Distinct channel ids."""
    return [f"C0BENCH{index:02d}" for index in range(count)]


def fake_slack(*, users: list[str], channel_ids: list[str]) -> FakeSlack:
    """A fake workspace that knows the people and channels (not started)."""
    return FakeSlack(
        users={user: {"real_name": f"Person {user}", "display_name": user} for user in users},
        channels={channel: {"name": channel.lower()} for channel in channel_ids},
    )


class TimedModel(FakeAnthropic):
    """The fake model, noting when (perf_counter) each request arrived."""

    arrivals: list[float]


def model_answering_in(seconds: float) -> TimedModel:
    """A fake model that asks its clarifying questions after `seconds`, to every turn."""
    from tests.fakes.anthropic_server import MessageSpec, ToolUseSpec

    model = TimedModel()
    model.arrivals = []

    def answer(_: dict[str, Any]) -> MessageSpec:
        model.arrivals.append(time.perf_counter())
        return MessageSpec(
            content=[ToolUseSpec("ask_clarifying_questions", dict(QUESTIONS))],
            delay_seconds=seconds,
        )

    model.default = answer
    return model


def default_settings() -> str:
    """The serving settings in effect when none is set, as `name=value` pairs."""
    from bot.config import Settings

    fields = Settings.model_fields
    return ", ".join(f"{name.upper()}={fields[name].default}" for name in REPORTED_SETTINGS)


@contextmanager
def fresh_database(kind: str, workdir: Path) -> Iterator[str]:
    """A new empty database URL: a SQLite file, or a PostgreSQL database dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        return
    admin_url = normalise_url(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES))
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def served_app(
    *,
    slack: FakeSlack,
    model: FakeAnthropic,
    database_url: str,
    workdir: Path,
    **settings: str,
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`agentdesk serve` as its own process on a loopback port, ready; stopped with SIGTERM.
    `settings` are set in its environment on top of the defaults."""
    port = free_port()
    env = app_environment(
        slack=slack,
        model=model,
        database=workdir / "unused.db",
        SLACK_SIGNING_SECRET=SECRET,
        **settings,
    )
    env["DATABASE_URL"] = database_url
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            wait_healthy(port, process, log_path)
            yield process, port
        except Exception:
            _show_problems(log_path)
            raise
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _show_problems(log_path: Path, most: int = 80) -> None:
    """The app's warnings and errors (with their tracebacks), when a run fails."""
    lines: list[str] = []
    keep = False
    for line in log_path.read_text(errors="replace").splitlines():
        if line[:4].isdigit():  # a new log record: keep it (and what follows) when it's bad
            keep = " WARNING " in line or " ERROR " in line
        if keep:
            lines.append(line)
    if lines:
        print(f"the app's last warnings and errors ({log_path.name}):", file=sys.stderr)
        print("\n".join(lines[-most:]), file=sys.stderr)


def wait_healthy(port: int, process: subprocess.Popen[str], log_path: Path) -> None:
    """Wait until GET /healthz answers 200."""
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited:\n{log_path.read_text()}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"no /healthz in 60 s:\n{log_path.read_text()}")
        time.sleep(0.1)


@contextmanager
def profiled(pid: int) -> Iterator[None]:
    """With AGENTDESK_BENCH_PROFILE=FILE, sample the app and its worker processes with py-spy
    (installed separately) into collapsed stacks while the block runs; otherwise do nothing.
    AGENTDESK_BENCH_PROFILE_GIL samples only the thread holding the GIL;
    AGENTDESK_BENCH_PROFILE_IDLE adds idle threads."""
    output = os.environ.get(PROFILE_ENV)
    if not output:
        yield
        return
    spy = Path(sys.executable).with_name("py-spy")
    command = [str(spy), "record", "--pid", str(pid), "--subprocesses", "--format", "raw"]
    command += ["-r", "50"]
    if os.environ.get(PROFILE_IDLE_ENV):
        command.append("--idle")
    if os.environ.get(PROFILE_GIL_ENV):  # only the thread holding the GIL: CPU spent in Python
        command.append("--gil")
    sampler = subprocess.Popen([*command, "-o", output], stdout=subprocess.DEVNULL)
    time.sleep(1)  # let it attach
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=30)


def process_tree(pid: int) -> list[int]:
    """A process and its descendants (the app's worker processes), from /proc."""
    tree = [pid]
    for child in child_pids(pid):
        tree.extend(process_tree(child))
    return tree


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process and its descendants have used so far."""
    total = 0
    for member in process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of a process and its descendants in MB, from /proc."""
    total = 0
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def mention(
    slack: FakeSlack, *, channel: str, user: str, text: str, event_id: str
) -> tuple[str, bytes]:
    """A mention written in the fake channel, and the `app_mention` envelope Slack POSTs."""
    ts, envelope = mention_envelope(slack, channel=channel, text=text, user=user, event_id=event_id)
    return ts, json.dumps(envelope).encode()


_VERIFIER = SignatureVerifier(SECRET)


def post_signed(connection: http.client.HTTPConnection, body: bytes) -> int:
    """POST a signed event on a kept-alive connection; the response status."""
    stamp = str(int(time.time()))
    connection.request(
        "POST",
        "/slack/events",
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": _VERIFIER.generate_signature(timestamp=stamp, body=body),
        },
    )
    response = connection.getresponse()
    response.read()
    return response.status
