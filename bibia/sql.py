"""`bibia sql`: one read-only query on the warehouse with bibia's own DuckDB, printed as a
table (or CSV). The connection lives for the query only: a run waiting to write is held up for
no longer than the query takes."""

from __future__ import annotations

import csv
import io
import sys
from typing import Any

import duckdb

from bibia.settings import Settings
from schemas.errors import ConfigError
from schemas.text import printable
from warehouse.db import connect

MAX_ROWS = 1_000  # shown; the rest counted
MAX_WIDTH = 60  # characters of a cell, in the table


def run(settings: Settings, query: str, as_csv: bool = False) -> str:
    if query == "-":
        query = sys.stdin.read()
    if not query.strip():
        raise ConfigError(
            'requête vide : `bibia sql "SELECT ..."`, ou `-` pour la lire sur l\'entrée'
        )
    con = connect(settings.db_path, read_only=True)
    try:
        try:
            cursor = con.execute(query)
            names = [d[0] for d in cursor.description or []]
            rows = cursor.fetchmany(MAX_ROWS + 1)
        except duckdb.Error as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"requête refusée par DuckDB : {first}") from None
    finally:
        con.close()
    if not names:
        return "(requête exécutée, rien à afficher)"
    more = len(rows) > MAX_ROWS
    rows = rows[:MAX_ROWS]
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(names)
        writer.writerows([_cell(v, None) for v in row] for row in rows)
        return out.getvalue().rstrip("\n")
    return _table(names, rows, more)


def _cell(value: Any, width: int | None) -> str:
    text = "" if value is None else printable(str(value)).replace("\n", " ")
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def _table(names: list[str], rows: list[tuple[Any, ...]], more: bool) -> str:
    cells = [[_cell(v, MAX_WIDTH) for v in row] for row in rows]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    line = "  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in cells]
    count = f"{len(rows)} ligne(s)" + (f", les {MAX_ROWS} premières seulement" if more else "")
    return "\n".join([*out, f"({count})"])
