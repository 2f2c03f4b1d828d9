"""The raw landing: every completed submission as received, upserted on its id."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from schemas.records import RawRow
from schemas.times import submitted_time
from warehouse.db import ids, scalar, with_rows


def canonical_bytes(payload: Any) -> bytes:
    """Keys sorted, no spaces, UTF-8: the same bytes for the same content, run after run."""
    return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)


def canonical_json(payload: Any) -> str:
    return canonical_bytes(payload).decode("utf-8")


def content_hash(payload: Any) -> str:
    return hashlib.sha256(canonical_bytes(payload)).hexdigest()


@dataclass
class Landed:
    fetched: int = 0
    new_ids: list[str] = field(default_factory=list)
    changed_ids: list[str] = field(default_factory=list)
    rows: list[RawRow] = field(default_factory=list)  # the new and changed ones

    @property
    def touched(self) -> list[str]:
        """What must be derived again."""
        return self.new_ids + self.changed_ids


def last_submitted_at(con: duckdb.DuckDBPyConnection, form_id: str) -> datetime | None:
    value: datetime | None = scalar(  # what polling brought: a webhook's submission aside
        con,
        "SELECT max(submitted_at) FROM raw_tally_submissions "
        "WHERE form_id = ? AND polled_at IS NOT NULL",
        [form_id],
    )
    return value


API, WEBHOOK = "api", "webhook"  # the paths that bring a submission


def raw_rows_of(submissions: list[dict[str, Any]]) -> tuple[list[RawRow], int]:
    """A page's completed submissions in their canonical form, and how many were partial
    (never landed). What a page is kept as once parsed: its bytes, not its objects."""
    rows, partial = [], 0
    for item in submissions:
        if item.get("isCompleted") is False:
            partial += 1
            continue
        text = canonical_bytes(item)
        rows.append(
            RawRow(
                item["id"],
                submitted_time(item.get("submittedAt")),
                text,
                hashlib.sha256(text).hexdigest(),
                item.get("respondentId"),
            )
        )
    return rows, partial


_KNOWN = (
    "SELECT submission_id, content_hash, deleted_at IS NOT NULL, polled_at IS NULL "
    "FROM raw_tally_submissions"
)
# flags of a `Known` value, below its content's digest: seen by this walk; marked deleted;
# brought by the webhook only (never by polling yet)
_SEEN, _DELETED, _UNPOLLED = 1, 2, 4
_FLAGS = 3  # bits


class Known:
    """What the warehouse holds of a form, and what the run's walk has seen: submission id ->
    the first 60 bits of its content's sha256, and flags (seen by this walk; marked deleted;
    brought by the webhook only). One small int per submission: at 200,000 submissions this
    is 22 MB, where ids, full digests and two sets of ids took 90 MB.

    `whole`: every submission of the form, read once (a full walk, which must tell what it did
    not meet); otherwise only those a batch brings, read as it lands (`fetch`): a run that
    brings 100 submissions reads 100 rows, not the form's 50,000 (0.05 to 0.1 s)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, form_id: str, whole: bool = True) -> None:
        self.con, self.form_id, self.whole = con, form_id, whole
        self.values: dict[str, int] = {}
        self.seen = 0  # distinct submissions the walk has met
        if whole:
            self._read(con.execute(f"{_KNOWN} WHERE form_id = ?", [form_id]).fetchall())

    def fetch(self, submission_ids: Iterable[str]) -> None:
        """What is stored of `submission_ids`, unless read already (all of it, when whole)."""
        if self.whole:
            return
        wanted = [sid for sid in submission_ids if sid not in self.values]
        if wanted:
            found = with_rows(
                self.con,
                f"{_KNOWN} WHERE form_id = $form_id "
                "AND submission_id IN (SELECT submission_id FROM incoming)",
                ids(wanted),
                {"form_id": self.form_id},
            ).fetchall()
            self._read(found)

    def _read(self, rows: list[tuple[str, str, bool, bool]]) -> None:
        for sid, digest, deleted, unpolled in rows:
            self.values[sid] = self.value(digest, deleted=deleted) | (_UNPOLLED if unpolled else 0)

    @staticmethod
    def value(digest: str, *, deleted: bool = False, seen: bool = False) -> int:
        flags = (_DELETED if deleted else 0) | (_SEEN if seen else 0)
        return (int(digest[:15], 16) << _FLAGS) | flags

    def meet(self, row: RawRow) -> int | None:
        """Record that the walk met `row`; return what was known of it before (None: new)."""
        before = self.values.get(row.submission_id)
        if before is None or not before & _SEEN:
            self.seen += 1
        self.values[row.submission_id] = self.value(row.content_hash, seen=True)
        return before

    def live(self) -> int:
        """Submissions stored and not marked deleted (before this walk)."""
        assert self.whole, "a walk that did not read every submission cannot count them"
        return sum(1 for v in self.values.values() if not v & _DELETED)

    def unseen(self) -> list[str]:
        """Submissions stored, not marked deleted, that the walk did not meet (those only the
        webhook brought aside: polling may not list them yet)."""
        assert self.whole, "a walk that did not read every submission cannot tell them"
        return sorted(
            sid for sid, v in self.values.items() if not v & (_SEEN | _DELETED | _UNPOLLED)
        )


