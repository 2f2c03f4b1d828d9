"""The public and restricted exports: CSV, Parquet and datapackage.json, written aside and
renamed into place only after the database commit."""

from __future__ import annotations

import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow
from pyarrow import csv, parquet

from schemas.datapackage import EXPORT_NAME, LIST_DELIMITER, datapackage
from schemas.project import PUBLIC, RESTRICTED, arrow_schema, columns_meta, export_columns
from transforms.taxonomy import Taxonomy

PROJECTS_VIEW = "projects"  # the latest valid version of each project
CSV_OPTIONS = csv.WriteOptions(include_header=True, delimiter=",", quoting_style="needed")
FORMULA_START = r"^[=+\-@\t\r]"  # what a spreadsheet would run as a formula


@dataclass
class StagedExport:
    """Files written in a staging folder, waiting to be renamed into place."""

    staging: Path
    target: Path
    rows: int

    def publish(self) -> None:
        """Rename each staged file over its final path (atomic per file), datapackage last."""
        for access in (PUBLIC, RESTRICTED):
            final_dir = self.target / access
            final_dir.mkdir(parents=True, exist_ok=True)
            if access == RESTRICTED:
                final_dir.chmod(0o700)
            staged = sorted(
                (self.staging / access).iterdir(), key=lambda p: p.name == "datapackage.json"
            )
            for path in staged:
                os.replace(path, final_dir / path.name)
        shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _csv_select(names: list[str], source: str) -> str:
    """The columns as CSV text: lists joined, formula-like text neutralised."""
    columns = columns_meta()
    parts = []
    for name in names:
        kind = columns[name].metadata["kind"]
        if kind == "number":
            parts.append(name)
            continue
        value = f"array_to_string({name}, '{LIST_DELIMITER}')" if kind == "enum_list" else name
        parts.append(csv_text(value, name))
    return f"SELECT {', '.join(parts)} FROM {source}"


def csv_text(value: str, name: str) -> str:
    """SQL rendering a text expression as a CSV cell named `name`: formula-like text
    neutralised (a spreadsheet would run it)."""
    return (
        f"CASE WHEN regexp_matches({value}, '{FORMULA_START}') "
        f"THEN '''' || {value} ELSE {value} END AS {name}"
    )


QUARANTINE_FILE = "quarantine.csv"
# What a curator's mail merge needs of each submission that waits for a correction.
_HELD = """
    SELECT q.submission_id,
           strftime(q.submitted_at, '%Y-%m-%d %H:%M') AS envoyee_le,
           strftime(q.since_at, '%Y-%m-%d') AS retenue_depuis,
           q.coll_nom, q.nom_projet, q.coll_siret, q.projet_contact,
           (SELECT string_agg(i.field
                              || CASE WHEN i.value IS NULL OR contains(i.message, i.value)
                                      THEN '' ELSE ' = « ' || i.value || ' »' END
                              || ' : ' || i.message, ' | ' ORDER BY i.field)
            FROM validation_issues i
            WHERE i.submission_id = q.submission_id AND i.severity = 'error') AS motifs,
           q.lien_correction
    FROM quarantine q
    WHERE q.released_by IS NULL
    ORDER BY q.submitted_at, q.submission_id
"""


def _stage_quarantine(con: duckdb.DuckDBPyConnection, folder: Path) -> None:
    """`quarantine.csv` (restricted): each held submission, whom to write to, why, and the
    link that lets its contributor send a correction."""
    held = _streamed(con, _HELD)
    con.register("held_rows", held)
    try:
        cells = ", ".join(csv_text(name, name) for name in held.column_names)
        rendered = _streamed(con, f"SELECT {cells} FROM held_rows")
    finally:
        con.unregister("held_rows")
    csv.write_csv(rendered, folder / QUARANTINE_FILE, CSV_OPTIONS)


def _streamed(con: duckdb.DuckDBPyConnection, sql: str) -> pyarrow.Table:
    """The query's rows as Arrow, streamed: DuckDB never holds the whole result (a run gives it
    little memory), Arrow does."""
    return con.sql(sql).to_arrow_reader(10_000).read_all()


def clean_stale_staging(export_dir: Path) -> None:
    """Staging folders left by a run that died before publishing."""
    if export_dir.exists():
        for stale in export_dir.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)


def stage_exports(
    con: duckdb.DuckDBPyConnection, export_dir: Path, run_id: str, taxonomy: Taxonomy
) -> StagedExport:
    """Read the exported columns once, inside the run's transaction, and sort them in Arrow
    (which spares DuckDB's small budget); then write both exports from that snapshot, the
    public one with the public columns only. Arrow writes the Parquet files while DuckDB
    renders the CSV text (both release the GIL); one chunk per column keeps the bytes the same
    for the same data."""
    staging = export_dir / f".staging-{run_id}"
    folders = {access: staging / access for access in (PUBLIC, RESTRICTED)}
    for access, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        if access == RESTRICTED:
            folder.chmod(0o700)
    names = export_columns(RESTRICTED)
    snapshot = (
        _streamed(con, f"SELECT {', '.join(names)} FROM {PROJECTS_VIEW}")
        .sort_by("projet_id")
        .cast(arrow_schema(names))
        .combine_chunks()
    )
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="bibia-export") as pool:
        writing = [
            pool.submit(
                parquet.write_table,
                snapshot.select(export_columns(access)),
                folder / f"{EXPORT_NAME}.parquet",
                compression="zstd",
            )
            for access, folder in folders.items()
        ]
        con.register("export_snapshot", snapshot)
        try:
            as_text = _streamed(con, _csv_select(names, "export_snapshot")).combine_chunks()
        finally:
            con.unregister("export_snapshot")
        writing += [
            pool.submit(
                csv.write_csv,
                as_text.select(export_columns(access)),
                folder / f"{EXPORT_NAME}.csv",
                CSV_OPTIONS,
            )
            for access, folder in folders.items()
        ]
        for access, folder in folders.items():
            (folder / "datapackage.json").write_text(
                json.dumps(datapackage(access, taxonomy), ensure_ascii=False, indent=2) + "\n",
                encoding="utf-8",
            )
        for written in writing:
            written.result()
    _stage_quarantine(con, folders[RESTRICTED])
    for path in folders[RESTRICTED].iterdir():
        path.chmod(0o600)
    return StagedExport(staging=staging, target=export_dir, rows=snapshot.num_rows)
