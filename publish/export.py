"""The public and restricted exports: CSV, Parquet and datapackage.json, written aside and
renamed into place only after the database commit.

Both exports come from one pass over `projects`, sorted by `projet_id` with memory bounded by
configuration, not by the number of projects: rows are dealt by the first digits of their
`projet_id` (a hash: evenly) into buckets of about `BUCKET_ROWS`, kept as Arrow files beside
the staged exports; each bucket is then sorted alone, in key order. Rows cross in batches of
`EXPORT_BATCH_ROWS`, each one Parquet row group: the same data gives the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow
import pyarrow.compute as pc
from pyarrow import csv, ipc, parquet

from schemas.datapackage import EXPORT_NAME, LIST_DELIMITER, datapackage
from schemas.errors import BibiaError
from schemas.kinds import KINDS
from schemas.project import PUBLIC, RESTRICTED, arrow_schema, columns_meta, export_columns
from schemas.tables import columns_of
from schemas.taxonomy import Taxonomy
from schemas.text import FORMULA_START
from warehouse.db import ids, in_parts, insert_rows, with_rows

PROJECTS_VIEW = "projects"  # the latest valid version of each project
CSV_OPTIONS = csv.WriteOptions(include_header=True, delimiter=",", quoting_style="needed")
FORMULA_PATTERN = "^[" + FORMULA_START.replace("-", "\\-") + "]"  # a cell run as a formula
EXPORT_BATCH_ROWS = 4_096  # rows per batch of the export (and per Parquet row group)
BUCKET_ROWS = 8_192  # rows sorted at once: the export's memory is a bucket, not the register
RECORD_FILES = 8_192  # published files compared and recorded at once
HELD_PAGES = 1_024  # pages compared with what is published at once ...
HELD_BYTES = 4 << 20  # ... or fewer, of 4 MB together at most
_BUCKET = "_bucket"


@dataclass(frozen=True)
class Published:
    """A file of the exports as recorded in `published_files`."""

    sha256: str
    size: int
    mtime_ns: int
    made_from: str | None = None

    def on_disk(self, path: Path) -> bool:
        """The file is still what was published (same size and modification time)."""
        try:
            found = path.stat()
        except OSError:
            return False
        return (found.st_size, found.st_mtime_ns) == (self.size, self.mtime_ns)


def published_state(
    con: duckdb.DuckDBPyConnection, paths: list[str] | None = None
) -> dict[str, Published]:
    """The files of the last publication (`paths`: only these), as recorded."""
    sql = "SELECT path, sha256, size, mtime_ns, made_from FROM published_files"
    if paths is None:
        found = con.execute(sql).fetchall()
    else:
        found = with_rows(
            con, f"{sql} WHERE path IN (SELECT path FROM incoming)", ids(paths, "path")
        ).fetchall()
    return {
        path: Published(digest, size, mtime, made_from)
        for path, digest, size, mtime, made_from in found
    }


def exports_intact(con: duckdb.DuckDBPyConnection, export_dir: Path) -> bool:
    """Every file of the last publication is in place, as published (else: publish again).
    The pages made from recorded inputs (a project's row; an older page of the list, its
    cards), tens of thousands in a folder, by their presence: a listing of their folders,
    compared in SQL (a `stat` of each cost 0.25 s at 50,000 projects); a page edited in place
    is not noticed, one deleted or renamed is (`bibia site --all` makes every page again). The
    other files by their size and modification time."""
    found = con.execute(
        "SELECT path, size, mtime_ns FROM published_files WHERE made_from IS NULL"
    ).fetchall()
    if not found or not all(_same(export_dir, *row) for row in found):
        return False
    present = listed(
        con, export_dir, "SELECT path FROM published_files WHERE made_from IS NOT NULL"
    )
    return not in_parts(
        con,
        "SELECT 1 FROM published_files WHERE made_from IS NOT NULL AND hash(path) % {k} = {b} "
        "AND path NOT IN (SELECT path FROM incoming WHERE hash(path) % {k} = {b}) LIMIT 1",
        present.num_rows,
        rows=present,
    )


def listed(
    con: duckdb.DuckDBPyConnection, top: Path, paths: str, prefix: str = ""
) -> pyarrow.Table:
    """The files found in the folders of the paths `paths` selects (relative to `top` /
    `prefix`), as a table of `path`: one listing a folder, no `stat` a file."""
    folders = con.execute(
        f"SELECT DISTINCT parse_dirpath(path, '/') FROM ({paths})"  # a tenth of a regex's time
    ).fetchall()
    found: list[str] = []
    for (folder,) in folders:
        with contextlib.suppress(OSError):
            names = os.listdir(f"{top}/{prefix}{folder}")
            found += [f"{folder}/{name}" for name in names] if folder else names
    return pyarrow.table({"path": pyarrow.array(found, pyarrow.string())})


def _same(folder: Path, rel: str, size: int, mtime_ns: int) -> bool:
    try:
        stat = os.stat(f"{folder}/{rel}")
    except OSError:
        return False
    return (stat.st_size, stat.st_mtime_ns) == (size, mtime_ns)


def stale(
    con: duckdb.DuckDBPyConnection, export_dir: Path, prefix: str, inputs: str
) -> dict[str, str]:
    """Of the files listed in the table `inputs` (`key`: a project's or a page's, `path` under
    `prefix`, `made_from`: what it would be made from), those to make: not published from the
    same inputs, or no longer in place (by their presence, as in `exports_intact`). Returns
    key -> made_from."""
    present = listed(con, export_dir, f"SELECT path FROM {inputs}", prefix)
    (count,) = con.execute(f"SELECT count(*) FROM {inputs}").fetchall()[0]
    found = in_parts(
        con,
        f"SELECT i.key, i.made_from FROM {inputs} i LEFT JOIN (SELECT path, made_from "
        "FROM published_files WHERE hash(path) % {k} = {b}) f "
        "ON f.path = $prefix || i.path AND f.made_from = i.made_from "
        "WHERE hash($prefix || i.path) % {k} = {b} AND (f.path IS NULL OR i.path NOT IN "
        "(SELECT path FROM incoming WHERE hash($prefix || path) % {k} = {b}))",
        max(count, present.num_rows),
        {"prefix": prefix},
        rows=present,
    )
    return dict(found)


def every_input(con: duckdb.DuckDBPyConnection, inputs: str) -> dict[str, str]:
    """Every file listed in the table `inputs` (as `stale` reads it), to make whatever is
    published: key -> made_from."""
    return dict(con.execute(f"SELECT key, made_from FROM {inputs}").fetchall())


def last_export_fingerprint(con: duckdb.DuckDBPyConnection) -> str | None:
    rows = con.execute("SELECT fingerprint FROM export_inputs").fetchall()
    return str(rows[0][0]) if rows else None


def record_export_fingerprint(
    con: duckdb.DuckDBPyConnection, fingerprint: str, run_id: str
) -> None:
    con.execute("DELETE FROM export_inputs")
    con.execute("INSERT INTO export_inputs VALUES (?, ?)", [fingerprint, run_id])


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_private(rel: str) -> bool:
    """Members only: owner-only files and folders."""
    return rel.startswith(f"{RESTRICTED}/")


@dataclass
class StagedExport:
    """Files written in a staging folder, waiting to be renamed into place. Only the files
    whose bytes differ from what is published are renamed: the others stay as they are, with
    their modification time. `scope`: the folders this publication makes (None: all of the
    exports); a published file outside them is left alone."""

    staging: Path
    target: Path
    rows: int
    scope: tuple[str, ...] | None = None
    changed: list[str] = field(default_factory=list)  # relative paths to rename into place
    removed: list[str] = field(default_factory=list)  # published files no export makes now
    # tables of files (`path` under a prefix) that this publication makes: staged, or kept as
    # published since they would be made from the same inputs
    made_in: list[tuple[str, str]] = field(default_factory=list)  # (table, prefix)
    # where the digests of the files written by `write` wait for `record`: the temporary table
    # `staged_digests` of this connection, a batch at a time (a site of 400,000 files held
    # 160 MB of them in dicts); without a connection, in `pending` until `record`
    con: duckdb.DuckDBPyConnection | None = None
    pending: list[tuple[str, str, str | None]] = field(default_factory=list)
    # pages made from their inputs, waiting to be compared with what is published (with a
    # connection): (path, bytes, sha256, made_from)
    held: list[tuple[str, bytes, str, str]] = field(default_factory=list)
    _held_bytes: int = 0
    _folders: set[str] = field(default_factory=set)  # made in the staging folder
    # the digests of whole files, read in a thread while the run goes on (`hash_soon`)
    _hashing: dict[tuple[int, int], Future[str]] = field(default_factory=dict)  # by inode
    _hasher: ThreadPoolExecutor | None = None

    def hash_soon(self, rels: Iterable[str]) -> None:
        """Read the staged files `rels` (written whole, not to be written again) for their
        digests in a thread, while the run goes on: `record` needs them, and hashlib reads
        without Python's lock (the exports and the feed, 100 MB at 50,000 projects: 0.07 s
        out of the run's way)."""
        if self._hasher is None:
            self._hasher = ThreadPoolExecutor(1, thread_name_prefix="bibia-digest")
        for rel in rels:
            path = self.staging / rel
            found = path.stat()
            self._hashing[(found.st_dev, found.st_ino)] = self._hasher.submit(sha256_of, path)

    def _stop_hashing(self) -> None:
        if self._hasher is not None:
            self._hasher.shutdown(wait=True, cancel_futures=True)
            self._hasher, self._hashing = None, {}

    def write(
        self,
        rel: str,
        content: bytes | Iterable[bytes],
        made_from: str | None = None,
        copies: Iterable[str] = (),
    ) -> None:
        """Stage one file (owner-only under `restricted/`), from its bytes or its parts;
        `made_from`: a digest of what it was made from (a project's page); `copies`: other
        paths that hold the same bytes (written once, then copied). A page whose bytes are
        those published, in place, is not written at all (`keep_same_pages`)."""
        if copies:
            digest = self._stage(rel, content, made_from)
            for other in copies:
                self._folder(other)
                shutil.copyfile(f"{self.staging}/{rel}", f"{self.staging}/{other}")
                os.chmod(f"{self.staging}/{other}", _file_mode(is_private(other)))
                self._staged(other, digest, made_from)
            return
        if made_from is not None and isinstance(content, bytes) and self.con is not None:
            digest = hashlib.sha256(content).hexdigest()
            self.held.append((rel, content, digest, made_from))
            self._held_bytes += len(content)
            if len(self.held) >= HELD_PAGES or self._held_bytes >= HELD_BYTES:
                self.keep_same_pages(self.con)
            return
        self._stage(rel, content, made_from)

    def _published_as(self, rel: str, current: Published, digest: str) -> bool:
        """Whether the file published at `rel` (`current`, as recorded) holds the bytes of
        `digest`, untouched since."""
        return current.sha256 == digest and _same(self.target, rel, current.size, current.mtime_ns)

    def keep_same_pages(self, con: duckdb.DuckDBPyConnection) -> None:
        """Of the pages held, leave those whose bytes are published, in place, as they are
        (after a new version of bibia, every page is made again and most come out the same:
        neither written, nor renamed, nor given a new modification time); record the inputs
        they now stand for. Stage the others."""
        if not self.held:
            return
        state = published_state(con, [rel for rel, _, _, _ in self.held])
        same: list[tuple[str, str]] = []
        for rel, content, digest, made_from in self.held:
            current = state.get(rel)
            if current is not None and self._published_as(rel, current, digest):
                if current.made_from != made_from:
                    same.append((rel, made_from))
            else:
                self._stage(rel, content, made_from, digest)
        self.held, self._held_bytes = [], 0
        if same:
            path, made = zip(*same, strict=True)
            with_rows(
                con,
                "UPDATE published_files SET made_from = incoming.made_from FROM incoming "
                "WHERE published_files.path = incoming.path",
                pyarrow.table(
                    {
                        "path": pyarrow.array(path, pyarrow.string()),
                        "made_from": pyarrow.array(made, pyarrow.string()),
                    }
                ),
            )

    def _stage(
        self,
        rel: str,
        content: bytes | Iterable[bytes],
        made_from: str | None,
        known: str | None = None,
    ) -> str:
        """Write one file in the staging folder; `known`: its sha256, if it is. Returns it."""
        self._folder(rel)
        mode = _file_mode(is_private(rel))
        handle = os.open(f"{self.staging}/{rel}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        digest = hashlib.sha256()
        with os.fdopen(handle, "wb") as out:
            for part in [content] if isinstance(content, bytes) else content:
                out.write(part)
                if known is None:
                    digest.update(part)
        sha256 = known or digest.hexdigest()
        self._staged(rel, sha256, made_from)
        return sha256

    def _folder(self, rel: str) -> None:
        """The folder of `rel`, made in the staging folder (owner-only) if it is not yet."""
        folder, _, _ = rel.rpartition("/")
        if folder not in self._folders:
            (self.staging / folder).mkdir(mode=0o700, parents=True, exist_ok=True)
            self._folders.add(folder)

    def _staged(self, rel: str, sha256: str, made_from: str | None) -> None:
        """What `record` will know of a staged file without reading it again."""
        self.pending.append((rel, sha256, made_from))
        if self.con is not None and len(self.pending) >= RECORD_FILES:
            self._flush(self.con)

    def _flush(self, con: duckdb.DuckDBPyConnection) -> None:
        con.execute(
            "CREATE TEMP TABLE IF NOT EXISTS staged_digests "
            "(path VARCHAR, sha256 VARCHAR, made_from VARCHAR)"
        )
        if self.pending:
            path, sha256, made_from = zip(*self.pending, strict=True)
            rows = pyarrow.table(
                {
                    "path": pyarrow.array(path, pyarrow.string()),
                    "sha256": pyarrow.array(sha256, pyarrow.string()),
                    "made_from": pyarrow.array(made_from, pyarrow.string()),
                }
            )
            with_rows(con, "INSERT INTO staged_digests SELECT * FROM incoming", rows)
            self.pending = []

    def files(self) -> Iterator[list[str]]:
        """The staged files, a folder at a time."""
        top = str(self.staging)
        for folder, subfolders, names in os.walk(top):
            subfolders[:] = [d for d in subfolders if d != ".sort"]
            rel = folder[len(top) + 1 :]
            yield [f"{rel}/{name}" if rel else name for name in names]

    def _batches(self) -> Iterator[list[str]]:
        """The staged files, `RECORD_FILES` at a time."""
        batch: list[str] = []
        for names in self.files():
            batch += names
            while len(batch) >= RECORD_FILES:
                yield batch[:RECORD_FILES]
                batch = batch[RECORD_FILES:]
        if batch:
            yield batch

    def _in_scope(self, rel: str) -> bool:
        return self.scope is None or rel.startswith(self.scope)

    def record(self, con: duckdb.DuckDBPyConnection, run_id: str, now: datetime) -> None:
        """Compare each staged file with the published one; record in `published_files`
        what the exports hold once published (inside the run's transaction), a batch of
        `RECORD_FILES` files at a time: memory bounded by a batch, not by the site. The files
        that no export makes any more are found first, among those published before this run:
        after, the run's own rows and their index would take that query's memory (at 200,000
        projects, 358,000 rows and a 37 MB index left it none)."""
        self.keep_same_pages(con)
        self._flush(con)
        con.execute("CREATE OR REPLACE TEMP TABLE staged_paths (path VARCHAR)")
        for batch in self._batches():
            paths = ids(batch, "path")
            with_rows(con, "INSERT INTO staged_paths SELECT path FROM incoming", paths)
        self.removed = self._unmade(con)
        by_inode: dict[tuple[int, int], str] = {}  # a file staged under two names is read once
        for batch in self._batches():
            paths = ids(batch, "path")
            state = published_state(con, batch)
            written_by_us = {
                path: (sha256, made_from)
                for path, sha256, made_from in with_rows(
                    con,
                    "SELECT path, sha256, made_from FROM staged_digests "
                    "WHERE path IN (SELECT path FROM incoming)",
                    paths,
                ).fetchall()
            }
            written: list[dict[str, object]] = []
            for rel in batch:
                staged = f"{self.staging}/{rel}"
                digest, made_from = written_by_us.get(rel, (None, None))
                if digest is None:
                    found = os.stat(staged)
                    inode = (found.st_dev, found.st_ino)
                    digest = by_inode.get(inode)
                    if digest is None:
                        hashing = self._hashing.get(inode)
                        digest = hashing.result() if hashing else sha256_of(Path(staged))
                        by_inode[inode] = digest
                current = state.get(rel)
                if (
                    current is not None
                    and current.made_from == made_from
                    and self._published_as(rel, current, digest)
                ):
                    os.unlink(staged)  # the same bytes are published already
                    continue
                found = os.stat(staged)
                self.changed.append(rel)
                written.append(
                    {
                        "path": rel,
                        "sha256": digest,
                        "size": found.st_size,
                        "mtime_ns": found.st_mtime_ns,
                        "run_id": run_id,
                        "published_at": now,
                        "made_from": made_from,
                    }
                )
            gone = ids((str(w["path"]) for w in written), "path")
            with_rows(
                con, "DELETE FROM published_files WHERE path IN (SELECT path FROM incoming)", gone
            )
            insert_rows(con, "published_files", written, columns_of("published_files"))
        with_rows(
            con,
            "DELETE FROM published_files WHERE path IN (SELECT path FROM incoming)",
            ids(self.removed, "path"),
        )
        con.execute("DROP TABLE staged_paths")
        con.execute("DROP TABLE IF EXISTS staged_digests")
        self._stop_hashing()

    def _unmade(self, con: duckdb.DuckDBPyConnection) -> list[str]:
        """The published files, in this publication's scope, that it neither stages
        (`staged_paths`) nor keeps as they are (listed in a table of `made_in`)."""
        tables = "".join(
            f" AND path NOT IN (SELECT p FROM (SELECT ? || path AS p FROM {table}) "
            "WHERE hash(p) % {k} = {b})"
            for table, _ in self.made_in
        )
        counts = [
            con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            for table in ("published_files", "staged_paths", *(t for t, _ in self.made_in))
        ]
        if not counts[0]:  # nothing published yet
            return []
        unmade = in_parts(  # in parts as many as the largest table asks: each side a part
            con,
            "SELECT path FROM published_files WHERE hash(path) % {k} = {b} AND path NOT IN "
            "(SELECT path FROM staged_paths WHERE hash(path) % {k} = {b})" + tables,
            max(counts),
            [prefix for _, prefix in self.made_in],
        )
        return sorted(rel for (rel,) in unmade if self._in_scope(rel))

    def check_writable(self) -> None:
        """Before the commit: every folder this publication renames into can be written, or
        the run fails now, with nothing committed (a failure after the commit would leave a
        warehouse and exports of different versions)."""
        checked: dict[str, bool] = {}
        for rel in [*self.changed, *self.removed]:
            folder = rel.rpartition("/")[0]
            if folder in checked:
                continue
            path = self.target / folder
            while not path.exists() and path != path.parent:
                path = path.parent
            problem = _unwritable(path)
            checked[folder] = problem is None
            if problem is not None:
                raise BibiaError(
                    f"impossible de publier les exports : {path} {problem} ; rien n'a changé "
                    "(corriger puis relancer)"
                )

    def new_folders(self) -> list[str]:
        """The folders of changed files that the exports do not hold yet, the top-most only:
        each is renamed into place whole, with all it holds (a site's first publication: a few
        renames, not one per page). Every file staged in such a folder is a changed one: with
        nothing published there, none can be the same as what is published."""
        missing: dict[str, bool] = {}

        def new(folder: str) -> bool:
            if folder not in missing:
                missing[folder] = bool(folder) and not os.path.isdir(f"{self.target}/{folder}")
            return missing[folder]

        tops = set()
        for rel in self.changed:
            folder, top = rel.rpartition("/")[0], None
            while new(folder):
                folder, top = folder.rpartition("/")[0], folder
            if top is not None:
                tops.add(top)
        return sorted(tops)

    def publish(self) -> None:
        """Rename each changed file over its final path (atomic per file), datapackages last,
        or the new folders whole (atomic per folder); remove the files no export makes any
        more."""
        whole = self.new_folders()
        for top in whole:
            os.rename(f"{self.staging}/{top}", f"{self.target}/{top}")
            _modes(self.target / top, is_private(f"{top}/"))
        inside = tuple(f"{top}/" for top in whole)
        made: set[str] = set()
        for rel in sorted(self.changed, key=lambda r: (r.endswith("datapackage.json"), r)):
            if rel.startswith(inside):
                continue  # renamed with its folder
            folder = rel.rpartition("/")[0]
            private = is_private(rel)
            if folder not in made:
                if private:  # members only: owner-only folders
                    (self.target / RESTRICTED).mkdir(mode=0o700, parents=True, exist_ok=True)
                    (self.target / RESTRICTED).chmod(0o700)
                _folders(self.target / folder, self.target, 0o700 if private else 0o755)
                made.add(folder)
            final = f"{self.target}/{rel}"
            os.replace(f"{self.staging}/{rel}", final)
            # staged under an owner-only umask (see warehouse.db.owner_only): modes made here
            os.chmod(final, _file_mode(private))
        for rel in self.removed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.target}/{rel}")
        shutil.rmtree(self.staging, ignore_errors=True)

    def discard(self) -> None:
        self._stop_hashing()
        shutil.rmtree(self.staging, ignore_errors=True)


