"""The two jobs, `sync` and `rebuild`, as sequences of plain steps.

The steps are plain functions of `bibia.extract`, `transforms`, `bibia.enrichment` and
`warehouse`. `step(name, fn, *args)` decides how each one runs: directly (the default), or as a
Prefect task (see `flows/`). A sync walks Tally page by page and processes batches of pages
(land, derive, enrich, load) while the next pages are being fetched; in a run of several
batches a worker process derives each batch while the next one lands (`bibia.worker`).
Memory holds a few batches, whatever the size of the form. Everything between the first page
and the export commit happens in one DuckDB transaction: a failed run writes nothing but its
own `sync_runs` row, and the previous exports stay in place.
"""

from __future__ import annotations

import contextlib
import logging
import resource

import duckdb

from bibia.context import RunContext
from bibia.enrichment.enricher import Enricher
from bibia.extract import (
    Listing,
    PageCallback,
    Window,
    check_withdrawals,
    fetch_form,
    fetch_questions,
    future_dated,
    prefetched_pages,
)
from bibia.landing import land, plan, set_aside, snapshot
from bibia.publication import PublishedLater, publish_staged, site, stage
from bibia.runs import RunReport, finish, mark_interrupted, new_run_id, record
from bibia.runtime import give_back_memory, prepare_process
from bibia.settings import Settings
from bibia.steps import RunKind, Step, StepName, run_directly, timed, with_budget, with_failpoint
from bibia.tally.client import TallyClient
from bibia.webhook import Spool, read_events
from bibia.worker import Pending
from publish.export import (
    StagedExport,
)
from schemas.errors import BibiaError
from schemas.records import RawRow
from schemas.taxonomy import Taxonomy
from schemas.times import now_utc
from transforms.curation import Decisions
from transforms.derive import DerivedTables, refused_decisions
from transforms.mapping import FieldMapping
from warehouse import raw
from warehouse.curation import (
    corrections_changed,
)
from warehouse.db import connect, make_folder, owner_only, writer_lock
from warehouse.load import (
    HeldSince,
    clear_derived,
    insert_derived,
    raw_rows,
)

log = logging.getLogger("bibia")
RUN_MEMORY_LIMIT = "48MB"  # DuckDB's share in a run: past it, uncommitted data spills to disk
# ...and once the worker has stopped, for the export's queries over the whole register
EXPORT_MEMORY_LIMIT = "96MB"


# -- the steps ---------------------------------------------------------------------------------
def _land_spool(step: Step, ctx: RunContext, form_id: str, known: raw.Known) -> None:
    """The webhook's events waiting in the spool, landed (a submission polling brought already
    is left as it is), then derived; they leave the spool once the run is committed. What
    cannot be landed is set aside with its reason; an event dated in the future waits."""
    spool = Spool.at(ctx.settings.spool_folder)
    paths = spool.pending()
    if not paths:
        return
    read = read_events(paths, form_id, ctx.report.started_at)
    ctx.spooled = (spool, read)
    set_aside(ctx, [item for _path, item in read.aside])
    landed = step(
        StepName.LAND, land, ctx, form_id, [row for _p, row in read.rows], known, raw.WEBHOOK
    )
    ctx.report.notes.append(
        f"webhook : {len(read.rows)} événement(s) lu(s) dans {spool.folder}, "
        f"{len(landed.new_ids)} soumission(s) nouvelle(s)"
    )
    if read.future:
        newest = max(row.submitted_at for _p, row in read.future)
        ctx.report.notes.append(
            f"webhook : {len(read.future)} événement(s) daté(s) dans le futur (jusqu'au "
            f"{newest:%Y-%m-%d %H:%M} UTC) : pas encore publié(s), ils le seront une fois "
            "cette date passée"
        )
    if landed.rows:
        if ctx.rules is None:
            plan(ctx, form_id)
        _queue(step, ctx, landed.rows, [r.submission_id for r in landed.rows], more=False)
        _drain(step, ctx)


