"""Rules beyond types, errors versus warnings, and what quarantine holds."""

from __future__ import annotations

from typing import Any

import pandera.pandas as pa
import pytest

from bibia.demo.realistic import Profile, realistic_form
from bibia.demo.synthetic import demo_shape
from bibia.settings import DEFAULT_MAPPING, DEFAULT_TAXONOMY
from schemas.project import form_fields, policy_table
from schemas.taxonomy import Taxonomy
from schemas.times import utc_naive
from tests.conftest import ROOT, VALID_ANSWERS, tally_submission
from transforms.derive import Rules, Submission, build_record, derive
from transforms.mapping import FieldMapping, FormShape, plan_fields
from transforms.normalise import Normaliser
from transforms.validate import CheckCode, Failure, frame, schema_failures, validation_schema

TAXONOMY = Taxonomy.load(DEFAULT_TAXONOMY)
SHAPE = demo_shape()
FORM = FormShape.from_snapshot(SHAPE["questions"], {"blocks": SHAPE["blocks"]})
PLAN = plan_fields(FORM, FieldMapping.load(DEFAULT_MAPPING))


def run(changes: dict[str, Any]):
    payload = tally_submission("s1", {**VALID_ANSWERS, **changes})
    raw = Submission("s1", utc_naive(payload["submittedAt"]), payload)
    return derive([raw], Rules(PLAN, FORM, TAXONOMY))


def issues(changes: dict[str, Any]) -> set[tuple[str, str]]:
    return {(i["severity"], i["field"]) for i in run(changes).issues}


def test_a_valid_submission_has_no_issue_and_is_published():
    out = run({})
    assert out.issues == [] and len(out.versions) == 1 and out.quarantined == []


HOLD, DROP, KEEP, OK = "held back", "published without it", "kept, warned", "published"

# The publication policy, field by field: (field, value typed, outcome, value exported).
POLICY = [
    # what makes a record unpublishable or unidentifiable holds it back
    ("coll_nom", None, HOLD, None),
    ("nom_projet", None, HOLD, None),
    ("coll_siret", None, HOLD, None),
    ("coll_siret", "24350013900016", HOLD, None),  # checksum: a typo
    ("coll_siret", "2435001390001", HOLD, None),  # 13 digits
    ("coll_siret", "243 500 139 00015", OK, "24350013900015"),
    ("coll_type", "Mairie annexe", HOLD, None),
    ("coll_type", "CA", OK, "Communauté d'agglomération"),
    ("projet_date", "13/2025", HOLD, None),
    ("projet_date", "7/1/2023", OK, "2023-07"),
    ("projet_status", "Suspendu", HOLD, None),
    ("projet_status", "POC", OK, "En expérimentation"),
    ("usage_description", None, HOLD, None),
    ("theme", None, HOLD, None),
    ("theme", "Environnement", HOLD, None),
    ("theme", "Transition écologique", OK, "Transition écologique et énergétique"),
    ("audience_service", None, HOLD, None),
    # an open list keeps what was typed, with a warning
    ("audience_service", ["Agent", "Aménageurs"], KEEP, ["Agent", "Aménageurs"]),
    ("donnees_source", ["Open data", "Capteurs IoT"], KEEP, ["Open data", "Capteurs IoT"]),
    # an invalid optional value is left out, with a warning that keeps what was typed
    ("sous_theme", ["Gestion de l'eau", "Énergie"], DROP, ["Gestion de l'eau"]),
    (
        "sous_theme",
        ["Gestion de l'eau", "Éclairage public", "Déchets"],
        DROP,
        ["Gestion de l'eau", "Éclairage public"],
    ),  # at most two
    ("url_infos", "Service accessible sur l'intranet uniquement", DROP, None),
    ("url_infos", "www.sicoval.fr/eau", OK, "https://www.sicoval.fr/eau"),
    ("url_infos", "http://localhost:8080/x", DROP, None),  # no domain
    ("url_infos", "https://sicoval.fr:8443/eau", OK, "https://sicoval.fr:8443/eau"),
    ("image_url", "javascript:window.x=1", DROP, None),  # a script, not an address
    ("image_url", "javascript:alert(document.cookie)", DROP, None),
    ("image_url", None, DROP, None),  # expected: published without a logo, with a warning
    ("image_url", "logo de la ville", DROP, None),
    ("projet_contact", "service numérique, poste 4521", DROP, None),
    ("projet_contact", " Eau@Sicoval.fr ", OK, "eau@sicoval.fr"),
    ("budget", "Environ 200 k€", DROP, None),
    ("budget", "moins de 50k€", OK, "Moins de 50 k€"),
    ("mise_en_oeuvre", "Régie municipale", DROP, None),
    ("mise_en_oeuvre", None, DROP, None),
    ("herbergement", None, DROP, None),
    ("herbergement", "NSP", OK, "Ne sait pas"),
    ("nom_algorithme", None, DROP, None),
    ("type_algorithme", ["IA générative", "Algorithme génétique"], DROP, ["IA générative"]),
    ("type_algorithme", ["Algorithme génétique"], DROP, None),
    ("donnees_source", None, DROP, None),
    ("donnees_acces", ["Par satellite"], DROP, None),
    ("url_ressources", "dépôt interne", DROP, None),
    # free text: any text
    ("partenaires", "Leakmited - Réseau 31", OK, "Leakmited - Réseau 31"),
    ("financement", "France 2030 - DIAT", OK, "France 2030 - DIAT"),
]


