"""The outbox: messages written in a run's transaction (`queue`), sent after its commit, each
once (its `key`); and what the messages are made from, read from the warehouse as values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow

from schemas.project import arrow_schema, columns_meta
from schemas.tables import OutboxMessage, columns_of
from transforms.mail import PUBLIE, RAPPEL, RETENUE, Hold, Letter, Problem, Publication
from warehouse.db import with_rows

PENDING, SENT, REFUSED, CANCELLED = "pending", "sent", "refused", "cancelled"


@dataclass(frozen=True)
class Queued:
    """A message waiting to be sent."""

    key: str
    message_id: str
    kind: str
    recipient: str
    subject: str
    text: str
    html: str
    attempts: int
    created_at: datetime


def queue(
    con: duckdb.DuckDBPyConnection,
    letters: Iterable[tuple[Letter, str]],
    run_id: str,
    now: datetime,
    state: str = PENDING,
    why: str | None = None,
) -> int:
    """Write (letter, message_id) pairs in one statement, each unless its key is there already
    (told once); returns how many were written. (Row by row, the 45,000 projects of a first
    publication took minutes.)"""
    unique = {letter.key: (letter, message_id) for letter, message_id in letters}
    if not unique:
        return 0
    pairs = list(unique.values())
    columns = columns_of("outbox")
    values: dict[str, list[object]] = {
        "key": [letter.key for letter, _ in pairs],
        "message_id": [message_id for _, message_id in pairs],
        "kind": [letter.kind for letter, _ in pairs],
        "recipient": [letter.recipient for letter, _ in pairs],
        "subject": [letter.subject for letter, _ in pairs],
        "body_text": [letter.text for letter, _ in pairs],
        "body_html": [letter.html for letter, _ in pairs],
        "state": [state] * len(pairs),
        "attempts": [0] * len(pairs),
        "last_error": [why] * len(pairs),
        "created_run_id": [run_id] * len(pairs),
        "created_at": [now] * len(pairs),
        "last_attempt_at": [None] * len(pairs),
        "sent_at": [None] * len(pairs),
        "sent_via": [None] * len(pairs),
    }
    rows = pyarrow.table(values, schema=arrow_schema(columns, OutboxMessage))
    before = _count(con)
    names = ", ".join(columns)
    with_rows(
        con,
        f"INSERT INTO outbox ({names}) SELECT {names} FROM incoming ON CONFLICT (key) DO NOTHING",
        rows,
    )
    return _count(con) - before


def _count(con: duckdb.DuckDBPyConnection) -> int:
    found = con.execute("SELECT count(*) FROM outbox").fetchall()
    return int(found[0][0])


def label_of(field: str) -> str:
    """A field as the form names it (its question), else its title, else its name."""
    meta = columns_meta().get(field)
    if meta is None:
        return field
    return str(meta.metadata.get("form_title") or meta.title or field)


def _holds(con: duckdb.DuckDBPyConnection, where: str, params: list[object]) -> list[Hold]:
    rows = con.execute(
        "SELECT q.submission_id, q.submitted_at, q.coll_nom, q.nom_projet, q.projet_contact, "
        "q.lien_correction FROM quarantine q WHERE q.released_by IS NULL AND "
        f"{where} ORDER BY q.submitted_at, q.submission_id",
        params,
    ).fetchall()
    problems: dict[str, list[Problem]] = {}
    for sid, field, value, message in con.execute(
        "SELECT submission_id, field, value, message FROM validation_issues "
        "WHERE severity = 'error' AND submission_id IN (SELECT unnest(?)) "
        "ORDER BY submission_id, field",
        [[row[0] for row in rows]],
    ).fetchall():
        problems.setdefault(sid, []).append(Problem(label_of(field), value, message))
    return [
        Hold(sid, at, coll, name, contact, link, tuple(problems.get(sid, ())))
        for sid, at, coll, name, contact, link in rows
    ]


def untold_holds(con: duckdb.DuckDBPyConnection) -> list[Hold]:
    """Held submissions no message was written about."""
    return _holds(
        con, "NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = 'retenue:' || q.submission_id)", []
    )


def holds_to_remind(con: duckdb.DuckDBPyConnection, told_before: datetime) -> list[Hold]:
    """Held submissions whose message went before `told_before`, with no reminder yet."""
    return _holds(
        con,
        "EXISTS (SELECT 1 FROM outbox o WHERE o.key = 'retenue:' || q.submission_id "
        "AND o.state = 'sent' AND o.sent_at < ?) AND NOT EXISTS (SELECT 1 FROM outbox o "
        "WHERE o.key = 'rappel:' || q.submission_id)",
        [told_before],
    )


def holds_since(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[Hold]:
    """Submissions held since `since` (None: all) and still held: the curators' news."""
    if since is None:
        return _holds(con, "true", [])
    return _holds(con, "q.since_at > ?", [since])


