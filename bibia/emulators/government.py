"""API Recherche d'entreprises, geo.api.gouv.fr and the BAN on loopback, in the shapes of
`../shared/reference/siret-enrichment.md`, for the tests and the demo.

One server, three prefixes: `/recherche` (`/search`), `/geo` (`/communes/{insee}`,
`/epcis/{siren}`) and `/ban` (`/search/`). The registry below holds the demo's authorities;
names and categories are the register's as documented, addresses and points are illustrative.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from bibia.emulators.loopback import Answer, LoopbackServer


@dataclass(frozen=True)
class Registered:
    siren: str
    name: str
    category: str
    insee: str
    lat: float
    lon: float
    withheld: bool = False  # the register withholds the seat's point: fallbacks needed
    closed: bool = False  # the establishment of the SIRET asked for is closed
    collectivite: bool = True  # a `collectivite_territoriale` block (not for syndicats, EPTs)


REGISTRY: dict[str, Registered] = {
    r.siren: r
    for r in [
        Registered(
            "243100633", "COMMUNAUTE D'AGGLOMERATION DU SICOVAL", "7348", "31254", 43.5386, 1.5325
        ),
        Registered(
            "219300514",
            "COMMUNE DE NOISY LE GRAND",
            "7210",
            "93051",
            48.8486,
            2.5526,
            withheld=True,
        ),
        Registered("243500139", "RENNES METROPOLE", "7344", "35238", 48.1093, -1.6779),
        Registered("243300316", "BORDEAUX METROPOLE", "7344", "33063", 44.8386, -0.5785),
        Registered(
            "200054807",
            "METROPOLE D'AIX-MARSEILLE-PROVENCE",
            "7344",
            "13055",
            43.2964,
            5.3700,
            withheld=True,
        ),
        Registered(
            "200058782",
            "COMMUNAUTE D'AGGLOMERATION DE SAINT QUENTIN EN YVELINES",
            "7348",
            "78644",
            48.7786,
            2.0436,
        ),
        Registered(
            "243400017", "MONTPELLIER MEDITERRANEE METROPOLE", "7344", "34172", 43.6047, 3.8807
        ),
        Registered("200023414", "METROPOLE ROUEN NORMANDIE", "7344", "76540", 49.4431, 1.0993),
        Registered("243100518", "TOULOUSE METROPOLE", "7344", "31555", 43.6100, 1.4600),
        Registered("217500016", "VILLE DE PARIS", "7229", "75056", 48.8566, 2.3522),
        Registered("216901231", "COMMUNE DE LYON", "7210", "69123", 45.7676, 4.8345),
        Registered("244400404", "NANTES METROPOLE", "7344", "44109", 47.2181, -1.5528),
        Registered("200040715", "GRENOBLE-ALPES-METROPOLE", "7344", "38185", 45.1885, 5.7245),
        Registered("200093201", "METROPOLE EUROPEENNE DE LILLE", "7344", "59350", 50.6326, 3.0586),
        Registered("200053791", "REGION OCCITANIE", "7230", "31555", 43.6045, 1.4440),
        Registered(
            "200010700",
            "COMMUNAUTE D'AGGLOMERATION CAUX SEINE AGGLO",
            "7348",
            "76384",
            49.5203,
            0.5356,
        ),
        Registered(
            "246400337", "COMMUNAUTE DE COMMUNES DE LACQ-ORTHEZ", "7346", "64410", 43.3837, -0.6238
        ),
        Registered(
            "246000749",
            "COMMUNAUTE DE COMMUNES DU PAYS DE VALOIS",
            "7346",
            "60176",
            49.2346,
            2.8887,
            closed=True,
        ),
        Registered(
            "200059228",
            "COMMUNAUTE D'AGGLOMERATION GRAND PARIS SUD SEINE ESSONNE SENART",
            "7348",
            "91228",
            48.6290,
            2.4410,
        ),
        Registered(
            "200068914",
            "COMMUNAUTE DE COMMUNES INTERCOM DE LA VIRE AU NOIREAU",
            "7346",
            "14762",
            48.8386,
            -0.8892,
        ),
        Registered("246300701", "CLERMONT AUVERGNE METROPOLE", "7344", "63113", 45.7772, 3.0870),
        Registered("200054781", "METROPOLE DU GRAND PARIS", "7344", "75056", 48.8470, 2.4390),
        Registered("217902024", "COMMUNE DE PARTHENAY", "7210", "79202", 46.6486, -0.2469),
        Registered(
            "200057875",
            "ETABLISSEMENT PUBLIC TERRITORIAL EST ENSEMBLE",
            "7349",
            "93048",
            48.8634,
            2.4432,
            withheld=True,
            collectivite=False,
        ),
        Registered("223300012", "DEPARTEMENT DE LA GIRONDE", "7220", "33063", 44.8378, -0.5792),
        Registered("255001208", "SDEM50", "7355", "50502", 49.1157, -1.0906, collectivite=False),
        Registered("225900018", "DEPARTEMENT DU NORD", "7220", "59350", 50.6292, 3.0573),
        Registered(
            "223100017", "DEPARTEMENT DE LA HAUTE-GARONNE", "7220", "31555", 43.6008, 1.4485
        ),
        Registered("216704825", "COMMUNE DE STRASBOURG", "7210", "67482", 48.5734, 7.7521),
        Registered("211300553", "COMMUNE DE MARSEILLE", "7210", "13055", 43.2965, 5.3698),
        Registered("242100410", "DIJON METROPOLE", "7344", "21231", 47.3220, 5.0415),
        Registered("244900015", "ANGERS LOIRE METROPOLE", "7344", "49007", 47.4784, -0.5632),
        Registered("243700754", "TOURS METROPOLE VAL DE LOIRE", "7344", "37261", 47.3941, 0.6848),
        Registered("242900314", "BREST METROPOLE", "7344", "29019", 48.3904, -4.4861),
    ]
}
# Elected officials, as the register lists them: personal data that bibia must never keep.
ELUS = [
    {"nom": "MARTINEAU", "prenoms": "Claire", "annee_de_naissance": "1968", "fonction": "Président"}
]


def _siege(r: Registered, siret: str) -> dict[str, Any]:
    lat = None if r.withheld else f"{r.lat:.4f}"
    lon = None if r.withheld else f"{r.lon:.4f}"
    return {
        "siret": siret,
        "etat_administratif": "A",
        "adresse": f"1 PLACE DE L'HOTEL DE VILLE {r.insee} {r.name}",
        "code_postal": r.insee,
        "commune": r.insee,
        "departement": r.insee[:2],
        "region": None,
        "epci": None,
        "latitude": lat,
        "longitude": lon,
    }


def anyone(siren: str) -> Registered:
    """An authority for any SIREN (`GovApisEmulator(anyone=True)`, for the benchmarks: a
    register of thousands of authorities placed on the map): a commune whose seat is a point of
    metropolitan France drawn from its SIREN."""
    seed = int(hashlib.sha256(siren.encode()).hexdigest()[:12], 16)
    lat = 42.6 + (seed % 10_000) / 10_000 * 8.2
    lon = -4.4 + (seed // 10_000 % 10_000) / 10_000 * 12.0
    insee = f"{seed % 95 + 1:02d}{seed % 900 + 100:03d}"
    return Registered(siren, f"COMMUNE {siren}", "7210", insee, round(lat, 4), round(lon, 4))


def search_result(siret: str, everyone: bool = False) -> dict[str, Any]:
    r = REGISTRY.get(siret[:9]) or (anyone(siret[:9]) if everyone else None)
    if r is None:
        return {"results": [], "total_results": 0, "page": 1, "per_page": 1, "total_pages": 0}
    seat = _siege(r, siret)
    matching = {**seat, "etat_administratif": "F" if r.closed else "A"}
    complements: dict[str, Any] = {"est_administration": True, "collectivite_territoriale": None}
    if r.collectivite:
        complements["collectivite_territoriale"] = {
            "code": r.siren,
            "code_insee": r.insee if r.category == "7210" else None,
            "niveau": "epci" if r.category.startswith("73") else "commune",
            "elus": ELUS,
        }
    return {
        "results": [
            {
                "siren": r.siren,
                "nom_complet": r.name,
                "nom_raison_sociale": r.name,
                "sigle": None,
                "nature_juridique": r.category,
                "etat_administratif": "A",
                "siege": seat,
                "matching_etablissements": [matching],
                "complements": complements,
            }
        ],
        "total_results": 1,
        "page": 1,
        "per_page": 1,
        "total_pages": 1,
    }


class GovApisEmulator(LoopbackServer):
    """The three services behind one loopback port; see `urls`."""

    def __init__(self, delay_seconds: float = 0.0, anyone: bool = False) -> None:
        super().__init__(delay_seconds)
        self.anyone = anyone  # any SIREN is an authority (`anyone`), not only the registry's

    def start(self, port: int = 0) -> GovApisEmulator:
        super().start(port)
        return self

    def __enter__(self) -> GovApisEmulator:
        return self.start() if self._server is None else self

    @property
    def urls(self) -> dict[str, str]:
        return {
            "recherche_entreprises_url": f"{self.url}/recherche",
            "geo_api_url": f"{self.url}/geo",
            "ban_api_url": f"{self.url}/ban",
        }

    def requests_for(self, prefix: str) -> int:
        return sum(1 for s in self.seen if s.path.startswith(prefix))

    def respond(self, path: str, query: dict[str, str], headers: dict[str, str]) -> Answer:
        parts = [p for p in path.split("/") if p]
        if parts == ["recherche", "search"]:
            q = "".join(query.get("q", "").split())
            if not (q.isdigit() and len(q) in (9, 14)):
                return 400, {"erreur": "q doit être un SIREN ou un SIRET"}, {}
            return 200, search_result(q if len(q) == 14 else q + "00000", self.anyone), {}
        if parts[:2] == ["geo", "communes"] and len(parts) == 3:
            r = next((x for x in REGISTRY.values() if x.insee == parts[2]), None)
            if r is None:
                return 404, {"message": "Commune non trouvée"}, {}
            return (
                200,
                {
                    "code": r.insee,
                    "nom": r.name,
                    "mairie": {"type": "Point", "coordinates": [r.lon, r.lat]},
                },
                {},
            )
        if parts[:2] == ["geo", "epcis"] and len(parts) == 3:
            r = REGISTRY.get(parts[2])
            if r is None:
                return 404, {"message": "EPCI non trouvé"}, {}
            return (
                200,
                {
                    "code": r.siren,
                    "nom": r.name,
                    "centre": {"type": "Point", "coordinates": [r.lon, r.lat]},
                },
                {},
            )
        if parts == ["ban", "search"]:
            r = next((x for x in REGISTRY.values() if x.insee == query.get("citycode")), None)
            features = (
                []
                if r is None
                else [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [r.lon, r.lat]},
                        "properties": {"score": 0.87, "label": query.get("q", "")},
                    }
                ]
            )
            return 200, {"type": "FeatureCollection", "features": features}, {}
        return 404, {"message": "Not found"}, {}