@pytest.mark.parametrize(
    ("field", "typed", "outcome", "exported"),
    POLICY,
    ids=[f"{f}-{o}-{i}" for i, (f, _t, o, _e) in enumerate(POLICY)],
)
def test_the_publication_policy(field, typed, outcome, exported):
    out = run({field: typed})
    on_field = [(i["severity"], i["value"]) for i in out.issues if i["field"] == field]
    shown = ", ".join(typed) if isinstance(typed, list) else typed
    if outcome == HOLD:
        assert out.versions == [] and len(out.quarantined) == 1
        assert ("error", shown) in on_field
        assert field in out.quarantined[0]["reason"]
        return
    assert out.quarantined == [] and len(out.versions) == 1
    assert out.versions[0][field] == exported
    if outcome == OK:
        assert on_field == []
    else:
        assert on_field and {severity for severity, _ in on_field} == {"warning"}
        # what was typed is kept: the whole answer, or the very item kept or left out
        items = set(typed) if isinstance(typed, list) else set()
        assert {value for _, value in on_field} <= {shown} | items


def test_every_field_of_the_form_is_in_the_policy_table():
    assert {field for field, *_ in POLICY} == set(form_fields()) - {
        "status_abandon",  # free texts, checked by the rules below
        "algorithme_description",
        "algorithme_operations",
        "impact_environnement",
    }


def test_the_readme_prints_the_policy_of_the_contract():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "\n".join(policy_table()) in readme


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
    assert got == {("error", "theme"), ("error", "projet_date"), ("warning", "url_infos")}


@pytest.mark.parametrize(
    ("field", "wrong"),
    [("coll_nom", 42), ("latitude", "quarante-huit"), ("nom_projet", ["une", "liste"])],
    ids=["int-for-text", "text-for-number", "list-for-text"],
)
def test_a_value_of_the_wrong_type_is_a_bug_that_stops_everything(field, wrong):
    (record,) = run({}).versions
    record[field] = wrong
    with pytest.raises((TypeError, ValueError)):  # not a contributor's error: no quarantine
        schema_failures(frame([record]), validation_schema(TAXONOMY))


def test_a_submission_id_appears_once_in_a_batch():
    (record,) = run({}).versions
    with pytest.raises(TypeError):
        schema_failures(frame([record, dict(record)]), validation_schema(TAXONOMY))


def panderas_own_failures(records: list[dict[str, Any]]) -> list[Failure]:
    """What pandera's lazy `validate` finds in these records, in its order."""
    try:
        validation_schema(TAXONOMY).validate(frame(records), lazy=True)
    except pa.errors.SchemaErrors as exc:
        cases = exc.failure_cases.itertuples(index=False)
        return [Failure(int(c.index), str(c.column), CheckCode.of(str(c.check))) for c in cases]
    return []


@pytest.mark.parametrize("invalid_share", [0.0, 0.3])
def test_the_failures_found_are_the_ones_panderas_validate_finds(invalid_share):
    """`schema_failures` runs the contract's checks one by one; pandera's lazy `validate` must
    find the same failures, in the same order, on 200 submissions of the realistic form."""
    form = realistic_form(200, seed=7, profile=Profile(invalid_share=invalid_share))
    shape = FormShape.from_snapshot(form["questions"], {"blocks": form.get("blocks", [])})
    rules = Rules(plan_fields(shape, FieldMapping.load(DEFAULT_MAPPING)), shape, TAXONOMY)
    normaliser = Normaliser(TAXONOMY)
    records = [
        build_record(Submission(s["id"], utc_naive(s["submittedAt"]), s), rules, normaliser)[0]
        for s in form["submissions"]
    ]
    found = schema_failures(frame(records), validation_schema(TAXONOMY))
    assert found == panderas_own_failures(records)
    assert (len(found) > 25) == (invalid_share > 0), len(found)
