"""Writing derived records to the warehouse (inside the run's transaction)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

import duckdb
import pyarrow as pa

from schemas.records import RawRow
from schemas.tables import columns_of
from schemas.taxonomy import Taxonomy
from transforms.derive import ISSUE_COLUMNS, DerivedTables
from warehouse.db import ids as id_table
from warehouse.db import insert_rows, one_thread, rowid_ranges, with_rows

QUARANTINE_COLUMNS = columns_of("quarantine")


def raw_rows(
    con: duckdb.DuckDBPyConnection, form_id: str, wanted: Iterable[str], chunk: int = 1_000
) -> Iterator[list[RawRow]]:
    """The live (not deleted) raw submissions of the form among `wanted`, payloads as JSON
    text, about `chunk` at a time, in storage order. What DuckDB and Python hold is a chunk's
    payloads, whatever the form's size: the rows are first found by their narrow columns (ids,
    form, deletion), then read back by ranges of `rowid`, which DuckDB reads from those rows
    only. A semi-join on the ids scanned every payload of the table for each chunk (at 50,000
    submissions of 6 KB, past a run's 48 MB: the rebuild and a run's re-derivation failed so).
    No query at all when nothing is wanted."""
    every = sorted(set(wanted))
    if not every:
        return
    found = with_rows(
        con,
        """SELECT rowid FROM raw_tally_submissions
           WHERE form_id = ? AND deleted_at IS NULL
             AND submission_id IN (SELECT submission_id FROM incoming)
           ORDER BY rowid""",
        id_table(every),
        [form_id],
    ).fetchall()
    rowids = [r[0] for r in found]
    keep = set(rowids)
    with one_thread(con):
        for low, high in rowid_ranges(rowids, chunk):
            rows = con.execute(
                """SELECT rowid, submission_id, submitted_at, payload::VARCHAR
                   FROM raw_tally_submissions WHERE rowid BETWEEN ? AND ?""",
                [low, high],
            ).fetchall()
            picked = [RawRow(sid, at, p) for rowid, sid, at, p in rows if rowid in keep]
            if picked:
                yield picked


HeldSince = dict[str, tuple[str, datetime]]  # quarantined submission -> (run, when) held since


def clear_derived(con: duckdb.DuckDBPyConnection, touched: Iterable[str] | None) -> HeldSince:
    """Remove what was derived for the `touched` submissions (None: for all of them); return
    since when those in quarantine were held, so that a submission staying there keeps it."""
    scope = "TRUE" if touched is None else "submission_id IN (SELECT submission_id FROM incoming)"
    scoped = id_table(touched or [])
    since = {
        sid: (run, at)
        for sid, run, at in with_rows(
            con,
            f"SELECT submission_id, since_run_id, since_at FROM quarantine WHERE {scope}",
            scoped,
        ).fetchall()
    }
    for table in ("project_versions", "quarantine", "validation_issues"):
        with_rows(con, f"DELETE FROM {table} WHERE {scope}", scoped)
    return since


def insert_derived(
    con: duckdb.DuckDBPyConnection,
    derived: DerivedTables,
    since: HeldSince,
    run_id: str,
    now: datetime,
) -> None:
    """Load a derived batch; a submission held again keeps since when it was held."""
    if derived.versions.num_rows:
        insert_rows(con, "project_versions", derived.versions, derived.versions.column_names)
    held = derived.quarantined
    if held.num_rows:
        firsts = [since.get(sid, (run_id, now)) for sid in held.column("submission_id").to_pylist()]
        held = held.append_column(
            "since_run_id", pa.array([run for run, _ in firsts], pa.string())
        ).append_column("since_at", pa.array([at for _, at in firsts], pa.timestamp("us")))
        insert_rows(con, "quarantine", held, held.column_names)
    if derived.issues.num_rows:
        issues = derived.issues.append_column(
            "run_id", pa.array([run_id] * derived.issues.num_rows, pa.string())
        )
        insert_rows(con, "validation_issues", issues, ["run_id", *ISSUE_COLUMNS])


def replace_taxonomy(con: duckdb.DuckDBPyConnection, taxonomy: Taxonomy) -> None:
    con.execute("DELETE FROM taxonomy_terms")
    insert_rows(con, "taxonomy_terms", taxonomy.rows(), columns_of("taxonomy_terms"))
