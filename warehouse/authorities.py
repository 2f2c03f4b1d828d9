"""The `authorities` table: the enrichment's cache, keyed by SIRET."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from datetime import datetime

import duckdb
import pyarrow as pa

from schemas.records import Authority
from schemas.tables import columns_of
from warehouse.db import ids, insert_rows, with_rows

COLUMNS = columns_of("authorities")


def load_authorities(con: duckdb.DuckDBPyConnection, sirets: Iterable[str]) -> dict[str, Authority]:
    wanted = sorted(set(sirets))
    if not wanted:
        return {}
    rows = with_rows(
        con,
        f"SELECT {', '.join(COLUMNS)} FROM authorities WHERE siret IN (SELECT siret FROM incoming)",
        ids(wanted, "siret"),
    ).fetchall()
    return {row[0]: Authority(**dict(zip(COLUMNS, row, strict=True))) for row in rows}


def save_authorities(con: duckdb.DuckDBPyConnection, authorities: Iterable[Authority]) -> None:
    rows = {a.siret: asdict(a) for a in authorities}  # one row per SIRET before the upsert
    if not rows:
        return
    with_rows(
        con,
        "DELETE FROM authorities WHERE siret IN (SELECT siret FROM incoming)",
        ids(rows, "siret"),
    )
    insert_rows(con, "authorities", pa.Table.from_pylist(list(rows.values())), COLUMNS)


def expired_sirets(con: duckdb.DuckDBPyConnection, now: datetime) -> set[str]:
    """SIRETs of stored project versions whose cache entry has expired."""
    rows = con.execute(
        """SELECT DISTINCT a.siret FROM authorities a
           JOIN project_versions v ON v.coll_siret = a.siret
           WHERE a.expires_at <= ?""",
        [now],
    ).fetchall()
    return {siret for (siret,) in rows}


def refresh_coordinates(con: duckdb.DuckDBPyConnection, authorities: Iterable[Authority]) -> int:
    """Stored versions take their authority's refreshed point (a seat can move); return how
    many versions moved."""
    rows = [
        {"siret": a.siret, "latitude": a.latitude, "longitude": a.longitude}
        for a in authorities
        if a.found
    ]
    if not rows:
        return 0
    moved = with_rows(
        con,
        """UPDATE project_versions AS v SET latitude = r.latitude, longitude = r.longitude
           FROM incoming r
           WHERE v.coll_siret = r.siret
             AND (v.latitude IS DISTINCT FROM r.latitude
                  OR v.longitude IS DISTINCT FROM r.longitude)""",
        pa.Table.from_pylist(rows),
    ).fetchall()
    return int(moved[0][0]) if moved else 0
