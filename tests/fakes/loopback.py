"""The plumbing the loopback fakes share: a server on 127.0.0.1 (OS-chosen port) serving in a
daemon thread, started and stopped by the test or used as a context manager.

* `BackgroundServer`: the lifecycle (`start`, `stop`, ``with``) and `port`, for any server
  that can ``serve_forever`` in a thread (the HTTP fakes' and Socket Mode's websocket one).
* `LoopbackServer`: an HTTP fake's base; it hands every request to the fake's `_handle`.
* `LoopbackHandler`: what `_handle` gets, with helpers to read the body and write JSON.

A fake keeps to itself what makes it the fake it is: its routes, state and wire details.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar
from urllib.parse import parse_qs, urlsplit


class Serving(Protocol):
    """A server bound to its socket that serves until `shutdown`, as `socketserver`'s do."""

    @property
    def socket(self) -> socket.socket: ...

    def serve_forever(self) -> None: ...


ServerT = TypeVar("ServerT", bound=Serving)


class BackgroundServer(Generic[ServerT]):
    """A server serving in a daemon thread: call `start` and `stop`, or use it in ``with``.

    A subclass says how to bind its server (`_listen`) and how to close it (`_close`).
    """

    def __init__(self) -> None:
        self._server: ServerT | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        """Start serving in a background thread (a no-op while serving); returns ``self``."""
        if self._server is not None:
            return self
        self._server = self._listen()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port (a no-op when stopped)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            self._close(server)
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The port the server listens on (only while started)."""
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running; call start() first")
        return int(self._server.socket.getsockname()[1])

    def _listen(self) -> ServerT:
        """A server bound to its port, not serving yet."""
        raise NotImplementedError

    def _close(self, server: ServerT) -> None:
        """Make `server` stop serving and close its socket."""
        raise NotImplementedError


class _HTTPServer(ThreadingHTTPServer):
    """The HTTP server; it hands every request to its fake."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], handler: type[LoopbackHandler], fake: LoopbackServer
    ) -> None:
        super().__init__(address, handler)
        self.fake = fake

    def serve_forever(self, poll_interval: float = 0.05) -> None:
        """Serve, checking for `shutdown` every 50 ms so that `stop` returns quickly."""
        super().serve_forever(poll_interval)


class LoopbackHandler(BaseHTTPRequestHandler):
    """One request to an HTTP fake: hands it to the fake's `_handle`, quietly.

    A method the fake does not list in `LoopbackServer.http_methods` gets 501, as from
    `BaseHTTPRequestHandler`. A fake that needs another protocol version, `Server` header or
    timeout, or more helpers, subclasses this and names it in `LoopbackServer.handler_class`.
    """

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # write headers and body without waiting for delayed ACKs
    server: _HTTPServer

    def setup(self) -> None:
        """Register the connection, so that the fake can drop it (`_drop_connections`)."""
        super().setup()
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        """Unregister the connection; a client that went away early is no error."""
        with contextlib.suppress(OSError):
            super().finish()
        self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep test output quiet."""

    def do_GET(self) -> None:
        """Hand the request, whatever its method, to the fake if the fake answers that method."""
        if self.command not in self.server.fake.http_methods:
            self.send_error(HTTPStatus.NOT_IMPLEMENTED, f"Unsupported method ({self.command!r})")
            return
        self.server.fake._handle(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET  # noqa: N815

    def read_body(self) -> bytes:
        """The request's body, as many bytes as its ``content-length`` says."""
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def path_and_query(self) -> tuple[str, dict[str, list[str]]]:
        """The request's path as sent (still URL-encoded) and its parsed query."""
        parts = urlsplit(self.path)
        return parts.path, parse_qs(parts.query)

    def send_body(self, status: int, data: bytes, headers: Mapping[str, str]) -> None:
        """Answer with `status`, `headers`, then the content length, and `data`."""
        self._send(status, [*headers.items(), ("Content-Length", str(len(data)))], data)

    def send_json(
        self,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
    ) -> None:
        """Answer with `payload` as JSON: the content type and length, then `headers`."""
        data = json.dumps(payload).encode()
        first = [("content-type", content_type), ("content-length", str(len(data)))]
        self._send(status, [*first, *(headers or {}).items()], data)

    def _send(self, status: int, headers: Iterable[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class LoopbackServer(BackgroundServer[_HTTPServer]):
    """The base of an HTTP fake: a `ThreadingHTTPServer` on `host` (127.0.0.1) whose requests
    go to `_handle`, one thread each."""

    handler_class: ClassVar[type[LoopbackHandler]] = LoopbackHandler
    http_methods: ClassVar[frozenset[str]] = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__()
        self.host = host
        self._requested_port = port
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` (no trailing slash), while running."""
        return f"http://{self.host}:{self.port}"

    def _handle(self, request: LoopbackHandler) -> None:
        """Answer one request (in the server's thread for it)."""
        raise NotImplementedError

    def _drop_connections(self) -> None:
        """Shut down the connections still open (keep-alive or streaming ones)."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._connections_lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _listen(self) -> _HTTPServer:
        return _HTTPServer((self.host, self._requested_port), self.handler_class, self)

    def _close(self, server: _HTTPServer) -> None:
        server.shutdown()
        server.server_close()
