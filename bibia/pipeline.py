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
import contextvars
import functools
import hashlib
import logging
import os
import queue
import resource
import secrets
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import orjson

from bibia import __version__
from bibia.enrichment.enricher import Enricher
from bibia.extract import (
    Listing,
    PageCallback,
    Window,
    check_withdrawals,
    fetch_form,
    fetch_page,
    fetch_questions,
    future_dated,
)
from bibia.runtime import give_back_memory, prepare_process
from bibia.settings import Settings
from bibia.site.build import code_fingerprint
from bibia.site.publish import site_settings, stage_site
from bibia.tally.client import MAX_PAGES, Page, TallyClient
from bibia.webhook import Spool, SpoolRead, read_events
from bibia.worker import Pending, Worker
from schemas.errors import BibiaError, Interrupted, TallyError
from schemas.records import RawRow, Received
from schemas.tables import columns_of
from schemas.taxonomy import Taxonomy
from schemas.times import now_utc
from transforms.curation import Decisions
from transforms.derive import DerivedTables, Links, Rules, refused_decisions
from transforms.mapping import FieldMapping, FormShape, plan_fields
from transforms.webhook import same_answers
from warehouse import raw
from warehouse.curation import (
    corrections_changed,
    link_references,
    release_held,
    replace_decisions,
)
from warehouse.db import connect, make_folder, owner_only, scalar, writer_lock
from warehouse.export import (
    StagedExport,
    clean_stale_staging,
    exports_intact,
    last_export_fingerprint,
    record_export_fingerprint,
    stage_exports,
)
from warehouse.load import (
    HeldSince,
    clear_derived,
    insert_derived,
    raw_rows,
    replace_taxonomy,
)

log = logging.getLogger("bibia")
T = TypeVar("T")
Step = Callable[..., Any]
PREFETCH = 3  # pages fetched ahead of the processing, at most
RUN_MEMORY_LIMIT = "48MB"  # DuckDB's share in a run: past it, uncommitted data spills to disk
# ...and once the worker has stopped, for the export's queries over the whole register
EXPORT_MEMORY_LIMIT = "96MB"


