"""The raw landing: every completed submission as received, upserted on its id."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from schemas.errors import Unlandable
from schemas.records import RawRow, Received
from schemas.times import submitted_time
from warehouse.db import ids, one_thread, rowid_ranges, scalar, with_rows


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


MAX_PAYLOAD_BYTES = 1_048_576  # a submission's canonical JSON, at most (the webhook's bound)
MAX_DEPTH = 200  # nesting a payload may have (orjson writes 255 levels at most)
RECEIVED_CHARS = 4_000  # what `set_aside` keeps of something received


def parse(body: bytes) -> Any:
    """JSON as the landing reads what a sender sent (a webhook event, a spooled file): orjson's
    rules (UTF-8 only, no lone surrogate, 1,024 levels at most), at most MAX_DEPTH levels, and
    no integer past 64 bits (which orjson would read as an approximate float: what was typed
    would be lost). `Unlandable` with the reason otherwise."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Unlandable(
            f"pas du JSON lisible au caractère {exc.pos} (texte non UTF-8, demi-caractère "
            "isolé, plus de 1 024 niveaux ou syntaxe)"
        ) from None
    if _depth(value) > MAX_DEPTH:
        raise Unlandable(f"imbriqué sur plus de {MAX_DEPTH} niveaux")
    if _LONG_NUMBER.search(body):  # rare: read again, every integer checked
        json.loads(body, parse_int=_integer)
    return value


_LONG_NUMBER = re.compile(rb"\d{20}")


def _integer(text: str) -> int:
    value = int(text)
    if not -(2**63) <= value < 2**64:
        raise Unlandable("un nombre entier dépasse 64 bits")
    return value


def raw_row_of(item: Any) -> RawRow:
    """One submission in its canonical form, as it is landed; `Unlandable` with the reason when
    it cannot be stored as it is (the receiver refuses it, a run sets it aside)."""
    if not isinstance(item, dict):
        raise Unlandable(f"un élément de type {type(item).__name__} au lieu d'un objet")
    sid = item.get("id")
    if not isinstance(sid, str) or not sid:
        raise Unlandable("pas d'identifiant de soumission (`id`)")
    if len(sid) > 200 or not sid.isprintable():
        raise Unlandable("un identifiant de soumission illisible")
    respondent = item.get("respondentId")
    if respondent is not None and not isinstance(respondent, str):
        raise Unlandable(f"`respondentId` est un {type(respondent).__name__}, pas un texte")
    depth = _depth(item)
    if depth > MAX_DEPTH:
        raise Unlandable(f"imbriqué sur plus de {MAX_DEPTH} niveaux")
    try:
        text = canonical_bytes(item)
    except (TypeError, orjson.JSONEncodeError):
        raise Unlandable(_unwritable(item)) from None
    if len(text) > MAX_PAYLOAD_BYTES:
        raise Unlandable(f"plus de {MAX_PAYLOAD_BYTES:,} octets une fois en JSON".replace(",", " "))
    return RawRow(
        sid,
        submitted_time(item.get("submittedAt")),
        text,
        hashlib.sha256(text).hexdigest(),
        respondent,
    )


def raw_rows_of(
    submissions: list[dict[str, Any]], source: str = "api"
) -> tuple[list[RawRow], int, list[Received]]:
    """A page's completed submissions in their canonical form, how many were partial (never
    landed), and what could not be landed (set aside with its reason). What a page is kept as
    once parsed: its bytes, not its objects."""
    rows, partial, aside = [], 0, []
    for item in submissions:
        if isinstance(item, dict) and item.get("isCompleted") is False:
            partial += 1
            continue
        try:
            rows.append(raw_row_of(item))
        except Unlandable as exc:
            sid = item.get("id") if isinstance(item, dict) else None
            aside.append(Received(source, printable_id(sid), str(exc), escaped(item)))
    return rows, partial, aside


def printable_id(value: Any) -> str | None:
    """An id as a text that can be stored and shown (escapes written out), or None."""
    if not isinstance(value, str) or not value:
        return None
    return escaped(value).strip('"')[:200]


