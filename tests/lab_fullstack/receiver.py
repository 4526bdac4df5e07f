"""A webhook receiver on this machine for the full-stack test: records each POST with the moment it arrived."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Request:
    """One POST the receiver took: when (time.monotonic()), its headers and raw body."""

    at: float
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """An HTTP server on 127.0.0.1 that answers every POST with 200 and keeps it in `received`."""

    def __init__(self) -> None:
        self.received: list[Request] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(Request(time.monotonic(), dict(self.headers), body))
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/lvsweb"

    def of_kind(self, kind: str) -> list[Request]:
        """The requests whose X-Lvsweb-Event header is KIND (problem, resolved, notice, test)."""
        return [request for request in self.received if request.headers.get("X-Lvsweb-Event") == kind]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
