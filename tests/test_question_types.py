"""Every Tally question type read as a person reading the form would read it, as JSON values.

One row per question type and answer shape: the shapes the API sends (`answer`) and the values
webhooks carry (`value`, option texts instead of ids, a single column as a bare string...).
Each row is a submission of its own on the demo form, served by the emulator; the table says
where its answer lands (a field, or `extra` under a key) and what is stored there.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from bibia.demo.build import CALCULATED, option_id
from bibia.demo.synthetic import demo_shape
from bibia.pipeline import run_job
from tests.conftest import DEMO_PUBLISHED, query, synced
from tests.test_answers import BASE, CHOICES, submission


def matrix(cells: dict[str, Any]) -> dict[str, Any]:
    """A matrix answer by row and column texts -> the ids the API sends."""
    ids = lambda text: option_id("qQ3x8M", text)  # noqa: E731
    return {
        ids(row): [ids(c) for c in cols] if isinstance(cols, list) else ids(cols)
        for row, cols in cells.items()
    }


FILE = {"id": "f", "name": "a.png", "mimeType": "image/png", "size": 10}
ROWS: list[tuple[str, str, Any, str, tuple[str, str], Any]] = [
    # (shape, question id, answer sent, key, where (field|extra, name), value stored)
    (
        "matrix-row-and-column-ids",
        "qQ3x8M",
        matrix({"Qualité du service": ["Satisfaits"], "Rapidité": ["Neutres"]}),
        "answer",
        ("extra", "Satisfaction des agents"),
        {"Qualité du service": ["Satisfaits"], "Rapidité": ["Neutres"]},
    ),
    (
        "matrix-several-columns-in-a-row",
        "qQ3x8M",
        matrix({"Rapidité": ["Satisfaits", "Neutres"]}),
        "answer",
        ("extra", "Satisfaction des agents"),
        {"Rapidité": ["Satisfaits", "Neutres"]},
    ),
    (
        "matrix-a-bare-column-id-webhook-value",
        "qQ3x8M",
        matrix({"Qualité du service": "Insatisfaits"}),
        "value",
        ("extra", "Satisfaction des agents"),
        {"Qualité du service": "Insatisfaits"},
    ),
    (
        "ranking-option-ids-in-order",
        "qR8k2G",
        [option_id("qR8k2G", t) for t in ("Qualité", "Coût", "Délais")],
        "answer",
        ("extra", "Priorités du projet"),
        ["Qualité", "Coût", "Délais"],
    ),
    (
        "ranking-option-texts-webhook-value",
        "qR8k2G",
        ["Délais", "Qualité", "Coût"],
        "value",
        ("extra", "Priorités du projet"),
        ["Délais", "Qualité", "Coût"],
    ),
    (
        "calculated-field-name-to-value",
        "qC9f4L",
        {CALCULATED: 4},
        "answer",
        ("extra", CALCULATED),
        4,
    ),
    (
        "calculated-field-list-of-name-value",
        "qC9f4L",
        [{"name": CALCULATED, "value": 2.5}],
        "value",
        ("extra", CALCULATED),
        2.5,
    ),
    (
        "hidden-field-feeding-no-field",
        "qH7d3N",
        {"source": "salon des maires"},
        "answer",
        ("extra", "source"),
        "salon des maires",
    ),
    (
        "payment-price-currency-status",
        "qY2p6P",
        {"price": 30, "currency": "EUR", "status": "PAID", "paymentId": "pi_1"},
        "answer",
        ("extra", "Cotisation à l'association"),
        {"amount": 30, "currency": "EUR", "status": "PAID", "payment_id": "pi_1"},
    ),
    (
        "payment-amount-webhook-value",
        "qY2p6P",
        {"amount": 12.5, "currency": "EUR", "paymentStatus": "succeeded"},
        "value",
        ("extra", "Cotisation à l'association"),
        {"amount": 12.5, "currency": "EUR", "status": "succeeded"},
    ),
    (
        "signature-file",
        "qG5s1N",
        [{**FILE, "url": "https://storage.tally.so/s.png"}],
        "answer",
        ("extra", "Signature du responsable"),
        ["https://storage.tally.so/s.png"],
    ),
    (
        "two-files-for-one-logo",
        "qI5m9G",
        [
            {**FILE, "url": "https://storage.tally.so/un.png"},
            {**FILE, "url": "https://storage.tally.so/deux.png"},
        ],
        "answer",
        ("field", "image_url"),
        "https://storage.tally.so/un.png",
    ),
    (
        "two-choices-for-a-single-choice-field",
        "qT4y6C",
        [option_id("qT4y6C", "Commune"), option_id("qT4y6C", "Métropole")],
        "answer",
        ("field", "coll_type"),
        "Commune",
    ),
    (
        "same-title-first-question-under-its-id",
        "qW4n7T",
        "Une précision",
        "answer",
        ("extra", "qW4n7T"),
        "Une précision",
    ),
    (
        "same-title-second-question-under-its-id",
        "qW9n2U",
        "Une autre précision",
        "answer",
        ("extra", "qW9n2U"),
        "Une autre précision",
    ),
    (
        "a-rating-of-zero",
        "qZ0r4T",  # a question the form no longer lists: kept under its id
        0,
        "answer",
        ("extra", "qZ0r4T"),
        0,
    ),
]
TYPES = {
    "qQ3x8M": "MATRIX",
    "qR8k2G": "RANKING",
    "qC9f4L": "CALCULATED_FIELDS",
    "qH7d3N": "HIDDEN_FIELDS",
    "qY2p6P": "PAYMENT",
    "qG5s1N": "SIGNATURE",
    "qW4n7T": "INPUT_TEXT",
    "qW9n2U": "TEXTAREA",
    "qZ0r4T": "",
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    form = demo_shape()
    form["submissions"] = [
        submission(f"type{i:02d}", {**BASE, **CHOICES, qid: sent}, key)
        for i, (_shape, qid, sent, key, _where, _value) in enumerate(ROWS)
    ]
    settings, report = synced(tmp_path_factory.mktemp("types"), form)
    return settings, report


@pytest.mark.parametrize("row", ROWS, ids=[r[0] for r in ROWS])
def test_a_question_type_is_stored_as_a_person_reads_it(loaded, row):
    settings, _report = loaded
    _shape, qid, _sent, _key, (where, name), value = row
    sid = f"type{ROWS.index(row):02d}"
    if where == "field":
        assert query(
            settings, f"SELECT {name} FROM project_versions WHERE submission_id = ?", [sid]
        ) == [(value,)]
        return
    ((extra,),) = query(
        settings, "SELECT extra FROM project_versions WHERE submission_id = ?", [sid]
    )
    entry = json.loads(extra)[name]  # JSON values, not JSON text inside JSON
    assert entry == {"question_id": qid, "type": TYPES[qid], "value": value}


@pytest.mark.parametrize(
    ("shape", "field", "others"),
    [
        ("two-files-for-one-logo", "image_url", "« https://storage.tally.so/deux.png »"),
        ("two-choices-for-a-single-choice-field", "coll_type", "« Métropole »"),
    ],
)
def test_the_others_of_several_values_are_named_in_a_warning(loaded, shape, field, others):
    settings, _report = loaded
    sid = f"type{[r[0] for r in ROWS].index(shape):02d}"
    ((message,),) = query(
        settings,
        "SELECT message FROM validation_issues WHERE submission_id = ? AND field = ? "
        "AND message LIKE 'plusieurs réponses%'",
        [sid, field],
    )
    assert "la première est publiée" in message and others in message
    assert query(settings, "SELECT count(*) FROM quarantine") == [(0,)]  # never held back


def test_untitled_questions_are_named_by_type_and_id_in_the_run_notes(loaded):
    _settings, report = loaded
    assert "question qC9f4L (CALCULATED_FIELDS, sans titre) : ne nourrit aucun champ" in (
        report.notes
    )


UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")


def test_the_demo_form_speaks_every_type_and_each_reads_back(settings):
    report = run_job(settings, "sync")
    assert report.exported == DEMO_PUBLISHED
    entries = [
        entry
        for (extra,) in query(
            settings, "SELECT extra FROM project_versions WHERE extra IS NOT NULL"
        )
        for entry in json.loads(extra).values()
    ]
    types = {e["type"] for e in entries}
    assert types >= {"MATRIX", "RANKING", "CALCULATED_FIELDS", "PAYMENT", "SIGNATURE"}
    assert "HIDDEN_FIELDS" in types
    for entry in entries:
        text = json.dumps(entry["value"], ensure_ascii=False)
        assert not UUID.search(text), entry  # no option, row or column id left unread
        assert not (isinstance(entry["value"], str) and entry["value"].startswith("{"))
    # the demo's logos sent as two files: published with the first, never held back
    several = query(
        settings,
        "SELECT DISTINCT submission_id FROM validation_issues "
        "WHERE field = 'image_url' AND message LIKE 'plusieurs réponses%'",
    )
    assert several
    reasons = query(
        settings,
        "SELECT reason FROM quarantine WHERE submission_id IN (SELECT unnest(?))",
        [[sid for (sid,) in several]],
    )
    assert not [r for (r,) in reasons if "image_url" in r]  # held, if at all, for other reasons


def test_questions_that_feed_nothing_are_said_when_the_form_changes_not_on_every_run(settings):
    first = run_job(settings, "sync")
    assert any("ne nourrit aucun champ" in note for note in first.notes)
    second = run_job(settings, "sync")  # the same form: nothing new to say about it
    assert not any("ne nourrit aucun champ" in note for note in second.notes)