def escaped(value: Any, budget: int = RECEIVED_CHARS) -> str:
    """What was received, as ASCII JSON-like text that any store accepts (lone surrogates and
    control characters escaped, huge numbers and deep nesting written as far as `budget`)."""
    out: list[str] = []
    size = 0

    def put(text: str) -> bool:
        nonlocal size
        out.append(text)
        size += len(text)
        return size < budget

    def walk(node: Any, depth: int) -> bool:
        if depth > 40:
            return put("…")
        if isinstance(node, dict):
            if not put("{"):
                return False
            for i, (key, inner) in enumerate(node.items()):
                if (i and not put(",")) or not put(json.dumps(str(key)) + ":"):
                    return False
                if not walk(inner, depth + 1):
                    return False
            return put("}")
        if isinstance(node, list):
            if not put("["):
                return False
            for i, inner in enumerate(node):
                if (i and not put(",")) or not walk(inner, depth + 1):
                    return False
            return put("]")
        if isinstance(node, str):
            return put(json.dumps(node[:budget]))
        if isinstance(node, bool) or node is None or isinstance(node, float):
            return put(json.dumps(node))
        if isinstance(node, int):
            digits = (
                str(node) if abs(node) < 10**60 else f"{str(node)[:20]}…({len(str(node))} chiffres)"
            )
            return put(digits)
        return put(json.dumps(repr(node)))

    walk(value, 0)
    text = "".join(out)
    return text if len(text) <= budget else text[: budget - 1] + "…"


def _depth(node: Any) -> int:
    """How deep `node` nests, counted without recursion (a hostile payload nests 100,000 deep)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        if level > deepest:
            deepest = level
            if deepest > MAX_DEPTH:
                return deepest
        if isinstance(current, dict):
            stack.extend((v, level + 1) for v in current.values() if isinstance(v, dict | list))
        elif isinstance(current, list):
            stack.extend((v, level + 1) for v in current if isinstance(v, dict | list))
    return deepest


def _unwritable(node: Any) -> str:
    """Why orjson could not write `node` (found by looking, never by reading its message)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            try:
                current.encode("utf-8")
            except UnicodeEncodeError:
                return "un texte n'est pas de l'UTF-8 valide (un demi-caractère isolé)"
        elif isinstance(current, bool):
            continue
        elif isinstance(current, int) and not -(2**63) <= current < 2**64:
            return "un nombre entier dépasse 64 bits"
        elif isinstance(current, dict):
            for key, value in current.items():
                if not isinstance(key, str):
                    return "une clé d'objet n'est pas un texte"
                stack.extend((key, value))
        elif isinstance(current, list):
            stack.extend(current)
    return "contenu impossible à écrire en JSON canonique"


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

    def keep(self, submission_ids: list[str]) -> None:
        """Record that the walk met these stored submissions in a shape that cannot be landed:
        what is stored of them stays (a full walk does not take them for deleted)."""
        self.fetch(submission_ids)
        for sid in submission_ids:
            before = self.values.get(sid)
            if before is not None and not before & _SEEN:
                self.seen += 1
                self.values[sid] = before | _SEEN

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
    out, new_rows, changed_rows, polled = _sorted_out(incoming, known, path, same_content)
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
        _replace_contents(con, changed_rows, run_id, now)
    return out


UPDATE_ROWS = 100  # edited submissions updated by one statement


