"""The public and restricted exports: CSV, Parquet and datapackage.json, written aside and
renamed into place only after the database commit."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import duckdb

from schemas.datapackage import EXPORT_NAME, LIST_DELIMITER, datapackage
from schemas.project import PUBLIC, RESTRICTED, columns_meta, export_columns
from transforms.taxonomy import Taxonomy
from warehouse.db import scalar

VIEWS = {PUBLIC: "public_projects", RESTRICTED: "restricted_projects"}
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
            for name in (f"{EXPORT_NAME}.csv", f"{EXPORT_NAME}.parquet", "datapackage.json"):
                os.replace(self.staging / access / name, final_dir / name)
        shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)


def _csv_select(access: str) -> str:
    """The export view's columns as CSV text: lists joined, formula-like text neutralised."""
    columns = columns_meta()
    parts = []
    for name in export_columns(access):
        kind = columns[name].metadata["kind"]
        if kind == "number":
            parts.append(name)
            continue
        value = f"array_to_string({name}, '{LIST_DELIMITER}')" if kind == "enum_list" else name
        parts.append(
            f"CASE WHEN regexp_matches({value}, '{FORMULA_START}') "
            f"THEN '''' || {value} ELSE {value} END AS {name}"
        )
    return f"SELECT {', '.join(parts)} FROM {VIEWS[access]} ORDER BY projet_id"


def clean_stale_staging(export_dir: Path) -> None:
    """Staging folders left by a run that died before publishing."""
    if export_dir.exists():
        for stale in export_dir.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)


def stage_exports(
    con: duckdb.DuckDBPyConnection, export_dir: Path, run_id: str, taxonomy: Taxonomy
) -> StagedExport:
    staging = export_dir / f".staging-{run_id}"
    rows = 0
    for access in (PUBLIC, RESTRICTED):
        folder = staging / access
        folder.mkdir(parents=True, exist_ok=True)
        if access == RESTRICTED:
            folder.chmod(0o700)
        view = VIEWS[access]
        csv_path, parquet_path = folder / f"{EXPORT_NAME}.csv", folder / f"{EXPORT_NAME}.parquet"
        con.execute(
            f"COPY ({_csv_select(access)}) TO '{csv_path}' "
            "(FORMAT csv, HEADER true, DELIMITER ',', QUOTE '\"', ESCAPE '\"')"
        )
        con.execute(
            f"COPY (SELECT * FROM {view} ORDER BY projet_id) TO '{parquet_path}' "
            "(FORMAT parquet, COMPRESSION zstd)"
        )
        package = folder / "datapackage.json"
        package.write_text(
            json.dumps(datapackage(access, taxonomy), ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8",
        )
        if access == RESTRICTED:
            for path in (csv_path, parquet_path, package):
                path.chmod(0o600)
        rows = int(scalar(con, f"SELECT count(*) FROM {view}"))
    return StagedExport(staging=staging, target=export_dir, rows=rows)
