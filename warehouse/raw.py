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
from transforms.derive import RawSubmission
from warehouse.db import scalar


def canonical_json(payload: Any) -> str:
    """Keys sorted, no spaces, UTF-8: the same text for the same content, run after run."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS).decode("utf-8")


def content_hash(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


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
    deleted_ids: list[str] = field(default_factory=list)
    raws: list[RawSubmission] = field(default_factory=list)  # the new and changed ones

    @property
    def touched(self) -> list[str]:
        return self.new_ids + self.changed_ids + self.deleted_ids


def last_submitted_at(con: duckdb.DuckDBPyConnection, form_id: str) -> datetime | None:
    value: datetime | None = scalar(
        con, "SELECT max(submitted_at) FROM raw_tally_submissions WHERE form_id = ?", [form_id]
    )
    return value


def land_submissions(
    con: duckdb.DuckDBPyConnection,
    form_id: str,
    submissions: list[dict[str, Any]],
    run_id: str,
    now: datetime,
) -> Landed:
    """Upsert a batch (a page) into raw_tally_submissions, inside the caller's transaction."""
    out = Landed()
    unique: dict[str, dict[str, Any]] = {}
    for item in submissions:
        if item.get("isCompleted") is False:
            out.partial_skipped += 1
            continue
        unique[item["id"]] = item  # boundary duplicates of an inclusive startDate
    out.fetched = len(unique)
    if not unique:
        return out
    ids, respondents, times, payloads, hashes = [], [], [], [], []
    for sid, item in unique.items():
        text = canonical_json(item)
        ids.append(sid)
        respondents.append(item.get("respondentId"))
        times.append(utc_naive(item["submittedAt"]))
        payloads.append(text)
        hashes.append(hashlib.sha256(text.encode("utf-8")).hexdigest())
    incoming = pa.table(
        {
            "submission_id": pa.array(ids, pa.string()),
            "respondent_id": pa.array(respondents, pa.string()),
            "submitted_at": pa.array(times, pa.timestamp("us")),
            "payload": pa.array(payloads, pa.string()),
            "content_hash": pa.array(hashes, pa.string()),
        }
    )
    con.register("incoming_submissions", incoming)
    try:
        rows = con.execute(
            """SELECT i.submission_id, r.submission_id IS NULL
               FROM incoming_submissions i
               LEFT JOIN raw_tally_submissions r USING (submission_id)
               WHERE r.submission_id IS NULL OR r.content_hash <> i.content_hash
                  OR r.deleted_at IS NOT NULL
               ORDER BY i.submission_id"""
        ).fetchall()
        out.new_ids = [sid for sid, is_new in rows if is_new]
        out.changed_ids = [sid for sid, is_new in rows if not is_new]
        when = dict(zip(ids, times, strict=True))
        out.raws = [RawSubmission(sid, when[sid], unique[sid]) for sid, _ in rows]
        if not rows:
            return out  # nothing new: nothing to write
        params = {"form_id": form_id, "run_id": run_id, "now": now}
        con.execute(
            """INSERT INTO raw_tally_submissions
               SELECT i.submission_id, $form_id, i.respondent_id, i.submitted_at,
                      i.payload::JSON, i.content_hash, $run_id, $run_id, $now, $now, NULL, NULL
               FROM incoming_submissions i
               WHERE i.submission_id NOT IN (SELECT submission_id FROM raw_tally_submissions)""",
            params,
        )
        con.execute(
            """UPDATE raw_tally_submissions AS r
               SET payload = i.payload::JSON, content_hash = i.content_hash,
                   submitted_at = i.submitted_at, respondent_id = i.respondent_id,
                   content_run_id = $run_id, content_seen_at = $now,
                   deleted_run_id = NULL, deleted_at = NULL
               FROM incoming_submissions i
               WHERE r.submission_id = i.submission_id
                 AND (r.content_hash <> i.content_hash OR r.deleted_at IS NOT NULL)""",
            {"run_id": run_id, "now": now},
        )
        con.execute(
            """INSERT INTO raw_tally_submission_history
               SELECT i.submission_id, i.content_hash, i.payload::JSON, $run_id, $now
               FROM incoming_submissions i
               ON CONFLICT DO NOTHING""",
            {"run_id": run_id, "now": now},
        )
    finally:
        con.unregister("incoming_submissions")
    return out


def mark_deleted(
    con: duckdb.DuckDBPyConnection, form_id: str, seen: set[str], run_id: str, now: datetime
) -> list[str]:
    """After a full walk: what Tally no longer returns is marked deleted (the row stays)."""
    con.register("seen_ids", pa.table({"submission_id": pa.array(sorted(seen), pa.string())}))
    try:
        deleted = con.execute(
            """UPDATE raw_tally_submissions
               SET deleted_run_id = $run_id, deleted_at = $now
               WHERE form_id = $form_id AND deleted_at IS NULL
                 AND submission_id NOT IN (SELECT submission_id FROM seen_ids)
               RETURNING submission_id""",
            {"form_id": form_id, "run_id": run_id, "now": now},
        ).fetchall()
    finally:
        con.unregister("seen_ids")
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
