"""Question titles to fields: folding, pins, and what is fatal or only reported."""

from __future__ import annotations

from pathlib import Path

import pytest

from bibia.settings import DEFAULT_MAPPING
from schemas.errors import MappingError
from transforms.mapping import FieldMapping, FormShape, plan_fields

MAPPING = FieldMapping.load(DEFAULT_MAPPING)


@pytest.mark.parametrize(
    ("title", "field"),
    [
        ("Porteur", "coll_nom"),
        ("Porteur *", "coll_nom"),
        ("  porteur :", "coll_nom"),
        ("PROJET ?", "nom_projet"),
        ("Identifiant  SIRET de la collectivite", "coll_siret"),
        ("Type de collectivité ?", "coll_type"),
        ("Description d’un projet abandonné", "status_abandon"),
        ("Développement et mise en oeuvre", "mise_en_oeuvre"),
        ("Développement et mise en œuvre", "mise_en_oeuvre"),
        ("Sous-thèmes :", "sous_theme"),
        ("Evaluation de l'impact environnemental", "impact_environnement"),
        ("image", "image_url"),
        ("Image", "image_url"),
    ],
)
def test_titles_match_folded(title, field):
    from schemas.text import fold

    assert MAPPING.titles[fold(title)] == field


def questions(titles: dict[str, str], deleted: frozenset[str] = frozenset()) -> list[dict]:
    return [
        {"id": qid, "title": t, "type": "INPUT_TEXT", "isDeleted": qid in deleted}
        for qid, t in titles.items()
    ]


REQUIRED_TITLES = {
    "a": "Porteur",
    "b": "Projet",
    "c": "Identifiant SIRET de la collectivité",
    "d": "Type de collectivité",
    "e": "Date de démarrage du projet",
    "f": "Maturité",
    "g": "Description globale du service et de ses usages",
    "h": "Thème principal",
    "i": "Audience du service",
    "j": "image",
    "k": "Développement et mise en œuvre",
    "l": "Hébergement du service",
    "m": "Nom de l'algorithme",
    "n": "Type d'algorithme",
    "o": "Source des données",
    "p": "Mode de collecte et d'accès des données traitées",
}


def test_unmapped_and_deleted_questions_are_reported_not_fatal():
    titles = {**REQUIRED_TITLES, "x": "Votre couleur préférée", "y": "Partenaires associés"}
    form = FormShape.from_snapshot(questions(titles, deleted=frozenset({"y"})), None)
    plan = plan_fields(form, MAPPING)
    report = plan.report()
    assert any("« Votre couleur préférée » : ne nourrit aucun champ" in line for line in report)
    assert any("« Partenaires associés » : supprimée du formulaire" in line for line in report)
    assert plan.by_question["y"] == "partenaires"


def test_a_required_field_without_question_is_fatal():
    titles = dict(REQUIRED_TITLES)
    del titles["c"]
    form = FormShape.from_snapshot(questions(titles), None)
    with pytest.raises(MappingError, match="coll_siret"):
        plan_fields(form, MAPPING)


def test_a_required_field_whose_question_was_deleted_is_fatal():
    form = FormShape.from_snapshot(questions(REQUIRED_TITLES, deleted=frozenset({"h"})), None)
    with pytest.raises(MappingError, match="theme"):
        plan_fields(form, MAPPING)


def test_a_pinned_question_that_disappeared_is_fatal(tmp_path: Path):
    path = tmp_path / "mapping.yaml"
    path.write_text("titles: {}\nquestions:\n  gone42: coll_nom\n", encoding="utf-8")
    form = FormShape.from_snapshot(questions(REQUIRED_TITLES), None)
    with pytest.raises(MappingError, match="gone42"):
        plan_fields(form, FieldMapping.load(path))


def test_a_pin_wins_over_the_title(tmp_path: Path):
    path = tmp_path / "mapping.yaml"
    path.write_text("questions:\n  x: partenaires\n", encoding="utf-8")
    titles = {**REQUIRED_TITLES, "x": "Avec qui ?"}
    plan = plan_fields(FormShape.from_snapshot(questions(titles), None), FieldMapping.load(path))
    assert plan.by_question["x"] == "partenaires"


def test_questions_of_older_snapshots_still_map_their_answers():
    old = questions({**REQUIRED_TITLES, "z": "Partenaires associés"})
    new = questions(REQUIRED_TITLES)
    form = FormShape.from_snapshots([(old, None), (new, None)])
    plan = plan_fields(form, MAPPING)
    assert plan.by_question["z"] == "partenaires"
    assert not form.questions["z"].current
