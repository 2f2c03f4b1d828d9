"""Landing what Tally and the webhook bring: the form's snapshot and plan, the raw submissions,
and what cannot be landed, set aside with its reason."""

from __future__ import annotations

import functools
from typing import Any

import orjson

from bibia.context import RunContext
from schemas.records import RawRow, Received
from transforms.derive import Links, Rules
from transforms.mapping import FormShape, plan_fields
from transforms.webhook import same_answers
from warehouse import raw
from warehouse.db import scalar


def snapshot(
    ctx: RunContext,
    form_id: str,
    questions: list[dict[str, Any]],
    definition: dict[str, Any] | None,
) -> None:
    """Keep what the form says (rebuild maps without network), then match questions."""
    raw.save_form_snapshot(
        ctx.con, form_id, questions, definition, ctx.report.run_id, ctx.report.started_at
    )
    plan(ctx, form_id)


def plan(ctx: RunContext, form_id: str) -> None:
    form = FormShape.from_snapshots(raw.form_snapshots(ctx.con, form_id))
    plan = plan_fields(form, ctx.mapping)
    ctx.rules = Rules(
        plan,
        form,
        ctx.taxonomy,
        corrections=ctx.decisions.corrections(),
        links=Links(
            form_url=ctx.settings.form_url(form_id),
            ref_param=ctx.mapping.hidden_name("projet_ref"),
            prefill=dict(ctx.mapping.prefill),
        ),
    )
    ctx.report.notes.extend(plan.report())


def land(
    ctx: RunContext, form_id: str, rows: list[RawRow], known: raw.Known, path: str = raw.API
) -> raw.Landed:
    landed = raw.land_submissions(
        ctx.con,
        form_id,
        rows,
        ctx.report.run_id,
        ctx.report.started_at,
        known,
        path,
        same_content=functools.partial(_same_as_stored, ctx),
    )
    ctx.report.fetched = known.seen
    ctx.report.new += len(landed.new_ids)
    ctx.report.updated += len(landed.changed_ids)
    return landed


def _same_as_stored(ctx: RunContext, row: RawRow) -> bool:
    """Whether what polling brings of a submission says what the webhook brought of it."""
    stored = scalar(
        ctx.con,
        "SELECT payload FROM raw_tally_submissions WHERE submission_id = ?",
        [row.submission_id],
    )
    options = ctx.rules.form.options if ctx.rules is not None else {}
    return stored is not None and same_answers(
        orjson.loads(stored), orjson.loads(row.payload), options
    )


def set_aside(ctx: RunContext, items: list[Received], known: raw.Known | None = None) -> None:
    """What was received and cannot be landed, kept with its reason (`set_aside`); a stored
    submission that comes back so keeps its stored version (a full walk counts it as met)."""
    if not items:
        return
    raw.set_aside(ctx.con, items, ctx.report.run_id, ctx.report.started_at)
    ctx.aside += len(items)
    if known is not None:
        known.keep([i.submission_id for i in items if i.submission_id])
