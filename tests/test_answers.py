"""Every answer shape of the API reaches the raw table unchanged and the record correctly."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bibia.demo.build import option_id, siret_for
from bibia.demo.synthetic import demo_shape
from tests.conftest import query, synced

BASE: dict[str, Any] = {
    "q7Kp2A": "Métropole de Test",
    "qB3m9Z": "Projet témoin",
    "qS1r7T": siret_for("243500139"),
    "qD8a3E": "03/2024",
    "qU9s2D": "Ligne 1\nLigne 2",
    "qI5m9G": [
        {
            "id": "f1",
            "name": "logo.png",
            "url": "https://storage.tally.so/logo.png",
            "mimeType": "image/png",
            "size": 1234,
        }
    ],
    "qN4a8L": "Algo",
}
CHOICES: dict[str, Any] = {
    "qT4y6C": ["Métropole"],
    "qM5t1S": ["En déploiement"],
    "qH1m5E": ["Mobilités"],
    "qA4u8D": ["Agent"],
    "qD1e5V": ["Marché public"],
    "qH9b3G": ["Ne sait pas"],
    "qT3a6L": ["IA générative"],
    "qS2d7S": ["Open data"],
    "qM6c4A": ["Par API"],
}


def submission(sid: str, answers: dict[str, Any], key: str = "answer") -> dict[str, Any]:
    return {
        "id": sid,
        "formId": "bibiaD",
        "respondentId": "r1",
        "isCompleted": True,
        "submittedAt": "2026-01-0%sT10:00:00.000Z" % (1 + len(sid) % 8),
        "responses": [{"id": f"{sid}-{q}", "questionId": q, key: v} for q, v in answers.items()],
    }


SHAPES = {
    # name: (answers overriding BASE+CHOICES, key, field, expected value in project_versions)
    "text-answer": ({}, "answer", "coll_nom", "Métropole de Test"),
    "text-value-key": ({}, "value", "coll_nom", "Métropole de Test"),
    "list-of-option-texts": (
        {"qS7t3H": ["Flux et trafic", "Stationnement"]},
        "answer",
        "sous_theme",
        ["Flux et trafic", "Stationnement"],
    ),
    "bare-string-single-choice": ({"qM5t1S": "Terminée"}, "answer", "projet_status", "Terminée"),
    "option-ids": (
        {"qM5t1S": [option_id("qM5t1S", "En réflexion")]},
        "answer",
        "projet_status",
        "En réflexion",
    ),
    "bare-option-id": (
        {"qB6u4D": option_id("qB6u4D", "Plus de 100 k€")},
        "value",
        "budget",
        "Plus de 100 k€",
    ),
    "multi-option-ids": (
        {"qA4u8D": [option_id("qA4u8D", "Agent"), option_id("qA4u8D", "Élu")]},
        "answer",
        "audience_service",
        ["Agent", "Élu"],
    ),
    "number": ({"qF8i2N": 50000}, "answer", "financement", "50000"),
    "file-object": ({}, "answer", "image_url", "https://storage.tally.so/logo.png"),
    "link-without-scheme": (
        {"qL2i6N": "www.exemple.fr/ia"},
        "answer",
        "url_infos",
        "https://www.exemple.fr/ia",
    ),
    "multi-line-text": ({}, "answer", "usage_description", "Ligne 1\nLigne 2"),
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    form = demo_shape()
    form["submissions"] = [
        submission(f"shape{i:02d}", {**BASE, **CHOICES, **answers}, key)
        for i, (answers, key, _f, _e) in enumerate(SHAPES.values())
    ]
    # a matrix answer and an answer to a deleted question: kept, never lost
    form["submissions"].append(
        submission(
            "shapeXX",
            {
                **BASE,
                **CHOICES,
                "qX5r3C": {"row1": ["col1", "col2"]},
                "qO0l1D": "Ancienne thématique",
            },
        )
    )
    settings, _report = synced(tmp_path_factory.mktemp("shapes"), form)
    return settings, form


@pytest.mark.parametrize("name", list(SHAPES))
def test_answer_shape_reaches_the_record(loaded, name):
    settings, _form = loaded
    index = list(SHAPES).index(name)
    _answers, _key, field, expected = SHAPES[name]
    rows = query(
        settings,
        f"SELECT {field} FROM project_versions WHERE submission_id = ?",
        [f"shape{index:02d}"],
    )
    assert rows == [(expected,)]


def test_raw_payloads_are_stored_exactly_as_received(loaded):
    settings, form = loaded
    stored = dict(query(settings, "SELECT submission_id, payload FROM raw_tally_submissions"))
    assert len(stored) == len(form["submissions"])
    for sent in form["submissions"]:
        assert json.loads(stored[sent["id"]]) == sent


def test_unmapped_and_deleted_questions_are_kept_in_extra(loaded):
    settings, _form = loaded
    ((extra,),) = query(
        settings, "SELECT extra FROM project_versions WHERE submission_id = ?", ["shapeXX"]
    )
    recontact = "Acceptez-vous d'être recontacté·e par d'autres collectivités ?"
    assert json.loads(extra) == {
        recontact: {
            "question_id": "qX5r3C",
            "type": "MULTIPLE_CHOICE",
            "value": {"row1": ["col1", "col2"]},  # a JSON value, not JSON text
        },
        "Thématique (ancienne question)": {
            "question_id": "qO0l1D",
            "type": "INPUT_TEXT",
            "value": "Ancienne thématique",
        },
    }
