"""Loopback web servers for the browser tests: a static host serving a built site as any
static host would, and a server of images standing in for the map's tiles and for the storage
that holds contributors' logos (the real ones are on the internet, which tests never reach)."""

from __future__ import annotations

import functools
import socket
import struct
import threading
import zlib
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bibia.emulators.loopback import POLL_SECONDS

LOGO = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
    b'<rect width="64" height="64" rx="10" fill="#e3ebf7"/>'
    b'<path d="M14 50V26l18-12 18 12v24H38V36H26v14z" fill="#0b4f9c"/></svg>'
)


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A plain PNG of one colour."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


TILE = png(256, 256, (236, 239, 243))


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """A missing address gets the site's own `404.html`, as GitHub Pages serves it."""
        page = Path(self.directory) / "404.html"
        if code != 404 or not page.is_file():
            super().send_error(code, message, explain)
            return
        body = page.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Images(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body, kind = (TILE, "image/png") if "/tiles/" in self.path else (LOGO, "image/svg+xml")
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Server:
    def __init__(self, handler: type[BaseHTTPRequestHandler] | functools.partial[object]) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
        self._server.daemon_threads = True
        serve = functools.partial(self._server.serve_forever, poll_interval=POLL_SECONDS)
        threading.Thread(target=serve, daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def free_port() -> int:
    """A port nothing listens on now (the kernel's choice), for a server started later."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def static_host(folder: Path) -> Server:
    """Serves `folder` as it is, as GitHub Pages or any static host would."""
    return Server(functools.partial(_Quiet, directory=str(folder)))


def image_host() -> tuple[Server, list[str]]:
    """Serves a tile for any path under `/tiles/`, a logo for any other; and the paths asked."""
    seen: list[str] = []
    handler = type("Images", (_Images,), {"seen": seen})
    return Server(handler), seen