def _derived(pending: Pending) -> DerivedTables:
    """Map, normalise and validate (or wait for the worker doing it)."""
    return pending.result()


def _enrich(ctx: RunContext, derived: DerivedTables) -> DerivedTables:
    return ctx.enricher.apply(derived)


def _load(ctx: RunContext, derived: DerivedTables, since: HeldSince) -> None:
    insert_derived(ctx.con, derived, since, ctx.report.run_id, ctx.report.started_at)


def _queue(
    step: Step, ctx: RunContext, rows: list[RawRow], touched: list[str] | None, more: bool
) -> None:
    """Send a landed batch to be derived, then finish the batch before it, derived meanwhile.
    `touched`: the submissions whose derived rows the batch replaces (None: all were cleared
    before a rebuild); `more`: whether more batches follow (then a worker derives)."""
    pending = None
    rows = list({row.submission_id: row for row in rows}.values())  # edited mid-walk: the last
    if rows:
        assert ctx.rules is not None
        ctx.derived += len(rows)
        corrected = ctx.rules.corrections
        ctx.corrected_derived.update(r.submission_id for r in rows if r.submission_id in corrected)
        pending = ctx.worker.submit(rows, ctx.rules, more_to_come=more)
    _drain(step, ctx)
    if pending is not None:
        ctx.waiting = (pending, touched)


def _drain(step: Step, ctx: RunContext) -> None:
    """derive -> enrich -> load the batch waiting, if any. Its submissions' older derived rows
    are cleared just before the load, so that of two batches touching the same submission
    (edited while the run paged), the later one wins."""
    if ctx.waiting is None:
        return
    pending, touched = ctx.waiting
    ctx.waiting = None
    derived = step(StepName.DERIVE, _derived, pending)
    since = ctx.since if touched is None else clear_derived(ctx.con, touched)
    derived = step(StepName.ENRICH, _enrich, ctx, derived)
    step(StepName.LOAD, _load, ctx, derived, since)
    del derived
    give_back_memory()


# -- the jobs ----------------------------------------------------------------------------------
def _sync(
    step: Step,
    ctx: RunContext,
    client: TallyClient,
    window: Window,
    full: bool,
    on_page: PageCallback | None,
) -> None:
    form_id = client.form_id
    definition = step(StepName.FETCH_FORM, fetch_form, client)
    known = raw.Known(ctx.con, form_id, whole=full)  # a full walk tells what it did not meet
    batch: list[RawRow] = []  # landed, new or changed: to derive
    listing = Listing()
    for fetched in prefetched_pages(step, client, window, listing):
        page = fetched.page
        if page.number == 1:
            questions = page.questions or step(StepName.FETCH_QUESTIONS, fetch_questions, client)
            snapshot(ctx, form_id, questions, definition)
        ctx.partial += fetched.partial
        ctx.unnamed += page.unnamed
        set_aside(ctx, fetched.aside, known)
        landed = step(StepName.LAND, land, ctx, form_id, fetched.rows, known)
        batch += landed.rows
        last = not page.has_more or fetched.empty
        if len(batch) >= ctx.settings.batch_size or last:
            _queue(step, ctx, batch, [r.submission_id for r in batch], more=not last)
            batch = []
        if on_page is not None:
            on_page(page, known.seen)
    _drain(step, ctx)
    _land_spool(step, ctx, form_id, known)
    _rederive_corrected(step, ctx, form_id)
    note = future_dated(client, window, now_utc())
    if note is not None:
        ctx.report.notes.append(note)
    if full:
        check_withdrawals(
            listing,
            len(known.unseen()),
            known.live(),
            ctx.settings.max_withdrawal_share,
            ctx.settings.allow_withdrawals,
        )
        deleted = raw.mark_deleted(
            ctx.con, form_id, known, ctx.report.run_id, ctx.report.started_at
        )
        ctx.report.deleted = len(deleted)
        if deleted:
            clear_derived(ctx.con, deleted)
    if ctx.partial:
        ctx.report.notes.append(f"{ctx.partial} soumission(s) partielle(s) ignorée(s)")
    if ctx.aside:
        ctx.report.notes.append(
            f"{ctx.aside} élément(s) reçu(s) mis de côté : impossible de les enregistrer tels "
            "quels (le motif de chacun : `bibia status`)"
        )
    if ctx.unnamed:
        ctx.report.notes.append(
            f"{ctx.unnamed} élément(s) des pages de Tally sans identifiant de soumission "
            "laissé(s) de côté (rien ne permet de les nommer)"
        )


