"""Rules beyond types, errors versus warnings, and what quarantine holds."""

from __future__ import annotations

from typing import Any

import pytest

from bibia.demo.synthetic import demo_shape
from bibia.settings import DEFAULT_MAPPING, DEFAULT_TAXONOMY
from tests.conftest import VALID_ANSWERS, tally_submission
from transforms.derive import RawSubmission, derive
from transforms.mapping import FieldMapping, FormShape, plan_fields
from transforms.taxonomy import Taxonomy
from warehouse.raw import utc_naive

TAXONOMY = Taxonomy.load(DEFAULT_TAXONOMY)
SHAPE = demo_shape()
FORM = FormShape.from_snapshot(SHAPE["questions"], {"blocks": SHAPE["blocks"]})
PLAN = plan_fields(FORM, FieldMapping.load(DEFAULT_MAPPING))


def run(changes: dict[str, Any]):
    payload = tally_submission("s1", {**VALID_ANSWERS, **changes})
    raw = RawSubmission("s1", utc_naive(payload["submittedAt"]), payload)
    return derive([raw], PLAN, FORM, TAXONOMY)


def issues(changes: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["severity"], i["field"]) for i in run(changes).issues}


def test_a_valid_submission_has_no_issue_and_is_published():
    out = run({})
    assert out.issues == [] and len(out.versions) == 1 and out.quarantined == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"coll_nom": None}, {("error", "coll_nom")}),  # required, missing
        ({"coll_siret": "24350013900016"}, {("error", "coll_siret")}),  # checksum
        ({"coll_siret": "2435001390001"}, {("error", "coll_siret")}),  # 13 digits
        ({"coll_type": "Mairie annexe"}, {("error", "coll_type")}),  # outside the vocabulary
        ({"projet_date": "13/2025"}, {("error", "projet_date")}),
        ({"theme": "Environnement"}, {("error", "theme")}),
        (
            {"sous_theme": ["Gestion de l'eau", "Éclairage public", "Déchets"]},
            {("error", "sous_theme")},
        ),  # at most two
        ({"url_infos": "voir le site"}, {("error", "url_infos")}),
        ({"projet_contact": "pas d'adresse"}, {("error", "projet_contact")}),
        ({"type_algorithme": ["Magie"]}, {("error", "type_algorithme")}),
        ({"image_url": None}, {("error", "image_url")}),
    ],
    ids=[
        "required",
        "siret-luhn",
        "siret-length",
        "coll-type",
        "month",
        "theme",
        "three-sub-themes",
        "url",
        "email",
        "algorithm-type",
        "image",
    ],
)
def test_errors_hold_the_submission_in_quarantine(changes, expected):
    out = run(changes)
    assert issues(changes) == expected
    assert out.versions == [] and len(out.quarantined) == 1
    assert expected.pop()[1] in out.quarantined[0]["reason"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"sous_theme": ["Stationnement"]}, "sous_theme"),  # a sub-theme of another theme
        ({"projet_status": "Abandonné"}, "status_abandon"),  # abandoned, no reason given
        ({"coll_type": "Commune"}, "coll_type"),  # 24… is an intercommunal SIREN
        ({"audience_service": ["Agent", "Aménageurs"]}, "audience_service"),  # open list
        ({"donnees_source": ["Capteurs IoT"]}, "donnees_source"),  # open list
    ],
    ids=[
        "sub-theme-of-another-theme",
        "abandoned-without-reason",
        "type-vs-siren",
        "audience-outside-list",
        "source-outside-list",
    ],
)
def test_warnings_never_hold_anything_back(changes, field):
    out = run(changes)
    assert issues(changes) == {("warning", field)}
    assert len(out.versions) == 1 and out.quarantined == []


def test_an_abandoned_project_with_its_reason_has_no_warning():
    assert issues({"projet_status": "Abandonnée", "status_abandon": "Coût trop élevé"}) == set()


def test_a_type_that_fits_the_siren_has_no_warning():
    assert issues({"coll_siret": "21930051400016", "coll_type": "Ville"}) <= {
        ("error", "coll_siret")  # (this SIRET's checksum is not the point)
    }


def test_error_messages_name_the_value_and_say_what_to_do():
    (issue,) = run({"theme": "Environnement"}).issues
    assert issue["value"] == "Environnement"
    assert "« Environnement »" in issue["message"] and "alias" in issue["message"]


def test_several_errors_of_one_submission_are_all_reported():
    got = issues({"theme": None, "projet_date": "13/2025", "url_infos": "voir le site"})
    assert got == {("error", "theme"), ("error", "projet_date"), ("error", "url_infos")}
