"""Shared by the benchmarks that drive `agentdesk serve` as its own process over signed HTTP.

Not a benchmark itself: the fakes' setup, a fresh database per run (a SQLite file, or a
PostgreSQL database created and dropped), the served process (agentdesk, or the reference
bot of `bench/reference_bot.py`), signed posts, a burst of mentions waited on until each is
answered in the fake Slack, and what the served process tree uses (CPU, RSS, PSS, and on
request the SQL statements agentdesk sends).
"""

import http.client
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
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
from tests.fakes.slack_server import FakeSlack, visible_text  # noqa: E402
from tests.slack.processes import app_environment, child_pids, mention_envelope  # noqa: E402

SECRET = "bench-signing-secret"
POSTGRES_ENV = "AGENTDESK_TEST_POSTGRES_URL"
PROFILE_ENV = "AGENTDESK_BENCH_PROFILE"
PROFILE_IDLE_ENV = "AGENTDESK_BENCH_PROFILE_IDLE"
PROFILE_GIL_ENV = "AGENTDESK_BENCH_PROFILE_GIL"
STATEMENTS_DIR_ENV = "AGENTDESK_BENCH_STATEMENTS_DIR"
STATEMENT_COUNTING = Path(__file__).resolve().parent / "statement_counting"
REFERENCE_BOT = Path(__file__).resolve().parent / "reference_bot.py"
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


def checkout() -> str:
    """The commit measured, and whether bot/ had uncommitted changes then."""
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--short", "--", "bot"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return f"{head or 'unknown'}{' with uncommitted changes under bot/' if changed else ''}"


def load_average() -> str:
    """The machine's 1, 5 and 15-minute load averages (/proc/loadavg)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


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
    command = [sys.executable, "-m", "bot", "serve", "--host", "127.0.0.1", "--port", str(port)]
    log_path = workdir / f"serve-{port}.log"
    with _serving(command, port=port, cwd=workdir, env=env, log_path=log_path) as app:
        yield app, port


@contextmanager
def served_reference_bot(
    *, slack: FakeSlack, model: FakeAnthropic | None, workdir: Path
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`bench/reference_bot.py` as its own process on a loopback port, ready: answering each
    mention with one call to `model` (SQLite dedupe file in `workdir`), or, with no model,
    only acking. Stopped with SIGTERM."""
    port = free_port()
    command = [sys.executable, str(REFERENCE_BOT), "--port", str(port)]
    command += ["--slack-url", slack.api_url]
    if model is not None:
        command += ["--model-url", model.base_url]
        command += ["--database", str(workdir / f"reference-{port}.db")]
    log_path = workdir / f"reference-{port}.log"
    with _serving(command, port=port, cwd=ROOT, env=os.environ.copy(), log_path=log_path) as bot:
        yield bot, port


@contextmanager
def _serving(
    command: list[str], *, port: int, cwd: Path, env: dict[str, str], log_path: Path
) -> Iterator[subprocess.Popen[str]]:
    """A server process listening on `port`, ready (GET /healthz answers 200); stopped with
    SIGTERM after."""
    with log_path.open("w") as log:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True
        )
        try:
            wait_healthy(port, process, log_path)
            yield process
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
    """The app's warnings and errors (with their tracebacks), when a run fails; all of the
    log when none is in agentdesk's format (the reference bot's)."""
    lines: list[str] = []
    keep = False
    logged = log_path.read_text(errors="replace").splitlines()
    for line in logged:
        if line[:4].isdigit():  # a new log record: keep it (and what follows) when it's bad
            keep = " WARNING " in line or " ERROR " in line
        if keep:
            lines.append(line)
    if not any(line[:4].isdigit() for line in logged):
        lines = logged
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
    return sum(cpu_by_process(pid).values())


def cpu_by_process(pid: int) -> dict[int, float]:
    """User plus system CPU time so far of a process and of each of its descendants, from
    /proc/PID/stat, by process id (the process first)."""
    used = {}
    for member in process_tree(pid):
        fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        used[member] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return used


def pss_mb(pid: int) -> float:
    """Proportional set size of a process and its descendants in MB, from
    /proc/PID/smaps_rollup: pages shared between them are counted once in all."""
    return sum(pss for _, pss in pss_by_process(pid))


def pss_by_process(pid: int) -> list[tuple[int, float]]:
    """The proportional set size in MB of a process and of each of its descendants."""
    sizes = []
    for member in process_tree(pid):
        for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                sizes.append((member, int(line.split()[1]) / 1024))
    return sizes


