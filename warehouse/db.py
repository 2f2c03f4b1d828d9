"""Opening the warehouse: one writer at a time, migrations applied."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow

from bibia.errors import BibiaError, RunLockedError
from warehouse.migrate import migrate


@contextlib.contextmanager
def writer_lock(db_path: Path, timeout_seconds: float = 0.0) -> Iterator[None]:
    """An exclusive lock beside the database file, held for a whole run (database and exports).
    A second run waits up to `timeout_seconds`, then stops with a clear message."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    lock_path = db_path.with_name(db_path.name + ".lock")
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockedError(
                        f"another bibia run is using {db_path}; try again when it ends "
                        "(or set BIBIA_LOCK_TIMEOUT_SECONDS to wait)"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def return_freed_memory() -> None:
    """Have Arrow allocate with jemalloc where the wheel has it. Every batch goes to DuckDB as
    Arrow tables; mimalloc, Arrow's default here, keeps the pages they are freed into (the
    process grew ~20 MB a batch), jemalloc gives them back. A process-wide choice, made by
    the process that runs a job."""
    with contextlib.suppress(NotImplementedError, AttributeError):
        pyarrow.set_memory_pool(pyarrow.jemalloc_memory_pool())


def connect(
    db_path: Path, read_only: bool = False, memory_limit: str = "256MB"
) -> duckdb.DuckDBPyConnection:
    """A connection with every migration applied (read-only: as the file is)."""
    if read_only and not db_path.exists():
        raise BibiaError(f"no warehouse at {db_path} yet: run `bibia sync` first")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        con = duckdb.connect(
            str(db_path), read_only=read_only, config={"memory_limit": memory_limit}
        )
    except duckdb.IOException as exc:
        raise RunLockedError(f"cannot open {db_path}: {str(exc).splitlines()[0]}") from None
    if not read_only:
        migrate(con)
    return con


def first_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None
) -> tuple[Any, ...] | None:
    """The first row of a query, with the result fully consumed (duckdb 2 refuses new work on a
    connection whose last result was only partly fetched)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None) -> Any:
    row = first_row(con, sql, params)
    return row[0] if row else None