def _unwritable(folder: Path) -> str | None:
    """Why files cannot be created in `folder` (None: they can). Tried for real: permissions
    say nothing of a read-only mount, nor of a user such as root."""
    if not folder.is_dir():
        return "is not a folder"
    probe = folder / f".bibia-probe-{os.getpid()}"
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as exc:
        return f"cannot be written ({exc.strerror})"
    return None


def _file_mode(private: bool) -> int:
    """A published file's mode: owner-only for members, readable by all otherwise."""
    return 0o600 if private else 0o644


def _modes(folder: Path, private: bool) -> None:
    """The modes of a folder published whole, and of all it holds (staged under an owner-only
    umask): owner-only for members, readable by all otherwise."""
    folder.chmod(0o700 if private else 0o755)
    for parent, subfolders, names in os.walk(folder):
        for name in subfolders:
            os.chmod(f"{parent}/{name}", 0o700 if private else 0o755)
        for name in names:
            os.chmod(f"{parent}/{name}", _file_mode(private))


def _folders(folder: Path, top: Path, mode: int) -> None:
    """Create `folder` and those between it and `top` that are missing, each with `mode`
    exactly (whatever the process's umask)."""
    missing = []
    while folder != top and not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)
        path.chmod(mode)


def clean_stale_staging(export_dir: Path) -> None:
    """Staging folders left by a run that died before publishing."""
    if export_dir.exists():
        for stale in export_dir.glob(".staging-*"):
            shutil.rmtree(stale, ignore_errors=True)


