"""A Tally API on loopback, for the tests, the demo and the benchmark.

It speaks the documented protocol: bearer auth, `GET /forms/{id}`, `/forms/{id}/questions`,
`/forms/{id}/submissions` with `page`, `limit` (max 500), `filter`, inclusive
`startDate`/`endDate`, newest-first order, `hasMore`, totals per filter, and a rate limit.
Faults can be queued to answer the next requests with 429 (with or without `Retry-After`),
5xx, a dropped connection or a body that is not JSON.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_LIMIT = 500


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class Fault:
    """What to answer instead of the real thing, for one request."""

    status: int | None = None  # 429, 500, 503...
    retry_after: str | None = None
    drop: bool = False  # close the connection without answering
    garbage: bool = False  # 200 with a body that is not JSON
    path_contains: str = ""  # only requests whose path contains this


@dataclass
class EmulatedForm:
    form_id: str
    name: str
    questions: list[dict[str, Any]]
    blocks: list[dict[str, Any]] = field(default_factory=list)
    submissions: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EmulatedForm:
        return cls(
            form_id=data["id"],
            name=data.get("name", data["id"]),
            questions=data["questions"],
            blocks=data.get("blocks", []),
            submissions=data["submissions"],
        )


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    had_auth: bool
    tally_version: str | None


class TallyEmulator:
    def __init__(
        self,
        forms: Iterable[EmulatedForm],
        api_key: str = "tly-emulator-key",
        rate_limit_per_minute: int | None = None,
        rate_limit_retry_after: bool = False,
        delay_seconds: float = 0.0,
    ) -> None:
        self.forms = {form.form_id: form for form in forms}
        self.api_key = api_key
        self.rate_limit_per_minute = rate_limit_per_minute
        self.rate_limit_retry_after = rate_limit_retry_after
        self.delay_seconds = delay_seconds  # latency of every answer, to make runs overlap
        self.faults: deque[Fault] = deque()
        self.seen: list[Seen] = []
        self._hits: deque[float] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._sorted: dict[str, list[dict[str, Any]]] = {}

    # -- control ----------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "emulator not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self, port: int = 0) -> TallyEmulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> TallyEmulator:
        return self.start() if self._server is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def queue(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def add_submissions(self, form_id: str, submissions: Iterable[dict[str, Any]]) -> None:
        with self._lock:
            form = self.forms[form_id]
            by_id = {s["id"]: i for i, s in enumerate(form.submissions)}
            for submission in submissions:
                if submission["id"] in by_id:  # an edit in Tally's UI keeps the id
                    form.submissions[by_id[submission["id"]]] = submission
                else:
                    form.submissions.append(submission)
            self._sorted.pop(form_id, None)

    def delete_submission(self, form_id: str, submission_id: str) -> None:
        with self._lock:
            form = self.forms[form_id]
            form.submissions = [s for s in form.submissions if s["id"] != submission_id]
            self._sorted.pop(form_id, None)

    def submission_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/submissions")]

    # -- behaviour --------------------------------------------------------------------------
    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.path_contains in path:
                    del self.faults[i]
                    return fault
        return None

    def _rate_limited(self) -> bool:
        if not self.rate_limit_per_minute:
            return False
        now = time.monotonic()
        with self._lock:
            while self._hits and now - self._hits[0] > 60:
                self._hits.popleft()
            if len(self._hits) >= self.rate_limit_per_minute:
                return True
            self._hits.append(now)
        return False

    def newest_first(self, form: EmulatedForm) -> list[dict[str, Any]]:
        with self._lock:
            cached = self._sorted.get(form.form_id)
            if cached is None:
                cached = sorted(
                    form.submissions,
                    key=lambda s: (parse_iso(s["submittedAt"]), s["id"]),
                    reverse=True,
                )
                self._sorted[form.form_id] = cached
            return cached

    def submissions_page(self, form: EmulatedForm, query: dict[str, str]) -> tuple[int, Any]:
        try:
            page = int(query.get("page", "1"))
            limit = int(query.get("limit", "50"))
        except ValueError:
            return 400, {"message": "page and limit must be integers"}
        if page < 1 or not 1 <= limit <= MAX_LIMIT:
            return 400, {"message": f"limit must be between 1 and {MAX_LIMIT}"}
        wanted = query.get("filter", "all")
        if wanted not in {"all", "completed", "partial"}:
            return 400, {"message": "filter must be all, completed or partial"}
        try:
            start = parse_iso(query["startDate"]) if "startDate" in query else None
            end = parse_iso(query["endDate"]) if "endDate" in query else None
        except ValueError:
            return 400, {"message": "startDate and endDate must be ISO-8601"}
        rows = self.newest_first(form)
        if start is not None or end is not None:
            rows = [
                s
                for s in rows
                if (start is None or parse_iso(s["submittedAt"]) >= start)
                and (end is None or parse_iso(s["submittedAt"]) <= end)
            ]
        totals = {
            "all": len(rows),
            "completed": sum(1 for s in rows if s.get("isCompleted", True)),
            "partial": sum(1 for s in rows if not s.get("isCompleted", True)),
        }
        if wanted != "all":
            keep = wanted == "completed"
            rows = [s for s in rows if bool(s.get("isCompleted", True)) == keep]
        chunk = rows[(page - 1) * limit : page * limit]
        return 200, {
            "page": page,
            "limit": limit,
            "hasMore": page * limit < len(rows),
            "totalNumberOfSubmissionsPerFilter": totals,
            "questions": form.questions,
            "submissions": chunk,
        }

    def answer(self, path: str, query: dict[str, str]) -> tuple[int, Any]:
        parts = [p for p in path.split("/") if p]
        if len(parts) < 2 or parts[0] != "forms":
            return 404, {"message": "Not found"}
        form = self.forms.get(parts[1])
        if form is None:
            return 404, {"message": "Form not found"}
        if len(parts) == 2:
            return 200, {"id": form.form_id, "name": form.name, "blocks": form.blocks}
        if parts[2:] == ["questions"]:
            return 200, {"questions": form.questions, "hasResponses": bool(form.submissions)}
        if parts[2:] == ["submissions"]:
            return self.submissions_page(form, query)
        return 404, {"message": "Not found"}


class _Handler(BaseHTTPRequestHandler):
    emulator: TallyEmulator
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        self._send(status, body, {"Content-Type": "application/json", **(headers or {})})

    def do_GET(self) -> None:
        emulator = self.emulator
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        auth = self.headers.get("Authorization", "")
        emulator.seen.append(
            Seen(
                "GET",
                split.path,
                query,
                bool(auth),
                self.headers.get("tally-version"),
            )
        )
        if emulator.delay_seconds:
            time.sleep(emulator.delay_seconds)
        fault = emulator._take_fault(split.path)
        if fault is not None:
            if fault.drop:
                self.close_connection = True
                self.connection.shutdown(2)
                return
            if fault.garbage:
                self._send(
                    200, b"<html><body>Bad gateway</body></html>", {"Content-Type": "text/html"}
                )
                return
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            self._json(fault.status or 500, {"message": "injected fault"}, headers)
            return
        if auth != f"Bearer {emulator.api_key}":
            self._json(401, {"message": "Unauthorized"})
            return
        if emulator._rate_limited():
            headers = {"Retry-After": "1"} if emulator.rate_limit_retry_after else {}
            self._json(429, {"message": "Too many requests"}, headers)
            return
        status, payload = emulator.answer(split.path, query)
        self._json(status, payload)


def load_form(path: str) -> EmulatedForm:
    with open(path, encoding="utf-8") as handle:
        return EmulatedForm.from_json(json.load(handle))