def _rederive_corrected(step: Step, ctx: RunContext, form_id: str) -> None:
    """Submissions whose curators' corrections changed since the last run, and that this run
    did not derive anyway, are derived again (nothing is read when there are none)."""
    changed = corrections_changed(ctx.con, ctx.decisions) - ctx.corrected_derived
    if not changed:
        return
    if ctx.rules is None:  # no page came (nothing to plan with): plan from the snapshots
        if not raw.form_snapshots(ctx.con, form_id):
            return
        plan(ctx, form_id)
    for rows in raw_rows(ctx.con, form_id, changed, ctx.settings.batch_size):
        _queue(step, ctx, rows, [r.submission_id for r in rows], more=False)
    _drain(step, ctx)


def _rebuild(step: Step, ctx: RunContext) -> None:
    form_ids = [
        r[0]
        for r in ctx.con.execute(
            "SELECT DISTINCT form_id FROM raw_tally_submissions ORDER BY 1"
        ).fetchall()
    ]
    ctx.report.form_id = ",".join(form_ids) or None
    ctx.since = clear_derived(ctx.con, None)
    batch = ctx.settings.batch_size
    for form_id in form_ids:
        plan(ctx, form_id)
        ids = [
            r[0]
            for r in ctx.con.execute(
                "SELECT submission_id FROM raw_tally_submissions WHERE form_id = ? "
                "AND deleted_at IS NULL ORDER BY submission_id",
                [form_id],
            ).fetchall()
        ]
        for rows in raw_rows(ctx.con, form_id, ids, batch):
            _queue(step, ctx, rows, None, more=len(ids) > batch)
        _drain(step, ctx)


def run_job(
    settings: Settings,
    kind: RunKind | str,
    *,
    step: Step = run_directly,
    on_page: PageCallback | None = None,
) -> RunReport:
    """`kind`: a `RunKind`. Each step runs through `step(name, fn, *args)` (its `StepName`):
    fetch_form, fetch_page (ahead of the rest), land, derive, enrich, load (per batch of pages),
    export and site (staged aside), then publish after the commit."""
    kind = RunKind(kind)
    totals: dict[str, float] = {}
    peaks: dict[str, int] = {}
    step = timed(
        with_budget(with_failpoint(step, settings.failpoint), settings.run_budget_seconds),
        totals,
        peaks,
    )
    if kind != RunKind.REBUILD:
        settings.require_tally()
    taxonomy, mapping, decisions = _configuration(settings)
    prepare_process()
    make_folder(settings.export_dir, "BIBIA_EXPORT_DIR")  # as usual: the public reads it
    with owner_only(), writer_lock(settings.db_path, settings.lock_timeout_seconds):
        con = connect(
            settings.db_path,
            memory_limit=RUN_MEMORY_LIMIT,
            wait_seconds=settings.lock_timeout_seconds,
        )
        started = now_utc()
        mark_interrupted(con, started)
        report = RunReport(new_run_id(started), kind, settings.tally_form_id, started)
        report.notes.extend(
            f"décision {did} refusée, appliquée à rien : {why}"
            for did, why in decisions.refused.items()
        )
        record(con, report)
        enricher = Enricher(con, settings, taxonomy, started, online=kind != RunKind.REBUILD)
        ctx = RunContext(con, settings, report, taxonomy, mapping, decisions, enricher)
        client = None if kind == RunKind.REBUILD else TallyClient(settings)
        try:
            _transaction(step, ctx, client, on_page, totals)
        except BaseException as exc:
            finish(con, report, client, exc)
            raise
        finally:
            ctx.worker.close()
            if client is not None:
                client.close()
            con.close()
    _log_figures(report, totals, peaks)
    return report


