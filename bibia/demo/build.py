"""Build the demo form (questions, form definition, submissions) in Tally's API shapes.

    python -m bibia.demo.build        # rewrites bibia/demo/demo_form.json

Answers come in every shape the API is known to use, in turn: lists of option texts, option
ids (resolved through the form definition), bare strings for single choices, and `value`
instead of `answer`. Deterministic: the same file every time.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from bibia.demo import DEMO_FORM_ID, DEMO_FORM_PATH
from bibia.demo.projects import DEFAULTS, PARTIAL, PROJECTS
from schemas.times import iso_z
from transforms.normalise import luhn_ok

TAXONOMY = Path(__file__).resolve().parents[2] / "schemas" / "taxonomy.yaml"
NAMESPACE = uuid.UUID("6f1c2a57-3b1e-4d52-9a8e-2f0b5c7d9e11")

# (question id, title as worded on the live form, Tally type, field, vocabulary for options)
QUESTIONS: list[tuple[str, str, str, str | None, str | None]] = [
    ("q7Kp2A", "Porteur *", "INPUT_TEXT", "coll_nom", None),
    ("qB3m9Z", "Projet", "INPUT_TEXT", "nom_projet", None),
    ("qS1r7T", "Identifiant SIRET de la collectivité", "INPUT_TEXT", "coll_siret", None),
    ("qT4y6C", "Type de collectivité ?", "DROPDOWN", "coll_type", "coll_type"),
    ("qD8a3E", "Date de démarrage du projet", "INPUT_TEXT", "projet_date", None),
    ("qM5t1S", "Maturité :", "MULTIPLE_CHOICE", "projet_status", "projet_status"),
    ("qA2b8N", "Description d’un projet abandonné", "TEXTAREA", "status_abandon", None),
    ("qP6r4T", "Partenaires associés", "INPUT_TEXT", "partenaires", None),
    (
        "qU9s2D",
        "Description globale du service et de ses usages",
        "TEXTAREA",
        "usage_description",
        None,
    ),
    ("qH1m5E", "Thème principal", "MULTIPLE_CHOICE", "theme", "theme"),
    ("qS7t3H", "Sous-thèmes :", "CHECKBOXES", "sous_theme", "sous_theme"),
    ("qA4u8D", "Audience du service", "CHECKBOXES", "audience_service", "audience_service"),
    ("qL2i6N", "URL information", "INPUT_LINK", "url_infos", None),
    ("qI5m9G", "Image", "FILE_UPLOAD", "image_url", None),
    ("qC3o7N", "Contact du service en charge", "INPUT_EMAIL", "projet_contact", None),
    ("qF8i2N", "Financement", "INPUT_TEXT", "financement", None),
    ("qB6u4D", "Budget", "DROPDOWN", "budget", "budget"),
    (
        "qD1e5V",
        "Développement et mise en oeuvre",
        "MULTIPLE_CHOICE",
        "mise_en_oeuvre",
        "mise_en_oeuvre",
    ),
    ("qH9b3G", "Hébergement du service", "MULTIPLE_CHOICE", "herbergement", "herbergement"),
    ("qN4a8L", "Nom de l'algorithme", "INPUT_TEXT", "nom_algorithme", None),
    ("qD7a2G", "Description globale de l'algorithme", "TEXTAREA", "algorithme_description", None),
    ("qO5p9S", "Opérations effectuées par l’algorithme", "TEXTAREA", "algorithme_operations", None),
    ("qT3a6L", "Type d'algorithme", "CHECKBOXES", "type_algorithme", "type_algorithme"),
    ("qE8n1V", "Évaluation de l'impact environnemental", "TEXTAREA", "impact_environnement", None),
    ("qS2d7S", "Source des données", "CHECKBOXES", "donnees_source", "donnees_source"),
    (
        "qM6c4A",
        "Mode de collecte et d'accès des données traitées",
        "MULTI_SELECT",
        "donnees_acces",
        "donnees_acces",
    ),
    ("qR1e9S", "URL ressource", "INPUT_LINK", "url_ressources", None),
    (
        "qX5r3C",
        "Acceptez-vous d'être recontacté·e par d'autres collectivités ?",
        "MULTIPLE_CHOICE",
        None,
        None,
    ),
]
DELETED = ("qO0l1D", "Thématique (ancienne question)", "INPUT_TEXT")
# The form's hidden fields, filled from its link's URL parameters: `ref` carries the reference
# of the submission a correction link updates; the others pre-fill answers (each question's
# default answer is the hidden field of the same name).
HIDDEN = ("qH7d3N", ["ref", "coll_nom", "nom_projet", "coll_siret", "source"])
# Questions that feed no field, one of each type the API knows beyond the mapped ones: their
# answers are kept in `extra`, readable (question id, title or None, Tally type)
EXTRA_QUESTIONS: list[tuple[str, str | None, str]] = [
    ("qQ3x8M", "Satisfaction des agents", "MATRIX"),
    ("qR8k2G", "Priorités du projet", "RANKING"),
    ("qC9f4L", None, "CALCULATED_FIELDS"),  # untitled, as Tally sends calculated fields
    ("qY2p6P", "Cotisation à l'association", "PAYMENT"),
    ("qG5s1N", "Signature du responsable", "SIGNATURE"),
    ("qW4n7T", "Précisions", "INPUT_TEXT"),  # two questions of the same title
    ("qW9n2U", "Précisions", "TEXTAREA"),
]
MATRIX_ROWS = ["Qualité du service", "Rapidité"]
MATRIX_COLUMNS = ["Satisfaits", "Neutres", "Insatisfaits"]
RANKING = ["Coût", "Délais", "Qualité"]
CALCULATED = "score_maturite"
CHOICE_TYPES = {"DROPDOWN", "MULTIPLE_CHOICE", "CHECKBOXES", "MULTI_SELECT"}
OPTION_BLOCK = {
    "DROPDOWN": "DROPDOWN_OPTION",
    "MULTIPLE_CHOICE": "MULTIPLE_CHOICE_OPTION",
    "CHECKBOXES": "CHECKBOX",
    "MULTI_SELECT": "MULTI_SELECT_OPTION",
}
RECONTACT = ["Oui", "Non"]


def short_id(*parts: str, length: int = 6) -> str:
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    number = int.from_bytes(digest[:8], "big")
    out = ""
    for _ in range(length):
        number, rest = divmod(number, 62)
        out += alphabet[rest]
    return out


def option_id(question_id: str, text: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{question_id}:{text}"))


def siret_for(siren: str, typed: str | None = None) -> str:
    """A Luhn-valid SIRET for the SIREN (NIC made up), typed the way the entry says."""
    base = next(siren + f"0001{d}" for d in range(10) if luhn_ok(siren + f"0001{d}"))
    if typed and typed.startswith("drag"):  # a spreadsheet drag-increment: checksum broken
        bumped = str(int(base) + int(typed[4:]))
        assert not luhn_ok(bumped)
        return bumped
    if typed == "spaced":
        return f"{base[:3]} {base[3:6]} {base[6:9]} {base[9:]}"
    if typed == "dotted":
        return f"{base[:3]}.{base[3:6]}.{base[6:9]}.{base[9:]}"
    return base


def as_submission(
    sid: str,
    submitted_at: datetime,
    answers: dict[str, Any],
    *,
    respondent: str,
    response_id: Callable[[str], str],
    option_ids: bool = False,
    key: str = "answer",
    unmapped: Any = None,
    hidden: dict[str, str] | None = None,
    metadata: bool = False,
) -> dict[str, Any]:
    """A completed submission on the demo form's questions, in the API's shape: `answers` by
    field (None: unanswered); choices as option ids (`option_ids`, as webhooks send them) or
    texts; each answer under `key` (`answer`, or `value` as one documentation page says);
    `unmapped`: the answer to the question that feeds no field; `hidden`: the hidden fields
    the form's link filled; `metadata`: each response carries what the real API adds to it
    (`formId`, `respondentId`, `submissionId`, `sessionUuid`, `createdAt`, `updatedAt`), which
    triples a submission's stored size."""
    responses: list[dict[str, Any]] = []
    for qid, _title, qtype, field, _vocabulary in QUESTIONS:
        value = answers.get(field) if field else unmapped
        if value is None:
            continue
        if option_ids and qtype in CHOICE_TYPES:
            items = value if isinstance(value, list) else [value]
            value = [option_id(qid, item) for item in items]
        responses.append({"id": response_id(qid), "questionId": qid, key: value})
    if hidden:
        responses.append({"id": response_id(HIDDEN[0]), "questionId": HIDDEN[0], "answer": hidden})
    if metadata:
        stamp = iso_z(submitted_at)
        session = str(uuid.UUID(hashlib.md5(sid.encode()).hexdigest()))
        for response in responses:
            response.update(
                formId=DEMO_FORM_ID,
                respondentId=respondent,
                submissionId=sid,
                sessionUuid=session,
                createdAt=stamp,
                updatedAt=stamp,
            )
    return {
        "id": sid,
        "formId": DEMO_FORM_ID,
        "respondentId": respondent,
        "isCompleted": True,
        "submittedAt": iso_z(submitted_at),
        "responses": responses,
    }


