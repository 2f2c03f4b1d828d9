"""Enrichment from the SIRET, against the loopback emulator of the government APIs."""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import pandas as pd
import pytest

from bibia.emulators.government import GovApisEmulator
from bibia.emulators.loopback import Fault
from bibia.enrichment.client import EnrichmentClient
from bibia.pipeline import run_job
from bibia.settings import DEFAULT_TAXONOMY
from schemas.records import Authority
from schemas.taxonomy import Taxonomy
from tests.conftest import (
    DEMO_PUBLISHED,
    DEMO_QUARANTINE_ROWS,
    VALID_ANSWERS,
    query,
    tally_submission,
)
from transforms.enrich import apply_authority, names_agree

TAXONOMY = Taxonomy.load(DEFAULT_TAXONOMY)
NOW = datetime(2026, 11, 27, 12, 0, 0)
DEAD = "http://127.0.0.1:9"  # nothing listens there


@pytest.fixture
def gov():
    server = GovApisEmulator().start()
    yield server
    server.stop()


@pytest.fixture
def enriched(settings, gov):
    return settings.with_(enrichment_enabled=True, **gov.urls)


def test_every_project_with_a_known_siret_is_on_the_map(enriched):
    run_job(enriched, "sync")
    public = pd.read_csv(enriched.export_dir / "public" / "bibliotheque_ia.csv", dtype=str)
    assert len(public) == DEMO_PUBLISHED
    assert public["latitude"].notna().all() and public["longitude"].notna().all()
    sources = dict(query(enriched, "SELECT coords_source, count(*) FROM authorities GROUP BY 1"))
    # the three fallbacks of a withheld point were each needed once in the demo
    assert sources["geo-commune"] == 1 and sources["geo-epci"] == 1 and sources["ban"] == 1


def test_authorities_record_name_category_state_and_commune(enriched):
    run_job(enriched, "sync")
    row = query(
        enriched,
        "SELECT official_name, legal_category, legal_category_label, "
        "unit_state, establishment_state, commune_insee, coords_source "
        "FROM authorities WHERE siren = '243500139'",
    )
    assert row == [
        ("RENNES METROPOLE", "7344", "Métropole", "A", "A", "35238", "recherche-entreprises")
    ]


def test_cache_hits_make_no_request(enriched, gov, emulator):
    run_job(enriched, "sync")
    asked = len(gov.seen)
    assert asked > 0
    # a new project of an authority already looked up: derived, enriched, no request
    emulator.add_submissions(
        "bibiaD",
        [
            tally_submission(
                "later1",
                {**VALID_ANSWERS, "nom_projet": "Autre projet"},
                "2026-11-25T10:00:00.000Z",
            )
        ],
    )
    report = run_job(enriched, "sync")
    assert report.new == 1
    assert len(gov.seen) == asked
    assert query(
        enriched, "SELECT latitude IS NOT NULL FROM project_versions WHERE submission_id = 'later1'"
    ) == [(True,)]


def test_an_expired_entry_is_looked_up_again_and_moves_the_point(enriched, gov):
    run_job(enriched, "sync")
    con = duckdb.connect(str(enriched.db_path))
    con.execute(
        "UPDATE authorities SET expires_at = TIMESTAMP '2000-01-01', latitude = 0 "
        "WHERE siren = '243500139'"
    )
    con.execute("UPDATE project_versions SET latitude = 0 WHERE coll_siret LIKE '243500139%'")
    con.close()
    asked = gov.requests_for("/recherche")
    report = run_job(enriched, "sync")  # nothing new in Tally
    assert report.new == 0
    assert gov.requests_for("/recherche") == asked + 1  # Rennes Métropole's one SIRET
    assert query(
        enriched, "SELECT DISTINCT latitude FROM public_projects WHERE coll_siret LIKE '243500139%'"
    ) == [(48.1093,)]


def test_retry_after_is_honoured(enriched, gov):
    gov.queue(Fault(status=429, retry_after="2", path_contains="/recherche"))
    slept: list[float] = []
    client = EnrichmentClient(enriched, TAXONOMY.legal_categories, sleep=slept.append)
    authority = client.lookup("24350013900015", NOW)
    assert slept == [2.0]
    assert authority.found and authority.official_name == "RENNES METROPOLE"


def test_a_429_storm_is_retried_and_the_run_completes(enriched, gov):
    gov.queue(*[Fault(status=429, retry_after="0", path_contains="/recherche")] * 2)
    report = run_job(enriched, "sync")
    assert report.status == "succeeded"
    assert query(enriched, "SELECT count(*) FROM public_projects WHERE latitude IS NULL") == [(0,)]


def test_an_unreachable_service_leaves_the_run_complete_with_warnings(settings):
    offline = settings.with_(
        enrichment_enabled=True, recherche_entreprises_url=DEAD, geo_api_url=DEAD, ban_api_url=DEAD
    )
    report = run_job(offline, "sync")
    assert report.status == "succeeded" and report.exported == DEMO_PUBLISHED
    warned = query(
        offline,
        "SELECT count(DISTINCT submission_id) FROM validation_issues "
        "WHERE field = 'latitude' AND message LIKE '%non vérifié%'",
    )
    assert warned == [(report.fetched - DEMO_QUARANTINE_ROWS,)]  # every published version
    # nothing more held
    assert query(offline, "SELECT count(*) FROM quarantine") == [(DEMO_QUARANTINE_ROWS,)]


