"""Opening the warehouse: one writer at a time, migrations applied."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pyarrow

from schemas.errors import BibiaError, ConfigError, RunLockedError
from warehouse.migrate import migrate


def make_folder(folder: Path, setting: str) -> None:
    """`folder` and its parents, or one line naming the setting that points there."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"{setting} : impossible de créer le dossier {folder} : {exc.strerror or exc}"
        ) from None


@contextlib.contextmanager
def owner_only() -> Iterator[None]:
    """Files and folders created meanwhile are their owner's only: the warehouse, its WAL and
    its spill files hold contact e-mails. (Public exports get their modes when published.)"""
    before = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(before)


@contextlib.contextmanager
def writer_lock(db_path: Path, timeout_seconds: float = 0.0) -> Iterator[None]:
    """An exclusive lock beside the database file, held for a whole run (database and exports).
    A second run waits up to `timeout_seconds`, then stops with a clear message."""
    make_folder(db_path.parent, "BIBIA_DB")
    lock_path = db_path.with_name(db_path.name + ".lock")
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    deadline = time.monotonic() + timeout_seconds
    try:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.ftruncate(handle, 0)  # who holds it, for `bibia status` meanwhile
                os.pwrite(handle, f"{os.getpid()} {time.time():.0f}\n".encode(), 0)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise RunLockedError(
                        f"une autre exécution de bibia utilise {db_path} : réessayer quand "
                        "elle aura fini (ou BIBIA_LOCK_TIMEOUT_SECONDS pour l'attendre)"
                    ) from None
                time.sleep(0.2)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(handle, fcntl.LOCK_UN)
        os.close(handle)


def lock_holder(db_path: Path) -> tuple[int, float] | None:
    """(pid, since when, epoch seconds) of the run holding the writer's lock, if one does."""
    lock_path = db_path.with_name(db_path.name + ".lock")
    try:
        handle = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.pread(handle, 64, 0).decode(errors="replace").split()
        os.close(handle)
        try:
            return int(text[0]), float(text[1])
        except (IndexError, ValueError):
            return 0, 0.0
    os.close(handle)  # nobody holds it
    return None