def file_answer(slug: str, name: str, kind: str = "logo") -> dict[str, Any]:
    """A file, as a file upload or a signature answers it."""
    return {
        "id": slug,
        "name": name,
        "url": f"https://storage.tally.so/private/{kind}-{slug}.png",
        "mimeType": "image/png",
        "size": 10_240 + len(slug),
    }


def extra_answers(key: str, turn: int) -> dict[str, Any]:
    """Some submissions' answers to the questions that feed no field, in the API's shapes."""
    out: dict[str, Any] = {}
    if turn % 3 == 0:  # a matrix: row id -> column ids
        out["qQ3x8M"] = {
            option_id("qQ3x8M", row): [option_id("qQ3x8M", MATRIX_COLUMNS[(turn + i) % 3])]
            for i, row in enumerate(MATRIX_ROWS)
        }
    if turn % 4 == 1:  # a ranking: option ids, first to last
        order = RANKING[turn % 3 :] + RANKING[: turn % 3]
        out["qR8k2G"] = [option_id("qR8k2G", text) for text in order]
    if turn % 2 == 0:  # a calculated field: name -> value, or a list of {name, value}
        score = turn % 5 + 1
        out["qC9f4L"] = (
            [{"name": CALCULATED, "value": score}] if turn % 6 == 4 else {CALCULATED: score}
        )
    if turn % 5 == 2:  # a payment
        out["qY2p6P"] = {
            "price": 30,
            "currency": "EUR",
            "status": "PAID",
            "paymentId": "pi_" + short_id("payment", key, length=10),
        }
    if turn % 7 == 3:  # a signature: a file
        out["qG5s1N"] = [
            file_answer(short_id("signature", key, length=8), "signature.png", "signature")
        ]
    if turn % 8 == 5:  # two questions of the same title
        out["qW4n7T"] = "Projet mené avec le syndicat d'énergie"
        out["qW9n2U"] = "Évaluation prévue en fin d'année"
    return out


