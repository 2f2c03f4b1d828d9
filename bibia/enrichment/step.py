"""The enrichment step of a run: look up each distinct SIRET (cache first), then apply."""

from __future__ import annotations

import logging
from datetime import datetime

import duckdb

from bibia.enrichment.client import Authority, EnrichmentClient, EnrichmentUnavailable
from bibia.settings import Settings
from transforms.derive import Derived
from transforms.enrich import apply_authority
from transforms.taxonomy import Taxonomy
from warehouse.authorities import (
    expired_sirets,
    load_authorities,
    refresh_coordinates,
    save_authorities,
)

log = logging.getLogger("bibia.enrichment")


def enrich(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    derived: Derived,
    taxonomy: Taxonomy,
    now: datetime,
    online: bool,
) -> list[str]:
    """Fill coordinates and add warnings to `derived`; return notes for the run's report.
    Offline (rebuild, or enrichment switched off), only the cache is used."""
    sirets = {v["coll_siret"] for v in derived.versions}
    known = load_authorities(con, sirets)
    unavailable: str | None = None
    fetched: list[Authority] = []
    notes: list[str] = []
    if online and settings.enrichment_enabled:
        # published projects whose authority's entry expired are refreshed too
        expired = expired_sirets(con, now) - sirets
        known.update(load_authorities(con, expired))
        stale = sorted(s for s in sirets | expired if s not in known or not known[s].fresh(now))
        client = EnrichmentClient(settings, taxonomy.legal_categories)
        try:
            for siret in stale:
                try:
                    authority = client.lookup(siret, now)
                except EnrichmentUnavailable as exc:
                    unavailable = str(exc)  # stop asking: the rest comes from the cache
                    log.warning("enrichment unavailable, using the cache: %s", exc)
                    break
                known[siret] = authority
                fetched.append(authority)
        finally:
            client.close()
        notes.append(
            f"enrichment: {len(stale)} SIRETs looked up ({client.requests_made} requests), "
            f"{len(sirets | expired) - len(stale)} from the cache"
        )
        refresh_coordinates(con, [a for a in fetched if a.siret in expired])
    save_authorities(con, fetched)
    for record in derived.versions:
        cached = known.get(record["coll_siret"])
        outdated = unavailable is not None and (cached is None or not cached.fresh(now))
        derived.issues.extend(
            apply_authority(record, cached, taxonomy, unavailable if outdated else None)
        )
    return notes
