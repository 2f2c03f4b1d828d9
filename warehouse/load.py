"""Writing derived records to the warehouse (inside the run's transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from schemas.project import arrow_schema
from schemas.tables import Quarantine
from transforms.derive import Derived, RawRow
from transforms.taxonomy import Taxonomy

QUARANTINE_COLUMNS = list(Quarantine.to_schema().columns)


def raw_rows(con: duckdb.DuckDBPyConnection, form_id: str, ids: Iterable[str]) -> list[RawRow]:
    """The live (not deleted) raw submissions of the form among `ids`, payloads as JSON text."""
    query = """SELECT submission_id, submitted_at, payload::VARCHAR FROM raw_tally_submissions
               WHERE form_id = ? AND deleted_at IS NULL"""
    table = pa.table({"submission_id": pa.array(sorted(set(ids)), pa.string())})
    con.register("wanted_ids", table)
    try:
        rows: list[RawRow] = con.execute(
            query + " AND submission_id IN (SELECT submission_id FROM wanted_ids)"
            " ORDER BY submission_id",
            [form_id],
        ).fetchall()
    finally:
        con.unregister("wanted_ids")
    return rows


Since = dict[str, tuple[str, datetime]]  # quarantined submission -> (run, when) held since


def clear_derived(con: duckdb.DuckDBPyConnection, touched: Iterable[str] | None) -> Since:
    """Remove what was derived for the `touched` submissions (None: for all of them); return
    since when those in quarantine were held, so that a submission staying there keeps it."""
    if touched is None:
        scope = "TRUE"
    else:
        con.register(
            "touched_ids", pa.table({"submission_id": pa.array(sorted(set(touched)), pa.string())})
        )
        scope = "submission_id IN (SELECT submission_id FROM touched_ids)"
    try:
        since = {
            sid: (run, at)
            for sid, run, at in con.execute(
                f"SELECT submission_id, since_run_id, since_at FROM quarantine WHERE {scope}"
            ).fetchall()
        }
        for table in ("project_versions", "quarantine", "validation_issues"):
            con.execute(f"DELETE FROM {table} WHERE {scope}")
    finally:
        if touched is not None:
            con.unregister("touched_ids")
    return since


def insert_derived(
    con: duckdb.DuckDBPyConnection, derived: Derived, since: Since, run_id: str, now: datetime
) -> None:
    if derived.versions:
        schema = arrow_schema()
        versions = pa.Table.from_pylist(derived.versions, schema=schema)
        con.register("new_versions", versions)
        try:
            con.execute(
                f"INSERT INTO project_versions ({', '.join(schema.names)}) "
                f"SELECT {', '.join(schema.names)} FROM new_versions"
            )
        finally:
            con.unregister("new_versions")
    if derived.quarantined:
        rows = []
        for held in derived.quarantined:
            since_run, since_at = since.get(held["submission_id"], (run_id, now))
            rows.append({**held, "since_run_id": since_run, "since_at": since_at})
        _insert(con, "quarantine", rows, QUARANTINE_COLUMNS)
    if derived.issues:
        rows = [{**issue, "run_id": run_id} for issue in derived.issues]
        _insert(
            con,
            "validation_issues",
            rows,
            ["run_id", "submission_id", "field", "value", "severity", "message"],
        )


def _insert(
    con: duckdb.DuckDBPyConnection, table: str, rows: list[dict[str, Any]], columns: list[str]
) -> None:
    data = pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    con.register("rows_to_insert", data)
    try:
        con.execute(
            f"INSERT INTO {table} ({', '.join(columns)}) "
            f"SELECT {', '.join(columns)} FROM rows_to_insert"
        )
    finally:
        con.unregister("rows_to_insert")


def replace_taxonomy(con: duckdb.DuckDBPyConnection, taxonomy: Taxonomy) -> None:
    con.execute("DELETE FROM taxonomy_terms")
    _insert(
        con,
        "taxonomy_terms",
        taxonomy.rows(),
        [
            "vocabulary",
            "code",
            "label",
            "parent_code",
            "group_label",
            "position",
            "taxonomy_version",
        ],
    )
