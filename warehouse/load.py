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
from warehouse.db import insert_rows, with_rows

QUARANTINE_COLUMNS = columns_of("quarantine")


def raw_rows(
    con: duckdb.DuckDBPyConnection, form_id: str, wanted: Iterable[str], chunk: int = 1_000
) -> Iterator[list[RawRow]]:
    """The live (not deleted) raw submissions of the form among `wanted`, payloads as JSON
    text, `chunk` at a time: what is held is a chunk's payloads, whatever the form's size; no
    query at all when nothing is wanted (a scan of the payloads inside a run's transaction
    needs DuckDB memory the run may not have: a run with nothing to do failed so at 50,000)."""
    every = sorted(set(wanted))
    query = """SELECT submission_id, submitted_at, payload::VARCHAR FROM raw_tally_submissions
               WHERE form_id = ? AND deleted_at IS NULL
                 AND submission_id IN (SELECT submission_id FROM incoming)
               ORDER BY submission_id"""
    for start in range(0, len(every), chunk):
        found = with_rows(con, query, id_table(every[start : start + chunk]), [form_id])
        rows = [RawRow(*row) for row in found.fetchall()]
        if rows:
            yield rows


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
