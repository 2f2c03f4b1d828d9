"""The `authorities` table: the enrichment's cache, keyed by SIRET."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, fields
from datetime import datetime

import duckdb
import pyarrow as pa

from bibia.enrichment.client import Authority

COLUMNS = [f.name for f in fields(Authority)]


def load_authorities(con: duckdb.DuckDBPyConnection, sirets: Iterable[str]) -> dict[str, Authority]:
    wanted = sorted(set(sirets))
    if not wanted:
        return {}
    con.register("wanted_sirets", pa.table({"siret": pa.array(wanted, pa.string())}))
    try:
        rows = con.execute(
            f"SELECT {', '.join(COLUMNS)} FROM authorities "
            "WHERE siret IN (SELECT siret FROM wanted_sirets)"
        ).fetchall()
    finally:
        con.unregister("wanted_sirets")
    return {row[0]: Authority(**dict(zip(COLUMNS, row, strict=True))) for row in rows}


def save_authorities(con: duckdb.DuckDBPyConnection, authorities: Iterable[Authority]) -> None:
    rows = {a.siret: asdict(a) for a in authorities}  # one row per SIRET before the upsert
    if not rows:
        return
    con.register("new_authorities", pa.Table.from_pylist(list(rows.values())))
    try:
        con.execute("DELETE FROM authorities WHERE siret IN (SELECT siret FROM new_authorities)")
        con.execute(
            f"INSERT INTO authorities ({', '.join(COLUMNS)}) "
            f"SELECT {', '.join(COLUMNS)} FROM new_authorities"
        )
    finally:
        con.unregister("new_authorities")


def expired_sirets(con: duckdb.DuckDBPyConnection, now: datetime) -> set[str]:
    """SIRETs of stored project versions whose cache entry has expired."""
    rows = con.execute(
        """SELECT DISTINCT a.siret FROM authorities a
           JOIN project_versions v ON v.coll_siret = a.siret
           WHERE a.expires_at <= ?""",
        [now],
    ).fetchall()
    return {siret for (siret,) in rows}


def refresh_coordinates(con: duckdb.DuckDBPyConnection, authorities: Iterable[Authority]) -> None:
    """Stored versions take their authority's refreshed point (a seat can move)."""
    rows = [
        {"siret": a.siret, "latitude": a.latitude, "longitude": a.longitude}
        for a in authorities
        if a.found
    ]
    if not rows:
        return
    con.register("refreshed_points", pa.Table.from_pylist(rows))
    try:
        con.execute(
            """UPDATE project_versions AS v SET latitude = r.latitude, longitude = r.longitude
               FROM refreshed_points r WHERE v.coll_siret = r.siret"""
        )
    finally:
        con.unregister("refreshed_points")
