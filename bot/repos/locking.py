"""Readers-writer locks: tool calls read a mirror together, a sync moves it alone.

Between threads a condition does it; between processes (several workers share one cache
folder) an advisory `flock` on a lock file beside the mirror: shared while any thread of
the process reads, exclusive while one writes. The kernel drops it when a process dies.
"""

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ReadWriteLock:
    """Many readers or one writer, in this process and, with a lock file, in every process.

    A waiting writer holds back new readers of its own process.
    """

    def __init__(self, *, lock_file: Path | None = None) -> None:
        self._condition = threading.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._lock_file = lock_file
        self._fd: int | None = None

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold the lock shared for the block."""
        with self._condition:
            self._condition.wait_for(lambda: not self._writing and not self._writers_waiting)
            if self._readers == 0:
                self._flock(fcntl.LOCK_SH)  # the first reader takes it for the process
            self._readers += 1
        try:
            yield
        finally:
            with self._condition:
                self._readers -= 1
                if self._readers == 0:
                    self._flock(fcntl.LOCK_UN)
                self._condition.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the lock exclusively for the block."""
        with self._condition:
            self._writers_waiting += 1
            try:
                self._condition.wait_for(lambda: not self._writing and not self._readers)
                self._flock(fcntl.LOCK_EX)
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            with self._condition:
                self._flock(fcntl.LOCK_UN)
                self._writing = False
                self._condition.notify_all()

    def _flock(self, operation: int) -> None:
        if self._lock_file is None:
            return
        if self._fd is None:
            self._lock_file.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
            self._fd = os.open(self._lock_file, flags, 0o600)
        fcntl.flock(self._fd, operation)


@contextmanager
def exclusive_across_processes(*, lock: threading.Lock, lock_file: Path | None) -> Iterator[None]:
    """Hold a thread lock and, with a lock file, an exclusive `flock` on it for the block."""
    with lock:
        if lock_file is None:
            yield
            return
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(lock_file, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the flock
