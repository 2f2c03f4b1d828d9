"""A git host on loopback: bare repositories served over smart HTTP by git's own
`git http-backend` (as CGI), each request refused without the token (HTTP Basic, as GitHub
takes one), for the tests and the benchmarks of the deliveries.

`before_push` runs once before the next push is received: a test makes someone else commit
there, so that the push finds the branch moved on.
"""

from __future__ import annotations

import base64
import os
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bibia.emulators.loopback import Served

HTTP_BACKEND = "http-backend"


class GitHost(Served):
    """Bare repositories under `root`, served at `url`/NAME.git; `token` required."""

    def __init__(self, root: Path, token: str) -> None:
        self.root = root
        self.token = token
        self.before_push: Callable[[], None] | None = None
        self.pushes = 0  # receive-pack requests answered
        self.refused = 0  # requests without the token
        self._lock = threading.Lock()

    def bare(self, name: str, branch: str = "main") -> Path:
        """A new bare repository `name`.git whose default branch is `branch`."""
        path = self.root / f"{name}.git"
        subprocess.run(
            ["git", "init", "-q", "--bare", f"--initial-branch={branch}", str(path)], check=True
        )
        subprocess.run(["git", "-C", str(path), "config", "http.receivepack", "true"], check=True)
        return path

    def take_before_push(self) -> Callable[[], None] | None:
        with self._lock:
            hook, self.before_push = self.before_push, None
            return hook

    def handler(self) -> type[BaseHTTPRequestHandler]:
        return type("Handler", (_Handler,), {"host": self})


class _Handler(BaseHTTPRequestHandler):
    host: GitHost
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _authorised(self) -> bool:
        given = self.headers.get("Authorization", "")
        if given.startswith("Basic "):
            try:
                _user, _, password = base64.b64decode(given[6:]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                return False
            return password == self.host.token
        return False

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _cgi(self, method: str) -> None:
        if not self._authorised():
            self.host.refused += 1
            body = b"token required"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        address = urlsplit(self.path)
        body = self._body() if method == "POST" else b""
        if method == "POST" and address.path.endswith("/git-receive-pack"):
            hook = self.host.take_before_push()
            if hook is not None:
                hook()
            self.host.pushes += 1
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.host.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": address.path,
            "QUERY_STRING": address.query,
            "REQUEST_METHOD": method,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "bibia",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
        }
        done = subprocess.run(["git", HTTP_BACKEND], input=body, env=env, capture_output=True)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _ and b"\n\n" in done.stdout:
            head, _, payload = done.stdout.partition(b"\n\n")
        status, headers = 200, []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def do_GET(self) -> None:
        self._cgi("GET")

    def do_POST(self) -> None:
        self._cgi("POST")
