"""A run's publication: the curators' decisions settled, the exports and the site staged in the
run's transaction, then published after the commit."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import duckdb

from bibia import __version__
from bibia.context import RunContext
from bibia.runtime import give_back_memory
from publish.export import (
    StagedExport,
    clean_stale_staging,
    exports_intact,
    last_export_fingerprint,
    record_export_fingerprint,
    stage_exports,
)
from publish.site.build import code_fingerprint
from publish.site.stage import stage_site
from schemas.errors import BibiaError
from warehouse.curation import (
    link_references,
    release_held,
    replace_decisions,
)
from warehouse.db import scalar
from warehouse.load import (
    replace_taxonomy,
)

log = logging.getLogger("bibia")


def settle(ctx: RunContext) -> None:
    """Once every batch is loaded: projects across correction links, held submissions that a
    later one released, the curators' decisions with their state."""
    link_references(ctx.con)
    release_held(ctx.con)
    for decision_id, note in replace_decisions(ctx.con, ctx.decisions).items():
        ctx.report.notes.append(f"décision {decision_id} : {note}")


def stage(ctx: RunContext) -> StagedExport | None:
    """Stage the exports, unless nothing they are made of changed since they were published
    (and they are in place, untouched): then nothing is written at all."""
    settings, report = ctx.settings, ctx.report
    report.notes.extend(ctx.enricher.finish())
    fingerprint = export_fingerprint(ctx)
    unchanged = (
        not (ctx.changed or ctx.enricher.moved)
        and last_export_fingerprint(ctx.con) == fingerprint
        and exports_intact(ctx.con, settings.export_dir)
    )
    if not unchanged:
        settle(ctx)
        replace_taxonomy(ctx.con, ctx.taxonomy)
    report.quarantined = int(
        scalar(ctx.con, "SELECT count(*) FROM quarantine WHERE released_by IS NULL")
    )
    if unchanged:
        report.files_written = 0  # what the run's record says: nothing rewritten
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


def site(ctx: RunContext, staged: StagedExport) -> None:
    """Stage the site's editions and the feed beside the exports, from the staged files; then
    record what the publication holds (in the run's transaction)."""
    settings, report = ctx.settings, ctx.report
    # the site keeps the export's DuckDB limit: its joins are over every project, beside the
    # indexes a run pins in memory (19 MB at 200,000 submissions, which 48 MB did not survive)
    give_back_memory()
    try:
        stage_site(staged, staged.staging, ctx.taxonomy, settings.site(), ctx.con)
        staged.record(ctx.con, report.run_id, report.started_at)
    except (OSError, duckdb.IOException) as exc:
        raise BibiaError(f"cannot write the site in {settings.export_dir}: {exc}") from exc
    assert ctx.fingerprint is not None
    record_export_fingerprint(ctx.con, ctx.fingerprint, report.run_id)
    report.files_written = len(staged.changed) + len(staged.removed)


class PublishedLater(BibiaError):
    """The run committed, its files could not all be published: the next run publishes them."""


def publish_staged(staged: StagedExport) -> None:
    """After the commit: the staged files into place. Should that fail (a disk, a folder made
    read-only meanwhile), the warehouse records what the exports should hold: the next run
    finds them different and publishes them again."""
    try:
        staged.publish()
    except OSError as exc:
        raise PublishedLater(
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
