"""Extraction: Tally's form definition and its completed submissions, one page at a time."""

from __future__ import annotations

import contextvars
import queue
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bibia.settings import Settings
from bibia.steps import Step, StepName
from bibia.tally.client import MAX_PAGES, PAGE_LIMIT, Listing, Page, TallyClient
from schemas.errors import BibiaError, TallyError
from schemas.records import RawRow, Received
from schemas.times import iso_z, submitted_time, utc_naive
from warehouse import raw

PageCallback = Callable[[Page, int], None]  # (page, submissions so far)


@dataclass
class Window:
    """The submissions a run asks for: submitted in [since, until], both inclusive."""

    since: datetime | None
    until: datetime

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {
            "filter": "completed",
            "limit": PAGE_LIMIT,
            "endDate": iso_z(self.until),
        }
        if self.since is not None:
            params["startDate"] = iso_z(self.since)
        return params


def check_withdrawals(listing: Listing, gone: int, live: int, share: float, allowed: bool) -> None:
    """Before a full refresh withdraws the `gone` submissions (of `live`) that Tally no longer
    lists: the list must be complete, and past `share` of the register, `allowed` by the
    operator. Otherwise the run fails with one line, and changes nothing."""
    if not gone:
        return
    if not listing.complete:
        raise BibiaError(
            f"la liste de Tally semble incomplète ({listing.shortfall()}) : les {gone} "
            "soumission(s) qu'elle n'a pas listées ne sont pas retirées, rien n'a changé ; "
            "relancer plus tard"
        )
    cap = max(1, int(share * live))
    if gone > cap and not allowed:
        raise BibiaError(
            f"Tally ne liste plus {gone} des {live} soumissions ({gone / live:.0%}), plus que "
            f"BIBIA_MAX_WITHDRAWAL_SHARE ne le permet ({share:.0%}) : rien n'a changé ; si ces "
            "suppressions sont réelles, lancer `bibia sync --full --allow-withdrawals`"
        )


def fetch_form(client: TallyClient) -> dict[str, Any]:
    """The form definition (its blocks resolve choice option ids to texts)."""
    return client.get_form()


def fetch_questions(client: TallyClient) -> list[dict[str, Any]]:
    """The form's questions, deleted ones included (when no page carried them)."""
    body = client.get_json(
        f"/forms/{client.form_id}/questions", what=f"questions of form {client.form_id}"
    )
    questions = (body or {}).get("questions") if isinstance(body, dict) else None
    return [q for q in questions or [] if isinstance(q, dict) and "id" in q]


def fetch_page(client: TallyClient, window: Window, number: int) -> Page:
    """One page of completed submissions (the HTTP step: retried, see the client)."""
    return client.page(number, window.params())


FUTURE_TOLERANCE = timedelta(minutes=5)  # clocks differ: later than this is dated in the future


def future_dated(client: TallyClient, window: Window, now: datetime) -> str | None:
    """A note when Tally holds a submission dated later than now (a clock gone wrong): a run
    never reads one (it asks for what was sent before it started), so it is named here; it is
    read once its date has passed. One small request; never a failure."""
    params = {"filter": "completed", "limit": 1, "startDate": iso_z(window.until)}
    try:
        page = client.page(1, params)
    except BibiaError:
        return None
    dates = [submitted_time(s.get("submittedAt")) for s in page.submissions]
    ahead = [d for d in dates if d > utc_naive(now) + FUTURE_TOLERANCE]
    if not ahead:
        return None
    newest = f"{max(ahead):%Y-%m-%d %H:%M}"
    return (
        f"soumission datée dans le futur par Tally ({page.submissions[0]['id']}, {newest} UTC) : "
        "pas encore lue, elle le sera une fois cette date passée"
    )


def extract_all(settings: Settings, window: Window) -> list[dict[str, Any]]:
    """Every page's submissions in one list: the floor of the benchmark, nothing else."""
    out: list[dict[str, Any]] = []
    with TallyClient(settings) as client:
        for page in client.iter_pages(start=window.since, end=window.until):
            out.extend(page.submissions)
    return out


PREFETCH = 3  # pages fetched ahead of the processing, at most


@dataclass
class Fetched:
    """A page as a run keeps it: its completed submissions in canonical form (the parsed
    objects are dropped as soon as they are canonical), and how many were partial."""

    page: Page
    rows: list[RawRow]
    partial: int
    empty: bool  # the page carried no submission at all: the walk is over
    aside: list[Received]  # items that cannot be landed as they are (set aside, with why)


def prefetched_pages(
    step: Step, client: TallyClient, window: Window, listing: Listing
) -> Iterator[Fetched]:
    """Pages in order, fetched (and made canonical) by a thread that keeps up to PREFETCH pages
    ahead of the processing: the network and the CPU work at the same time. `listing` follows
    the walk: a page that repeats the list or goes past Tally's count stops it, and the run."""
    pages: queue.Queue[Fetched | BaseException | None] = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()
    context = contextvars.copy_context()  # as a Prefect task, a fetch keeps its flow run

    def put(item: Fetched | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for number in range(1, MAX_PAGES + 1):
                if stop.is_set():
                    return
                page = context.run(step, StepName.FETCH_PAGE, fetch_page, client, window, number)
                problem = listing.observe(page)
                if problem is not None:
                    raise TallyError(
                        f"la liste de Tally n'est pas fiable ({problem}) : l'exécution s'est "
                        "arrêtée, rien n'a changé"
                    )
                rows, partial, aside = raw.raw_rows_of(page.submissions)
                fetched = Fetched(page, rows, partial, not page.submissions, aside)
                page.submissions = []  # their canonical bytes are kept, not their objects
                if not put(fetched) or not page.has_more or fetched.empty:
                    break
            else:
                put(TallyError(f"Tally annonce encore hasMore après {MAX_PAGES} pages : arrêt"))
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        put(None)

    fetcher = threading.Thread(target=produce, name="bibia-fetch", daemon=True)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # hand the GIL to the fetcher soon after a page arrives
    fetcher.start()
    try:
        while (item := pages.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        fetcher.join(timeout=60)
        sys.setswitchinterval(switch)
