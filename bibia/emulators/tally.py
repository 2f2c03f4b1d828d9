"""A Tally API on loopback, for the tests, the demo and the benchmark.

It speaks the documented protocol: bearer auth, `GET /forms/{id}`, `/forms/{id}/questions`,
`/forms/{id}/submissions` with `page`, `limit` (max 500), `filter`, inclusive
`startDate`/`endDate`, newest-first order, `hasMore`, totals per filter, and a rate limit.
Faults can be queued to answer the next requests with 429 (with or without `Retry-After`),
5xx, a dropped connection or a body that is not JSON.
"""

from __future__ import annotations

import bisect
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bibia.emulators.loopback import Answer, LoopbackServer, Seen
from schemas.times import parse_iso

MAX_LIMIT = 500


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


class TallyEmulator(LoopbackServer):
    def __init__(
        self,
        forms: Iterable[EmulatedForm],
        api_key: str = "tly-emulator-key",
        rate_limit_per_minute: int | None = None,
        rate_limit_retry_after: bool = False,
        delay_seconds: float = 0.0,
    ) -> None:
        super().__init__(delay_seconds)
        self.forms = {form.form_id: form for form in forms}
        self.api_key = api_key
        self.rate_limit_per_minute = rate_limit_per_minute
        self.rate_limit_retry_after = rate_limit_retry_after
        self._hits: deque[float] = deque()
        # what a hostile server does to a submissions page: (page number, the page as it
        # would be) -> the page it sends instead
        self.page_hook: Callable[[int, dict[str, Any]], dict[str, Any]] | None = None
        # form id -> filter -> (submissions newest first, their negated timestamps)
        self._sorted: dict[str, dict[str, tuple[list[dict[str, Any]], list[float]]]] = {}

    def start(self, port: int = 0) -> TallyEmulator:
        super().start(port)
        return self

    def __enter__(self) -> TallyEmulator:
        return self.start() if self._server is None else self

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

    def newest_first(
        self, form: EmulatedForm, wanted: str = "all"
    ) -> tuple[list[dict[str, Any]], list[float]]:
        """The form's submissions of a filter (`all`, `completed`, `partial`) newest first,
        with their negated timestamps (ascending, for bisect), computed once per change of the
        form: a page costs a bisection and a slice, whatever the size of the form."""
        with self._lock:
            cached = self._sorted.get(form.form_id)
            if cached is None:
                keyed = sorted(
                    (
                        (parse_iso(s["submittedAt"]).timestamp(), s["id"], s)
                        for s in form.submissions
                    ),
                    key=lambda t: (t[0], t[1]),
                    reverse=True,
                )
                cached = {}
                for name, keep in (("all", None), ("completed", True), ("partial", False)):
                    chosen = [
                        t
                        for t in keyed
                        if keep is None or bool(t[2].get("isCompleted", True)) == keep
                    ]
                    cached[name] = ([t[2] for t in chosen], [-t[0] for t in chosen])
                self._sorted[form.form_id] = cached
            return cached[wanted]

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

        def window(name: str) -> tuple[list[dict[str, Any]], int, int]:
            rows, keys = self.newest_first(form, name)
            low = 0 if end is None else bisect.bisect_left(keys, -end.timestamp())
            high = len(rows) if start is None else bisect.bisect_right(keys, -start.timestamp())
            return rows, low, max(low, high)  # both bounds inclusive, as Tally's

        totals = {}
        for name in ("all", "completed", "partial"):
            _rows, low, high = window(name)
            totals[name] = high - low
        rows, low, high = window(wanted)
        first = low + (page - 1) * limit
        chunk = rows[first : min(first + limit, high)]
        answer = {
            "page": page,
            "limit": limit,
            "hasMore": first + limit < high,
            "totalNumberOfSubmissionsPerFilter": totals,
            "questions": form.questions,
            "submissions": chunk,
        }
        if self.page_hook is not None:
            answer = self.page_hook(page, answer)
        return 200, answer

    def respond(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"message": "Unauthorized"}, {}
        if self._rate_limited():
            extra = {"Retry-After": "1"} if self.rate_limit_retry_after else {}
            return 429, {"message": "Too many requests"}, extra
        status, payload = self.answer(path, query)
        return status, payload, {}

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


def load_form(path: str) -> EmulatedForm:
    with open(path, encoding="utf-8") as handle:
        return EmulatedForm.from_json(json.load(handle))


def webhook_event(form: EmulatedForm, submission: dict[str, Any], event_id: str) -> dict[str, Any]:
    """The `FORM_RESPONSE` event Tally's webhook sends for `submission` (in the API's shape): a
    field per answered question (`question_<id>`, its title as label, its type), choices as
    option ids with the question's options, a field per hidden or calculated value
    (`question_<id>_<name>`), and a boolean field per checkbox option."""
    questions = {q["id"]: q for q in form.questions}
    options: dict[str, list[dict[str, str]]] = {}
    for block in form.blocks:
        if block.get("type", "").endswith("_OPTION") or block.get("type") == "CHECKBOX":
            text = block.get("payload", {}).get("text")
            options.setdefault(block["groupUuid"], []).append({"id": block["uuid"], "text": text})
    ids = {(qid, o["text"]): o["id"] for qid, opts in options.items() for o in opts}
    fields: list[dict[str, Any]] = []
    for response in submission["responses"]:
        qid = response["questionId"]
        question = questions.get(qid, {})
        kind = question.get("type", "")
        value = response.get("answer", response.get("value"))
        if kind in {"HIDDEN_FIELDS", "CALCULATED_FIELDS"} and isinstance(value, list):
            value = {v["name"]: v.get("value") for v in value if isinstance(v, dict)}
        if kind in {"HIDDEN_FIELDS", "CALCULATED_FIELDS"} and isinstance(value, dict):
            for name, given in value.items():
                fields.append(
                    {"key": f"question_{qid}_{name}", "label": name, "type": kind, "value": given}
                )
            continue
        field: dict[str, Any] = {
            "key": f"question_{qid}",
            "label": question.get("title"),
            "type": kind,
            "value": value,
        }
        if qid in options:
            chosen = value if isinstance(value, list) else [value]
            field["value"] = [ids.get((qid, v), v) for v in chosen]
            field["options"] = options[qid]
            if kind == "CHECKBOXES":
                for option in options[qid]:
                    fields.append(
                        {
                            "key": f"question_{qid}_{option['id']}",
                            "label": f"{question.get('title')} ({option['text']})",
                            "type": "CHECKBOXES",
                            "value": option["id"] in field["value"],
                        }
                    )
        fields.append(field)
    return {
        "eventId": event_id,
        "eventType": "FORM_RESPONSE",
        "createdAt": submission["submittedAt"],
        "data": {
            "responseId": submission["id"],
            "submissionId": submission["id"],
            "respondentId": submission.get("respondentId"),
            "formId": form.form_id,
            "formName": form.name,
            "createdAt": submission["submittedAt"],
            "fields": fields,
        },
    }
