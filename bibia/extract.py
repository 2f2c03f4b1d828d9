"""Extraction: Tally's form definition and its completed submissions, one page at a time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bibia.settings import Settings
from bibia.tally.client import PAGE_LIMIT, Page, TallyClient
from schemas.times import iso_z

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


def extract_all(settings: Settings, window: Window) -> list[dict[str, Any]]:
    """Every page's submissions in one list: the floor of the benchmark, nothing else."""
    out: list[dict[str, Any]] = []
    with TallyClient(settings) as client:
        for page in client.iter_pages(start=window.since, end=window.until):
            out.extend(page.submissions)
    return out
