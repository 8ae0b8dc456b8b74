"""Who holds a lease: `host:pid:nonce`, and whether that process is known to be dead."""

import os
import socket
import uuid


def process_id() -> str:
    """A fresh holder name for this process (unique even when a pid is reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def is_dead(holder: str, *, me: str) -> bool:
    """True when `holder` is a process of this host that no longer runs.

    Holders on other hosts are never known dead here: their short leases run out instead.
    A holder with this process's own pid but another nonce is an earlier life of a process
    restarted under the same pid (pid 1 in a container restarted in place).
    """
    host, _, rest = holder.partition(":")
    pid_text, _, _nonce = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit() or holder == me:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """A killed child that nobody reaped yet still answers kill(0); /proc says it is dead."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # noqa: PTH123
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False
