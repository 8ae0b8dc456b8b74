"""Worker processes: `agentdesk serve` stores and acks; separate processes run the turns.

Python runs one thread at a time per process, so hundreds of turns in the process that
answers Slack would make every ack wait behind them. `agentdesk serve` therefore starts
`WORKER_PROCESSES` children (`agentdesk work --from-parent`) that claim stored requests and
turns from the database (the queue is safe across processes), and wakes them through their
standard input when it stores something: one byte per wake-up, never blocking the ack.

A child stops (handing its running work back) when its standard input closes, so it never
outlives the process that started it, even one killed with SIGKILL. A child that dies is
started again, after a pause that grows while it keeps dying.
"""

import atexit
import contextlib
import logging
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
READY_FD_ENV = "AGENTDESK_READY_FD"  # a child writes to this descriptor once it claims work
START_SECONDS = 60.0
CHILD_COMMAND = (sys.executable, "-m", "bot", "work", "--from-parent")
FIRST_RESTART_DELAY = 1.0
LONGEST_RESTART_DELAY = 30.0
STEADY_SECONDS = 60.0  # a child that ran this long starts again without waiting


@dataclass
class _Child:
    slot: int
    process: subprocess.Popen[bytes] | None = None
    ready: int | None = None  # the read end of the child's "ready" pipe, until it reports
    started_at: float = 0.0
    delay: float = FIRST_RESTART_DELAY
    restart_at: float = 0.0


class WorkerProcesses:
    """Starts, wakes, watches and stops the worker processes of one `agentdesk serve`."""

    def __init__(
        self, count: int, *, command: Sequence[str] = CHILD_COMMAND, watch_seconds: float = 0.5
    ) -> None:
        self.command = list(command)
        self.watch_seconds = watch_seconds
        self._children = [_Child(slot) for slot in range(count)]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watcher = threading.Thread(
            target=self._watch, name="agentdesk-worker-processes", daemon=True
        )

    def start(self, timeout: float = START_SECONDS) -> "WorkerProcesses":
        """Start every child, wait until each claims work (or `timeout` passes), and start
        the thread that restarts those that die."""
        with self._lock:
            for child in self._children:
                self._spawn(child)
        self._wait_ready(timeout)
        self._watcher.start()
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        waiting = {child.ready: child for child in self._children if child.ready is not None}
        while waiting and (left := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select(list(waiting), [], [], left)
            for fd in readable:
                os.close(fd)
                waiting.pop(fd).ready = None
        for fd, child in waiting.items():
            os.close(fd)
            child.ready = None
            log.warning("worker process %d is not ready after %.0f s", child.slot + 1, timeout)

    def wake(self) -> None:
        """Something was stored: wake every child (the first to claim it takes it)."""
        with self._lock:
            processes = [child.process for child in self._children if child.process]
        for process in processes:
            stdin = process.stdin
            if stdin is None or stdin.closed:
                continue
            # A full pipe holds wake-ups enough; a dead child is started again by the watcher.
            with contextlib.suppress(OSError):
                os.write(stdin.fileno(), b"\n")

    def alive(self) -> int:
        """How many children are running now."""
        with self._lock:
            return sum(
                1 for child in self._children if child.process and child.process.poll() is None
            )

    @property
    def count(self) -> int:
        """How many children this process keeps running."""
        return len(self._children)

    def stop(self, timeout: float = 15.0) -> None:
        """Close every child's input (each hands its running work back and exits), wait for
        them, and kill those still running after `timeout` seconds."""
        self._stopping.set()
        with self._lock:
            processes = [child.process for child in self._children if child.process]
        for process in processes:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("worker process (pid %d) did not stop in time; killed", process.pid)
                process.kill()
                process.wait()
        if self._watcher.is_alive():
            self._watcher.join(timeout=2)

    def _spawn(self, child: _Child) -> None:
        ready, report = os.pipe()
        try:
            process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                self.command,
                stdin=subprocess.PIPE,
                pass_fds=(report,),
                env={**os.environ, READY_FD_ENV: str(report)},
            )
        except OSError:
            os.close(ready)
            raise
        finally:
            os.close(report)
        assert process.stdin is not None
        os.set_blocking(process.stdin.fileno(), False)
        child.process = process
        if self._watcher.is_alive():  # a restart: nobody waits for it to report
            os.close(ready)
        else:
            child.ready = ready
        child.started_at = time.monotonic()
        log.info("worker process %d started (pid %d)", child.slot + 1, process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(self.watch_seconds):
            with self._lock:
                for child in self._children:
                    self._look_after(child)

    def _look_after(self, child: _Child) -> None:
        """Restart a dead child, waiting longer each time it dies soon after starting."""
        process = child.process
        now = time.monotonic()
        if (process is not None and process.poll() is None) or self._stopping.is_set():
            return  # running, or stopping with the rest (a shutdown is no crash)
        if process is not None:
            if now - child.started_at >= STEADY_SECONDS:
                child.delay = FIRST_RESTART_DELAY
            child.restart_at = now + child.delay
            if process.returncode == 0:  # told to stop (SIGTERM): the parent likely is too
                log.info("worker process %d (pid %d) stopped", child.slot + 1, process.pid)
            else:
                log.error(
                    "worker process %d (pid %d) exited with status %s; starting it again in %.0f s",
                    child.slot + 1,
                    process.pid,
                    process.returncode,
                    child.delay,
                )
            child.delay = min(LONGEST_RESTART_DELAY, child.delay * 2)
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
            child.process = None
        if now >= child.restart_at and not self._stopping.is_set():
            try:
                self._spawn(child)
            except OSError:
                log.exception("could not start worker process %d", child.slot + 1)
                child.restart_at = now + child.delay


def report_ready() -> None:
    """In a child: tell the parent this process is claiming work."""
    fd = os.environ.pop(READY_FD_ENV, None)
    if fd is None:
        return
    with contextlib.suppress(OSError):
        os.write(int(fd), b"ready")
        os.close(int(fd))


def share_metrics_between_processes() -> None:
    """Make Prometheus metrics add up across this process and the children it starts
    (prometheus_client's multiprocess mode, in a directory removed at exit), unless the
    operator chose a directory already. Call before anything imports prometheus_client."""
    if os.environ.get(METRICS_DIR_ENV):
        return
    directory = tempfile.mkdtemp(prefix="agentdesk-metrics-")
    os.environ[METRICS_DIR_ENV] = directory
    atexit.register(shutil.rmtree, directory, ignore_errors=True)


def read_wakeups(
    on_wake: Callable[[], None], on_parent_gone: Callable[[], None]
) -> threading.Thread:
    """In a child: call `on_wake` for every wake-up on standard input, and `on_parent_gone`
    once it closes (the parent stopped or died). Returns the started reading thread."""

    def read() -> None:
        fd = sys.stdin.fileno()
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:
                data = b""
            if not data:
                on_parent_gone()
                return
            on_wake()

    thread = threading.Thread(target=read, name="agentdesk-wakeups", daemon=True)
    thread.start()
    return thread