# -- CSV cells ---------------------------------------------------------------------------------
def csv_cells(table: pyarrow.Table, renderings: list[str] | None = None) -> pyarrow.Table:
    """The table as CSV cells, each column rendered as its kind says (`Kind.csv`; default: all
    text): lists joined by `LIST_DELIMITER`, numbers as numbers, text that a spreadsheet would
    run as a formula prefixed with `'` (CSV only: Parquet keeps the exact text)."""
    columns = []
    for column, rendering in zip(
        table.columns, renderings or ["text"] * table.num_columns, strict=True
    ):
        if rendering == "number":
            columns.append(column)
            continue
        if rendering == "list":
            column = pc.binary_join(column, LIST_DELIMITER)
        elif not pyarrow.types.is_string(column.type):
            column = pc.cast(column, pyarrow.string())
        formula = pc.match_substring_regex(column, FORMULA_PATTERN)
        if pc.any(formula).as_py():  # else the column as it is: no copy of its text
            column = pc.if_else(formula, pc.binary_join_element_wise("'", column, ""), column)
        columns.append(column)
    return pyarrow.table(columns, names=table.column_names)


def csv_renderings(names: list[str]) -> list[str]:
    """How each export column renders in CSV, from its kind."""
    columns = columns_meta()
    return [KINDS[columns[name].metadata["kind"]].csv for name in names]