def connect(
    db_path: Path,
    read_only: bool = False,
    memory_limit: str = "256MB",
    wait_seconds: float = 0.0,
) -> duckdb.DuckDBPyConnection:
    """A connection with every migration applied (read-only: as the file is). While another
    process has the file open (an analyst's connection), try again for up to `wait_seconds`."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return _connect(db_path, read_only, memory_limit)
        except RunLockedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.2)


def _connect(db_path: Path, read_only: bool, memory_limit: str) -> duckdb.DuckDBPyConnection:
    if read_only and not db_path.exists():
        raise ConfigError(f"pas d'entrepôt à {db_path} : lancer d'abord `bibia sync`")
    make_folder(db_path.parent, "BIBIA_DB")
    try:
        if read_only:
            con = duckdb.connect(
                str(db_path), read_only=True, config={"memory_limit": memory_limit}
            )
        else:
            for path in (db_path, db_path.with_name(db_path.name + ".wal")):
                if path.exists() and path.stat().st_mode & 0o077:
                    path.chmod(0o600)  # made by an older bibia, or by hand
            spill = db_path.with_name(db_path.name + ".tmp")  # past the memory limit
            con = duckdb.connect(
                ":memory:",
                config={"memory_limit": memory_limit, "temp_directory": str(spill)},
            )
            con.execute(
                f"ATTACH '{_quoted(db_path)}' AS {WAREHOUSE} (ROW_GROUP_SIZE {ROW_GROUP_SIZE})"
            )
            con.execute(f"USE {WAREHOUSE}")
            migrate(con)
    except duckdb.IOException as exc:
        text = str(exc).splitlines()[0]
        if "lock" in text.lower():
            holder = re.search(r"PID (\d+)", text)
            who = f"le processus {holder.group(1)}" if holder else "un autre processus"
            raise RunLockedError(
                f"l'entrepôt {db_path} est ouvert par {who} (une connexion d'analyste, même en "
                "lecture, empêche une exécution d'écrire) : fermer cette connexion et "
                "relancer, ou laisser plus de temps (BIBIA_READER_WAIT_SECONDS)"
            ) from None
        raise BibiaError(
            f"impossible d'ouvrir l'entrepôt {db_path}, abîmé ? ({text}) ; restaurer une copie, "
            "ou le mettre de côté et lancer `bibia sync --full` pour le refaire"
        ) from None
    except duckdb.Error as exc:
        raise BibiaError(
            f"impossible d'ouvrir l'entrepôt {db_path}, abîmé ? ({str(exc).splitlines()[0]}) ; "
            "restaurer une copie, ou le mettre de côté et lancer `bibia sync --full` pour le "
            "refaire"
        ) from None
    return con


WAREHOUSE = "warehouse"  # the name the writer attaches the file under
# Rows per row group of the writer. A run's inserts stay in its transaction until the commit;
# once they fill a row group, DuckDB writes it to the file right away ("optimistic writes")
# instead of spilling it to a temporary file under the run's small memory limit and writing
# it again at the commit. With DuckDB's default (122,880 rows) a run of 50,000 submissions
# never fills one: the payloads were written twice and the commit took seconds. Measured in
# docs/benchmarks.md ("Where the payloads go").
ROW_GROUP_SIZE = 16_384


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


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


def with_rows(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    rows: pyarrow.Table,
    params: list[object] | dict[str, object] | None = None,
) -> duckdb.DuckDBPyConnection:
    """Run `sql`, in which the name `incoming` is the Arrow table `rows` (DuckDB reads a
    Python variable of that name). Not `register`: DuckDB 2 keeps a registered table alive
    until the transaction ends, so a run held every batch it had inserted (measured: 8 MB of
    Arrow memory a batch, until the commit)."""
    incoming = rows  # noqa: F841 - read by name, from `sql`
    return con.execute(sql, params if params is not None else [])


PART_KEYS = 65_536  # keys a join over every file or project holds at once
WHOLE_PART = re.compile(r"hash\((?:[^()]|\([^()]*\))*\) % \{k\} = \{b\}")  # a part's test


def in_parts(
    con: duckdb.DuckDBPyConnection,
    sql: str,
    keys: int,
    params: list[object] | dict[str, object] | None = None,
    rows: pyarrow.Table | None = None,
) -> list[tuple[Any, ...]]:
    """Run `sql` once for each part of about `PART_KEYS` of `keys` keys, and return every row
    found. In `sql`, `{k}` and `{b}` are the number of parts and the part's own
    (`hash(key) % {k} = {b}` keeps a part's keys); `incoming` is `rows`, as in `with_rows`.
    A join over every published file (400,000 paths at 200,000 projects) ran out of DuckDB's
    memory limit in one piece, without spilling; in parts, each holds a part of the keys."""
    count = max(1, -(-keys // PART_KEYS))
    if count == 1:  # one part: every key, without hashing each (a quarter of such a join)
        sql = WHOLE_PART.sub("true", sql)
    found: list[tuple[Any, ...]] = []
    for part in range(count):
        text = sql.replace("{k}", str(count)).replace("{b}", str(part))
        if rows is None:
            found += con.execute(text, params if params is not None else []).fetchall()
        else:
            found += with_rows(con, text, rows, params).fetchall()
    return found


def ids(values: Iterable[str], name: str = "submission_id") -> pyarrow.Table:
    """A one-column table of distinct ids, to join with in `with_rows`."""
    return pyarrow.table({name: pyarrow.array(sorted(set(values)), pyarrow.string())})


def insert_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pyarrow.Table | list[dict[str, Any]],
    columns: list[str],
) -> None:
    """Append `rows` (dicts or an Arrow table) to `table`, by column name."""
    if not isinstance(rows, pyarrow.Table):
        if not rows:
            return
        rows = pyarrow.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows])
    names = ", ".join(columns)
    with_rows(con, f"INSERT INTO {table} ({names}) SELECT {names} FROM incoming", rows)


@contextlib.contextmanager
def one_thread(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """DuckDB on one thread meanwhile: each thread of a scan pins its own blocks of payloads,
    and two of them filled a run's 48 MB at 20,000 payloads of 6 KB (measured: one thread
    read all 20,000 in 1.1 s where two failed)."""
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    con.execute("SET threads = 1")
    try:
        yield
    finally:
        con.execute(f"SET threads = {int(threads)}")


def rowid_ranges(rowids: list[int], chunk: int) -> Iterator[tuple[int, int]]:
    """Ranges [low, high] of the sorted `rowids`, each holding at most `chunk` of them and
    spanning at most 2 x `chunk` rows (what a range reads beyond the wanted rows is bounded)."""
    start = 0
    while start < len(rowids):
        end = start
        while (
            end + 1 < len(rowids)
            and end + 1 - start < chunk
            and rowids[end + 1] - rowids[start] < 2 * chunk
        ):
            end += 1
        yield rowids[start], rowids[end]
        start = end + 1