def run_directly(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return fn(*args, **kwargs)


def with_failpoint(step: Step, failpoint: str | None) -> Step:
    """`step`, except that the step named `failpoint` fails, or (`name:kill`) kills the process
    (BIBIA_FAILPOINT): a way to rehearse a failure or a crash in a real process, a served flow
    included."""
    if not failpoint:
        return step

    where, _, how = failpoint.partition(":")

    def failing(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name == where and how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # a crash, as a power cut or the OOM killer
        if name == where:
            raise BibiaError(f"step {name} failed on purpose (BIBIA_FAILPOINT={failpoint})")
        return step(name, fn, *args, **kwargs)

    return failing


def with_budget(step: Step, budget_seconds: float) -> Step:
    """`step`, except that no step starts once the run has spent `budget_seconds`
    (BIBIA_RUN_BUDGET_SECONDS): the run fails with one line, and changes nothing."""
    deadline = time.monotonic() + budget_seconds

    def bounded(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() > deadline:
            raise BibiaError(
                f"the run took more than BIBIA_RUN_BUDGET_SECONDS ({budget_seconds:g} s), "
                f"stopped before its step {name}: nothing changed"
            )
        return step(name, fn, *args, **kwargs)

    return bounded


def timed(step: Step, totals: dict[str, float], peaks: dict[str, int] | None = None) -> Step:
    """`step`, adding up the seconds spent in each step name, and noting this process's peak
    resident memory once each step ends (both shown by `bibia -v`)."""

    def measured(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return step(name, fn, *args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - started
            if peaks is not None:
                peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    return measured


@dataclass
class RunReport:
    run_id: str
    kind: str
    form_id: str | None
    started_at: datetime
    ended_at: datetime | None = None
    status: str = "running"
    fetched: int = 0
    new: int = 0
    updated: int = 0
    deleted: int = 0
    quarantined: int = 0
    exported: int = 0
    requests: int = 0
    error: str | None = None
    files_written: int | None = None  # export files rewritten (0: left as they were)
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        """The report as its `sync_runs` row (the columns of the contract)."""
        row = asdict(self)
        return {name: row[name] for name in columns_of("sync_runs")}


def new_run_id(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def mark_interrupted(con: duckdb.DuckDBPyConnection, now: datetime) -> int:
    """Runs still `running` when a run starts (it holds the writer's lock: none is) died
    without ending (SIGKILL, a power cut): recorded as `interrupted`. Returns how many."""
    found = con.execute(
        "UPDATE sync_runs SET status = 'interrupted', ended_at = ?, "
        "error = coalesce(error, 'the process stopped before the run ended (killed?); "
        "nothing of it was kept') WHERE status = 'running'",
        [now],
    ).fetchall()
    return int(found[0][0]) if found else 0


def _record(con: duckdb.DuckDBPyConnection, report: RunReport) -> None:
    row = report.as_row()
    columns = list(row)
    con.execute(
        f"INSERT OR REPLACE INTO sync_runs ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})",
        [row[c] for c in columns],
    )


@dataclass
class RunContext:
    """What the steps of one run share."""

    con: duckdb.DuckDBPyConnection
    settings: Settings
    report: RunReport
    taxonomy: Taxonomy
    mapping: FieldMapping
    decisions: Decisions
    enricher: Enricher
    worker: Worker = field(default_factory=Worker)
    partial: int = 0  # partial submissions met (never loaded)
    unnamed: int = 0  # items of Tally's pages without an id (left out: nothing names them)
    rules: Rules | None = None  # what the form's batches are derived with
    waiting: tuple[Pending, list[str] | None] | None = None  # the batch being derived
    since: HeldSince = field(default_factory=dict)  # rebuild: the quarantine as it was
    derived: int = 0  # submissions derived in this run
    corrected_derived: set[str] = field(default_factory=set)  # ...of those a curator corrected
    fingerprint: str | None = None  # what the staged exports were made with, besides data
    spooled: tuple[Spool, SpoolRead] | None = None  # the webhook's events this run read
    aside: int = 0  # things received that could not be landed, set aside with their reason

    @property
    def changed(self) -> bool:
        """Whether this run changed what is derived (else the exports may stay as they are)."""
        report = self.report
        return bool(self.derived or report.deleted or report.kind == "rebuild")


# -- the steps ---------------------------------------------------------------------------------
def _snapshot(
    ctx: RunContext,
    form_id: str,
    questions: list[dict[str, Any]],
    definition: dict[str, Any] | None,
) -> None:
    """Keep what the form says (rebuild maps without network), then match questions."""
    raw.save_form_snapshot(
        ctx.con, form_id, questions, definition, ctx.report.run_id, ctx.report.started_at
    )
    _plan(ctx, form_id)


def _plan(ctx: RunContext, form_id: str) -> None:
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


def _land(
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
    _set_aside(ctx, [item for _path, item in read.aside])
    landed = step("land", _land, ctx, form_id, [row for _p, row in read.rows], known, raw.WEBHOOK)
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
            _plan(ctx, form_id)
        _queue(step, ctx, landed.rows, [r.submission_id for r in landed.rows], more=False)
        _drain(step, ctx)


def _set_aside(ctx: RunContext, items: list[Received], known: raw.Known | None = None) -> None:
    """What was received and cannot be landed, kept with its reason (`set_aside`); a stored
    submission that comes back so keeps its stored version (a full walk counts it as met)."""
    if not items:
        return
    raw.set_aside(ctx.con, items, ctx.report.run_id, ctx.report.started_at)
    ctx.aside += len(items)
    if known is not None:
        known.keep([i.submission_id for i in items if i.submission_id])


@dataclass
class Fetched:
    """A page as a run keeps it: its completed submissions in canonical form (the parsed
    objects are dropped as soon as they are canonical), and how many were partial."""

    page: Page
    rows: list[RawRow]
    partial: int
    empty: bool  # the page carried no submission at all: the walk is over
    aside: list[Received]  # items that cannot be landed as they are (set aside, with why)


def _derived(pending: Pending) -> DerivedTables:
    """Map, normalise and validate (or wait for the worker doing it)."""
    return pending.result()


def _enrich(ctx: RunContext, derived: DerivedTables) -> DerivedTables:
    return ctx.enricher.apply(derived)


def _load(ctx: RunContext, derived: DerivedTables, since: HeldSince) -> None:
    insert_derived(ctx.con, derived, since, ctx.report.run_id, ctx.report.started_at)


def _settle(ctx: RunContext) -> None:
    """Once every batch is loaded: projects across correction links, held submissions that a
    later one released, the curators' decisions with their state."""
    link_references(ctx.con)
    release_held(ctx.con)
    for decision_id, note in replace_decisions(ctx.con, ctx.decisions).items():
        ctx.report.notes.append(f"décision {decision_id} : {note}")


def _stage(ctx: RunContext) -> StagedExport | None:
    """Stage the exports, unless nothing they are made of changed since they were published
    (and they are in place, untouched): then nothing is written at all."""
    settings, report = ctx.settings, ctx.report
    report.notes.extend(ctx.enricher.finish())
    fingerprint = export_fingerprint(ctx)
    if (
        not (ctx.changed or ctx.enricher.moved)
        and last_export_fingerprint(ctx.con) == fingerprint
        and exports_intact(ctx.con, settings.export_dir)
    ):
        report.files_written = 0
    else:
        _settle(ctx)
        replace_taxonomy(ctx.con, ctx.taxonomy)
    report.quarantined = int(
        scalar(ctx.con, "SELECT count(*) FROM quarantine WHERE released_by IS NULL")
    )
    if report.files_written == 0:
        report.exported = int(scalar(ctx.con, "SELECT count(*) FROM projects"))
        return None
    try:
        clean_stale_staging(settings.export_dir)
        staged = stage_exports(ctx.con, settings.export_dir, report.run_id, ctx.taxonomy)
    except (OSError, duckdb.IOException) as exc:
        raise BibiaError(f"cannot write the exports in {settings.export_dir}: {exc}") from exc
    ctx.fingerprint = fingerprint
    report.exported = staged.rows
    return staged


def _site(ctx: RunContext, staged: StagedExport) -> None:
    """Stage the site's editions and the feed beside the exports, from the staged files; then
    record what the publication holds (in the run's transaction)."""
    settings, report = ctx.settings, ctx.report
    # the site keeps the export's DuckDB limit: its joins are over every project, beside the
    # indexes a run pins in memory (19 MB at 200,000 submissions, which 48 MB did not survive)
    give_back_memory()
    try:
        stage_site(staged, staged.staging, ctx.taxonomy, site_settings(settings), ctx.con)
        staged.record(ctx.con, report.run_id, report.started_at)
    except (OSError, duckdb.IOException) as exc:
        raise BibiaError(f"cannot write the site in {settings.export_dir}: {exc}") from exc
    assert ctx.fingerprint is not None
    record_export_fingerprint(ctx.con, ctx.fingerprint, report.run_id)
    report.files_written = len(staged.changed) + len(staged.removed)


def _publish(staged: StagedExport) -> None:
    """After the commit: the staged files into place. Should that fail (a disk, a folder made
    read-only meanwhile), the warehouse records what the exports should hold: the next run
    finds them different and publishes them again."""
    try:
        staged.publish()
    except OSError as exc:
        raise BibiaError(
            f"the warehouse is up to date but its exports could not all be published ({exc}); "
            "the next run publishes them again"
        ) from exc


def export_fingerprint(ctx: RunContext) -> str:
    """What the exports are made of besides the data: the taxonomy, the mapping, the curators'
    decisions, how links are made, the site's code and settings, and bibia's own version."""
    settings = ctx.settings
    parts = [
        Path(settings.taxonomy_path).read_bytes(),
        Path(settings.mapping_path).read_bytes(),
        ctx.decisions.fingerprint().encode(),
        str(settings.tally_form_url).encode(),
        f"{settings.site_tiles}\0{settings.site_attribution}".encode(),
        code_fingerprint().encode(),
        __version__.encode(),
    ]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()


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
    derived = step("derive", _derived, pending)
    since = ctx.since if touched is None else clear_derived(ctx.con, touched)
    derived = step("enrich", _enrich, ctx, derived)
    step("load", _load, ctx, derived, since)
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
    definition = step("fetch_form", fetch_form, client)
    known = raw.Known(ctx.con, form_id, whole=full)  # a full walk tells what it did not meet
    batch: list[RawRow] = []  # landed, new or changed: to derive
    listing = Listing()
    for fetched in _prefetched_pages(step, client, window, listing):
        page = fetched.page
        if page.number == 1:
            questions = page.questions or step("fetch_questions", fetch_questions, client)
            _snapshot(ctx, form_id, questions, definition)
        ctx.partial += fetched.partial
        ctx.unnamed += page.unnamed
        _set_aside(ctx, fetched.aside, known)
        landed = step("land", _land, ctx, form_id, fetched.rows, known)
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
        _plan(ctx, form_id)
    for rows in raw_rows(ctx.con, form_id, changed, ctx.settings.batch_size):
        _queue(step, ctx, rows, [r.submission_id for r in rows], more=False)
    _drain(step, ctx)


def _prefetched_pages(
    step: Step, client: TallyClient, window: Window, listing: Listing
) -> Iterator[Fetched]:
    """Pages in order, fetched (and made canonical) by a thread that keeps up to PREFETCH pages
    ahead of the processing: the network and the CPU work at the same time. `listing` follows
    the walk: a page that repeats the list or goes past Tally's count stops it, and the run."""
    pages: queue.Queue[Fetched | BaseException | None] = queue.Queue(maxsize=PREFETCH)
    stop = threading.Event()
    context = contextvars.copy_context()  # as a Prefect task, a fetch keeps its flow run

    def put(item: Fetched | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                pages.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for number in range(1, MAX_PAGES + 1):
                if stop.is_set():
                    return
                page = context.run(step, "fetch_page", fetch_page, client, window, number)
                problem = listing.observe(page)
                if problem is not None:
                    raise TallyError(
                        f"Tally's list cannot be trusted ({problem}): the run stopped and "
                        "nothing changed"
                    )
                rows, partial, aside = raw.raw_rows_of(page.submissions)
                fetched = Fetched(page, rows, partial, not page.submissions, aside)
                page.submissions = []  # their canonical bytes are kept, not their objects
                if not put(fetched) or not page.has_more or fetched.empty:
                    break
            else:
                put(TallyError(f"Tally kept saying hasMore after {MAX_PAGES} pages: stopped"))
        except BaseException as exc:  # handed to the consumer, raised there
            put(exc)
        put(None)

    fetcher = threading.Thread(target=produce, name="bibia-fetch", daemon=True)
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.001)  # hand the GIL to the fetcher soon after a page arrives
    fetcher.start()
    try:
        while (item := pages.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        fetcher.join(timeout=60)
        sys.setswitchinterval(switch)


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
        _plan(ctx, form_id)
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
    kind: str,
    *,
    step: Step = run_directly,
    on_page: PageCallback | None = None,
) -> RunReport:
    """`kind`: `sync`, `sync_full` or `rebuild`. Each step runs through `step(name, fn, *args)`:
    fetch_form, fetch_page (ahead of the rest), land, derive, enrich, load (per batch of pages),
    export and site (staged aside), then publish after the commit."""
    totals: dict[str, float] = {}
    peaks: dict[str, int] = {}
    step = timed(
        with_budget(with_failpoint(step, settings.failpoint), settings.run_budget_seconds),
        totals,
        peaks,
    )
    if kind != "rebuild":
        settings.require_tally()
    taxonomy, mapping, decisions = (
        Taxonomy.load(settings.taxonomy_path),
        FieldMapping.load(settings.mapping_path),
        Decisions.load(settings.decisions_path),
    )
    # a hand-written correction whose value does not hold is applied to nothing, and said
    decisions = decisions.refusing(refused_decisions(decisions, taxonomy))
    refusals = [
        f"décision {did} refusée, appliquée à rien : {why}"
        for did, why in decisions.refused.items()
    ]
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
        report.notes.extend(refusals)
        _record(con, report)
        staged: StagedExport | None = None
        client: TallyClient | None = None
        enricher = Enricher(con, settings, taxonomy, started, online=kind != "rebuild")
        ctx = RunContext(con, settings, report, taxonomy, mapping, decisions, enricher)
        committed = False
        try:
            con.execute("BEGIN TRANSACTION")
            if kind == "rebuild":
                _rebuild(step, ctx)
            else:
                client = TallyClient(settings)
                form_id = client.form_id
                since = raw.last_submitted_at(con, form_id) if kind == "sync" else None
                _sync(step, ctx, client, Window(since, started), kind == "sync_full", on_page)
            ctx.worker.close()  # its memory back before the export's
            give_back_memory()
            con.execute(f"SET memory_limit = '{EXPORT_MEMORY_LIMIT}'")
            staged = step("export", _stage, ctx)
            if staged is not None:
                step("site", _site, ctx, staged)
            if staged is not None:
                staged.check_writable()
            timed(run_directly, totals)("commit", con.execute, "COMMIT")  # timed, not a step
            committed = True
            if ctx.spooled is not None:
                spool, read = ctx.spooled
                spool.landed([path for path, _row in read.rows], settings.webhook_keep_days)
                spool.set_aside([path for path, _item in read.aside])
            if staged is not None:
                step("publish", _publish, staged)
        except BaseException as exc:
            if staged is not None:
                staged.discard()
            with contextlib.suppress(duckdb.Error):  # nothing to undo after COMMIT
                con.execute("ROLLBACK")
            if committed and isinstance(exc, BibiaError) and "next run" not in str(exc):
                exc = BibiaError(  # what the operator needs to know, in the same line
                    f"{exc}; the warehouse is up to date, the exports stay as they were "
                    "and the next run publishes them"
                )
            _finish(con, report, client, exc)
            con.close()
            raise exc
        finally:
            ctx.worker.close()
            if client is not None:
                client.close()
        _finish(con, report, client, None)
        con.close()
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
    return report


def _finish(
    con: duckdb.DuckDBPyConnection,
    report: RunReport,
    client: TallyClient | None,
    error: BaseException | None,
) -> None:
    report.ended_at = now_utc()
    stopped = isinstance(error, Interrupted | KeyboardInterrupt)
    report.status = "interrupted" if stopped else "failed" if error else "succeeded"
    if client is not None:
        report.requests = client.requests_made
    if error is not None:
        text = str(error) if isinstance(error, BibiaError) else f"{type(error).__name__}: {error}"
        report.error = text.splitlines()[0] if text else type(error).__name__
    try:
        _record(con, report)
    except duckdb.Error:  # e.g. interrupted by the signal that is stopping the run: once more
        _record(con, report)
