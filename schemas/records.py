"""Records that cross layers: defined once, here, for the transforms, the warehouse and the
application alike."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class RawRow(NamedTuple):
    """A completed submission as it is landed and stored: its id, when Tally received it
    (UTC, naive), its payload as canonical JSON (keys sorted, no spaces: the same bytes for the
    same content), that JSON's sha256 and the respondent."""

    submission_id: str
    submitted_at: datetime
    payload: bytes | str
    content_hash: str = ""
    respondent_id: str | None = None
