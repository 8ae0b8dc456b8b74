"""A child process whose output is read line by line, killed when its time is up."""

import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class BoundedRun:
    """The child's stdout lines while it runs; afterwards, how it ended."""

    lines: Iterator[bytes]
    timed_out: bool = False
    returncode: int | None = None
    stderr: str = field(default="")


@contextmanager
def bounded_lines(
    *, command: Sequence[str], cwd: Path, timeout: float, stdin: bytes | None = None
) -> Iterator[BoundedRun]:
    """Run `command` with a hard time limit; leaving the block early kills the child.

    OSError when it cannot start.
    """
    # The command is a list run without a shell; its arguments are never interpreted.
    process = subprocess.Popen(  # noqa: S603
        list(command),
        cwd=cwd,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    run = BoundedRun(lines=iter(process.stdout))
    expired = threading.Event()

    def stop() -> None:
        expired.set()
        process.kill()

    timer = threading.Timer(timeout, stop)
    timer.start()
    try:
        if stdin is not None and process.stdin is not None:
            try:
                process.stdin.write(stdin)
                process.stdin.close()
            except BrokenPipeError:  # it ended (or was killed) before reading everything
                pass
        yield run
    finally:
        timer.cancel()
        if process.poll() is None:
            process.kill()
        stderr = process.stderr.read() if process.stderr is not None else b""
        for stream in (process.stdin, process.stdout, process.stderr):
            if stream is not None and not stream.closed:
                stream.close()
        process.wait()
        run.timed_out = expired.is_set()
        run.returncode = process.returncode
        run.stderr = stderr.decode("utf-8", "replace")
