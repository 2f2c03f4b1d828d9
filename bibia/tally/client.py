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
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from bibia.http import Answer, GaveUp, PacedSession
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
    unnamed: int = 0  # items without an id, left out


@dataclass
class Listing:
    """What a walk through Tally's pages has shown, and whether it proves the list complete.

    Tally's word is not taken for it: a short or empty answer is not proof that submissions
    were deleted. The list is complete only when every page was read to `hasMore: false`, no
    page repeated one before it, and the distinct submissions listed are as many as the API's
    own count. A repeated page, or more submissions than that count, stops the walk."""

    pages: int = 0
    listed: int = 0  # distinct completed submissions listed
    total: int | None = None  # the API's count of completed submissions, as last given
    ended: bool = False  # a page said `hasMore: false`
    problem: str | None = None  # why the walk stopped early
    ids: set[str] = field(default_factory=set, repr=False)

    def observe(self, page: Page) -> str | None:
        """Take one page into account; return why the walk must stop, if it must."""
        self.pages += 1
        found = [
            item["id"]
            for item in page.submissions
            if isinstance(item, dict)
            and isinstance(item.get("id"), str)
            and item.get("isCompleted") is not False
        ]
        fresh = [sid for sid in found if sid not in self.ids]
        self.ids.update(fresh)
        self.listed = len(self.ids)
        if page.total_completed is not None:
            self.total = page.total_completed
        if found and not fresh:
            self.problem = f"la page {page.number} ne liste que des soumissions déjà listées"
        elif self.total is not None and self.listed > self.total:
            self.problem = (
                f"{self.listed} soumissions listées à la page {page.number}, au-delà des "
                f"{self.total} que Tally compte"
            )
        if not page.has_more:
            self.ended = True
        return self.problem

    @property
    def complete(self) -> bool:
        return (
            self.ended
            and self.problem is None
            and self.total is not None
            and self.listed == self.total
        )

    def shortfall(self) -> str:
        """Why the list is not known to be complete (empty when it is)."""
        if self.problem:
            return self.problem
        if not self.ended:
            return f"le parcours s'est arrêté page {self.pages} sans `hasMore: false`"
        if self.total is None:
            return "les pages de Tally ne donnent aucun total auquel comparer la liste"
        if self.listed != self.total:
            return f"Tally a listé {self.listed} soumissions mais en compte {self.total}"
        return ""


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
                f"Tally échoue encore sur {what} après {exc.attempts} essais ({exc.problem})",
                transient=True,
            ) from None
        return self._decode(response, what)

    def _decode(self, response: Answer, what: str) -> Any:
        status = response.status_code
        if status == 401:
            raise TallyError(
                "Tally refuse TALLY_API_KEY (HTTP 401) : vérifier la clé ou la renouveler"
            )
        if status == 403:
            raise TallyError(
                f"Tally refuse l'accès au formulaire {self.form_id} (HTTP 403) : le compte de "
                "TALLY_API_KEY ne peut pas le lire"
            )
        if status == 404:
            raise TallyError(
                f"Tally ne connaît pas de formulaire {self.form_id} pour cette clé (HTTP 404) : "
                "vérifier TALLY_FORM_ID, ou le formulaire a été supprimé"
            )
        if status >= 400:
            detail = response.text[:200].replace("\n", " ")
            raise TallyError(f"Tally refuse {what} (HTTP {status}) : {detail}")
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("Content-Type", "no content type")
            raise TallyError(
                f"Tally a répondu à {what} autre chose que du JSON ({kind}, "
                f"{len(response.content)} octets)"
            ) from None

    # -- endpoints --------------------------------------------------------------------------
    def get_form(self) -> dict[str, Any]:
        body = self.get_json(f"/forms/{self.form_id}", what=f"le formulaire {self.form_id}")
        if not isinstance(body, dict):
            raise TallyError(
                f"Tally a décrit le formulaire {self.form_id} sous une forme inattendue"
            )
        return body

    def page(self, number: int, params: dict[str, Any]) -> Page:
        """One page of submissions (`params`: filter, limit, dates), checked."""
        what = f"la page {number} du formulaire {self.form_id}"
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
        listing = Listing()
        for number in range(1, MAX_PAGES + 1):
            page = self.page(number, params)
            problem = listing.observe(page)
            if problem is not None:
                raise TallyError(f"la liste de Tally n'est pas fiable ({problem}) : arrêt")
            yield page
            if not page.has_more or not page.submissions:
                return
        raise TallyError(f"Tally annonce encore hasMore après {MAX_PAGES} pages : arrêt")


def parse_page(body: Any, number: int, what: str) -> Page:
    """Check a submissions page against the documented shape."""

    def bad(reason: str) -> TallyError:
        return TallyError(f"Tally a répondu à {what} sous une forme non documentée : {reason}")

    if not isinstance(body, dict):
        raise bad(f"un {type(body).__name__} au lieu d'un objet")
    submissions = body.get("submissions")
    if not isinstance(submissions, list):
        raise bad("pas de liste `submissions`")
    has_more = body.get("hasMore")
    if not isinstance(has_more, bool):
        raise bad("pas de booléen `hasMore`")
    questions = body.get("questions") or []
    if not isinstance(questions, list):
        raise bad("`questions` n'est pas une liste")
    # an item that cannot be named is left out (and counted: the list is then not complete);
    # one with an id is kept whatever else it holds: derivation holds it back with the reason
    named = [i for i in submissions if isinstance(i, dict) and isinstance(i.get("id"), str)]
    totals = body.get("totalNumberOfSubmissionsPerFilter")
    total = totals.get("completed") if isinstance(totals, dict) else None
    return Page(
        number=number,
        submissions=named,
        questions=[q for q in questions if isinstance(q, dict)],
        unnamed=len(submissions) - len(named),
        has_more=has_more,
        total_completed=total if isinstance(total, int) else None,
    )
