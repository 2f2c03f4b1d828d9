"""The two jobs, `sync` and `rebuild`, as sequences of plain steps.

The steps are plain functions of `bibia.extract`, `transforms` and `warehouse`. `step` decides
how each one runs: directly (the default), or as a Prefect task (see `flows/`). Everything
between the extraction and the export commit happens in one DuckDB transaction: a failed run
writes nothing but its own `sync_runs` row, and the previous exports stay in place.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import duckdb

from bibia.enrichment.step import enrich
from bibia.errors import BibiaError
from bibia.extract import Extracted, PageCallback, extract
from bibia.settings import Settings
from transforms.derive import Derived, RawSubmission, derive
from transforms.mapping import FieldMapping, FormShape, plan_fields
from transforms.taxonomy import Taxonomy
from warehouse import raw
from warehouse.db import connect, scalar, writer_lock
from warehouse.export import StagedExport, clean_stale_staging, stage_exports
from warehouse.load import raw_submissions, replace_derived, replace_taxonomy

log = logging.getLogger("bibia")
T = TypeVar("T")
Step = Callable[..., Any]


def run_directly(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return fn(*args, **kwargs)


def with_failpoint(step: Step, failpoint: str | None) -> Step:
    """`step`, except that the step named `failpoint` fails (BIBIA_FAILPOINT): a way to rehearse
    a failure in a real process, a served flow included."""
    if not failpoint:
        return step

    def failing(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if name == failpoint:
            raise BibiaError(f"step {name} failed on purpose (BIBIA_FAILPOINT={failpoint})")
        return step(name, fn, *args, **kwargs)

    return failing


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
    notes: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.pop("notes")
        row.pop("deleted")
        return row


def now_utc() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_run_id(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def _record(con: duckdb.DuckDBPyConnection, report: RunReport) -> None:
    row = report.as_row()
    columns = list(row)
    con.execute(
        f"INSERT OR REPLACE INTO sync_runs ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})",
        [row[c] for c in columns],
    )


def _load_config(settings: Settings) -> tuple[Taxonomy, FieldMapping]:
    return Taxonomy.load(settings.taxonomy_path), FieldMapping.load(settings.mapping_path)


def _derive(
    con: duckdb.DuckDBPyConnection,
    report: RunReport,
    form_id: str,
    touched: list[str] | None,
    raws: list[RawSubmission] | None,
    taxonomy: Taxonomy,
    mapping: FieldMapping,
) -> Derived:
    """Map, normalise and validate what `touched` names (None: everything); `raws`, when the
    run has them in hand, spares reading the payloads back."""
    form = FormShape.from_snapshots(raw.form_snapshots(con, form_id))
    plan = plan_fields(form, mapping)
    report.notes.extend(plan.report())
    if raws is None:
        raws = raw_submissions(con, form_id, touched)
    return derive(raws, plan, form, taxonomy)


def _enrich(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    report: RunReport,
    derived: Derived,
    taxonomy: Taxonomy,
    online: bool,
) -> None:
    report.notes.extend(enrich(con, settings, derived, taxonomy, report.started_at, online))


def _load(
    con: duckdb.DuckDBPyConnection,
    report: RunReport,
    derived: Derived,
    touched: list[str] | None,
    taxonomy: Taxonomy,
) -> None:
    replace_derived(con, derived, touched, report.run_id, report.started_at)
    replace_taxonomy(con, taxonomy)


def _process(
    step: Step,
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    report: RunReport,
    form_id: str,
    touched: list[str] | None,
    config: tuple[Taxonomy, FieldMapping],
    online: bool,
    raws: list[RawSubmission] | None = None,
) -> None:
    """derive -> enrich -> load, for one form."""
    taxonomy, mapping = config
    derived = step("derive", _derive, con, report, form_id, touched, raws, taxonomy, mapping)
    step("enrich", _enrich, con, settings, report, derived, taxonomy, online)
    step("load", _load, con, report, derived, touched, taxonomy)


def _land(
    con: duckdb.DuckDBPyConnection, extracted: Extracted, report: RunReport, full: bool
) -> raw.Landed:
    raw.save_form_snapshot(
        con,
        extracted.form_id,
        extracted.questions,
        extracted.definition,
        report.run_id,
        report.started_at,
    )
    landed = raw.land_submissions(
        con, extracted.form_id, extracted.submissions, report.run_id, report.started_at, full
    )
    report.fetched, report.new = landed.fetched, len(landed.new_ids)
    report.updated, report.deleted = len(landed.changed_ids), len(landed.deleted_ids)
    if landed.partial_skipped:
        report.notes.append(f"{landed.partial_skipped} partial submissions ignored")
    return landed


def _stage(
    con: duckdb.DuckDBPyConnection, settings: Settings, report: RunReport, taxonomy: Taxonomy
) -> StagedExport:
    try:
        clean_stale_staging(settings.export_dir)
        staged = stage_exports(con, settings.export_dir, report.run_id, taxonomy)
    except (OSError, duckdb.IOException) as exc:
        raise BibiaError(f"cannot write the exports in {settings.export_dir}: {exc}") from exc
    report.quarantined = int(scalar(con, "SELECT count(*) FROM quarantine"))
    report.exported = staged.rows
    return staged


def _finish(con: duckdb.DuckDBPyConnection, report: RunReport, error: BaseException | None) -> None:
    report.ended_at = now_utc()
    report.status = "failed" if error else "succeeded"
    if error is not None:
        text = str(error) if isinstance(error, BibiaError) else f"{type(error).__name__}: {error}"
        report.error = text.splitlines()[0] if text else type(error).__name__
    try:
        _record(con, report)
    except duckdb.Error:  # e.g. interrupted by the signal that is stopping the run: once more
        _record(con, report)


def run_job(
    settings: Settings,
    kind: str,
    *,
    step: Step = run_directly,
    on_page: PageCallback | None = None,
) -> RunReport:
    """`kind`: `sync`, `sync_full` or `rebuild`. Each step runs through `step(name, fn, *args)`:
    extract, land, derive, enrich, load, export (staged aside), then publish after the commit."""
    full = kind == "sync_full"
    step = with_failpoint(step, settings.failpoint)
    if kind != "rebuild":
        settings.require_tally()
    config = _load_config(settings)
    taxonomy = config[0]
    with writer_lock(settings.db_path, settings.lock_timeout_seconds):
        con = connect(settings.db_path)
        started = now_utc()
        report = RunReport(new_run_id(started), kind, settings.tally_form_id, started)
        _record(con, report)
        staged: StagedExport | None = None
        try:
            if kind == "rebuild":
                form_ids = [
                    r[0]
                    for r in con.execute(
                        "SELECT DISTINCT form_id FROM raw_tally_submissions ORDER BY 1"
                    ).fetchall()
                ]
                report.form_id = ",".join(form_ids) or None
                con.execute("BEGIN TRANSACTION")
                if not form_ids:
                    replace_taxonomy(con, taxonomy)
                for form_id in form_ids:
                    _process(step, con, settings, report, form_id, None, config, online=False)
            else:
                form_id = settings.tally_form_id or ""
                since = None if full else raw.last_submitted_at(con, form_id)
                extracted = step("extract", extract, settings, since, started, on_page)
                report.requests = extracted.requests
                con.execute("BEGIN TRANSACTION")
                landed = step("land", _land, con, extracted, report, full)
                _process(
                    step,
                    con,
                    settings,
                    report,
                    form_id,
                    landed.touched,
                    config,
                    online=True,
                    raws=landed.raws,
                )
            staged = step("export", _stage, con, settings, report, taxonomy)
            con.execute("COMMIT")
            step("publish", staged.publish)
        except BaseException as exc:
            if staged is not None:
                staged.discard()
            with contextlib.suppress(duckdb.Error):  # nothing to undo before BEGIN/after COMMIT
                con.execute("ROLLBACK")
            _finish(con, report, exc)
            con.close()
            raise
        _finish(con, report, None)
        con.close()
    for note in report.notes:
        log.info("%s", note)
    return report
