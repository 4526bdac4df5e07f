"""A real webhook receiver for the tests (the alert tests, the full-stack alert stage): an HTTP server on 127.0.0.1
that records every POST with the moment it arrived and answers with `statuses` in turn (then 200)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    """One POST the receiver took: when (time.monotonic()), its path, headers and raw body."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Call `start()`, send to `url`, read `received`; a 3xx in `statuses` redirects to another host."""

    statuses: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Received(time.monotonic(), self.path, dict(self.headers), body))
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://192.0.2.1/elsewhere")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"not now")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lvsweb"

    def of_kind(self, kind: str) -> list[Received]:
        """The requests whose X-Lvsweb-Event header is KIND (problem, resolved, notice, test)."""
        return [request for request in self.received if request.headers.get("X-Lvsweb-Event") == kind]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
