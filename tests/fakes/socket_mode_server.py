"""A fake of Slack's Socket Mode: a websocket on loopback that sends envelopes and takes acks.

Attach it to a `FakeSlack`: `apps.connections.open` then hands out its `ws://` URL, as Slack
hands out a `wss://` one. Each envelope is `{"envelope_id", "type", "payload",
"accepts_response_payload"}`; the app must answer `{"envelope_id": …}` to ack it.
"""

import json
import threading
import time
import uuid
from typing import Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from tests.fakes.loopback import BackgroundServer
from tests.fakes.slack_server import FakeSlack


class FakeSocketMode(BackgroundServer[Server]):
    """Slack's side of Socket Mode connections."""

    def __init__(self, slack: FakeSlack) -> None:
        super().__init__()
        self.slack = slack
        self.acks: dict[str, dict[str, Any]] = {}
        self._connections: list[ServerConnection] = []
        self._lock = threading.Lock()

    def start(self) -> Self:
        """Listen on 127.0.0.1 and point the fake Web API's `apps.connections.open` at it."""
        super().start()
        self.slack.socket_mode_url = f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4().hex}"
        return self

    def stop(self) -> None:
        """Close every connection and stop listening."""
        super().stop()
        self.slack.socket_mode_url = None

    def wait_connected(self, timeout: float = 15.0) -> None:
        """Wait until an app has connected."""
        self._wait(lambda: bool(self._connections), timeout, "a Socket Mode connection")

    def send_event(self, envelope: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
        """Send an Events API envelope to the connected app and wait for its ack."""
        envelope_id = str(uuid.uuid4())
        message = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": envelope,
            "accepts_response_payload": False,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._lock:
            connection = self._connections[-1]
        connection.send(json.dumps(message))
        self._wait(lambda: envelope_id in self.acks, timeout, f"the ack of {envelope_id}")
        return self.acks[envelope_id]

    def _listen(self) -> Server:
        return serve(self._handle, "127.0.0.1", 0)

    def _close(self, server: Server) -> None:
        server.shutdown()

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
        connection.send(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": 1,
                    "debug_info": {"host": "fake-socket-mode"},
                    "connection_info": {"app_id": self.slack.app_id},
                }
            )
        )
        try:
            for raw in connection:
                data = json.loads(raw)
                if isinstance(data, dict) and data.get("envelope_id"):
                    self.acks[str(data["envelope_id"])] = data
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.remove(connection)

    @staticmethod
    def _wait(check: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.02)