def test_when_the_service_is_down_coordinates_come_from_the_cache(enriched, emulator):
    run_job(enriched, "sync")
    con = duckdb.connect(str(enriched.db_path))
    con.execute("UPDATE authorities SET expires_at = TIMESTAMP '2000-01-01'")  # all stale
    con.close()
    emulator.add_submissions(
        "bibiaD",
        [
            tally_submission(
                "later2",
                {**VALID_ANSWERS, "nom_projet": "Autre projet"},
                "2026-11-25T10:00:00.000Z",
            )
        ],
    )
    down = enriched.with_(recherche_entreprises_url=DEAD, geo_api_url=DEAD, ban_api_url=DEAD)
    report = run_job(down, "sync")
    assert report.status == "succeeded" and report.new == 1
    assert query(down, "SELECT count(*), count(latitude) FROM public_projects") == [
        (DEMO_PUBLISHED + 1, DEMO_PUBLISHED + 1)
    ]
    ((message,),) = query(
        down,
        "SELECT message FROM validation_issues "
        "WHERE submission_id = 'later2' AND field = 'latitude'",
    )
    assert "d'après le cache" in message and "indisponible" in message


def test_enrichment_switched_off_makes_no_request(settings, gov):
    off = settings.with_(enrichment_enabled=False, **gov.urls)
    run_job(off, "sync")
    assert gov.seen == []


def test_rebuild_uses_the_cache_only(enriched, gov):
    run_job(enriched, "sync")
    asked = len(gov.seen)
    run_job(enriched.with_(recherche_entreprises_url=DEAD), "rebuild")
    assert len(gov.seen) == asked
    assert query(enriched, "SELECT count(latitude) FROM public_projects") == [(DEMO_PUBLISHED,)]


def test_no_elected_officials_data_is_stored(enriched):
    run_job(enriched, "sync")
    data = enriched.db_path.read_bytes()
    wal = enriched.db_path.with_name(enriched.db_path.name + ".wal")
    if wal.exists():
        data += wal.read_bytes()
    for personal in (b"MARTINEAU", b"Claire", b"annee_de_naissance", b"elus"):
        assert personal not in data


def authority(**changes) -> Authority:
    base = Authority(
        siret=VALID_ANSWERS["coll_siret"],
        siren="243500139",
        found=True,
        official_name="RENNES METROPOLE",
        legal_category="7344",
        legal_category_label="Métropole",
        unit_state="A",
        establishment_state="A",
        commune_insee="35238",
        latitude=48.1,
        longitude=-1.68,
        coords_source="recherche-entreprises",
        fetched_at=NOW,
        expires_at=NOW + timedelta(days=30),
    )
    for key, value in changes.items():
        setattr(base, key, value)
    return base


RECORD = {
    "submission_id": "s1",
    "coll_siret": VALID_ANSWERS["coll_siret"],
    "coll_nom": "Rennes Métropole",
    "coll_type": "Métropole",
    "latitude": None,
    "longitude": None,
}


@pytest.mark.parametrize(
    ("changes", "record_changes", "field", "words"),
    [
        ({"found": False}, {}, "coll_siret", "inconnu"),
        ({"establishment_state": "F"}, {}, "coll_siret", "fermé"),
        ({"unit_state": "C"}, {}, "coll_siret", "fermé"),
        ({}, {"coll_type": "Commune"}, "coll_type", "7344"),
        ({}, {"coll_nom": "Ville de Brest"}, "coll_nom", "RENNES METROPOLE"),
        ({"latitude": None, "longitude": None}, {}, "latitude", "carte"),
    ],
    ids=[
        "unknown",
        "closed-establishment",
        "ceased-unit",
        "category-vs-type",
        "name-far",
        "no-point",
    ],
)
def test_register_disagreements_are_warnings(changes, record_changes, field, words):
    record = {**RECORD, **record_changes}
    (issue,) = apply_authority(record, authority(**changes), TAXONOMY, None)
    assert (issue["severity"], issue["field"]) == ("warning", field)
    assert words in issue["message"]


def test_an_agreeing_authority_fills_the_coordinates_without_warning():
    record = dict(RECORD)
    assert apply_authority(record, authority(), TAXONOMY, None) == []
    assert (record["latitude"], record["longitude"]) == (48.1, -1.68)


@pytest.mark.parametrize(
    ("typed", "official", "agree"),
    [
        ("Sicoval", "COMMUNAUTE D'AGGLOMERATION DU SICOVAL", True),
        ("Ville de Noisy-le-Grand", "COMMUNE DE NOISY LE GRAND", True),
        (
            "Saint-Quentin-en-Yvelines",
            "COMMUNAUTE D'AGGLOMERATION DE SAINT QUENTIN EN YVELINES",
            True,
        ),
        ("Métropole Aix-Marseille-Provence", "METROPOLE D'AIX-MARSEILLE-PROVENCE", True),
        ("Syndicat départemental d'énergie de la Manche", "SDEM50", False),
        ("Ville de Brest", "RENNES METROPOLE", False),
        ("Métropole", "RENNES METROPOLE", True),  # nothing distinctive typed: no opinion
    ],
)
def test_names_agree(typed, official, agree):
    assert names_agree(typed, official) is agree