def _configuration(settings: Settings) -> tuple[Taxonomy, FieldMapping, Decisions]:
    """The taxonomy, the mapping and the curators' decisions a run applies (a hand-written
    correction whose value does not hold is refused: applied to nothing, and said)."""
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    decisions = Decisions.load(settings.decisions_path)
    return (
        taxonomy,
        FieldMapping.load(settings.mapping_path),
        decisions.refusing(refused_decisions(decisions, taxonomy)),
    )


def _transaction(
    step: Step,
    ctx: RunContext,
    client: TallyClient | None,
    on_page: PageCallback | None,
    totals: dict[str, float],
) -> None:
    """The run's one transaction: sync or rebuild, the exports and the site staged, the
    commit; then the staged files published and the webhook's events moved. A failure rolls
    back what was not committed and leaves the staged files aside; the run is then recorded
    as failed, with one line that says what the operator needs to know."""
    con, report = ctx.con, ctx.report
    staged: StagedExport | None = None
    committed = False
    try:
        con.execute("BEGIN TRANSACTION")
        if client is None:
            _rebuild(step, ctx)
        else:
            incremental = report.kind == RunKind.SYNC
            since = raw.last_submitted_at(con, client.form_id) if incremental else None
            window = Window(since, report.started_at)
            _sync(step, ctx, client, window, report.kind == RunKind.SYNC_FULL, on_page)
        ctx.worker.close()  # its memory back before the export's
        give_back_memory()
        con.execute(f"SET memory_limit = '{EXPORT_MEMORY_LIMIT}'")
        staged = step(StepName.EXPORT, stage, ctx)
        if staged is not None:
            step(StepName.SITE, site, ctx, staged)
            staged.check_writable()
        timed(run_directly, totals)("commit", con.execute, "COMMIT")  # timed, not a step
        committed = True
        if ctx.spooled is not None:
            spool, read = ctx.spooled
            spool.landed([path for path, _row in read.rows], ctx.settings.webhook_keep_days)
            spool.set_aside([path for path, _item in read.aside])
        if staged is not None:
            step(StepName.PUBLISH, publish_staged, staged)
    except BaseException as exc:
        if staged is not None:
            staged.discard()
        with contextlib.suppress(duckdb.Error):  # nothing to undo after COMMIT
            con.execute("ROLLBACK")
        if committed and isinstance(exc, BibiaError) and not isinstance(exc, PublishedLater):
            raise PublishedLater(  # what the operator needs to know, in the same line
                f"{exc}; the warehouse is up to date, the exports stay as they were "
                "and the next run publishes them"
            ) from exc
        raise
    finish(con, report, client, None)


def _log_figures(report: RunReport, totals: dict[str, float], peaks: dict[str, int]) -> None:
    """The run's notes, and (`-v`) its seconds and peak memory per step, its CPU time."""
    for note in report.notes:
        log.info("%s", note)
    log.debug("seconds per step: %s", ", ".join(f"{k} {v:.2f}" for k, v in totals.items()))
    log.debug("peak MiB after each step: %s", ", ".join(f"{k} {v}" for k, v in peaks.items()))
    own, worker = (
        resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
    )
    log.debug(
        "CPU seconds: this process %.2f, the worker %.2f",
        own.ru_utime + own.ru_stime,
        worker.ru_utime + worker.ru_stime,
    )
