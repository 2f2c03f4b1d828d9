"""Records that cross layers: defined once, here, for the transforms, the warehouse and the
application alike."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, TypedDict


class RawRow(NamedTuple):
    """A completed submission as it is landed and stored: its id, when Tally received it
    (UTC, naive), its payload as canonical JSON (keys sorted, no spaces: the same bytes for the
    same content), that JSON's sha256 and the respondent."""

    submission_id: str
    submitted_at: datetime
    payload: bytes | str
    content_hash: str = ""
    respondent_id: str | None = None


class Issue(TypedDict):
    """A problem found in a submission, as `validation_issues` keeps it (its run aside): an
    error holds the submission back, a warning does not."""

    submission_id: str
    field: str
    value: str | None
    severity: str
    message: str


@dataclass
class Authority:
    """An authority as the official register knows it (the `authorities` table)."""

    siret: str
    siren: str
    found: bool
    official_name: str | None = None
    legal_category: str | None = None
    legal_category_label: str | None = None
    unit_state: str | None = None
    establishment_state: str | None = None
    commune_insee: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    coords_source: str | None = None
    fetched_at: datetime | None = None
    expires_at: datetime | None = None

    def fresh(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at > now


class Received(NamedTuple):
    """Something received that a run could not land, with why: it is set aside (`set_aside`)."""

    source: str  # api or webhook
    submission_id: str | None
    reason: str  # in French
    received: str  # what came, escaped and cut
    spool_file: str | None = None
