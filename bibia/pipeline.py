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
from dataclasses import dataclass

import duckdb

from bibia.context import RunInputs
from bibia.delivery import author_of, configured, deliver_all
from bibia.derivation import Derivation
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
from bibia.landing import land, set_aside, snapshot
from bibia.mail import fill_outbox, send_mail, tell_failure
from bibia.publication import PublishedLater, Staged, publish_staged, site, stage
from bibia.runs import RunReport, finish, mark_interrupted, new_run_id, record
from bibia.runtime import give_back_memory, prepare_process
from bibia.settings import Settings
from bibia.steps import RunKind, Step, StepName, run_directly, timed, with_budget, with_failpoint
from bibia.tally.client import TallyClient
from bibia.webhook import Spool, SpoolRead, read_events
from publish.deliver import project_changes
from schemas.errors import BibiaError
from schemas.records import RawRow
from schemas.taxonomy import Taxonomy
from schemas.times import now_utc
from transforms.curation import Decisions
from transforms.derive import refused_decisions
from transforms.mapping import FieldMapping
from warehouse import raw
from warehouse.curation import (
    corrections_changed,
)
from warehouse.db import connect, make_folder, owner_only, writer_lock
from warehouse.load import (
    clear_derived,
    raw_rows,
)

log = logging.getLogger("bibia")
RUN_MEMORY_LIMIT = "48MB"  # DuckDB's share in a run: past it, uncommitted data spills to disk
# ...and once the worker has stopped, for the export's queries over the whole register
EXPORT_MEMORY_LIMIT = "96MB"


# -- the steps ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Spooled:
    """The webhook's events a run read: moved out of the spool once the run is committed."""

    spool: Spool
    read: SpoolRead

    def done(self, keep_days: float) -> None:
        self.spool.landed([path for path, _row in self.read.rows], keep_days)
        self.spool.set_aside([path for path, _item in self.read.aside])


def _land_spool(
    step: Step, inputs: RunInputs, batches: Derivation, form_id: str, known: raw.Known
) -> Spooled | None:
    """The webhook's events waiting in the spool, landed (a submission polling brought already
    is left as it is), then derived; they leave the spool once the run is committed. What
    cannot be landed is set aside with its reason; an event dated in the future waits."""
    spool = Spool.at(inputs.settings.spool_folder)
    paths = spool.pending()
    if not paths:
        return None
    report = inputs.report
    read = read_events(paths, form_id, report.started_at)
    set_aside(inputs, [item for _path, item in read.aside])
    rows = [row for _p, row in read.rows]
    landed = step(StepName.LAND, land, inputs, form_id, rows, known, batches.rules, raw.WEBHOOK)
    report.notes.append(
        f"webhook : {len(read.rows)} événement(s) lu(s) dans {spool.folder}, "
        f"{len(landed.new_ids)} soumission(s) nouvelle(s)"
    )
    if read.future:
        newest = max(row.submitted_at for _p, row in read.future)
        report.notes.append(
            f"webhook : {len(read.future)} événement(s) daté(s) dans le futur (jusqu'au "
            f"{newest:%Y-%m-%d %H:%M} UTC) : pas encore publié(s), ils le seront une fois "
            "cette date passée"
        )
    if landed.rows:
        if batches.rules is None:
            batches.plan(form_id)
        batches.queue(landed.rows, [r.submission_id for r in landed.rows], more=False)
        batches.drain()
    return Spooled(spool, read)


