"""The only way out of a set-up step's sandbox: an HTTP CONNECT proxy on a unix socket that
reaches the package registries and nothing else.

The sandbox has a network namespace of its own (loopback only); `socat` inside it forwards a
loopback port to this socket, and the step's `HTTPS_PROXY` points at that port. A request for
any other host is refused with 403 and logged, so people can see what a step tried to reach.
"""

import functools
import logging
import os
import select
import shutil
import socket
import socketserver
import subprocess
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

log = logging.getLogger(__name__)

_PORTS = frozenset({443, 80})
SANDBOX_PATH = "/usr/local/bin:/usr/bin:/bin"  # a set-up step's PATH
_HEAD_LIMIT = 16 * 1024
_IDLE_SECONDS = 120.0


def registry_hosts(extra: Iterable[str] = ()) -> frozenset[str]:
    """The hosts installing needs: the indexes this machine's pip and npm are configured to use
    (pip's own default index and its file host included), and `extra` (IMPLEMENT_SETUP_HOSTS)."""
    return _configured_registries() | {host.strip().lower() for host in extra if host.strip()}


@functools.cache
def _configured_registries() -> frozenset[str]:
    """Asked of pip and npm once a process (three commands, about a second)."""
    hosts = set(_pip_default_hosts())
    for url in [*_pip_index_urls(), _npm_registry()]:
        host = urlsplit(url).hostname if url else None
        if host and urlsplit(url).scheme in ("http", "https"):
            hosts.add(host.lower())
    return frozenset(hosts)


def _pip_default_hosts() -> list[str]:
    """pip's default index and its file host, as the sandbox's own pip names them."""
    names = (
        "from pip._internal.models.index import PyPI; print(PyPI.netloc, PyPI.file_storage_domain)"
    )
    return _output([_sandbox_python(), "-c", names]).split()


def _pip_index_urls() -> list[str]:
    urls = [os.environ.get("PIP_INDEX_URL", ""), *os.environ.get("PIP_EXTRA_INDEX_URL", "").split()]
    for line in _output([_sandbox_python(), "-m", "pip", "config", "list"]).splitlines():
        key, _, value = line.partition("=")
        if key.endswith(("index-url", "extra-index-url")):
            urls += value.strip("'\" ").split()
    return [url for url in urls if url]


def _npm_registry() -> str:
    return _output(["npm", "config", "get", "registry"]).strip()


def _sandbox_python() -> str:
    return shutil.which("python3", path=SANDBOX_PATH) or "python3"


def _output(argv: list[str]) -> str:
    """What a command prints (nothing when it is missing or fails)."""
    try:
        return subprocess.run(  # noqa: S603
            argv, capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


class _Handler(socketserver.BaseRequestHandler):
    server: "_ProxyServer"

    def handle(self) -> None:
        client: socket.socket = self.request
        client.settimeout(_IDLE_SECONDS)
        head = b""
        while b"\r\n\r\n" not in head and len(head) < _HEAD_LIMIT:
            chunk = client.recv(4096)
            if not chunk:
                return
            head += chunk
        request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
        method, _, rest = request_line.partition(" ")
        target = rest.split(" ", 1)[0]
        host, _, port_text = target.rpartition(":")
        if method != "CONNECT" or not port_text.isdigit():
            self._refuse(client, f"{method} {target}", "only CONNECT to a registry is allowed")
            return
        host, port = host.strip("[]").lower(), int(port_text)
        if host not in self.server.allowed or port not in _PORTS:
            self._refuse(client, target, "not a package registry this step may reach")
            return
        try:
            upstream = socket.create_connection((host, port), timeout=30)
        except OSError as error:
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\n\r\n")
            log.info("set-up step: could not reach %s: %s", target, error)
            return
        with upstream:
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            _pipe(client, upstream)

    def _refuse(self, client: socket.socket, target: str, why: str) -> None:
        self.server.refused.append(target)
        log.info("set-up step: refused %s (%s)", target, why)
        client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        ready, _, _ = select.select(sockets, [], [], _IDLE_SECONDS)
        if not ready:
            return
        for source in ready:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)


class _ProxyServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, path: str, allowed: frozenset[str]) -> None:
        super().__init__(path, _Handler)
        self.allowed = allowed
        self.refused: list[str] = []


@contextmanager
def egress_proxy(socket_path: Path, allowed: frozenset[str]) -> Iterator[list[str]]:
    """Serve the proxy on `socket_path` while the block runs; yields the refused targets."""
    server = _ProxyServer(str(socket_path), allowed)
    thread = threading.Thread(target=server.serve_forever, name="agentdesk-egress", daemon=True)
    thread.start()
    try:
        yield server.refused
    finally:
        server.shutdown()
        server.server_close()
        socket_path.unlink(missing_ok=True)