# -- sorting with bounded memory ---------------------------------------------------------------
def bucket_of(buckets: int) -> str:
    """SQL: the bucket of a `projet_id` among `buckets`, from the first 6 hex digits of its
    hash scaled to [0, buckets): monotonic in `projet_id`, and even."""
    return f"(('0x' || substr(projet_id, 3, 6))::BIGINT * {buckets}) // 16777216"


def sorted_projects(
    con: duckdb.DuckDBPyConnection, names: list[str], spill: Path, bucket_rows: int
) -> Iterator[pyarrow.Table]:
    """`projects` (the columns `names`) in `projet_id` order, a bucket at a time."""
    (count,) = con.execute(f"SELECT count(*) FROM {PROJECTS_VIEW}").fetchall()[0]
    buckets = max(1, math.ceil(count / bucket_rows))
    bucket = bucket_of(buckets)
    reader = con.sql(
        f"SELECT {', '.join(names)}, {bucket} AS {_BUCKET} FROM {PROJECTS_VIEW}"
    ).to_arrow_reader(EXPORT_BATCH_ROWS)
    schema = arrow_schema(names)
    if buckets == 1:
        table = reader.read_all().select(names)
        yield table.sort_by("projet_id").cast(schema)
        return
    spill.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [spill / f"bucket-{b:05d}.arrow" for b in range(buckets)]
    with contextlib.ExitStack() as stack:
        writers: dict[int, ipc.RecordBatchStreamWriter] = {}
        stored = pyarrow.schema([f for f in reader.schema if f.name != _BUCKET])
        for batch in reader:
            table = pyarrow.Table.from_batches([batch]).sort_by(_BUCKET)
            start = 0
            for counted in pc.value_counts(table.column(_BUCKET)):
                b, size = counted["values"].as_py(), counted["counts"].as_py()
                if b not in writers:
                    writers[b] = stack.enter_context(ipc.new_stream(paths[b], stored))
                writers[b].write_table(table.slice(start, size).drop_columns([_BUCKET]))
                start += size
    for path in paths:
        if not path.exists():
            continue
        with ipc.open_stream(path) as stream:
            table = stream.read_all()
        path.unlink()
        yield table.sort_by("projet_id").cast(schema)