# -- the jobs ----------------------------------------------------------------------------------
def _sync(
    step: Step,
    inputs: RunInputs,
    batches: Derivation,
    client: TallyClient,
    full: bool,
    on_page: PageCallback | None,
) -> Spooled | None:
    """Walk Tally's pages (all of them when `full`, else those since the newest landed),
    then the webhook's spool and the curators' corrections; returns the spool's events read."""
    con, report, settings = inputs.con, inputs.report, inputs.settings
    form_id = client.form_id
    since = None if report.kind != RunKind.SYNC else raw.last_submitted_at(con, form_id)
    window = Window(since, report.started_at)
    definition = step(StepName.FETCH_FORM, fetch_form, client)
    known = raw.Known(con, form_id, whole=full)  # a full walk tells what it did not meet
    batch: list[RawRow] = []  # landed, new or changed: to derive
    listing = Listing()
    for fetched in prefetched_pages(step, client, window, listing):
        page = fetched.page
        if page.number == 1:
            questions = page.questions or step(StepName.FETCH_QUESTIONS, fetch_questions, client)
            changed = snapshot(inputs, form_id, questions, definition)
            batches.plan(form_id, say=changed)
        report.partial += fetched.partial
        report.unnamed += page.unnamed
        set_aside(inputs, fetched.aside, known)
        landed = step(StepName.LAND, land, inputs, form_id, fetched.rows, known, batches.rules)
        batch += landed.rows
        last = not page.has_more or fetched.empty
        if len(batch) >= settings.batch_size or last:
            batches.queue(batch, [r.submission_id for r in batch], more=not last)
            batch = []
        if on_page is not None:
            on_page(page, known.seen)
    batches.drain()
    spooled = _land_spool(step, inputs, batches, form_id, known)
    _rederive_corrected(inputs, batches, form_id)
    note = future_dated(client, window, now_utc())
    if note is not None:
        report.notes.append(note)
    if full:
        check_withdrawals(
            listing,
            len(known.unseen()),
            known.live(),
            settings.max_withdrawal_share,
            settings.allow_withdrawals,
        )
        deleted = raw.mark_deleted(con, form_id, known, report.run_id, report.started_at)
        report.deleted = len(deleted)
        if deleted:
            clear_derived(con, deleted)
    _note_what_was_left(report)
    return spooled


def _note_what_was_left(report: RunReport) -> None:
    if report.partial:
        report.notes.append(f"{report.partial} soumission(s) partielle(s) ignorée(s)")
    if report.aside:
        report.notes.append(
            f"{report.aside} élément(s) reçu(s) mis de côté : impossible de les enregistrer "
            "tels quels (le motif de chacun : `bibia status`)"
        )
    if report.unnamed:
        report.notes.append(
            f"{report.unnamed} élément(s) des pages de Tally sans identifiant de soumission "
            "laissé(s) de côté (rien ne permet de les nommer)"
        )


def _rederive_corrected(inputs: RunInputs, batches: Derivation, form_id: str) -> None:
    """Submissions whose curators' corrections changed since the last run, and that this run
    did not derive anyway, are derived again (nothing is read when there are none)."""
    con = inputs.con
    changed = corrections_changed(con, inputs.decisions) - batches.corrected
    if not changed:
        return
    if batches.rules is None:  # no page came (nothing to plan with): plan from the snapshots
        if not raw.form_snapshots(con, form_id):
            return
        batches.plan(form_id)
    for rows in raw_rows(con, form_id, changed, inputs.settings.batch_size):
        batches.queue(rows, [r.submission_id for r in rows], more=False)
    batches.drain()


def _rebuild(inputs: RunInputs, batches: Derivation) -> None:
    con = inputs.con
    form_ids = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT form_id FROM raw_tally_submissions ORDER BY 1"
        ).fetchall()
    ]
    inputs.report.form_id = ",".join(form_ids) or None
    batches.clear_all()
    size = inputs.settings.batch_size
    for form_id in form_ids:
        batches.plan(form_id, say=True)
        ids = [
            r[0]
            for r in con.execute(
                "SELECT submission_id FROM raw_tally_submissions WHERE form_id = ? "
                "AND deleted_at IS NULL ORDER BY submission_id",
                [form_id],
            ).fetchall()
        ]
        for rows in raw_rows(con, form_id, ids, size):
            batches.queue(rows, None, more=len(ids) > size)
        batches.drain()


