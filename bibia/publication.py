"""A run's publication: the curators' decisions settled, the exports and the site staged in the
run's transaction, then published after the commit."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bibia import __version__
from bibia.context import RunInputs
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


@dataclass(frozen=True)
class Staged:
    """The run's exports staged aside, and what they were made with besides the data."""

    export: StagedExport
    fingerprint: str


def settle(inputs: RunInputs) -> None:
    """Once every batch is loaded: projects across correction links, held submissions that a
    later one released, the curators' decisions with their state."""
    link_references(inputs.con)
    release_held(inputs.con)
    for decision_id, note in replace_decisions(inputs.con, inputs.decisions).items():
        inputs.report.notes.append(f"décision {decision_id} : {note}")


def stage(inputs: RunInputs, changed: bool) -> Staged | None:
    """Stage the exports, unless nothing they are made of changed since they were published
    (`changed`: whether the run changed what is derived) and they are in place, untouched:
    then nothing is written at all (None)."""
    con, settings, report = inputs.con, inputs.settings, inputs.report
    report.notes.extend(inputs.enricher.finish())
    fingerprint = export_fingerprint(inputs)
    unchanged = (
        not (changed or inputs.enricher.moved)
        and last_export_fingerprint(con) == fingerprint
        and exports_intact(con, settings.export_dir)
    )
    if not unchanged:
        settle(inputs)
        replace_taxonomy(con, inputs.taxonomy)
    report.quarantined = int(
        scalar(con, "SELECT count(*) FROM quarantine WHERE released_by IS NULL")
    )
    if unchanged:
        report.files_written = 0  # nothing rewritten
        report.exported = int(scalar(con, "SELECT count(*) FROM projects"))
        return None
    try:
        clean_stale_staging(settings.export_dir)
        staged = stage_exports(con, settings.export_dir, report.run_id, inputs.taxonomy)
    except (OSError, duckdb.IOException) as exc:
        raise BibiaError(
            f"impossible d'écrire les exports dans {settings.export_dir} : {exc}"
        ) from exc
    report.exported = staged.rows
    return Staged(staged, fingerprint)


def site(inputs: RunInputs, staged: Staged) -> None:
    """Stage the site's editions and the feed beside the exports, from the staged files; then
    record what the publication holds (in the run's transaction)."""
    con, settings, report = inputs.con, inputs.settings, inputs.report
    export = staged.export
    # the site keeps the export's DuckDB limit: its joins are over every project, beside the
    # indexes a run pins in memory (19 MB at 200,000 submissions, which 48 MB did not survive)
    give_back_memory()
    try:
        stage_site(export, export.staging, inputs.taxonomy, settings.site(), con)
        export.record(con, report.run_id, report.started_at)
    except (OSError, duckdb.IOException) as exc:
        raise BibiaError(f"impossible d'écrire le site dans {settings.export_dir} : {exc}") from exc
    record_export_fingerprint(con, staged.fingerprint, report.run_id)
    report.files_written = len(export.changed) + len(export.removed)


class PublishedLater(BibiaError):
    """The run committed, its files could not all be published: the next run publishes them."""


def publish_staged(staged: Staged) -> None:
    """After the commit: the staged files into place. Should that fail (a disk, a folder made
    read-only meanwhile), the warehouse records what the exports should hold: the next run
    finds them different and publishes them again."""
    try:
        staged.export.publish()
    except OSError as exc:
        raise PublishedLater(
            f"l'entrepôt est à jour mais ses exports n'ont pas tous pu être publiés ({exc}) ; "
            "la prochaine exécution les publie"
        ) from exc


def export_fingerprint(inputs: RunInputs) -> str:
    """What the exports are made of besides the data: the taxonomy, the mapping, the curators'
    decisions, how links are made, the site's code and settings, and bibia's own version."""
    settings = inputs.settings
    parts = [
        Path(settings.taxonomy_path).read_bytes(),
        Path(settings.mapping_path).read_bytes(),
        inputs.decisions.fingerprint().encode(),
        str(settings.tally_form_url).encode(),
        f"{settings.site_tiles}\0{settings.site_attribution}\0{settings.site_base}".encode(),
        code_fingerprint().encode(),
        __version__.encode(),
    ]
    return hashlib.sha256(b"\0".join(parts)).hexdigest()
