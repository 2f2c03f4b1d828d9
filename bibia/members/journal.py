"""What the members' space remembers of people, in one SQLite file (never in the warehouse:
a reader's connection would block the pipeline's runs): who read which page or file and when
(`reads`), and who logged in without being a member (`requests`, for the curators). Both are
kept `keep_days`, then deleted; nothing else is stored about members."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from schemas.errors import ConfigError

PRUNE_EVERY_SECONDS = 3_600.0
SCHEMA = """
CREATE TABLE IF NOT EXISTS reads (
    read_at TEXT NOT NULL,      -- UTC, ISO-8601
    email TEXT NOT NULL,
    siret TEXT,
    path TEXT NOT NULL,         -- the page or file read
    status INTEGER NOT NULL     -- what was answered (200, 304, 403, 404...)
);
CREATE INDEX IF NOT EXISTS reads_at ON reads (read_at);
CREATE TABLE IF NOT EXISTS requests (
    email TEXT PRIMARY KEY,
    given_name TEXT,
    usual_name TEXT,
    siret TEXT,
    first_at TEXT NOT NULL,
    last_at TEXT NOT NULL,
    times INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Read:
    read_at: str
    email: str
    siret: str | None
    path: str
    status: int


@dataclass(frozen=True)
class Request:
    email: str
    given_name: str | None
    usual_name: str | None
    siret: str | None
    first_at: str
    last_at: str
    times: int


def _now() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


class Journal:
    """The journal file, open for one process (the server's threads share it under a lock)."""

    def __init__(self, path: Path, keep_days: float) -> None:
        self.path = path
        self.keep_days = keep_days
        self._lock = threading.Lock()
        self._pruned = 0.0
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._con = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._con.execute("PRAGMA journal_mode = WAL")
            self._con.execute("PRAGMA synchronous = NORMAL")
            self._con.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"journal des membres illisible ({path}) : {exc}") from None
        path.chmod(0o600)
        self.prune()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def prune(self) -> int:
        """Delete what is older than `keep_days`; returns how many rows went."""
        cutoff = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=self.keep_days)
        limit = cutoff.isoformat(timespec="seconds") + "Z"
        with self._lock:
            self._pruned = time.monotonic()
            gone = self._con.execute("DELETE FROM reads WHERE read_at < ?", [limit]).rowcount
            gone += self._con.execute("DELETE FROM requests WHERE last_at < ?", [limit]).rowcount
        return gone

    def read(self, email: str, siret: str | None, path: str, status: int) -> None:
        if time.monotonic() - self._pruned > PRUNE_EVERY_SECONDS:
            self.prune()
        with self._lock:
            self._con.execute(
                "INSERT INTO reads VALUES (?, ?, ?, ?, ?)", [_now(), email, siret, path, status]
            )

    def request(
        self, email: str, given_name: str | None, usual_name: str | None, siret: str | None
    ) -> None:
        now = _now()
        with self._lock:
            self._con.execute(
                "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, 1) ON CONFLICT (email) DO UPDATE "
                "SET given_name = excluded.given_name, usual_name = excluded.usual_name, "
                "siret = excluded.siret, last_at = excluded.last_at, times = times + 1",
                [email, given_name, usual_name, siret, now, now],
            )

    def reads(self, email: str | None = None, limit: int = 200) -> list[Read]:
        where, params = ("WHERE email = ?", [email.lower()]) if email else ("", [])
        with self._lock:
            rows = self._con.execute(
                f"SELECT * FROM reads {where} ORDER BY read_at DESC, rowid DESC LIMIT ?",
                [*params, limit],
            ).fetchall()
        return [Read(*row) for row in rows]

    def requests(self) -> list[Request]:
        with self._lock:
            rows = self._con.execute("SELECT * FROM requests ORDER BY last_at DESC").fetchall()
        return [Request(*row) for row in rows]
