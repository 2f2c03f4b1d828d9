"""Projects across correction links, held submissions that a later one released, and the
curators' decisions as the run applied them. Run once a run, after every batch is loaded."""

from __future__ import annotations

import json

import duckdb
import pyarrow as pa

from schemas.tables import CuratorDecision
from transforms.curation import CORRECT, Decisions
from transforms.identity import Lineage, projet_id, resolve_references
from warehouse.db import ids, insert_rows, with_rows

# Every submission derived: published versions and held ones, with what identity needs.
_SUBMISSIONS = """
    SELECT submission_id, submitted_at, coll_siret, nom_projet, projet_id, projet_ref,
           TRUE AS valid
    FROM project_versions
    UNION ALL
    SELECT submission_id, submitted_at, coll_siret, nom_projet, projet_id, projet_ref, FALSE
    FROM quarantine
"""


def link_references(con: duckdb.DuckDBPyConnection) -> int:
    """Give each submission that came through a correction link the project of the submission
    it refers to (see `transforms.identity.resolve_references`); return how many changed."""
    rows = con.execute(
        f"""WITH s AS ({_SUBMISSIONS})
            SELECT submission_id, submitted_at, coll_siret, nom_projet, projet_id, projet_ref,
                   valid
            FROM s
            WHERE projet_ref IS NOT NULL
               OR submission_id IN (SELECT projet_ref FROM s WHERE projet_ref IS NOT NULL)"""
    ).fetchall()
    if not rows:
        return 0
    lineage = {
        sid: Lineage(
            sid,
            at,
            # a referred submission keeps its own id; one that refers gets it back before
            # the resolution, which may change it again
            projet_id(siret, name, sid) if ref else current,
            ref,
            valid,
        )
        for sid, at, siret, name, current, ref, valid in rows
    }
    current = {row[0]: row[4] for row in rows}
    changes = {sid: new for sid, new in resolve_references(lineage).items() if current[sid] != new}
    if changes:
        table = pa.table(
            {
                "submission_id": pa.array(list(changes), pa.string()),
                "projet_id": pa.array(list(changes.values()), pa.string()),
            }
        )
        for target in ("project_versions", "quarantine"):
            with_rows(
                con,
                f"""UPDATE {target} AS t SET projet_id = r.projet_id FROM incoming r
                    WHERE t.submission_id = r.submission_id""",
                table,
            )
    return len(changes)


def release_held(con: duckdb.DuckDBPyConnection) -> None:
    """A held submission no longer waits for anything once a later submission updated it: a
    later published version of its project, or any later submission sent through its
    correction link. It stays in `quarantine`, with `released_by` saying which one."""
    con.execute("UPDATE quarantine SET released_by = NULL WHERE released_by IS NOT NULL")
    con.execute(
        """UPDATE quarantine AS q SET released_by = later.submission_id
           FROM (
               SELECT held_id, arg_max(submission_id, (submitted_at, submission_id))
                          AS submission_id
               FROM (
                   SELECT h.submission_id AS held_id, v.submission_id, v.submitted_at
                   FROM quarantine h
                   JOIN project_versions v
                     ON v.projet_id = h.projet_id AND v.submitted_at > h.submitted_at
                   UNION ALL
                   SELECT h.submission_id, s.submission_id, s.submitted_at
                   FROM quarantine h
                   JOIN (SELECT submission_id, submitted_at, projet_ref FROM project_versions
                         UNION ALL
                         SELECT submission_id, submitted_at, projet_ref FROM quarantine) s
                     ON s.projet_ref = h.submission_id AND s.submitted_at > h.submitted_at
               )
               GROUP BY held_id
           ) later
           WHERE q.submission_id = later.held_id"""
    )


def follow_withdrawals(con: duckdb.DuckDBPyConnection, decisions: Decisions) -> dict[str, set[str]]:
    """`withdrawn_projects`: every project each withdrawal in force keeps out, under the id it
    has now. A withdrawal keeps the project's submissions (those it recorded, and those found
    under its ids at each run, in `withdrawn_submissions`): when a correction of the name or
    the SIRET (a curator's, or the contributor's edit) gives the project a new id, the
    withdrawal follows it there. Returns decision id -> the ids it keeps out."""
    con.execute("DELETE FROM withdrawn_projects")
    withdrawals = decisions.withdrawals()
    if not withdrawals:
        return {}
    made = pa.table(
        {
            "decision_id": pa.array([d.decision_id for d in withdrawals], pa.string()),
            "projet_id": pa.array([d.projet_id for d in withdrawals], pa.string()),
        }
    )
    recorded = [(d.decision_id, sid) for d in withdrawals for sid in d.submissions]
    remembered = pa.table(
        {
            "decision_id": pa.array([d for d, _ in recorded], pa.string()),
            "submission_id": pa.array([sid for _, sid in recorded], pa.string()),
        }
    )
    with_rows(
        con,
        "INSERT INTO withdrawn_submissions SELECT DISTINCT decision_id, submission_id "
        "FROM incoming ON CONFLICT DO NOTHING",
        remembered,
    )
    with_rows(
        con,
        """INSERT INTO withdrawn_projects
           SELECT decision_id, projet_id FROM incoming
           UNION
           SELECT w.decision_id, v.projet_id
           FROM withdrawn_submissions w
           JOIN project_versions v USING (submission_id)
           WHERE w.decision_id IN (SELECT decision_id FROM incoming)""",
        made,
    )
    con.execute(  # what each keeps out now is remembered for the next runs
        """INSERT INTO withdrawn_submissions
           SELECT DISTINCT w.decision_id, v.submission_id
           FROM withdrawn_projects w JOIN project_versions v USING (projet_id)
           ON CONFLICT DO NOTHING"""
    )
    out: dict[str, set[str]] = {}
    for did, pid in con.execute("SELECT decision_id, projet_id FROM withdrawn_projects").fetchall():
        out.setdefault(did, set()).add(pid)
    return out


