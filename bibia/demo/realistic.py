"""Forms of any size that look like the real register, for the benchmark and the tests at scale.

What makes real submissions costly, each with a knob (`Profile`): thousands of distinct
authorities, free texts that never repeat (descriptions with a long tail up to 6,000
characters, multi-line partner lists), optional questions often left unanswered, and about one
submission in ten that cannot be published as sent. Payloads average about 1.8 KB of JSON and
reach about 7 KB. Seeded: the same arguments give the same form.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bibia.demo.build import as_submission, options_by_vocabulary
from bibia.demo.synthetic import demo_shape
from transforms.normalise import luhn_ok


@dataclass(frozen=True)
class Profile:
    """The knobs of a realistic form."""

    authorities: int = 4_000  # distinct authorities (SIRETs), a few carrying many projects
    invalid_share: float = 0.10  # submissions that cannot be published as sent
    description_median: int = 120  # characters of `usage_description`, log-normal around it
    description_max: int = 6_000
    partners_max_lines: int = 6  # a partner per line
    answer_rate: float = 0.3  # how often an optional question is answered
    # each response carries the metadata the real API adds (ids, session, dates): ~6 KB stored
    api_metadata: bool = True


_SYLLABLES = tuple(
    (
        "bel mont val saint ville roche fort bourg lac pont mar chat neuf vieux bois champ port "
        "beau clair vert fleur pré mou lin ger ber ran sau tour cour "
    ).split()
)
_KINDS = [  # (coll_type typed, SIREN prefix, weight)
    ("Commune", "21", 50),
    ("Ville", "21", 10),
    ("Communauté de communes", "24", 14),
    ("Communauté d'agglomération", "20", 9),
    ("CA", "24", 3),
    ("Métropole", "24", 4),
    ("Département", "22", 5),
    ("Région", "23", 1),
    ("Syndicat mixte", "25", 3),
    ("EPT", "20", 1),
]
_WORDS = tuple(
    (
        "le la les des du de un une et pour par avec sur dans service agents usagers données "
        "modèle prévision réseau eau énergie bâtiments déchets mobilité territoire collectivité "
        "habitants demandes analyse tableau suivi alertes capteurs images textes courriers "
        "délibérations marchés dossiers priorisation détection classement recherche synthèse "
        "expérimentation déploiement évaluation partenaires prestataire interne open data api "
        "économies temps qualité fiabilité accessibilité transparence explicabilité contrôle "
        "humain intelligence artificielle apprentissage automatique traitement langage vision "
        "réduction "
    ).split()
)
_PARTNERS = tuple(
    (
        "Université de {}|Laboratoire {}|Start-up {} IA|Cabinet {} Conseil|"
        "Syndicat des eaux de {}|Agence {} Numérique|Région {}|Banque des Territoires|"
        "Datactivist|Etalab|{} Data"
    ).split("|")
)
_FINANCING = [
    "Budget interne",
    "Fonds vert",
    "CRTE",
    "France 2030 - DIAT",
    "FEDER",
    "Appel à projets régional",
    "Subvention Banque des Territoires",
]
_FLAWS = ("siret", "theme", "date", "name", "type")  # what holds a submission back


def _place(rng: random.Random) -> str:
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    if rng.random() < 0.3:
        name += "-sur-" + rng.choice(_SYLLABLES).capitalize() + rng.choice(_SYLLABLES)
    return name.capitalize()


def _siret(rng: random.Random, prefix: str) -> str:
    body = prefix + "".join(rng.choice("0123456789") for _ in range(11))
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def _authorities(rng: random.Random, count: int) -> list[tuple[str, str, str]]:
    """(name, coll_type as typed, SIRET) of `count` distinct authorities."""
    weights = [w for _, _, w in _KINDS]
    out = []
    for _ in range(count):
        kind, prefix, _ = rng.choices(_KINDS, weights)[0]
        place = _place(rng)
        name = {
            "Commune": f"Commune de {place}",
            "Ville": f"Ville de {place}",
            "Département": f"Département de {place}",
            "Région": f"Région {place}",
        }.get(kind, f"{kind} {place}")
        out.append((name, kind, _siret(rng, prefix)))
    return out


def _text(rng: random.Random, characters: int) -> str:
    """Sentences of about `characters` characters, in paragraphs, never the same twice."""
    sentences, size = [], 0
    while size < characters:
        words = [rng.choice(_WORDS) for _ in range(rng.randint(6, 18))]
        sentence = " ".join(words).capitalize() + f" ({rng.randint(2, 9_999)})."
        sentences.append(sentence)
        size += len(sentence) + 1
    paragraphs, line = [], []
    for sentence in sentences:
        line.append(sentence)
        if rng.random() < 0.25:
            paragraphs.append(" ".join(line))
            line = []
    if line:
        paragraphs.append(" ".join(line))
    return "\n".join(paragraphs)[: max(characters, 20)]


def _length(rng: random.Random, median: int, ceiling: int) -> int:
    return int(min(ceiling, max(40, rng.lognormvariate(math.log(median), 0.9))))


class RealisticForm:
    """Submissions built one by one (`submission(i)`), or the whole form (`form(n)`)."""

    def __init__(self, profile: Profile | None = None, seed: int = 42) -> None:
        self.profile = profile or Profile()
        self.seed = seed
        self.vocab = options_by_vocabulary()
        rng = random.Random(seed)
        self.authorities = _authorities(rng, self.profile.authorities)
        # a few authorities carry many projects, most carry one or two
        self.weights = [1.0 / (rank + 1) ** 0.8 for rank in range(len(self.authorities))]

    def submission(self, index: int, submitted_at: datetime, prefix: str = "r") -> dict[str, Any]:
        p, vocab = self.profile, self.vocab
        rng = random.Random(self.seed * 1_000_003 + index)
        name, kind, siret = rng.choices(self.authorities, self.weights)[0]
        maybe = lambda value: value if rng.random() < p.answer_rate else None  # noqa: E731
        theme = rng.choice(vocab["theme"])
        answers: dict[str, Any] = {
            "coll_nom": name,
            "nom_projet": " ".join(
                rng.choice(_WORDS) for _ in range(rng.randint(2, 7))
            ).capitalize(),
            "coll_siret": siret
            if rng.random() < 0.7
            else f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}",
            "coll_type": kind,
            "projet_date": rng.choice(
                [
                    f"{rng.randint(1, 12):02d}/{rng.randint(2018, 2026)}",
                    f"{rng.randint(2018, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    f"{rng.randint(1, 12)}/{rng.randint(1, 28)}/{rng.randint(2018, 2026)}",
                ]
            ),
            "projet_status": rng.choice(vocab["projet_status"]),
            "status_abandon": None,
            "partenaires": maybe(
                "\n".join(
                    rng.choice(_PARTNERS).format(_place(rng))
                    for _ in range(rng.randint(1, p.partners_max_lines))
                )
            ),
            "usage_description": _text(rng, _length(rng, p.description_median, p.description_max)),
            "theme": theme,
            "sous_theme": maybe(rng.sample(vocab["sous_theme"], rng.randint(1, 2))),
            "audience_service": rng.sample(vocab["audience_service"], rng.randint(1, 3)),
            "url_infos": maybe(f"www.{name.split()[-1].lower()}.fr/ia/{index}"),
            "image_url": [
                {
                    "id": f"f{index}",
                    "name": f"logo-{siret[:9]}.png",
                    "mimeType": "image/png",
                    "size": rng.randint(2_000, 90_000),
                    "url": f"https://storage.tally.so/private/logo-{siret[:9]}.png",
                }
            ],
            "projet_contact": maybe(f"ia.{index}@{name.split()[-1].lower()}.fr"),
            "financement": maybe(rng.choice(_FINANCING)),
            "budget": maybe(rng.choice(vocab["budget"])),
            "mise_en_oeuvre": rng.choice(vocab["mise_en_oeuvre"]),
            "herbergement": rng.choice(vocab["herbergement"]),
            "nom_algorithme": " ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 4))),
            "algorithme_description": maybe(_text(rng, _length(rng, 160, 900))),
            "algorithme_operations": maybe(_text(rng, _length(rng, 100, 500))),
            "type_algorithme": rng.sample(vocab["type_algorithme"], rng.randint(1, 2)),
            "impact_environnement": maybe(_text(rng, 60)) if rng.random() < 0.3 else None,
            "donnees_source": rng.sample(vocab["donnees_source"], rng.randint(1, 2)),
            "donnees_acces": rng.sample(vocab["donnees_acces"], 1),
            "url_ressources": maybe(f"https://github.com/{name.split()[-1].lower()}/ia-{index}")
            if rng.random() < 0.3
            else None,
        }
        if answers["projet_status"] == "Abandonné":
            answers["status_abandon"] = maybe(_text(rng, _length(rng, 150, 800)))
        if rng.random() < p.invalid_share:
            flaw = rng.choice(_FLAWS)
            if flaw == "siret":
                answers["coll_siret"] = siret[:-1] + str((int(siret[-1]) + 1) % 10)
            elif flaw == "theme":
                answers["theme"] = rng.choice(["Environnement", "Numérique", "Social"])
            elif flaw == "date":
                answers["projet_date"] = rng.choice(["début 2024", "13/2025", "bientôt"])
            elif flaw == "name":
                answers["nom_projet"] = None
            else:
                answers["coll_type"] = rng.choice(["Groupement", "Pays", "Association"])
        return as_submission(
            f"{prefix}{index:07d}",
            submitted_at,
            answers,
            respondent=f"u{index % 9_000}",
            response_id=lambda qid: f"{index:x}{qid[1:3]}",
            option_ids=index % 10 == 1,  # as webhooks send them
            unmapped=rng.choice(["Oui", "Non"]),
            metadata=p.api_metadata,
        )

    def form(self, n: int, start: datetime | None = None, prefix: str = "r") -> dict[str, Any]:
        """The demo form's questions with `n` submissions, one every 30 s from `start`."""
        form = demo_shape()
        start = start or datetime(2025, 1, 1, tzinfo=UTC)
        form["submissions"] = [
            self.submission(i, start + timedelta(seconds=30 * i), prefix) for i in range(n)
        ]
        return form

    def more(self, form: dict[str, Any], n: int, prefix: str = "t") -> list[dict[str, Any]]:
        """`n` new submissions, later than every submission of `form`: new projects (each
        drawn from its own index, after the form's), not its first ones sent again."""
        last = max(
            (
                datetime.fromisoformat(s["submittedAt"].replace("Z", "+00:00"))
                for s in form["submissions"]
            ),
            default=datetime(2025, 1, 1, tzinfo=UTC),
        )
        first = len(form["submissions"])
        return [
            self.submission(first + i, last + timedelta(minutes=i + 1), prefix) for i in range(n)
        ]


def realistic_form(n: int, seed: int = 42, profile: Profile | None = None) -> dict[str, Any]:
    return RealisticForm(profile, seed).form(n)
