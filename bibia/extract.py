"""Extraction: everything a run needs from Tally, read before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bibia.settings import Settings
from bibia.tally.client import Page, TallyClient

PageCallback = Callable[[Page, int], None]  # (page, submissions so far)


@dataclass
class Extracted:
    form_id: str
    questions: list[dict[str, Any]]
    definition: dict[str, Any] | None
    submissions: list[dict[str, Any]] = field(default_factory=list)
    pages: int = 0
    requests: int = 0
    retries: int = 0


def extract(
    settings: Settings,
    since: datetime | None,
    until: datetime,
    on_page: PageCallback | None = None,
) -> Extracted:
    """The form definition (for option ids), then every completed submission submitted in
    [since, until], both inclusive; `since=None` reads the whole form."""
    with TallyClient(settings) as client:
        definition = client.get_form()
        questions: dict[str, dict[str, Any]] = {}
        out = Extracted(form_id=client.form_id, questions=[], definition=definition)
        for page in client.iter_pages(start=since, end=until):
            for question in page.questions:
                if isinstance(question, dict) and "id" in question:
                    questions[str(question["id"])] = question
            out.submissions.extend(page.submissions)
            out.pages += 1
            if on_page is not None:
                on_page(page, len(out.submissions))
        if not questions:  # an empty window may come without questions: ask for them
            body = client.get_json(
                f"/forms/{client.form_id}/questions", what=f"questions of form {client.form_id}"
            )
            for question in (body or {}).get("questions") or []:
                if isinstance(question, dict) and "id" in question:
                    questions[str(question["id"])] = question
        out.questions = list(questions.values())
        out.requests, out.retries = client.requests_made, client.retries
    return out
