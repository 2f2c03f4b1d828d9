"""Looking an authority up by SIRET: official name, legal category, state, seat coordinates.

One call to API Recherche d'entreprises; when the seat's point is withheld, the town hall of a
commune (geo.api.gouv.fr), the centre of an EPCI, or the BAN geocoder. Polite: a User-Agent
naming the project, about 5 requests a second, retries on 429 (Retry-After) and 5xx. Only the
fields below are kept: the register's list of elected officials is never read into bibia.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bibia.http import GaveUp, PacedSession
from bibia.settings import Settings
from schemas.records import Authority

log = logging.getLogger("bibia.enrichment")

HIT_TTL = timedelta(days=30)
MISS_TTL = timedelta(days=7)
USER_AGENT = "bibia (Bibliotheque d'IA territoriales data pipeline)"
EPCI_CATEGORIES = {"7343", "7344", "7346", "7348"}  # EPCIs with their own tax base


class EnrichmentUnavailable(Exception):
    """A service did not answer usefully; the run goes on without it."""


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _point(geometry: Any) -> tuple[float, float] | None:
    """(latitude, longitude) of a GeoJSON point (`coordinates` are [lon, lat])."""
    if isinstance(geometry, dict):
        coordinates = geometry.get("coordinates")
        if isinstance(coordinates, list) and len(coordinates) == 2:
            lon, lat = _number(coordinates[0]), _number(coordinates[1])
            if lat is not None and lon is not None:
                return lat, lon
    return None


class EnrichmentClient:
    def __init__(
        self,
        settings: Settings,
        categories: dict[str, str],
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        common: dict[str, Any] = {
            "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
            "timeout": settings.enrichment_timeout_seconds,
            "max_retries": 3,
            "backoff_seconds": settings.enrichment_backoff_seconds,
        }
        if sleep is not None:
            common["sleep"] = sleep
        per_minute = settings.enrichment_requests_per_second * 60
        self.search = PacedSession(
            settings.recherche_entreprises_url,
            per_minute=per_minute,
            label="Recherche d'entreprises",
            **common,
        )
        self.geo = PacedSession(
            settings.geo_api_url, per_minute=per_minute, label="geo.api", **common
        )
        self.ban = PacedSession(settings.ban_api_url, per_minute=per_minute, label="BAN", **common)
        self.categories = categories

    def close(self) -> None:
        for session in (self.search, self.geo, self.ban):
            session.close()

    @property
    def requests_made(self) -> int:
        return sum(s.requests_made for s in (self.search, self.geo, self.ban))

    def _json(self, session: PacedSession, path: str, params: dict[str, Any], what: str) -> Any:
        try:
            response = session.get(path, params, what)
        except GaveUp as exc:
            raise EnrichmentUnavailable(f"{session.label} : {exc}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise EnrichmentUnavailable(
                f"{session.label} : HTTP {response.status_code} pour {what}"
            )
        try:
            return json.loads(response.content)
        except ValueError:
            raise EnrichmentUnavailable(f"{session.label} : {what} n'est pas du JSON") from None

    def lookup(self, siret: str, now: datetime) -> Authority:
        """What the register says of this SIRET (raises EnrichmentUnavailable)."""
        body = self._json(
            self.search,
            "/search",
            {
                "q": siret,
                "minimal": "true",
                "per_page": 1,
                "include": "siege,complements,matching_etablissements",
            },
            f"SIRET {siret}",
        )
        results = (body or {}).get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise EnrichmentUnavailable(
                f"Recherche d'entreprises : réponse inattendue pour {siret}"
            )
        if not results:
            return Authority(
                siret, siret[:9], found=False, fetched_at=now, expires_at=now + MISS_TTL
            )
        unit = results[0]
        seat = unit.get("siege") or {}
        matching = [
            m
            for m in unit.get("matching_etablissements") or []
            if isinstance(m, dict) and m.get("siret") == siret
        ]
        establishment = matching[0] if matching else (seat if seat.get("siret") == siret else {})
        category = unit.get("nature_juridique")
        authority = Authority(
            siret=siret,
            siren=str(unit.get("siren") or siret[:9]),
            found=True,
            official_name=unit.get("nom_raison_sociale") or unit.get("nom_complet"),
            legal_category=str(category) if category else None,
            legal_category_label=self.categories.get(str(category)) if category else None,
            unit_state=unit.get("etat_administratif"),
            establishment_state=establishment.get("etat_administratif"),
            commune_insee=seat.get("commune"),
            fetched_at=now,
            expires_at=now + HIT_TTL,
        )
        lat, lon = _number(seat.get("latitude")), _number(seat.get("longitude"))
        if lat is not None and lon is not None:
            authority.latitude, authority.longitude = lat, lon
            authority.coords_source = "recherche-entreprises"
        else:
            self._fallback_point(authority, seat)
        return authority

    def _fallback_point(self, authority: Authority, seat: dict[str, Any]) -> None:
        """The seat's point is withheld: town hall, EPCI centre, or the BAN geocoder."""
        point, source = None, None
        if authority.legal_category == "7210" and authority.commune_insee:
            body = self._json(
                self.geo,
                f"/communes/{authority.commune_insee}",
                {"fields": "mairie"},
                f"commune {authority.commune_insee}",
            )
            point, source = _point((body or {}).get("mairie")), "geo-commune"
        elif authority.legal_category in EPCI_CATEGORIES:
            body = self._json(
                self.geo,
                f"/epcis/{authority.siren}",
                {"fields": "centre"},
                f"EPCI {authority.siren}",
            )
            point, source = _point((body or {}).get("centre")), "geo-epci"
        if point is None and seat.get("adresse"):
            params = {"q": seat["adresse"], "limit": 1, "autocomplete": 0}
            if authority.commune_insee:
                params["citycode"] = authority.commune_insee
            body = self._json(self.ban, "/search/", params, f"address of {authority.siret}")
            features = (body or {}).get("features") or []
            point = _point(features[0].get("geometry")) if features else None
            source = "ban"
        if point is not None:
            authority.latitude, authority.longitude = point
            authority.coords_source = source