def land_submissions(
    con: duckdb.DuckDBPyConnection,
    form_id: str,
    incoming: list[RawRow],
    run_id: str,
    now: datetime,
    known: Known,
    path: str = API,
    same_content: Callable[[RawRow], bool] | None = None,
) -> Landed:
    """Upsert a batch into raw_tally_submissions, inside the caller's transaction; `known` is
    kept up to date. `path`: what brought the batch (polling, or the webhook, which only adds
    submissions never seen). `same_content(row)`: whether a row that only the webhook had
    brought says the same as what polling brings now (then it is kept as it is: one landing)."""
    out = Landed()
    unique = {row.submission_id: row for row in incoming}  # an inclusive startDate's duplicates
    known.fetch(unique)
    out.fetched = len(unique)
    new_rows: list[RawRow] = []
    changed_rows: list[RawRow] = []
    polled: list[str] = []  # brought by the webhook first, by polling now: the same content
    for row in unique.values():
        if path == WEBHOOK and row.submission_id in known.values:
            continue  # a webhook never rewrites what is stored: polling brings edits
        before = known.meet(row)
        same = before is not None and before >> _FLAGS == known.value(row.content_hash) >> _FLAGS
        unpolled = before is not None and bool(before & _UNPOLLED)
        if unpolled and (same or (same_content is not None and same_content(row))):
            polled.append(row.submission_id)  # one landing for both paths: kept as it came
            continue
        if same and not before & _DELETED:  # type: ignore[operator]
            continue  # seen already, same content
        (new_rows if before is None else changed_rows).append(row)
        out.rows.append(row)
    out.new_ids = [r.submission_id for r in new_rows]
    out.changed_ids = [r.submission_id for r in changed_rows]
    params = {"form_id": form_id, "run_id": run_id, "now": now}
    if new_rows:
        with_rows(
            con,
            """INSERT INTO raw_tally_submissions (submission_id, form_id, respondent_id,
                   submitted_at, payload, content_hash, first_run_id, content_run_id,
                   first_seen_at, content_seen_at, landed_by, polled_at)
               SELECT submission_id, $form_id, respondent_id, submitted_at, payload::JSON,
                      content_hash, $run_id, $run_id, $now, $now, $path,
                      CASE WHEN $path = 'api' THEN $now::TIMESTAMP END
               FROM incoming""",
            _arrow(new_rows),
            {**params, "path": path},
        )
    if polled:
        with_rows(
            con,
            "UPDATE raw_tally_submissions SET polled_at = $now "
            "WHERE submission_id IN (SELECT submission_id FROM incoming)",
            ids(polled),
            {"now": now},
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
                   deleted_run_id = NULL, deleted_at = NULL, polled_at = $now
               FROM incoming i
               WHERE r.submission_id = i.submission_id""",
            changed,
            {"run_id": run_id, "now": now},
        )
    return out


def _arrow(rows: list[RawRow]) -> pa.Table:
    return pa.table(
        {
            "submission_id": pa.array([r.submission_id for r in rows], pa.string()),
            "respondent_id": pa.array([r.respondent_id for r in rows], pa.string()),
            "submitted_at": pa.array([r.submitted_at for r in rows], pa.timestamp("us")),
            "payload": pa.array([r.payload for r in rows], pa.string()),
            "content_hash": pa.array([r.content_hash for r in rows], pa.string()),
        }
    )


def mark_deleted(
    con: duckdb.DuckDBPyConnection, form_id: str, known: Known, run_id: str, now: datetime
) -> list[str]:
    """After a full walk: what Tally no longer returns is marked deleted (the row stays)."""
    gone = known.unseen()
    if not gone:
        return []
    with_rows(
        con,
        """UPDATE raw_tally_submissions
           SET deleted_run_id = $run_id, deleted_at = $now
           WHERE form_id = $form_id AND submission_id IN (SELECT submission_id FROM incoming)""",
        ids(gone),
        {"form_id": form_id, "run_id": run_id, "now": now},
    )
    return gone


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
        """INSERT INTO raw_tally_forms (form_id, content_hash, questions, definition, run_id,
               fetched_at)
           VALUES (?, ?, ?::JSON, ?::JSON, ?, ?)
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