def followed_notes(decisions: Decisions, kept_out: dict[str, set[str]]) -> dict[str, str]:
    """decision id -> what to tell the curators of a withdrawal that follows its project under
    another id (in French)."""
    notes = {}
    for d in decisions.withdrawals():
        moved = sorted(kept_out.get(d.decision_id, set()) - {d.projet_id})
        if moved:
            notes[d.decision_id] = (
                f"suit le projet retiré {d.projet_id} sous son nouvel identifiant "
                f"{', '.join(moved)} : il reste retiré"
            )
    return notes


def replace_decisions(con: duckdb.DuckDBPyConnection, decisions: Decisions) -> dict[str, str]:
    """`curator_decisions`: the file's decisions, each with its state after this run (and the
    withdrawals followed across corrections). Returns what to tell the curators: decision id
    -> a note, for a withdrawal that follows its project (a refused decision is said by the
    run itself, at every run)."""
    kept_out = follow_withdrawals(con, decisions)
    notes = followed_notes(decisions, kept_out)
    con.execute("DELETE FROM curator_decisions")
    if not decisions.items:
        return notes
    corrected = [d.submission_id for d in decisions.items if d.action == CORRECT]
    found = {
        sid: (project, superseded)
        for sid, project, superseded in with_rows(
            con,
            f"""WITH s AS ({_SUBMISSIONS})
                SELECT c.submission_id, me.projet_id,
                       q.released_by IS NOT NULL OR EXISTS (
                           SELECT 1 FROM s later WHERE later.projet_id = me.projet_id
                             AND later.submitted_at > me.submitted_at)
                FROM incoming c
                JOIN s me ON me.submission_id = c.submission_id
                LEFT JOIN quarantine q ON q.submission_id = c.submission_id""",
            ids(s for s in corrected if s),
        ).fetchall()
    }
    published = {
        pid for (pid,) in con.execute("SELECT DISTINCT projet_id FROM project_versions").fetchall()
    }
    rows = []
    for d in decisions.items:
        project = d.projet_id
        if d.ended is not None:
            state = "ended"
        elif d.decision_id in decisions.refused:
            state = "refused"
        elif d.action == CORRECT:
            project, superseded = found.get(d.submission_id or "", (None, False))
            state = (
                "unknown"
                if project is None
                else ("no_longer_applies" if superseded else "in_force")
            )
        else:
            kept = kept_out.get(d.decision_id, set())
            state = "in_force" if kept & published else "unknown"
        rows.append(
            {
                "decision_id": d.decision_id,
                "action": d.action,
                "submission_id": d.submission_id,
                "field": d.field,
                "value": json.dumps(d.value, ensure_ascii=False) if d.action == CORRECT else None,
                "projet_id": project,
                "reason": d.reason,
                "decided_by": d.by,
                "decided_at": d.at,
                "ended_by": d.ended.by if d.ended else None,
                "ended_at": d.ended.at if d.ended else None,
                "end_reason": d.ended.reason if d.ended else None,
                "state": state,
                "state_note": None
                if state == "ended"
                else decisions.refused.get(d.decision_id) or notes.get(d.decision_id),
            }
        )
    columns = list(CuratorDecision.to_schema().columns)
    insert_rows(
        con, "curator_decisions", pa.Table.from_pylist(rows, schema=_arrow(columns)), columns
    )
    return notes


def _arrow(columns: list[str]) -> pa.Schema:
    times = {"decided_at", "ended_at"}
    return pa.schema(
        [pa.field(c, pa.timestamp("us") if c in times else pa.string()) for c in columns]
    )


def decision_states(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str | None]]:
    """decision id -> (state, what the run said of it) as the last run left them."""
    return {
        did: (state, note)
        for did, state, note in con.execute(
            "SELECT decision_id, state, state_note FROM curator_decisions"
        ).fetchall()
    }


def corrections_changed(con: duckdb.DuckDBPyConnection, decisions: Decisions) -> set[str]:
    """Submissions whose corrections in force differ from what the last run applied: they
    must be derived again."""
    applied = {
        (did, sid, name, json.dumps(json.loads(value), ensure_ascii=False))
        for did, sid, name, value in con.execute(
            """SELECT decision_id, submission_id, field, value::VARCHAR FROM curator_decisions
               WHERE action = 'correct' AND state <> 'ended'"""
        ).fetchall()
    }
    wanted = {
        (d.decision_id, d.submission_id, d.field, json.dumps(d.value, ensure_ascii=False))
        for d in decisions.in_force()
        if d.action == CORRECT
    }
    return {str(sid) for _, sid, _, _ in applied ^ wanted}
