"""Time, as the warehouse keeps it: instants in UTC, naive (no offset), and the ISO-8601 texts
Tally and the decisions file use."""

from __future__ import annotations

from datetime import UTC, datetime


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def parse_iso(value: str) -> datetime:
    """An ISO-8601 text (`Z` for UTC accepted) as a datetime, aware when it carries an offset."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def utc_naive(value: str | datetime) -> datetime:
    """An instant (ISO-8601 text or datetime) as a naive UTC datetime, as `*_at` columns hold."""
    moment = parse_iso(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


UNKNOWN_TIME = datetime(1970, 1, 1)  # a submission whose `submittedAt` cannot be read (held back)


def submitted_time(value: object) -> datetime:
    """A submission's `submittedAt` as a naive UTC datetime; UNKNOWN_TIME when it is absent or
    unreadable (the submission is landed, then held back with the reason)."""
    if not isinstance(value, str):
        return UNKNOWN_TIME
    try:
        return utc_naive(value)
    except (ValueError, OverflowError):
        return UNKNOWN_TIME


def iso_z(moment: datetime) -> str:
    """`2024-12-30T09:02:01.000Z`, the format Tally uses (a naive datetime is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def seconds_z(moment: datetime) -> str:
    """`2026-11-27T10:00:00Z` (a naive datetime is taken as UTC): how the decisions file writes
    its times."""
    return utc_naive(moment).strftime("%Y-%m-%dT%H:%M:%SZ")