def fixed_batches(tables: Iterator[pyarrow.Table], size: int) -> Iterator[pyarrow.Table]:
    """The rows of `tables`, in order, in tables of exactly `size` rows (the last one shorter):
    the same data gives the same row groups, however it was chunked on the way."""
    pending: list[pyarrow.Table] = []
    count = 0
    for table in tables:
        pending.append(table)
        count += table.num_rows
        while count >= size:
            joined = pyarrow.concat_tables(pending)
            yield joined.slice(0, size).combine_chunks()
            rest = joined.slice(size)
            pending, count = [rest], rest.num_rows
    if count:
        yield pyarrow.concat_tables(pending).combine_chunks()


# -- the exports -------------------------------------------------------------------------------
def stage_exports(
    con: duckdb.DuckDBPyConnection,
    export_dir: Path,
    run_id: str,
    taxonomy: Taxonomy,
    bucket_rows: int = BUCKET_ROWS,
) -> StagedExport:
    """Write both exports in a staging folder from one sorted pass over `projects`: the public
    files take the public columns only. `bucket_rows`: how many rows are sorted at once."""
    staging = export_dir / f".staging-{run_id}"
    folders = _staging_folders(staging)
    names = export_columns(RESTRICTED)
    schema = arrow_schema(names)
    typed = arrow_schema(names, parquet=True)  # the Parquet files' types (a day is a date)
    renderings = csv_renderings(names)
    wanted = {access: export_columns(access) for access in folders}
    rows = 0
    with contextlib.ExitStack() as stack:
        parquet_out = {
            access: stack.enter_context(
                parquet.ParquetWriter(
                    folder / f"{EXPORT_NAME}.parquet",
                    pyarrow.schema([typed.field(n) for n in wanted[access]]),
                    compression="zstd",
                )
            )
            for access, folder in folders.items()
        }
        csv_out: dict[str, csv.CSVWriter] = {}
        batches = fixed_batches(
            sorted_projects(con, names, staging / ".sort", bucket_rows), EXPORT_BATCH_ROWS
        )
        # a thread writes the four files of a batch (Arrow releases the GIL) while the next
        # batch is read and rendered; four threads, one a file, bought no time on two cores
        # and raised the peak by 48 MiB (measured at 50,000: docs/benchmarks.md)
        pool = stack.enter_context(ThreadPoolExecutor(1, thread_name_prefix="bibia-export"))
        writing: list[Future[None]] = []
        for batch in batches:
            text = csv_cells(batch, renderings)
            stored = batch.cast(typed)
            for future in writing:
                future.result()
            writing = []
            for access, folder in folders.items():
                part = text.select(wanted[access])
                if access not in csv_out:
                    csv_out[access] = stack.enter_context(
                        csv.CSVWriter(
                            folder / f"{EXPORT_NAME}.csv", part.schema, write_options=CSV_OPTIONS
                        )
                    )
                writing.append(
                    pool.submit(parquet_out[access].write_table, stored.select(wanted[access]))
                )
                writing.append(pool.submit(csv_out[access].write_table, part))
            rows += batch.num_rows
        for future in writing:
            future.result()
        for access, folder in folders.items():
            if access not in csv_out:  # no project yet: the header alone
                empty = csv_cells(pyarrow.Table.from_pylist([], schema=schema), renderings)
                csv.write_csv(
                    empty.select(wanted[access]), folder / f"{EXPORT_NAME}.csv", CSV_OPTIONS
                )
    shutil.rmtree(staging / ".sort", ignore_errors=True)
    _stage_descriptions(con, folders, taxonomy)
    for path in folders[RESTRICTED].iterdir():
        path.chmod(0o600)
    staged = StagedExport(staging=staging, target=export_dir, rows=rows, con=con)
    staged.hash_soon(
        f"{access}/{path.name}" for access, folder in folders.items() for path in folder.iterdir()
    )
    return staged


