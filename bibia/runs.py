"""A run's record: its report while it runs, its `sync_runs` row, how it ended."""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from bibia.steps import RunKind
from bibia.tally.client import TallyClient
from schemas.errors import BibiaError, Interrupted
from schemas.tables import columns_of
from schemas.times import now_utc


@dataclass
class RunReport:
    run_id: str
    kind: RunKind
    form_id: str | None
    started_at: datetime
    ended_at: datetime | None = None
    status: str = "running"
    fetched: int = 0
    new: int = 0
    updated: int = 0
    deleted: int = 0
    quarantined: int = 0
    exported: int = 0
    requests: int = 0
    error: str | None = None
    files_written: int | None = None  # export files rewritten (0: left as they were)
    notes: list[str] = field(default_factory=list)
    # met on the way, said in the notes (not columns of `sync_runs`)
    partial: int = 0  # partial submissions (never loaded)
    unnamed: int = 0  # items of Tally's pages without an id (nothing names them)
    aside: int = 0  # things received that could not be landed, set aside with their reason
    deliveries: list[str] = field(default_factory=list)  # what each target received, or why not
    mail: str | None = None  # what the messages did (BIBIA_MAIL log or on)

    def as_row(self) -> dict[str, Any]:
        """The report as its `sync_runs` row (the columns of the contract)."""
        row = asdict(self)
        return {name: row[name] for name in columns_of("sync_runs")}


def new_run_id(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def mark_interrupted(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Runs still `running` when a run starts (it holds the writer's lock: none is) died
    without ending (SIGKILL, a power cut): recorded as `interrupted`. Returns how many."""
    found = con.execute(
        "UPDATE sync_runs SET status = 'interrupted', ended_at = ?, "
        "error = coalesce(error, 'the process stopped before the run ended (killed?); "
        "nothing of it was kept') WHERE status = 'running'",
        [now],
    ).fetchall()
    return int(found[0][0]) if found else 0


def record(con: duckdb.DuckDBPyConnection, report: RunReport) -> None:
    row = report.as_row()
    columns = list(row)
    con.execute(
        f"INSERT OR REPLACE INTO sync_runs ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})",
        [row[c] for c in columns],
    )


def finish(
    con: duckdb.DuckDBPyConnection,
    report: RunReport,
    client: TallyClient | None,
    error: BaseException | None,
) -> None:
    report.ended_at = now_utc()
    stopped = isinstance(error, Interrupted | KeyboardInterrupt)
    report.status = "interrupted" if stopped else "failed" if error else "succeeded"
    if client is not None:
        report.requests = client.requests_made
    if error is not None:
        text = str(error) if isinstance(error, BibiaError) else f"{type(error).__name__}: {error}"
        report.error = text.splitlines()[0] if text else type(error).__name__
    try:
        record(con, report)
    except duckdb.Error:  # e.g. interrupted by the signal that is stopping the run: once more
        record(con, report)
