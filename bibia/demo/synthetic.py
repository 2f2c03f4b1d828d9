"""Synthetic forms of any size on the demo form's questions, for tests and the benchmark.

Answers are realistic and valid (every vocabulary, every answer shape the API uses), drawn
from a seeded generator: the same `n` and `seed` give the same form.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from bibia.demo import DEMO_FORM_PATH
from bibia.demo.build import as_submission, options_by_vocabulary, siret_for

_WORDS = [
    "données",
    "analyse",
    "service",
    "usagers",
    "prévision",
    "réseau",
    "collecte",
    "énergie",
    "bâtiments",
    "mobilité",
    "déchets",
    "eau",
    "agents",
    "territoire",
    "modèle",
    "tableau",
    "de",
    "bord",
    "capteurs",
    "alerte",
    "suivi",
]
_SIRENS = [
    "243100633",
    "219300514",
    "243500139",
    "243300316",
    "200054807",
    "200058782",
    "243400017",
    "200023414",
    "243100518",
    "217500016",
    "216901231",
    "244400404",
]


def demo_shape() -> dict[str, Any]:
    """The demo form without its submissions."""
    with open(DEMO_FORM_PATH, encoding="utf-8") as handle:
        form = json.load(handle)
    form["submissions"] = []
    return form


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def submission(
    index: int,
    rng: random.Random,
    submitted_at: datetime,
    vocab: dict[str, list[str]],
    prefix: str = "s",
) -> dict[str, Any]:
    siren = _SIRENS[index % len(_SIRENS)]
    theme_labels = vocab["theme"]
    answers: dict[str, Any] = {
        "coll_nom": f"Collectivité {index % 997}",
        "nom_projet": f"Projet {index}",
        "coll_siret": siret_for(siren),
        "coll_type": "Métropole" if siren.startswith("2") and siren[1] in "04" else "Commune",
        "projet_date": rng.choice(["03/2023", "2024-05-13", "11/2022", "01/02/2025"]),
        "projet_status": rng.choice(vocab["projet_status"][:4]),
        "partenaires": rng.choice([None, "Université, start-up locale"]),
        "usage_description": _sentence(rng, 25) + "\n" + _sentence(rng, 12),
        "theme": theme_labels[index % len(theme_labels)],
        "sous_theme": None,
        "audience_service": rng.sample(vocab["audience_service"], 2),
        "url_infos": f"www.exemple-{index % 50}.fr/projet-{index}",
        "image_url": [
            {
                "id": f"f{index}",
                "name": "logo.png",
                "mimeType": "image/png",
                "size": 2048,
                "url": f"https://storage.tally.so/private/{index}.png",
            }
        ],
        "projet_contact": f"Agent.{index}@Exemple.fr",
        "financement": rng.choice(["Budget interne", "Fonds vert", "FEDER"]),
        "budget": rng.choice(vocab["budget"]),
        "mise_en_oeuvre": rng.choice(vocab["mise_en_oeuvre"]),
        "herbergement": rng.choice(vocab["herbergement"]),
        "nom_algorithme": f"Algorithme {index % 31}",
        "algorithme_description": _sentence(rng, 30),
        "algorithme_operations": _sentence(rng, 15),
        "type_algorithme": rng.sample(vocab["type_algorithme"][:5], 2),
        "impact_environnement": None,
        "donnees_source": rng.sample(vocab["donnees_source"][:4], 2),
        "donnees_acces": [rng.choice(vocab["donnees_acces"][:3])],
        "url_ressources": None,
    }
    return as_submission(
        f"{prefix}{index:07d}",
        submitted_at,
        answers,
        respondent=f"u{index % 5000}",
        response_id=lambda qid: f"r{index}{qid}",
        option_ids=index % 3 == 1,
        key="value" if index % 4 == 3 else "answer",
        unmapped="Oui",
    )


def synthetic_form(
    n: int, seed: int = 7, start: datetime | None = None, prefix: str = "s"
) -> dict[str, Any]:
    """The demo form's questions with `n` valid submissions, one a minute from `start`."""
    rng = random.Random(seed)
    vocab = options_by_vocabulary()
    form = demo_shape()
    start = start or datetime(2025, 1, 1, tzinfo=UTC)
    form["submissions"] = [
        submission(i, rng, start + timedelta(minutes=i), vocab, prefix) for i in range(n)
    ]
    return form


def more_submissions(
    form: dict[str, Any], n: int, seed: int = 11, prefix: str = "t"
) -> list[dict[str, Any]]:
    """`n` new submissions, later than every submission of `form`: new projects (numbered
    after the form's own), not corrections of its first ones."""
    rng = random.Random(seed)
    vocab = options_by_vocabulary()
    last = max(
        (
            datetime.fromisoformat(s["submittedAt"].replace("Z", "+00:00"))
            for s in form["submissions"]
        ),
        default=datetime(2025, 1, 1, tzinfo=UTC),
    )
    first = len(form["submissions"])
    return [
        submission(first + i, rng, last + timedelta(minutes=i + 1), vocab, prefix) for i in range(n)
    ]


def clone(form: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(form)
