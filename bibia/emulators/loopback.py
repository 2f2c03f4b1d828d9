"""A small JSON server on loopback, the base of bibia's emulators of outside services.

It records every request, can answer slowly, and can be told to misbehave on the next requests
(an HTTP status with or without `Retry-After`, a dropped connection, a body that is not JSON).
Subclasses answer the rest in `respond`.
"""

from __future__ import annotations

import functools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Answer = tuple[int, Any, dict[str, str]]  # status, JSON payload, extra headers
# How often the serving loop looks whether `stop` was asked: `shutdown` waits for it (the
# standard library's half a second made each test's emulator take 0.3 s to stop)
POLL_SECONDS = 0.02


@dataclass
class Fault:
    """What to answer instead of the real thing, for one request."""

    status: int | None = None  # 429, 500, 503...
    retry_after: str | None = None
    drop: bool = False  # close the connection without answering
    garbage: bool = False  # 200 with a body that is not JSON
    trickle_seconds: float = 0.0  # the answer's body sent a byte at a time, this far apart
    short_body: bool = False  # a Content-Length longer than the body, then the connection closed
    path_contains: str = ""  # only requests whose path contains this


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    had_auth: bool
    tally_version: str | None


class Served:
    """A server of the emulators: a `ThreadingHTTPServer` on loopback, answering in daemon
    threads; `start`, `stop`, or `with`. A subclass says which handler answers (`handler`)."""

    _server: ThreadingHTTPServer | None = None

    def handler(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self.handler())
        self._server.daemon_threads = True
        serve = functools.partial(self._server.serve_forever, poll_interval=POLL_SECONDS)
        threading.Thread(target=serve, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Self:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LoopbackServer(Served):
    def __init__(self, delay_seconds: float = 0.0) -> None:
        self.delay_seconds = delay_seconds  # latency of every answer, to make runs overlap
        self.faults: deque[Fault] = deque()
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"server_state": self})

    def queue(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.path_contains in path:
                    del self.faults[i]
                    return fault
        return None

    def respond(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        raise NotImplementedError


class _Handler(BaseHTTPRequestHandler):
    server_state: LoopbackServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(
        self, status: int, body: bytes, headers: dict[str, str], fault: Fault | None = None
    ) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        short = fault is not None and fault.short_body
        self.send_header("Content-Length", str(len(body) + (1000 if short else 0)))
        self.end_headers()
        if fault is not None and fault.trickle_seconds:
            try:
                for i in range(len(body)):
                    self.wfile.write(body[i : i + 1])
                    self.wfile.flush()
                    time.sleep(fault.trickle_seconds)
            except OSError:  # the client gave up
                pass
            return
        self.wfile.write(body)
        if short:
            self.wfile.flush()
            self.close_connection = True

    def do_GET(self) -> None:
        state = self.server_state
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        state.seen.append(
            Seen("GET", split.path, query, "authorization" in headers, headers.get("tally-version"))
        )
        if state.delay_seconds:
            time.sleep(state.delay_seconds)
        fault = state.take_fault(split.path)
        if fault is not None and fault.drop:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if fault is not None and fault.garbage:
            self._send(200, b"<html><body>Bad gateway</body></html>", {"Content-Type": "text/html"})
            return
        if fault is not None and (fault.status or fault.retry_after):
            status, payload = fault.status or 500, {"message": "injected fault"}
            extra = {"Retry-After": fault.retry_after} if fault.retry_after else {}
        else:
            status, payload, extra = state.respond(split.path, query, headers)
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._send(status, body, {"Content-Type": "application/json", **extra}, fault)
