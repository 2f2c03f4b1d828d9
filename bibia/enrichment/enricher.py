"""The enrichment of a run: look up each distinct SIRET (cache first), then apply.

One `Enricher` per run, fed batch after batch: a SIRET is looked up at most once a run, and
once a service has failed the rest of the run uses the cache only.
"""

from __future__ import annotations

import logging
from datetime import datetime

import duckdb
import pyarrow as pa

from bibia.enrichment.client import EnrichmentClient, EnrichmentUnavailable
from bibia.settings import Settings
from schemas.records import Authority
from schemas.taxonomy import Taxonomy
from transforms.derive import DerivedTables, issue_table
from transforms.enrich import apply_authority
from warehouse.authorities import (
    expired_sirets,
    load_authorities,
    refresh_coordinates,
    save_authorities,
)

log = logging.getLogger("bibia.enrichment")


class Enricher:
    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        settings: Settings,
        taxonomy: Taxonomy,
        now: datetime,
        online: bool,
    ) -> None:
        """Offline (rebuild, or enrichment switched off), only the cache is used."""
        self.con, self.taxonomy, self.now = con, taxonomy, now
        self.online = online and settings.enrichment_enabled
        self.client = EnrichmentClient(settings, taxonomy.legal_categories) if self.online else None
        self.known: dict[str, Authority] = {}
        self.looked_up = 0
        self.from_cache = 0
        self.unavailable: str | None = None
        self.moved = 0  # published versions whose point the refresh changed

    def _authorities(self, sirets: set[str]) -> dict[str, Authority]:
        missing = sirets - self.known.keys()
        cached = load_authorities(self.con, missing)
        self.known.update(cached)
        stale = sorted(s for s in missing if s not in cached or not cached[s].fresh(self.now))
        self.from_cache += len(missing) - len(stale)
        fetched: list[Authority] = []
        if self.client is not None and self.unavailable is None:
            for siret in stale:
                try:
                    authority = self.client.lookup(siret, self.now)
                except EnrichmentUnavailable as exc:
                    self.unavailable = str(exc)  # stop asking: the rest comes from the cache
                    log.warning("enrichissement indisponible, le cache sert : %s", exc)
                    break
                self.known[siret] = authority
                fetched.append(authority)
        self.looked_up += len(fetched)
        save_authorities(self.con, fetched)
        return {s: self.known[s] for s in sirets if s in self.known}

    def apply(self, derived: DerivedTables) -> DerivedTables:
        """`derived` with its versions' coordinates filled, and the register's warnings."""
        versions = derived.versions
        if versions.num_rows == 0:
            return derived
        records = versions.select(
            ["submission_id", "coll_siret", "coll_type", "coll_nom", "latitude", "longitude"]
        ).to_pylist()
        known = self._authorities({r["coll_siret"] for r in records})
        issues = []
        for record in records:
            cached = known.get(record["coll_siret"])
            outdated = self.unavailable is not None and (
                cached is None or not cached.fresh(self.now)
            )
            issues.extend(
                apply_authority(
                    record, cached, self.taxonomy, self.unavailable if outdated else None
                )
            )
        for name in ("latitude", "longitude"):
            points = pa.array([r[name] for r in records], pa.float64())
            versions = versions.set_column(versions.schema.get_field_index(name), name, points)
        if issues:
            issues_table = pa.concat_tables([derived.issues, issue_table(issues)])
        else:
            issues_table = derived.issues
        return DerivedTables(versions, derived.quarantined, issues_table)

    def finish(self) -> list[str]:
        """Refresh published projects whose authority's entry expired; notes for the report."""
        if self.client is None:
            return []
        try:
            expired = expired_sirets(self.con, self.now) - self.known.keys()
            if expired:
                refreshed = self._authorities(expired)
                fresh = [a for a in refreshed.values() if a.fresh(self.now)]
                self.moved = refresh_coordinates(self.con, fresh)
            requests = self.client.requests_made
        finally:
            self.client.close()
        return [
            f"enrichissement : {self.looked_up} SIRET consultés ({requests} requêtes), "
            f"{self.from_cache} depuis le cache"
        ]