def _replace_contents(
    con: duckdb.DuckDBPyConnection, changed_rows: list[RawRow], run_id: str, now: datetime
) -> None:
    """Edited submissions: the content they replace goes to the history, then theirs is
    stored. On one DuckDB thread: two threads each pinned blocks of payloads, and 3,000 edits
    into 20,000 submissions of 6 KB ran out of a run's 48 MB."""
    with one_thread(con):
        changed = _arrow(changed_rows)
        replaced = with_rows(  # found by narrow columns: no payload read for that
            con,
            """SELECT r.rowid FROM raw_tally_submissions r
               JOIN incoming i USING (submission_id)
               WHERE r.content_hash <> i.content_hash ORDER BY 1""",
            changed,
        ).fetchall()
        rowids = [r[0] for r in replaced]
        for low, high in rowid_ranges(rowids, 1_000):  # the content replaced, to the history
            con.execute(
                """INSERT INTO raw_tally_submission_history
                   SELECT submission_id, content_hash, payload, content_run_id, content_seen_at
                   FROM raw_tally_submissions
                   WHERE rowid BETWEEN $low AND $high AND list_contains($rowids, rowid)
                   ON CONFLICT DO NOTHING""",  # a content may come back to an earlier one
                {"low": low, "high": high, "rowids": [r for r in rowids if low <= r <= high]},
            )
        for first in range(0, len(changed_rows), UPDATE_ROWS):  # a few at a time: DuckDB
            # keeps an updated text's old and new values in memory until the commit
            with_rows(
                con,
                """UPDATE raw_tally_submissions AS r
                   SET payload = i.payload::JSON, content_hash = i.content_hash,
                       submitted_at = i.submitted_at, respondent_id = i.respondent_id,
                       content_run_id = $run_id, content_seen_at = $now,
                       deleted_run_id = NULL, deleted_at = NULL, polled_at = $now
                   FROM incoming i
                   WHERE r.submission_id = i.submission_id""",
                _arrow(changed_rows[first : first + UPDATE_ROWS]),
                {"run_id": run_id, "now": now},
            )


def _sorted_out(
    incoming: list[RawRow],
    known: Known,
    path: str,
    same_content: Callable[[RawRow], bool] | None,
) -> tuple[Landed, list[RawRow], list[RawRow], list[str]]:
    """What a batch brings: the new rows, the changed ones, and those the webhook brought
    first that polling now brings with the same content (only their polling time changes)."""
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
    return out, new_rows, changed_rows, polled


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
) -> bool:
    """Keep what the form said about its questions, so `rebuild` can map without network;
    returns whether it changed since the last snapshot (a new form: a new one kept)."""
    body = {"questions": questions, "definition": definition}
    digest = content_hash(body)
    latest = scalar(
        con,
        "SELECT content_hash FROM raw_tally_forms WHERE form_id = ? "
        "ORDER BY fetched_at DESC LIMIT 1",
        [form_id],
    )
    if latest == digest:
        return False  # the form has not changed since the last snapshot
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
    return True


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


def set_aside(
    con: duckdb.DuckDBPyConnection, items: list[Received], run_id: str, now: datetime
) -> int:
    """Keep what could not be landed, with its reason (inside the run's transaction): one row
    for one thing received, its last run updated when it comes again. Returns how many are new
    to the warehouse."""
    unique: dict[str, Received] = {}
    for item in items:
        key = f"{item.source}\0{item.submission_id}\0{item.received}"
        unique[hashlib.sha256(key.encode()).hexdigest()] = item
    if not unique:
        return 0
    table = pa.table(
        {
            "set_aside_id": pa.array(list(unique), pa.string()),
            "source": pa.array([i.source for i in unique.values()], pa.string()),
            "submission_id": pa.array([i.submission_id for i in unique.values()], pa.string()),
            "reason": pa.array([i.reason for i in unique.values()], pa.string()),
            "received": pa.array([i.received for i in unique.values()], pa.string()),
            "spool_file": pa.array([i.spool_file for i in unique.values()], pa.string()),
        }
    )
    before = int(scalar(con, "SELECT count(*) FROM set_aside"))
    with_rows(
        con,
        """INSERT INTO set_aside (set_aside_id, source, submission_id, reason, received,
               spool_file, first_run_id, first_at, last_run_id, last_at)
           SELECT set_aside_id, source, submission_id, reason, received, spool_file,
                  $run_id, $now, $run_id, $now
           FROM incoming
           ON CONFLICT (set_aside_id) DO UPDATE SET last_run_id = excluded.last_run_id,
               last_at = excluded.last_at, reason = excluded.reason""",
        table,
        {"run_id": run_id, "now": now},
    )
    return int(scalar(con, "SELECT count(*) FROM set_aside")) - before