def _staging_folders(staging: Path) -> dict[str, Path]:
    """The staging folder of each access level (the restricted one owner-only)."""
    staging.mkdir(mode=0o700, parents=True, exist_ok=True)
    folders = {access: staging / access for access in (PUBLIC, RESTRICTED)}
    for access, folder in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        if access == RESTRICTED:
            folder.chmod(0o700)
    return folders


def _stage_descriptions(
    con: duckdb.DuckDBPyConnection, folders: dict[str, Path], taxonomy: Taxonomy
) -> None:
    """Each export's `datapackage.json`, and the restricted export's `quarantine.csv`."""
    for access, folder in folders.items():
        (folder / "datapackage.json").write_text(
            json.dumps(datapackage(access, taxonomy), ensure_ascii=False, indent=2) + "\n",
            encoding="utf-8",
        )
    _stage_quarantine(con, folders[RESTRICTED])


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
    with csv.CSVWriter(
        folder / QUARANTINE_FILE, _held_schema(con), write_options=CSV_OPTIONS
    ) as out:
        for batch in con.sql(_HELD).to_arrow_reader(EXPORT_BATCH_ROWS):
            out.write_table(csv_cells(pyarrow.Table.from_batches([batch])))


def _held_schema(con: duckdb.DuckDBPyConnection) -> pyarrow.Schema:
    return pyarrow.schema(
        [pyarrow.field(name, pyarrow.string()) for name in con.sql(_HELD).columns]
    )
