"""The raw landing: every completed submission as received, upserted on its id."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from bibia.tally.emulator import parse_iso
from transforms.derive import RawRow
from warehouse.db import ids, scalar, with_rows


def canonical_bytes(payload: Any) -> bytes:
    """Keys sorted, no spaces, UTF-8: the same bytes for the same content, run after run."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def canonical_json(payload: Any) -> str:
    return canonical_bytes(payload).decode("utf-8")


def content_hash(payload: Any) -> str:
    return hashlib.sha256(canonical_bytes(payload)).hexdigest()


def utc_naive(text: str) -> datetime:
    """An ISO-8601 instant as a naive UTC datetime (how the warehouse stores `*_at`)."""
    moment = parse_iso(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


@dataclass
class Landed:
    fetched: int = 0
    partial_skipped: int = 0
    new_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    rows: list[RawRow] = field(default_factory=list)  # the new and changed ones

    @property
    def touched(self) -> list[str]:
        """What must be derived again."""
        return self.new_ids + self.changed_ids


def last_submitted_at(con: duckdb.DuckDBPyConnection, form_id: str) -> datetime | None:
    value: datetime | None = scalar(
        con, "SELECT max(submitted_at) FROM raw_tally_submissions WHERE form_id = ?", [form_id]
    )
    return value


Known = dict[str, tuple[str, bool]]  # submission id -> (content hash, marked deleted)
Row = tuple[str, str | None, datetime, bytes, str]  # id, respondent, submitted, JSON, hash


def known_submissions(con: duckdb.DuckDBPyConnection, form_id: str) -> Known:
    """What the warehouse holds of the form, read once a run: landing then classifies each
    incoming submission without scanning the table again."""
    rows = con.execute(
        "SELECT submission_id, content_hash, deleted_at IS NOT NULL FROM raw_tally_submissions "
        "WHERE form_id = ?",
        [form_id],
    ).fetchall()
    return {sid: (digest, deleted) for sid, digest, deleted in rows}


def land_submissions(
    con: duckdb.DuckDBPyConnection,
    form_id: str,
    submissions: list[dict[str, Any]],
    run_id: str,
    now: datetime,
    known: Known,
) -> Landed:
    """Upsert a batch into raw_tally_submissions, inside the caller's transaction; `known`
    (from `known_submissions`) is kept up to date."""
    out = Landed()
    unique: dict[str, dict[str, Any]] = {}
    for item in submissions:
        if item.get("isCompleted") is False:
            out.partial_skipped += 1
            continue
        unique[item["id"]] = item  # boundary duplicates of an inclusive startDate
    out.fetched = len(unique)
    new_rows: list[Row] = []
    changed_rows: list[Row] = []
    for sid, item in unique.items():
        text = canonical_bytes(item)
        digest = hashlib.sha256(text).hexdigest()
        before = known.get(sid)
        if before is not None and before == (digest, False):
            continue  # seen already, same content
        row = (sid, item.get("respondentId"), utc_naive(item["submittedAt"]), text, digest)
        (new_rows if before is None else changed_rows).append(row)
        out.rows.append((sid, row[2], text))
        known[sid] = (digest, False)
    out.new_ids = [r[0] for r in new_rows]
    out.changed_ids = [r[0] for r in changed_rows]
    params = {"form_id": form_id, "run_id": run_id, "now": now}
    if new_rows:
        with_rows(
            con,
            """INSERT INTO raw_tally_submissions
               SELECT submission_id, $form_id, respondent_id, submitted_at, payload::JSON,
                      content_hash, $run_id, $run_id, $now, $now, NULL, NULL
               FROM incoming""",
            _arrow(new_rows),
            params,
        )
    if changed_rows:
        changed = _arrow(changed_rows)
        with_rows(  # the content about to be replaced goes to the history
            con,
            """INSERT INTO raw_tally_submission_history
               SELECT r.submission_id, r.content_hash, r.payload, r.content_run_id,
                      r.content_seen_at
               FROM raw_tally_submissions r
               JOIN incoming i USING (submission_id)
               WHERE r.content_hash <> i.content_hash
               ON CONFLICT DO NOTHING""",  # a content may come back to an earlier one
            changed,
        )
        with_rows(
            con,
            """UPDATE raw_tally_submissions AS r
               SET payload = i.payload::JSON, content_hash = i.content_hash,
                   submitted_at = i.submitted_at, respondent_id = i.respondent_id,
                   content_run_id = $run_id, content_seen_at = $now,
                   deleted_run_id = NULL, deleted_at = NULL
               FROM incoming i
               WHERE r.submission_id = i.submission_id""",
            changed,
            {"run_id": run_id, "now": now},
        )
    return out


def _arrow(rows: list[Row]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.table(
        {
            "submission_id": pa.array(columns[0], pa.string()),
            "respondent_id": pa.array(columns[1], pa.string()),
            "submitted_at": pa.array(columns[2], pa.timestamp("us")),
            "payload": pa.array(columns[3], pa.string()),
            "content_hash": pa.array(columns[4], pa.string()),
        }
    )


def mark_deleted(
    con: duckdb.DuckDBPyConnection, form_id: str, seen: set[str], run_id: str, now: datetime
) -> list[str]:
    """After a full walk: what Tally no longer returns is marked deleted (the row stays)."""
    deleted = with_rows(
        con,
        """UPDATE raw_tally_submissions
           SET deleted_run_id = $run_id, deleted_at = $now
           WHERE form_id = $form_id AND deleted_at IS NULL
             AND submission_id NOT IN (SELECT submission_id FROM incoming)
           RETURNING submission_id""",
        ids(seen),
        {"form_id": form_id, "run_id": run_id, "now": now},
    ).fetchall()
    return sorted(sid for (sid,) in deleted)


def save_form_snapshot(
    con: duckdb.DuckDBPyConnection,
    form_id: str,
    questions: list[dict[str, Any]],
    definition: dict[str, Any] | None,
    run_id: str,
    now: datetime,
) -> None:
    """Keep what the form said about its questions, so `rebuild` can map without network."""
    body = {"questions": questions, "definition": definition}
    digest = content_hash(body)
    latest = scalar(
        con,
        "SELECT content_hash FROM raw_tally_forms WHERE form_id = ? "
        "ORDER BY fetched_at DESC LIMIT 1",
        [form_id],
    )
    if latest == digest:
        return  # the form has not changed since the last snapshot
    con.execute(
        """INSERT INTO raw_tally_forms VALUES (?, ?, ?::JSON, ?::JSON, ?, ?)
           ON CONFLICT (form_id, content_hash) DO UPDATE SET run_id = excluded.run_id,
               fetched_at = excluded.fetched_at""",
        [
            form_id,
            digest,
            canonical_json(questions),
            canonical_json(definition) if definition is not None else None,
            run_id,
            now,
        ],
    )


def form_snapshots(
    con: duckdb.DuckDBPyConnection, form_id: str
) -> list[tuple[list[dict[str, Any]], dict[str, Any] | None]]:
    """Every stored snapshot of the form, oldest first (the last is the form as now)."""
    rows = con.execute(
        """SELECT questions, definition FROM raw_tally_forms WHERE form_id = ?
           ORDER BY fetched_at, content_hash""",
        [form_id],
    ).fetchall()
    return [(json.loads(q), json.loads(d) if d is not None else None) for q, d in rows]
