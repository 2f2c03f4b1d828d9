"""Landing what Tally and the webhook bring: the form's snapshot and plan, the raw submissions,
and what cannot be landed, set aside with its reason."""

from __future__ import annotations

import functools
import logging
from typing import Any

import duckdb
import orjson

from bibia.context import RunInputs
from schemas.records import RawRow, Received
from transforms.derive import Links, Rules
from transforms.mapping import FormShape, plan_fields
from transforms.webhook import same_answers
from warehouse import raw
from warehouse.db import scalar

log = logging.getLogger("bibia")


def snapshot(
    inputs: RunInputs,
    form_id: str,
    questions: list[dict[str, Any]],
    definition: dict[str, Any] | None,
) -> bool:
    """Keep what the form says (a rebuild maps without network); whether it changed."""
    report = inputs.report
    return raw.save_form_snapshot(
        inputs.con, form_id, questions, definition, report.run_id, report.started_at
    )


def plan(inputs: RunInputs, form_id: str, say: bool = True) -> Rules:
    """What the form's submissions are derived with: its questions matched to the mapping, the
    taxonomy, the curators' corrections. What did not match is said in the run's notes when
    `say` (the form changed, a rebuild), else only with `-v`: not on every run."""
    form = FormShape.from_snapshots(raw.form_snapshots(inputs.con, form_id))
    plan = plan_fields(form, inputs.mapping)
    if say:
        inputs.report.notes.extend(plan.report())
    else:
        for line in plan.report():
            log.debug("%s", line)
    return Rules(
        plan,
        form,
        inputs.taxonomy,
        corrections=inputs.decisions.corrections(),
        links=Links(
            form_url=inputs.settings.form_url(form_id),
            ref_param=inputs.mapping.hidden_name("projet_ref"),
            prefill=dict(inputs.mapping.prefill),
        ),
    )


def land(
    inputs: RunInputs,
    form_id: str,
    rows: list[RawRow],
    known: raw.Known,
    rules: Rules | None,
    path: str = raw.API,
) -> raw.Landed:
    """Land a page's (or the spool's) submissions; `rules`: the form's plan, whose options
    tell whether what polling brings says what the webhook brought (None: not planned)."""
    report = inputs.report
    options = rules.form.options if rules is not None else {}
    landed = raw.land_submissions(
        inputs.con,
        form_id,
        rows,
        report.run_id,
        report.started_at,
        known,
        path,
        same_content=functools.partial(_same_as_stored, inputs.con, options),
    )
    report.fetched = known.seen
    report.new += len(landed.new_ids)
    report.updated += len(landed.changed_ids)
    return landed


def _same_as_stored(con: duckdb.DuckDBPyConnection, options: dict[str, str], row: RawRow) -> bool:
    """Whether what polling brings of a submission says what the webhook brought of it."""
    stored = scalar(
        con,
        "SELECT payload FROM raw_tally_submissions WHERE submission_id = ?",
        [row.submission_id],
    )
    return stored is not None and same_answers(
        orjson.loads(stored), orjson.loads(row.payload), options
    )


def set_aside(inputs: RunInputs, items: list[Received], known: raw.Known | None = None) -> None:
    """What was received and cannot be landed, kept with its reason (`set_aside`); a stored
    submission that comes back so keeps its stored version (a full walk counts it as met)."""
    if not items:
        return
    report = inputs.report
    raw.set_aside(inputs.con, items, report.run_id, report.started_at)
    report.aside += len(items)
    if known is not None:
        known.keep([i.submission_id for i in items if i.submission_id])