def own_cpu_seconds() -> float:
    """CPU time this process (the senders, the fakes, the polling) has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


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
    signature = _VERIFIER.generate_signature(timestamp=stamp, body=body) or ""
    connection.request(
        "POST",
        "/slack/events",
        body=body,
        headers={
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": signature,
        },
    )
    response = connection.getresponse()
    response.read()
    return response.status


def statement_counting(directory: Path) -> dict[str, str]:
    """The environment that makes an agentdesk process (and its worker processes) count its
    SQL statements into `directory` (see bench/statement_counting/sitecustomize.py)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [str(STATEMENT_COUNTING), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), STATEMENTS_DIR_ENV: str(directory)}


def statements_so_far(directory: Path) -> Counter[str]:
    """The SQL statements (by first word, and COMMIT) counted so far by the processes that
    write into `directory`; a process writes its counts every 0.1 s."""
    total: Counter[str] = Counter()
    for path in directory.glob("*.json"):
        total.update(json.loads(path.read_text()))
    return total


@dataclass(frozen=True)
class Mention:
    """A mention written in a fake channel, and the signed `app_mention` body Slack POSTs."""

    channel: str
    ts: str
    body: bytes


def mentions_by(
    slack: FakeSlack, *, users: list[str], channel_ids: list[str], prefix: str
) -> list[Mention]:
    """One mention of the agent by each user (users spread over the channels), each asking
    for something different."""
    made = []
    for index, user in enumerate(users):
        channel = channel_ids[index % len(channel_ids)]
        ts, body = mention(
            slack,
            channel=channel,
            user=user,
            text=f"{AGENT}: please add OAuth login to service {index}",
            event_id=f"Ev{prefix}{index:06d}",
        )
        made.append(Mention(channel, ts, body))
    return made


@dataclass(frozen=True)
class Burst:
    """What a burst of simultaneous mentions took: times from the first send (s), the
    served process tree's CPU (s, user+sys; in all and by process, the server first) and
    RSS (MB) over it, this process's CPU."""

    started: float  # perf_counter at the first send
    first_answer: float
    wall: float
    statuses: dict[int, int]
    cpu: float
    cpu_each: list[float]
    own_cpu: float
    rss_before: float
    rss_after: float


def burst(
    *,
    slack: FakeSlack,
    server: subprocess.Popen[str],
    port: int,
    mentions: list[Mention],
    timeout: float = 120.0,
    profile: bool = False,
) -> Burst:
    """POST every mention at the same moment (one thread and kept-alive connection each,
    released by a barrier), then wait until each thread shows the answer in the fake Slack.
    With `profile`, the server is sampled meanwhile as `profiled` says."""
    connections = [http.client.HTTPConnection("127.0.0.1", port) for _ in mentions]
    for connection in connections:
        connection.connect()
    rss_before = rss_mb(server.pid)
    cpu_before = cpu_by_process(server.pid)
    own_before = own_cpu_seconds()
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(mentions) + 1)

    def send(index: int) -> None:
        barrier.wait()
        status = post_signed(connections[index], mentions[index].body)
        with lock:
            statuses[status] = statuses.get(status, 0) + 1

    senders = [threading.Thread(target=send, args=(i,)) for i in range(len(mentions))]
    for sender in senders:
        sender.start()
    with profiled(server.pid) if profile else nullcontext():
        barrier.wait()
        started = time.perf_counter()
        # One read of each channel a round (not one per thread): the bench shares the
        # machine with the server, so its own polling must stay cheap.
        waiting = {(each.channel, each.ts) for each in mentions}
        first_answer = 0.0
        while waiting:
            if time.perf_counter() - started > timeout:
                raise RuntimeError(
                    f"{len(waiting)} of {len(mentions)} threads unanswered after {timeout:.0f} s"
                )
            for channel in {channel for channel, _ in waiting}:
                for message in slack.messages(channel):
                    root = (channel, message["thread_ts"] or message["ts"])
                    answered = message["bot_id"] and ANSWER_MARK in visible_text(message)
                    if root in waiting and answered:
                        waiting.discard(root)
                        first_answer = first_answer or time.perf_counter() - started
            time.sleep(0.02)
        wall = time.perf_counter() - started
    rss_after = rss_mb(server.pid)
    cpu_after = cpu_by_process(server.pid)
    cpu_each = [used - cpu_before.get(member, 0.0) for member, used in cpu_after.items()]
    own_cpu = own_cpu_seconds() - own_before
    for sender in senders:
        sender.join()
    for connection in connections:
        connection.close()
    return Burst(
        started,
        first_answer,
        wall,
        statuses,
        sum(cpu_each),
        cpu_each,
        own_cpu,
        rss_before,
        rss_after,
    )
