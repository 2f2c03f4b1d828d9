"""`bibia webhook`: Tally's signed webhook, received on a standard-library HTTP server.

Each request is checked (POST, JSON, a size bound, the `Tally-Signature` over the raw bytes in
constant time), then the event is read exactly as a run will land it (`landable_event`: the
same parser, the same limits): what a run could not land is refused at the door with a 4xx and
nothing is stored. An accepted event is stored in the spool, a folder the next run reads,
atomically and once per `eventId`, and answered at once: the receiver never waits on the
warehouse. A runner thread then asks for a run (a deployment run when a Prefect server is
configured, a local `bibia sync` otherwise), one for a burst of events, never two at once (and
the writer's lock keeps it from overlapping a scheduled run); at start, it asks for one when
events wait in the spool.

The server bounds what a client can hold: a whole request must arrive within
BIBIA_WEBHOOK_REQUEST_SECONDS, and at most BIBIA_WEBHOOK_MAX_CONNECTIONS are served at once
(one more is answered 503 at once).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import hmac
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bibia.settings import Settings
from schemas.errors import ConfigError, Unlandable
from schemas.records import RawRow, Received
from schemas.text import printable

log = logging.getLogger("bibia.webhook")

# the spool's folders: to land; landed (kept, as sent, for a bounded time); set aside (a run
# could not land them: the warehouse's `set_aside` says why)
PENDING, LANDED, SET_ASIDE = "pending", "landed", "set_aside"
OWN_FOLDER = "bibia-webhook"  # made inside a spool folder that bibia did not make
TRIGGERED_LOCK_WAIT = 900  # s a triggered run waits for a running one (a scheduled sync)


# -- the spool -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spool:
    """Events received, one file each, named after their `eventId`: `pending/` until a run has
    landed them (and committed), then `landed/`, or `set_aside/` when a run could not.

    `at(folder)` is where bibia keeps them under BIBIA_WEBHOOK_SPOOL: that folder itself when
    bibia made it (or it does not exist yet), else an owner-only folder of bibia's inside it:
    the mode of a folder bibia did not make is never changed."""

    folder: Path

    @classmethod
    def at(cls, configured: Path) -> Spool:
        if not configured.exists() or (configured / PENDING).is_dir():
            return cls(configured)
        return cls(configured / OWN_FOLDER)

    def prepare(self) -> Spool:
        """Make the folders, owner-only (the events hold contact e-mails)."""
        made = not self.folder.exists()
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if made:
            self.folder.chmod(0o700)  # whatever the umask
        for name in (PENDING, LANDED, SET_ASIDE):
            (self.folder / name).mkdir(mode=0o700, exist_ok=True)
        return self

    @staticmethod
    def name_of(event_id: str) -> str:
        return hashlib.sha256(event_id.encode()).hexdigest()[:40] + ".json"

    def store(self, event_id: str, body: bytes) -> bool:
        """Keep one event, atomically (written aside, then linked in place); False when an
        event of this id is kept already (a replay). An `OSError` (a full or unwritable spool)
        leaves no file behind."""
        name = self.name_of(event_id)
        if (self.folder / LANDED / name).exists():
            return False
        final = self.folder / PENDING / name
        temporary = self.folder / PENDING / f".{name}.{os.getpid()}.{threading.get_ident()}"
        try:
            handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(body)
                while view:
                    view = view[os.write(handle, view) :]
                os.fsync(handle)
            finally:
                os.close(handle)
            try:
                os.link(temporary, final)  # fails if it exists: two deliveries at once, one kept
                return True
            except FileExistsError:
                return False
        finally:
            with contextlib.suppress(OSError):
                os.unlink(temporary)

    def pending(self) -> list[Path]:
        folder = self.folder / PENDING
        if not folder.exists():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix == ".json")

    def landed(self, paths: list[Path], keep_days: float) -> None:
        """After the commit: these events are in the warehouse. Landed events older than
        `keep_days` are removed (the warehouse holds what they said)."""
        self._move(paths, LANDED)
        horizon = time.time() - keep_days * 86_400
        for path in (self.folder / LANDED).glob("*.json"):
            try:
                if path.stat().st_mtime < horizon:
                    path.unlink()
            except OSError:
                continue

    def set_aside(self, paths: list[Path]) -> None:
        """After the commit: these events could not be landed (the warehouse says why)."""
        self._move(paths, SET_ASIDE)

    def _move(self, paths: list[Path], into: str) -> None:
        (self.folder / into).mkdir(mode=0o700, exist_ok=True)
        for path in paths:
            try:
                os.replace(path, self.folder / into / path.name)
            except FileNotFoundError:
                continue

    def last_received(self) -> float | None:
        stamps = [
            p.stat().st_mtime
            for name in (PENDING, LANDED, SET_ASIDE)
            if (self.folder / name).exists()
            for p in (self.folder / name).iterdir()
            if p.suffix == ".json"
        ]
        return max(stamps) if stamps else None


def landable_event(body: bytes, form_id: str | None) -> tuple[str, RawRow]:
    """(event id, the submission as a run lands it) of an event's raw bytes, read exactly as
    the landing reads them; `Unlandable` (or its `EventError`, `NotForThisForm`) otherwise."""
    from transforms.webhook import EventError, submission_of_event  # `status` stays light
    from warehouse.raw import parse, raw_row_of

    event = parse(body)
    submission = submission_of_event(event, form_id)
    event_id = event.get("eventId")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 200:
        raise EventError("pas d'`eventId` lisible")
    return event_id, raw_row_of(submission)


@dataclass
class SpoolRead:
    """What a run read of the spool: events to land, events set aside (with why), and future
    ones left waiting until their date."""

    rows: list[tuple[Path, RawRow]]
    aside: list[tuple[Path, Received]]
    future: list[tuple[Path, RawRow]]


def read_events(paths: list[Path], form_id: str | None, now: datetime) -> SpoolRead:
    """The spool's events as submissions in the API's shape. One that cannot be landed is set
    aside with its reason; one dated past `now` waits (as polling waits for it); a file that
    cannot be read (permissions) stays where it is, with a warning."""
    from bibia.extract import FUTURE_TOLERANCE
    from warehouse.raw import RECEIVED_CHARS, printable_id

    out = SpoolRead([], [], [])
    for path in paths:
        try:
            body = path.read_bytes()
        except OSError as exc:
            log.warning("événement %s illisible, laissé en attente : %s", path.name, exc.strerror)
            continue
        try:
            _event_id, row = landable_event(body, form_id)
        except Unlandable as exc:
            text = body.decode("utf-8", "backslashreplace")[:RECEIVED_CHARS]
            sid = _submission_named(body)
            out.aside.append(
                (path, Received("webhook", printable_id(sid), str(exc), text, path.name))
            )
            continue
        if row.submitted_at > now + FUTURE_TOLERANCE:
            out.future.append((path, row))
        else:
            out.rows.append((path, row))
    return out


def _submission_named(body: bytes) -> Any:
    try:
        data = json.loads(body).get("data") or {}
        return data.get("submissionId") or data.get("responseId")
    except (ValueError, RecursionError, AttributeError):
        return None


# -- the receiver --------------------------------------------------------------------------------
def signature(secret: str, body: bytes) -> str:
    """What Tally sends in `Tally-Signature`: base64 of HMAC-SHA256(secret, raw body)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class _Server(ThreadingHTTPServer):
    """A threading server that serves at most `connections` at once (more: 503 at once)."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], handler: type, family: int, connections: int
    ) -> None:
        self.address_family = family
        self.slots = threading.BoundedSemaphore(connections)
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(
                    b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                    b"Retry-After: 5\r\nConnection: close\r\n\r\n"
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Receiver:
    def __init__(self, settings: Settings, runner: Runner | None) -> None:
        if not settings.webhook_secret:
            raise ConfigError(
                "TALLY_WEBHOOK_SECRET doit être défini pour `bibia webhook` (le secret de "
                "signature montré dans les réglages du webhook de Tally) : un événement non "
                "signé n'est jamais accepté"
            )
        from transforms.webhook import NotForThisForm
        from warehouse import raw  # noqa: F401 - the landing's reader loaded now, not on the
        # first event (DuckDB and Arrow: seconds on a busy machine, past a sender's timeout)

        self.not_for_us = NotForThisForm
        self.secret = settings.webhook_secret
        self.path = settings.webhook_path
        self.max_bytes = settings.webhook_max_bytes
        self.form_id = settings.tally_form_id
        try:
            self.spool = Spool.at(settings.spool_folder).prepare()
        except OSError as exc:
            raise ConfigError(
                f"BIBIA_WEBHOOK_SPOOL : impossible de créer le dossier {settings.spool_folder} "
                f"({exc.strerror})"
            ) from None
        self.runner = runner
        handler = type(
            "Handler",
            (_Handler,),
            {"receiver": self, "timeout": settings.webhook_request_seconds},
        )
        host, port = settings.webhook_host, settings.webhook_port
        try:
            family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
            self.server = _Server((host, port), handler, family, settings.webhook_max_connections)
        except socket.gaierror:
            raise ConfigError(
                f"BIBIA_WEBHOOK_HOST : adresse inconnue {host!r} (une adresse IP ou un nom "
                "que cette machine résout)"
            ) from None
        except OSError as exc:
            what = "déjà utilisé" if exc.errno == errno.EADDRINUSE else exc.strerror
            raise ConfigError(
                f"BIBIA_WEBHOOK_HOST/BIBIA_WEBHOOK_PORT : impossible d'écouter sur "
                f"{host} port {port} ({what})"
            ) from None

    @property
    def url(self) -> str:
        host, port = (str(part) for part in self.server.server_address[:2])
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}{self.path}"

    def handle(self, method: str, path: str, headers: Any, read: Any) -> tuple[int, str]:
        """(status, reason) for one request; the event is stored when the status is 200."""
        if path.split("?", 1)[0] != self.path:
            return 404, "not found"
        if method != "POST":
            return 405, "POST only"
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return 415, "application/json only"
        if headers.get("Transfer-Encoding") is not None:
            return 400, "Transfer-Encoding refused: send Content-Length alone"
        lengths = headers.get_all("Content-Length") or []
        if len(lengths) != 1 or not lengths[0].strip().isdigit():
            return 411, "one Content-Length required"
        length = int(lengths[0])
        if length > self.max_bytes:
            return 413, f"body over {self.max_bytes} bytes"
        body = read(length)
        if len(body) != length:
            return 400, "body shorter than its Content-Length"
        given = headers.get("Tally-Signature") or ""
        if not given or not hmac.compare_digest(
            given.encode(), signature(self.secret, body).encode()
        ):
            return 401, "bad signature"
        try:
            event_id, _row = landable_event(body, self.form_id)
        except self.not_for_us as exc:
            return 422, str(exc)
        except Unlandable as exc:
            return 400, str(exc)
        try:
            stored = self.spool.store(event_id, body)
        except OSError as exc:
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
            log.warning("webhook : le spool refuse l'événement (%s)", exc.strerror)
            return (507, "spool full") if full else (503, "spool not writable")
        if stored and self.runner is not None:
            self.runner.notify()
        return 200, "ok"

    def serve(self) -> None:
        log.info("webhook : à l'écoute sur %s, spool %s", self.url, self.spool.folder)
        if self.runner is not None and self.spool.pending():
            log.info("webhook : des événements attendent dans le spool, une exécution est demandée")
            self.runner.notify()
        self.serving = True
        self.server.serve_forever()

    def stop(self) -> None:
        if getattr(self, "serving", False):  # shutdown() waits for a loop that ran, forever
            self.server.shutdown()
        self.server.server_close()
        if self.runner is not None:
            self.runner.stop()


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver
    protocol_version = "HTTP/1.1"
    timeout = 10.0  # the whole request's time (BIBIA_WEBHOOK_REQUEST_SECONDS)
    # the answer's headers and body leave at once: with Nagle's algorithm, the body waited for
    # the client's delayed acknowledgement (measured: 44 ms an answer instead of 2)
    disable_nagle_algorithm = True

    def handle_one_request(self) -> None:
        """One request, within `timeout` as a whole: a socket's own timeout bounds each read,
        and a client sending a byte at a time would never meet it; a watchdog shuts the
        connection down at the deadline (waiting for a request on a kept-alive connection
        included)."""
        watchdog = threading.Timer(self.timeout, self._cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            super().handle_one_request()
        except OSError:  # cut by the watchdog, or the client went away
            self.close_connection = True
        finally:
            watchdog.cancel()

    def _cut(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        # what a client sent (its request line) is shown escaped, never run by a terminal
        log.debug("webhook : %s", printable(format % args))

    def _any(self) -> None:
        status, reason = self.receiver.handle(
            self.command, self.path, self.headers, self.rfile.read
        )
        body = json.dumps({"ok": status == 200, "reason": reason}).encode()
        self.send_response(status)
        if status == 405:
            self.send_header("Allow", "POST")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if status != 200:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET = do_PUT = do_DELETE = do_PATCH = _any


# -- the run it asks for -------------------------------------------------------------------------
class Runner:
    """One run for a burst of events: it waits `debounce` seconds after an event, then runs; an
    event meanwhile asks for one more run after it, never a second one at once."""

    def __init__(self, settings: Settings, env: dict[str, str], debounce: float) -> None:
        self.settings, self.env, self.debounce = settings, env, debounce
        self.wanted = threading.Event()
        self.stopping = threading.Event()
        self.runs = 0
        self.thread = threading.Thread(target=self._loop, name="bibia-webhook-runs", daemon=True)
        self.thread.start()

    def notify(self) -> None:
        self.wanted.set()

    def stop(self) -> None:
        self.stopping.set()
        self.wanted.set()
        self.thread.join(timeout=5)

    def _loop(self) -> None:
        while not self.stopping.is_set():
            self.wanted.wait()
            if self.stopping.wait(self.debounce):
                return
            self.wanted.clear()
            try:
                self._run()
            except Exception as exc:  # a run that failed: the next event, or the schedule
                log.warning("webhook : l'exécution demandée a échoué : %s", exc)
            self.runs += 1

    def _run(self) -> None:
        if self.settings.prefect_api_url:
            from prefect.deployments import run_deployment

            run_deployment("bibia-sync/scheduled", timeout=0)  # queued behind a running one
            log.info("webhook : exécution de bibia-sync/scheduled demandée à Prefect")
            return
        env = {**self.env, "BIBIA_LOCK_TIMEOUT_SECONDS": str(TRIGGERED_LOCK_WAIT)}
        done = subprocess.run(
            [sys.executable, "-m", "bibia", "sync"],
            env=env,
            capture_output=True,
            text=True,
            timeout=self.settings.run_budget_seconds + TRIGGERED_LOCK_WAIT,
        )
        lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
        said = lines[0] if done.returncode == 0 and lines else (lines[-1] if lines else "")
        log.info("webhook : exécution demandée, code de sortie %s : %s", done.returncode, said)


def serve(settings: Settings) -> int:
    """`bibia webhook`, until interrupted."""
    receiver = Receiver(settings, None)  # every start-up check first: one line, exit 2
    receiver.runner = Runner(settings, dict(os.environ), settings.webhook_debounce_seconds)
    asked = threading.Event()

    def ending(_signum: int, _frame: object) -> None:
        """SIGTERM or Ctrl-C: the serving loop is asked to end, from another thread (it
        cannot be from its own). Not an exception raised wherever the signal lands: one
        landing while a request's thread started was caught as that request's error, and
        the receiver served on."""
        if not asked.is_set():
            asked.set()
            threading.Thread(target=receiver.server.shutdown, daemon=True).start()

    before = {sig: signal.signal(sig, ending) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        receiver.serve()
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        receiver.stop()
    return 0


def spool_status(settings: Settings) -> tuple[int, float | None]:
    """(events waiting for a run, when the last event was received, epoch seconds)."""
    spool = Spool.at(settings.spool_folder)
    return len(spool.pending()), spool.last_received()