def run_job(
    settings: Settings,
    kind: RunKind | str,
    *,
    step: Step = run_directly,
    on_page: PageCallback | None = None,
) -> RunReport:
    """`kind`: a `RunKind`. Each step runs through `step(name, fn, *args)` (its `StepName`):
    fetch_form, fetch_page (ahead of the rest), land, derive, enrich, load (per batch of pages),
    export, site and outbox (staged aside, written in the transaction), then publish, deliver
    and mail after the commit."""
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
    settings.require_mail()
    if configured(settings):  # a delivery's settings are checked before the run, not after
        author_of(settings.publish_author)
    taxonomy, mapping, decisions = _configuration(settings)
    prepare_process()
    make_folder(settings.export_dir, "BIBIA_EXPORT_DIR")  # as usual: the public reads it
    with owner_only(), writer_lock(settings.db_path, settings.lock_timeout_seconds):
        con = connect(
            settings.db_path,
            memory_limit=RUN_MEMORY_LIMIT,
            wait_seconds=settings.warehouse_wait_seconds,
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
        inputs = RunInputs(con, settings, report, taxonomy, mapping, decisions, enricher)
        batches = Derivation(step, inputs)
        client = None if kind == RunKind.REBUILD else TallyClient(settings)
        try:
            _transaction(step, inputs, batches, client, on_page, totals)
        except BaseException as exc:
            finish(con, report, client, exc)
            tell_failure(con, settings, report.run_id, exc)
            raise
        finally:
            batches.close()
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
    inputs: RunInputs,
    batches: Derivation,
    client: TallyClient | None,
    on_page: PageCallback | None,
    totals: dict[str, float],
) -> None:
    """The run's one transaction: sync or rebuild, the exports and the site staged, the
    messages written to the outbox, the commit; then the staged files published, the webhook's
    events moved, the publication delivered to its remote targets and the messages sent (which
    never fail the run: a target, a message waits). A failure rolls
    back what was not committed and leaves the staged files aside; the run is then recorded
    as failed, with one line that says what the operator needs to know."""
    con, report = inputs.con, inputs.report
    staged: Staged | None = None
    committed = False
    try:
        con.execute("BEGIN TRANSACTION")
        spooled = None
        if client is None:
            _rebuild(inputs, batches)
        else:
            full = report.kind == RunKind.SYNC_FULL
            spooled = _sync(step, inputs, batches, client, full, on_page)
        batches.close()  # the worker's memory back before the export's
        give_back_memory()
        con.execute(f"SET memory_limit = '{EXPORT_MEMORY_LIMIT}'")
        changed = bool(batches.derived or report.deleted or report.kind == RunKind.REBUILD)
        staged = step(StepName.EXPORT, stage, inputs, changed)
        if staged is not None:
            step(StepName.SITE, site, inputs, staged)
            staged.export.check_writable()
        settings = inputs.settings
        step(StepName.OUTBOX, fill_outbox, con, settings, report.run_id, now_utc())
        timed(run_directly, totals)("commit", con.execute, "COMMIT")  # timed, not a step
        committed = True
        if spooled is not None:
            spooled.done(inputs.settings.webhook_keep_days)
        changes = project_changes(staged.export) if staged is not None else None
        if staged is not None:
            step(StepName.PUBLISH, publish_staged, staged)
        outcomes = step(
            StepName.DELIVER, deliver_all, con, inputs.settings, report.run_id, now_utc(), changes
        )
        report.deliveries = [f"{o.target} : {o.behind or o.said}" for o in outcomes]
        sent = step(StepName.MAIL, send_mail, con, settings, report.run_id, now_utc())
        if settings.mail_mode != "off":
            report.mail = sent.said(settings.mail_mode, settings.mail_spool)
    except BaseException as exc:
        if staged is not None:
            staged.export.discard()
        with contextlib.suppress(duckdb.Error):  # nothing to undo after COMMIT
            con.execute("ROLLBACK")
        if committed and isinstance(exc, BibiaError) and not isinstance(exc, PublishedLater):
            raise PublishedLater(  # what the operator needs to know, in the same line
                f"{exc} ; l'entrepôt est à jour, les exports restent tels qu'ils étaient et "
                "la prochaine exécution les publie"
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
