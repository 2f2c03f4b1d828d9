"""What every step of one run reads, fixed when the run starts: its connection, settings,
record and configuration. Nothing here changes during the run but the record (`RunReport`),
which the steps add their counts and notes to."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from bibia.enrichment.enricher import Enricher
from bibia.runs import RunReport
from bibia.settings import Settings
from schemas.taxonomy import Taxonomy
from transforms.curation import Decisions
from transforms.mapping import FieldMapping


@dataclass(frozen=True)
class RunInputs:
    """What the steps of one run read."""

    con: duckdb.DuckDBPyConnection
    settings: Settings
    report: RunReport
    taxonomy: Taxonomy
    mapping: FieldMapping
    decisions: Decisions
    enricher: Enricher