def options_by_vocabulary() -> dict[str, list[str]]:
    data = yaml.safe_load(TAXONOMY.read_text(encoding="utf-8"))
    return {
        name: [v["label"] for v in spec["values"]] for name, spec in data["vocabularies"].items()
    }


def entries() -> list[dict[str, Any]]:
    """Projects with their defaults and resubmissions resolved."""
    by_key: dict[str, dict[str, Any]] = {}
    out = []
    for raw in PROJECTS:
        base = dict(by_key[raw["same_as"]]) if "same_as" in raw else dict(DEFAULTS)
        base.update(raw)
        by_key[raw["key"]] = base
        out.append(base)
    return out


def build() -> dict[str, Any]:
    vocab_options = options_by_vocabulary()
    options: dict[str, list[str]] = {}
    questions, blocks = [], []
    for qid, title, qtype, _field, vocabulary in QUESTIONS:
        questions.append(
            {
                "id": qid,
                "type": qtype,
                "title": title,
                "isDeleted": False,
                "fields": [
                    {
                        "uuid": str(uuid.uuid5(NAMESPACE, qid)),
                        "type": "INPUT_FIELD",
                        "questionType": qtype,
                        "title": title,
                    }
                ],
            }
        )
        blocks.append(
            {
                "uuid": str(uuid.uuid5(NAMESPACE, "title" + qid)),
                "type": "TITLE",
                "groupUuid": qid,
                "payload": {"title": title},
            }
        )
        if qtype in CHOICE_TYPES:
            texts = vocab_options[vocabulary] if vocabulary else RECONTACT
            options[qid] = texts
            for text in texts:
                blocks.append(
                    {
                        "uuid": option_id(qid, text),
                        "type": OPTION_BLOCK[qtype],
                        "groupUuid": qid,
                        "payload": {"text": text},
                    }
                )
    for qid, named, qtype in EXTRA_QUESTIONS:
        calculated = qtype == "CALCULATED_FIELDS"
        questions.append(
            {
                "id": qid,
                "type": qtype,
                "title": named,
                "isDeleted": False,
                "fields": [
                    {
                        "uuid": str(uuid.uuid5(NAMESPACE, qid)),
                        "type": "CALCULATED_FIELD" if calculated else "INPUT_FIELD",
                        "questionType": qtype,
                        "title": CALCULATED if calculated else named,
                    }
                ],
            }
        )
    for kind, texts in (("MATRIX_ROW", MATRIX_ROWS), ("MATRIX_COLUMN", MATRIX_COLUMNS)):
        for text in texts:
            blocks.append(
                {
                    "uuid": option_id("qQ3x8M", text),
                    "type": kind,
                    "groupUuid": "qQ3x8M",
                    "payload": {"text": text},
                }
            )
    for text in RANKING:
        blocks.append(
            {
                "uuid": option_id("qR8k2G", text),
                "type": "RANKING_OPTION",
                "groupUuid": "qR8k2G",
                "payload": {"text": text},
            }
        )
    questions.append(
        {"id": DELETED[0], "type": DELETED[2], "title": DELETED[1], "isDeleted": True, "fields": []}
    )
    questions.append(
        {
            "id": HIDDEN[0],
            "type": "HIDDEN_FIELDS",
            "title": None,  # as Tally sends it
            "isDeleted": False,
            "fields": [
                {
                    "uuid": str(uuid.uuid5(NAMESPACE, HIDDEN[0] + name)),
                    "type": "HIDDEN_FIELD",
                    "questionType": "HIDDEN_FIELDS",
                    "title": name,
                }
                for name in HIDDEN[1]
            ],
        }
    )

    def encode(qid: str, qtype: str, value: Any, turn: int) -> Any:
        if qtype not in CHOICE_TYPES:
            return value
        values = value if isinstance(value, list) else [value]
        if turn % 3 == 1 and all(v in options[qid] for v in values):
            return [option_id(qid, v) for v in values]  # option ids, as webhooks send them
        if turn % 3 == 2 and not isinstance(value, list):
            return value  # a bare string for a single choice
        return values

    submissions = []
    typed_by_key = {e["key"]: e for e in entries()}
    for turn, entry in enumerate(entries() + [dict(p, partial=True) for p in PARTIAL]):
        sid = short_id("submission", entry["key"])
        answers: dict[str, Any] = {
            **{k: entry.get(k) for _q, _t, _y, k, _v in QUESTIONS if k},
            "coll_siret": siret_for(entry["siren"], entry.get("siret_typed")),
        }
        if entry.get("image", True) is not None:
            slug = short_id("logo", entry["siren"], length=8)
            answers["image_url"] = [file_answer(slug, f"logo-{entry['siren']}.png")]
            if turn % 9 == 4:  # two files sent to a question of one logo
                answers["image_url"].append(file_answer(slug + "b", "logo-variante.png"))
        responses = []
        for qid, _title, qtype, field, _vocab in QUESTIONS:
            value = answers.get(field) if field else ("Oui" if turn % 2 else "Non")
            if value is None or value == [] or value == "":
                continue  # unanswered questions are absent
            key = "value" if turn % 4 == 3 else "answer"
            responses.append(
                {
                    "id": short_id("response", entry["key"], qid, length=7),
                    "questionId": qid,
                    key: encode(qid, qtype, value, turn),
                }
            )
        hidden: dict[str, str] = {}
        if "ref_to" in entry:  # sent through the correction link of an earlier submission
            earlier = typed_by_key[entry["ref_to"]]
            hidden = {
                "ref": short_id("submission", entry["ref_to"]),
                "coll_nom": earlier["coll_nom"],
                "nom_projet": earlier["nom_projet"],
                "coll_siret": siret_for(earlier["siren"], earlier.get("siret_typed")),
            }
        if turn % 3 == 1:  # the link the contributor followed said where it came from
            hidden["source"] = "lettre d'information"
        if hidden:
            responses.append(
                {
                    "id": short_id("response", entry["key"], HIDDEN[0], length=7),
                    "questionId": HIDDEN[0],
                    "answer": hidden,
                }
            )
        for qid, answer in extra_answers(entry["key"], turn).items():
            responses.append(
                {
                    "id": short_id("response", entry["key"], qid, length=7),
                    "questionId": qid,
                    "answer": answer,
                }
            )
        if turn % 5 == 0:
            responses.append(
                {
                    "id": short_id("response", entry["key"], DELETED[0], length=7),
                    "questionId": DELETED[0],
                    "answer": entry.get("theme") or "",
                }
            )
        submissions.append(
            {
                "id": sid,
                "formId": DEMO_FORM_ID,
                "respondentId": short_id("respondent", entry.get("coll_nom", "")),
                "isCompleted": not entry.get("partial", False),
                "submittedAt": entry["submitted_at"],
                "responses": responses,
            }
        )
    return {
        "id": DEMO_FORM_ID,
        "name": "Bibliothèque d'IA territoriales (démo)",
        "questions": questions,
        "blocks": blocks,
        "submissions": submissions,
    }


def main() -> None:
    text = json.dumps(build(), ensure_ascii=False, indent=1) + "\n"
    Path(DEMO_FORM_PATH).write_text(text, encoding="utf-8")
    print(f"wrote {DEMO_FORM_PATH}")


if __name__ == "__main__":
    main()
