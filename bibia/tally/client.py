"""A small, careful client for Tally's REST API.

- bearer key and a pinned `tally-version` header on every call;
- `filter=completed`, `limit=500`, pages until `hasMore` is false or a page is empty;
- timeouts on every call; retries on 429 (honouring `Retry-After`), 5xx and dropped
  connections, with exponential backoff and jitter; client-side pacing;
- a 401/403/404 or a body that is not the documented JSON raises `TallyError` with one line.

The key is only ever placed in the Authorization header: it is not logged, not part of any
message and not stored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import requests

from bibia.http import GaveUp, PacedSession
from bibia.settings import TALLY_VERSION, Settings
from schemas.errors import TallyError
from schemas.times import iso_z

log = logging.getLogger("bibia.tally")

PAGE_LIMIT = 500  # Tally's maximum
MAX_PAGES = 100_000  # loop guard: 50 million submissions


@dataclass
class Page:
    number: int
    submissions: list[dict[str, Any]]
    questions: list[dict[str, Any]]
    has_more: bool
    total_completed: int | None


class TallyClient:
    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        settings.require_tally()
        self.form_id: str = settings.tally_form_id or ""
        self.http = PacedSession(
            settings.tally_api_url,
            headers={
                "Authorization": f"Bearer {settings.tally_api_key}",
                "tally-version": TALLY_VERSION,
                "Accept": "application/json",
                "User-Agent": "bibia (Bibliotheque d'IA territoriales data pipeline)",
            },
            per_minute=settings.tally_max_requests_per_minute,
            timeout=settings.tally_timeout_seconds,
            max_retries=settings.tally_max_retries,
            backoff_seconds=settings.tally_backoff_seconds,
            sleep=sleep,
            label="Tally",
        )
        self.pacer = self.http.pacer

    @property
    def requests_made(self) -> int:
        return self.http.requests_made

    @property
    def retries(self) -> int:
        return self.http.retries

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> TallyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_json(self, path: str, params: dict[str, Any] | None = None, what: str = "") -> Any:
        what = what or path
        try:
            response = self.http.get(path, params, what)
        except GaveUp as exc:
            raise TallyError(
                f"Tally kept failing on {what} after {exc.attempts} attempts ({exc.problem})",
                transient=True,
            ) from None
        return self._decode(response, what)

    def _decode(self, response: requests.Response, what: str) -> Any:
        status = response.status_code
        if status == 401:
            raise TallyError("Tally rejected TALLY_API_KEY (HTTP 401): check the key or renew it")
        if status == 403:
            raise TallyError(
                f"Tally refused access to form {self.form_id} (HTTP 403): "
                "the user owning TALLY_API_KEY cannot read it"
            )
        if status == 404:
            raise TallyError(
                f"Tally has no form {self.form_id} for this key (HTTP 404): "
                "check TALLY_FORM_ID, or the form was deleted"
            )
        if status >= 400:
            detail = response.text[:200].replace("\n", " ")
            raise TallyError(f"Tally rejected {what} (HTTP {status}): {detail}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("Content-Type", "no content type")
            raise TallyError(
                f"Tally answered {what} with something that is not JSON ({kind}, "
                f"{len(response.content)} bytes)"
            ) from None

    # -- endpoints --------------------------------------------------------------------------
    def get_form(self) -> dict[str, Any]:
        body = self.get_json(f"/forms/{self.form_id}", what=f"form {self.form_id}")
        if not isinstance(body, dict):
            raise TallyError(f"Tally answered form {self.form_id} with an unexpected shape")
        return body

    def page(self, number: int, params: dict[str, Any]) -> Page:
        """One page of submissions (`params`: filter, limit, dates), checked."""
        what = f"page {number} of form {self.form_id}"
        body = self.get_json(
            f"/forms/{self.form_id}/submissions", {**params, "page": number}, what=what
        )
        return parse_page(body, number, what)

    def iter_pages(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> Iterator[Page]:
        """Completed submissions, page after page, bounded by [start, end] (both inclusive)."""
        params: dict[str, Any] = {"filter": "completed", "limit": PAGE_LIMIT}
        if start is not None:
            params["startDate"] = iso_z(start)
        if end is not None:
            params["endDate"] = iso_z(end)
        for number in range(1, MAX_PAGES + 1):
            page = self.page(number, params)
            yield page
            if not page.has_more or not page.submissions:
                return
        raise TallyError(f"Tally kept saying hasMore after {MAX_PAGES} pages: stopped")


def parse_page(body: Any, number: int, what: str) -> Page:
    """Check a submissions page against the documented shape."""

    def bad(reason: str) -> TallyError:
        return TallyError(f"Tally answered {what} with an undocumented shape: {reason}")

    if not isinstance(body, dict):
        raise bad(f"a {type(body).__name__} instead of an object")
    submissions = body.get("submissions")
    if not isinstance(submissions, list):
        raise bad("no `submissions` list")
    has_more = body.get("hasMore")
    if not isinstance(has_more, bool):
        raise bad("no boolean `hasMore`")
    questions = body.get("questions") or []
    if not isinstance(questions, list):
        raise bad("`questions` is not a list")
    for item in submissions:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            raise bad("a submission without an `id`")
        if not isinstance(item.get("submittedAt"), str):
            raise bad(f"submission {item['id']} has no `submittedAt`")
        if not isinstance(item.get("responses", []), list):
            raise bad(f"submission {item['id']} has no `responses` list")
    totals = body.get("totalNumberOfSubmissionsPerFilter")
    total = totals.get("completed") if isinstance(totals, dict) else None
    return Page(
        number=number,
        submissions=submissions,
        questions=questions,
        has_more=has_more,
        total_completed=total if isinstance(total, int) else None,
    )
