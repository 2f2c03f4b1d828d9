"""A small migration runner: applies `warehouse/migrations/NNN_name.sql` in order, once each,
recording them in `schema_migrations`; refuses to run on a database whose applied migrations
were edited since."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb

from schemas.errors import BibiaError
from schemas.times import now_utc

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode("utf-8")).hexdigest()


def available(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise BibiaError(f"le fichier de migration {path.name} n'est pas nommé NNN_nom.sql")
        found.append(Migration(int(match.group(1)), path.name, path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise BibiaError("deux fichiers de migration ont le même numéro de version")
    return found


def migrate(con: duckdb.DuckDBPyConnection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what is missing, all in one transaction (a warehouse is never left half-migrated,
    and a new one is made with one commit, not fifteen); return the names applied."""
    con.execute(
        """CREATE TABLE IF NOT EXISTS schema_migrations (
               version INTEGER PRIMARY KEY, name VARCHAR NOT NULL,
               checksum VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"""
    )
    applied = {
        version: (name, checksum)
        for version, name, checksum in con.execute(
            "SELECT version, name, checksum FROM schema_migrations"
        ).fetchall()
    }
    missing = []
    for migration in available(directory):
        if migration.version not in applied:
            missing.append(migration)
        elif applied[migration.version][1] != migration.checksum:
            raise BibiaError(
                f"la migration {applied[migration.version][0]} a été modifiée après avoir été "
                "appliquée à cet entrepôt : ajouter plutôt une nouvelle migration"
            )
    if not missing:
        return []
    con.execute("BEGIN TRANSACTION")
    try:
        for migration in missing:
            con.execute(migration.sql)
            con.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                [migration.version, migration.name, migration.checksum, now_utc()],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return [migration.name for migration in missing]