def untold_publications(con: duckdb.DuckDBPyConnection, page_url: str) -> list[Publication]:
    """Published projects no message was written about; `page_url`: the address of a page,
    `{}` standing for the project's path on the site."""
    rows = con.execute(
        "SELECT projet_id, coll_nom, nom_projet, projet_contact, lien_correction FROM projects p "
        "WHERE NOT EXISTS (SELECT 1 FROM outbox o WHERE o.key = 'publie:' || p.projet_id) "
        "ORDER BY submitted_at, projet_id"
    ).fetchall()
    return [
        Publication(pid, coll, name, contact, link, page_url.format(pid))
        for pid, coll, name, contact, link in rows
    ]


def cancel_stale(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Messages waiting about what no longer is: a hold released, corrected or withdrawn, a
    project withdrawn before its message went. Returns how many."""
    found = con.execute(
        "UPDATE outbox SET state = 'cancelled', last_attempt_at = ?, last_error = CASE kind "
        "WHEN 'publie' THEN 'projet retiré avant l''envoi' ELSE 'plus retenue (corrigée, "
        "remplacée ou retirée) avant l''envoi' END "
        "WHERE state = 'pending' AND ("
        f"(kind IN ('{RETENUE}', '{RAPPEL}') AND split_part(key, ':', 2) NOT IN "
        "(SELECT submission_id FROM quarantine WHERE released_by IS NULL)) OR "
        f"(kind = '{PUBLIE}' AND split_part(key, ':', 2) NOT IN (SELECT projet_id FROM projects)))",
        [now],
    ).fetchall()
    return int(found[0][0]) if found else 0


def cancel_to(con: duckdb.DuckDBPyConnection, addresses: set[str], now: datetime) -> int:
    """Messages waiting for addresses that asked for no more: cancelled."""
    if not addresses:
        return 0
    found = con.execute(
        "UPDATE outbox SET state = 'cancelled', last_attempt_at = ?, last_error = "
        "'le destinataire a demandé à ne plus recevoir de message' "
        "WHERE state = 'pending' AND lower(recipient) IN (SELECT unnest(?))",
        [now, sorted(a.lower() for a in addresses)],
    ).fetchall()
    return int(found[0][0]) if found else 0


def pending(con: duckdb.DuckDBPyConnection, limit: int) -> list[Queued]:
    """The messages waiting, the oldest first, the curators' before the others."""
    rows = con.execute(
        "SELECT key, message_id, kind, recipient, subject, body_text, body_html, attempts, "
        "created_at FROM outbox WHERE state = 'pending' "
        "ORDER BY kind = 'curateurs' DESC, created_at, key LIMIT ?",
        [limit],
    ).fetchall()
    return [Queued(*row) for row in rows]


def waiting(con: duckdb.DuckDBPyConnection) -> int:
    found = con.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchall()
    return int(found[0][0])


def mark(
    con: duckdb.DuckDBPyConnection,
    key: str,
    state: str,
    now: datetime,
    error: str | None = None,
    via: str | None = None,
) -> None:
    """One attempt's outcome: sent (by `via`), refused for good, or still pending (`error`)."""
    con.execute(
        "UPDATE outbox SET state = ?, attempts = attempts + 1, last_attempt_at = ?, "
        "last_error = ?, sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END, "
        "sent_via = coalesce(?, sent_via) WHERE key = ?",
        [state, now, error, state, now, via, key],
    )


def last_digest_at(con: duckdb.DuckDBPyConnection) -> datetime | None:
    """When the curators' last digest was written (None: never)."""
    found = con.execute("SELECT max(created_at) FROM outbox WHERE kind = 'curateurs'").fetchall()
    return found[0][0] if found else None


def interrupted_since(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[str]:
    rows = con.execute(
        "SELECT run_id, started_at FROM sync_runs WHERE status = 'interrupted' "
        "AND (? IS NULL OR ended_at > ?) ORDER BY started_at",
        [since, since],
    ).fetchall()
    return [f"{run_id} (commencée le {at:%Y-%m-%d %H:%M} UTC)" for run_id, at in rows]


def behind_since(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT target, coalesce(reason, '') FROM deliveries WHERE behind "
        "AND (? IS NULL OR behind_since_at > ?) ORDER BY target",
        [since, since],
    ).fetchall()
    return [(target, reason) for target, reason in rows]


def refused_since(con: duckdb.DuckDBPyConnection, since: datetime | None) -> list[tuple[str, str]]:
    """Messages refused for good since the last digest (a refusal in the digest's own run, at
    its very moment, is told by the next one)."""
    rows = con.execute(
        "SELECT recipient, coalesce(last_error, '') FROM outbox WHERE state = 'refused' "
        "AND kind <> 'curateurs' AND (? IS NULL OR last_attempt_at >= ?) ORDER BY last_attempt_at",
        [since, since],
    ).fetchall()
    return [(who, why) for who, why in rows]
