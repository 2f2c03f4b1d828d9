"""`bibia webhook`: Tally's signed webhook, received on a standard-library HTTP server.

Each request is checked (POST, JSON, a size bound, the `Tally-Signature` over the raw bytes in
constant time, a `FORM_RESPONSE` event with a submission id), then stored in the spool, a
folder the next run reads, atomically and once per `eventId`, and answered at once: the
receiver never waits on the warehouse. A runner thread then asks for a run (a deployment run
when a Prefect server is configured, a local `bibia sync` otherwise), one for a burst of
events, never two at once (and the writer's lock keeps it from overlapping a scheduled run).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bibia.settings import Settings
from schemas.errors import ConfigError

log = logging.getLogger("bibia.webhook")

PENDING, LANDED = "pending", "landed"  # the spool's folders: to land; landed (kept, as sent)
TRIGGERED_LOCK_WAIT = 900  # s a triggered run waits for a running one (a scheduled sync)


# -- the spool -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spool:
    """Events received, one file each, named after their `eventId`: `pending/` until a run has
    landed them (and committed), then `landed/`."""

    folder: Path

    def prepare(self) -> Spool:
        for name in (PENDING, LANDED):
            (self.folder / name).mkdir(mode=0o700, parents=True, exist_ok=True)
        self.folder.chmod(0o700)  # the events hold contact e-mails
        return self

    @staticmethod
    def name_of(event_id: str) -> str:
        return hashlib.sha256(event_id.encode()).hexdigest()[:40] + ".json"

    def store(self, event_id: str, body: bytes) -> bool:
        """Keep one event, atomically (written aside, then linked in place); False when an
        event of this id is kept already (a replay)."""
        name = self.name_of(event_id)
        if (self.folder / LANDED / name).exists():
            return False
        final = self.folder / PENDING / name
        temporary = self.folder / PENDING / f".{name}.{os.getpid()}.{threading.get_ident()}"
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(handle, body)
            os.fsync(handle)
        finally:
            os.close(handle)
        try:
            os.link(temporary, final)  # fails if it exists: two deliveries at once, one kept
            stored = True
        except FileExistsError:
            stored = False
        os.unlink(temporary)
        return stored

    def pending(self) -> list[Path]:
        folder = self.folder / PENDING
        if not folder.exists():
            return []
        return sorted(p for p in folder.iterdir() if p.suffix == ".json")

    def landed(self, paths: list[Path]) -> None:
        """After the commit: these events are in the warehouse."""
        for path in paths:
            try:
                os.replace(path, self.folder / LANDED / path.name)
            except FileNotFoundError:
                continue

    def last_received(self) -> float | None:
        stamps = [
            p.stat().st_mtime
            for name in (PENDING, LANDED)
            if (self.folder / name).exists()
            for p in (self.folder / name).iterdir()
            if p.suffix == ".json"
        ]
        return max(stamps) if stamps else None


def read_events(paths: list[Path]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The spool's events as submissions in the API's shape (an unreadable file is skipped:
    the receiver checked each before storing it)."""
    from transforms.webhook import submission_of_event  # (`bibia status` stays light)

    for path in paths:
        try:
            yield path, submission_of_event(json.loads(path.read_bytes()))
        except (OSError, ValueError) as exc:
            log.warning("webhook event %s unreadable, left aside: %s", path.name, exc)


# -- the receiver --------------------------------------------------------------------------------
def signature(secret: str, body: bytes) -> str:
    """What Tally sends in `Tally-Signature`: base64 of HMAC-SHA256(secret, raw body)."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


class Receiver:
    def __init__(self, settings: Settings, runner: Runner | None) -> None:
        if not settings.webhook_secret:
            raise ConfigError(
                "TALLY_WEBHOOK_SECRET must be set for `bibia webhook` (the signing secret "
                "shown in Tally's webhook settings): unsigned events are never accepted"
            )
        from transforms.webhook import EventError, submission_of_event

        self.event_error, self.submission_of_event = EventError, submission_of_event
        self.secret = settings.webhook_secret
        self.path = settings.webhook_path
        self.max_bytes = settings.webhook_max_bytes
        self.spool = Spool(settings.spool_folder).prepare()
        self.runner = runner
        handler = type("Handler", (_Handler,), {"receiver": self})
        self.server = ThreadingHTTPServer((settings.webhook_host, settings.webhook_port), handler)
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def handle(self, method: str, path: str, headers: Any, read: Any) -> tuple[int, str]:
        """(status, reason) for one request; the event is stored when the status is 200."""
        if path.split("?", 1)[0] != self.path:
            return 404, "not found"
        if method != "POST":
            return 405, "POST only"
        if (headers.get("Content-Type") or "").split(";")[0].strip() != "application/json":
            return 415, "application/json only"
        try:
            length = int(headers.get("Content-Length") or "")
        except ValueError:
            return 411, "Content-Length required"
        if length < 0 or length > self.max_bytes:
            return 413, f"body over {self.max_bytes} bytes"
        body = read(length)
        given = headers.get("Tally-Signature") or ""
        if not given or not hmac.compare_digest(
            given.encode(), signature(self.secret, body).encode()
        ):
            return 401, "bad signature"
        try:
            event = json.loads(body)
        except ValueError:
            return 400, "not JSON"
        if not isinstance(event, dict):
            return 400, "not a JSON object"
        try:
            self.submission_of_event(event)
        except self.event_error as exc:
            return (422 if "event type" in str(exc) else 400), str(exc)
        event_id = event.get("eventId")
        if not isinstance(event_id, str) or not event_id:
            return 400, "no eventId"
        if self.spool.store(event_id, body) and self.runner is not None:
            self.runner.notify()
        return 200, "ok"

    def serve(self) -> None:
        log.info("webhook: listening on %s, spool %s", self.url, self.spool.folder)
        self.server.serve_forever()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.runner is not None:
            self.runner.stop()


class _Handler(BaseHTTPRequestHandler):
    receiver: Receiver
    protocol_version = "HTTP/1.1"
    timeout = 10  # a client that sends its body slowly is cut off
    # the answer's headers and body leave at once: with Nagle's algorithm, the body waited for
    # the client's delayed acknowledgement (measured: 44 ms an answer instead of 2)
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("webhook: %s", format % args)

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
                log.warning("webhook: the run it asked for failed: %s", exc)
            self.runs += 1

    def _run(self) -> None:
        if self.settings.prefect_api_url:
            from prefect.deployments import run_deployment

            run_deployment("bibia-sync/scheduled", timeout=0)  # queued behind a running one
            log.info("webhook: asked Prefect for a run of bibia-sync/scheduled")
            return
        env = {**self.env, "BIBIA_LOCK_TIMEOUT_SECONDS": str(TRIGGERED_LOCK_WAIT)}
        done = subprocess.run(
            [sys.executable, "-m", "bibia", "sync"],
            env=env,
            capture_output=True,
            text=True,
            timeout=self.settings.run_budget_seconds + TRIGGERED_LOCK_WAIT,
        )
        line = (done.stdout or done.stderr).strip().splitlines()
        log.info("webhook: run asked for: %s", line[0] if line else f"exit {done.returncode}")


def serve(settings: Settings) -> int:
    """`bibia webhook`, until interrupted."""
    runner = Runner(settings, dict(os.environ), settings.webhook_debounce_seconds)
    receiver = Receiver(settings, runner)
    try:
        receiver.serve()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()
    return 0


def spool_status(settings: Settings) -> tuple[int, float | None]:
    """(events waiting for a run, when the last event was received, epoch seconds)."""
    spool = Spool(settings.spool_folder)
    return len(spool.pending()), spool.last_received()
