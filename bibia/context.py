"""What the steps of one run share (the run's connection, settings, report, configuration)."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from bibia.enrichment.enricher import Enricher
from bibia.runs import RunReport
from bibia.settings import Settings
from bibia.steps import RunKind
from bibia.webhook import Spool, SpoolRead
from bibia.worker import Pending, Worker
from schemas.taxonomy import Taxonomy
from transforms.curation import Decisions
from transforms.derive import Rules
from transforms.mapping import FieldMapping
from warehouse.load import (
    HeldSince,
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
        return bool(self.derived or report.deleted or report.kind == RunKind.REBUILD)
