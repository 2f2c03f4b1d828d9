"""The curation loop: the publication policy on the demo, curators' decisions as data, and the
correction link that makes a contributor's resubmission a new version of the same project."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from bibia.pipeline import run_job
from bibia.settings import Settings
from schemas.project import HOLD, columns_meta
from schemas.taxonomy import Taxonomy
from tests.conftest import (
    DEMO_HELD,
    bibia_cli,
    demo_synced,
    make_settings,
    query,
    table_snapshot,
    tally_submission,
)
from transforms.identity import Lineage, correction_link, resolve_references

CAUX = "fM93eg"  # held: the SIRET's checksum fails (a spreadsheet drag-increment)
CAUX_SIRET = "20001070000017"  # the authority's real one
LACQ_HELD = "D4tZ2M"  # held (no theme, unreadable date); the demo sends its correction
EXPORTS = ("bibliotheque_ia.csv", "bibliotheque_ia.parquet", "datapackage.json")


def bibia(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return bibia_cli(settings, *args, BIBIA_CURATOR="marie.curatrice")


def export_bytes(settings: Settings) -> dict[str, bytes]:
    return {
        f"{access}/{name}": (settings.export_dir / access / name).read_bytes()
        for access in ("public", "restricted")
        for name in EXPORTS
    }


def derived_state(settings: Settings) -> dict[str, Any]:
    """What a run derives, without what names the run itself."""
    return {
        "versions": table_snapshot(settings, "project_versions"),
        "quarantine": query(
            settings,
            "SELECT * EXCLUDE (since_run_id, since_at) FROM quarantine ORDER BY submission_id",
        ),
        "issues": query(settings, "SELECT * EXCLUDE (run_id) FROM validation_issues ORDER BY ALL"),
        "decisions": table_snapshot(settings, "curator_decisions"),
        "exports": export_bytes(settings),
    }


# -- the publication policy, on the demo ----------------------------------------------------
def test_on_the_demo_nothing_is_held_for_an_optional_field(settings):
    demo_synced(settings)
    columns = columns_meta()
    errors = query(
        settings,
        "SELECT DISTINCT field FROM validation_issues WHERE severity = 'error' ORDER BY 1",
    )
    assert errors  # the demo holds some back
    for (field,) in errors:  # each for a reason of the "holds back" column
        meta = columns[field].metadata
        assert meta["required"] or meta["on_invalid"] == HOLD, field
    # the demo carries a case of every kind of the policy: published without the value,
    # kept as typed (open lists), published without an expected answer
    warned = dict(
        query(
            settings,
            "SELECT field, count(*) FROM validation_issues WHERE severity = 'warning' "
            "GROUP BY field",
        )
    )
    for field in (
        "url_infos",
        "projet_contact",
        "budget",
        "sous_theme",
        "type_algorithme",
        "audience_service",
        "donnees_source",
        "image_url",
        "herbergement",
    ):
        assert warned.get(field), field
    # a note typed where a link is expected: published, without the note
    ((url,),) = query(
        settings,
        "SELECT url_infos FROM public_projects WHERE nom_projet = "
        "'Aide à la réponse aux courriers des usagers'",
    )
    assert url is None


def test_every_held_submission_has_a_correction_link_and_a_mail_merge_row(settings):
    demo_synced(settings)
    path = settings.export_dir / "restricted" / "quarantine.csv"
    assert path.stat().st_mode & 0o777 == 0o600
    import csv

    with open(path, encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == DEMO_HELD
    clermont = next(r for r in rows if r["submission_id"] == "S00vLT")
    assert clermont["projet_contact"] == "nature-en-ville@clermontmetropole.eu"
    assert "Environnement" in clermont["motifs"]
    assert clermont["lien_correction"].startswith("https://tally.so/r/bibiaD?ref=S00vLT&")
    assert LACQ_HELD not in {r["submission_id"] for r in rows}  # its correction came


# -- the whole loop, end to end, on the loopback Tally ---------------------------------------
def test_a_curator_correction_then_the_contributors_own(settings, emulator, tmp_path: Path):
    demo_synced(settings)
    assert query(settings, "SELECT count(*) FROM quarantine WHERE submission_id = ?", [CAUX])
    done = bibia(
        settings,
        "curate",
        "correct",
        CAUX,
        "coll_siret",
        "200 010 700 00017",
        "--reason",
        "SIRET confirmé par l'agglomération",
    )
    assert done.returncode == 0, done.stderr
    decision = yaml.safe_load(settings.decisions_path.read_text(encoding="utf-8"))["decisions"][0]
    assert decision["value"] == CAUX_SIRET and decision["by"] == "marie.curatrice"

    run_job(settings, "sync")  # the corrected submission is published, with the trace
    ((projet_id, siret, trace),) = query(
        settings,
        "SELECT projet_id, coll_siret, curation FROM project_versions WHERE submission_id = ?",
        [CAUX],
    )
    assert siret == CAUX_SIRET
    assert json.loads(trace)["coll_siret"] == {
        "decision_id": decision["id"],
        "by": "marie.curatrice",
        "at": decision["at"],
        "reason": "SIRET confirmé par l'agglomération",
        "typed": "20001070000018",
    }
    assert query(settings, "SELECT count(*) FROM quarantine WHERE submission_id = ?", [CAUX]) == [
        (0,)
    ]
    assert query(settings, "SELECT state FROM curator_decisions") == [("in_force",)]
    after_sync = derived_state(settings)

    assert run_job(settings, "rebuild").status == "succeeded"
    assert derived_state(settings) == after_sync
    fresh = make_settings(tmp_path / "fresh", emulator.url, decisions_path=settings.decisions_path)
    run_job(fresh, "sync_full")
    assert derived_state(fresh) == after_sync

    # the contributor follows the correction link and renames the project
    emulator.add_submissions(
        "bibiaD",
        [
            tally_submission(
                "corrCX",
                {**_caux_answers(), "nom_projet": "Orientation du courrier entrant par IA"},
                submitted_at="2026-11-20T10:00:00.000Z",
                hidden={"ref": CAUX, "coll_nom": "Caux Seine Agglo"},
            )
        ],
    )
    run_job(settings, "sync")
    versions = query(
        settings,
        "SELECT submission_id, nom_projet FROM project_versions WHERE projet_id = ? "
        "ORDER BY submitted_at",
        [projet_id],
    )
    assert versions == [
        (CAUX, "Tri automatique du courrier entrant"),
        ("corrCX", "Orientation du courrier entrant par IA"),
    ]
    held = query(
        settings,
        "SELECT count(*) FROM quarantine WHERE released_by IS NULL AND submission_id IN (?, ?)",
        [CAUX, "corrCX"],
    )
    assert held == [(0,)]
    assert query(settings, "SELECT state FROM curator_decisions") == [("no_longer_applies",)]
    listed = bibia(settings, "curate", "list")
    assert listed.returncode == 0 and "sans objet" in listed.stdout


def _caux_answers() -> dict[str, Any]:
    return {
        "coll_nom": "Caux Seine Agglo",
        "nom_projet": "Tri automatique du courrier entrant",
        "coll_siret": CAUX_SIRET,
        "coll_type": "Communauté d'agglomération",
        "projet_date": "06/2024",
        "projet_status": "En déploiement",
        "usage_description": "Le courrier numérisé est orienté vers le bon service.",
        "theme": "Administration et organisation interne",
        "audience_service": ["Agent"],
        "nom_algorithme": "Classement du courrier",
    }


def test_a_withdrawn_project_leaves_both_exports_and_comes_back_the_same(settings):
    demo_synced(settings)
    before = export_bytes(settings)
    ((projet_id,),) = query(
        settings, "SELECT projet_id FROM projects WHERE nom_projet = 'Callbot encombrants'"
    )
    done = bibia(settings, "curate", "withdraw", projet_id, "--reason", "demande de la métropole")
    assert done.returncode == 0, done.stderr
    run_job(settings, "sync")
    for access in ("public", "restricted"):
        text = (settings.export_dir / access / "bibliotheque_ia.csv").read_text(encoding="utf-8")
        assert projet_id not in text and "Callbot" not in text
    assert query(settings, "SELECT action, state FROM curator_decisions") == [
        ("withdraw", "in_force")
    ]
    assert bibia(settings, "curate", "restore", projet_id, "--reason", "accord").returncode == 0
    run_job(settings, "sync")
    assert export_bytes(settings) == before
    history = yaml.safe_load(settings.decisions_path.read_text(encoding="utf-8"))["decisions"]
    assert history[0]["ended"]["reason"] == "accord"  # nothing is deleted


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["correct", "nope00", "coll_siret", CAUX_SIRET], "soumission inconnue 'nope00'"),
        (["correct", CAUX, "couleur", "bleu"], "champ inconnu 'couleur'"),
        (["correct", CAUX, "theme", "Environnement"], "valeur inconnue du vocabulaire theme"),
        (["correct", CAUX, "coll_siret", "20001070000018"], "la clé de contrôle"),
        (["correct", CAUX, "projet_status", "Déployé", "Terminé"], "une seule valeur"),
        (["withdraw", "p-000000000000"], "projet inconnu"),
        (["restore", "p-000000000000"], "n'est pas retiré"),
        (["revoke", "c-00000000"], "décision inconnue"),
    ],
    ids=[
        "submission",
        "field",
        "vocabulary",
        "checksum",
        "one-value",
        "project",
        "restore",
        "revoke",
    ],
)
def test_bad_curator_input_is_one_line_exit_2_and_changes_nothing(settings, args, says):
    demo_synced(settings)
    settings.decisions_path.parent.mkdir(parents=True, exist_ok=True)
    settings.decisions_path.write_text("version: 1\ndecisions: []\n", encoding="utf-8")
    before = settings.decisions_path.read_bytes()
    done = bibia(settings, "curate", *args, "--reason", "essai")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("bibia: ") and says in line
    assert settings.decisions_path.read_bytes() == before


def test_a_refused_correction_lists_the_allowed_values_the_closest_first(settings):
    demo_synced(settings)
    done = bibia(
        settings, "curate", "correct", CAUX, "coll_type", "Groupement de communes",
        "--reason", "essai",
    )  # fmt: skip
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    allowed = line.split("valeurs permises, la plus proche d'abord : ", 1)[1]
    assert allowed.startswith("« Communauté de communes »")
    labels = Taxonomy.load(settings.taxonomy_path)["coll_type"].labels
    assert all(f"« {label} »" in allowed for label in labels)
    assert "si « Groupement de communes » veut dire « Communauté de communes »" in line
    assert "alias" in line


def test_a_decisions_file_that_names_no_field_of_the_form_fails_the_run(settings):
    settings.decisions_path.parent.mkdir(parents=True, exist_ok=True)
    settings.decisions_path.write_text(
        "decisions:\n- {id: c-1, action: correct, submission_id: x, field: couleur, value: a,"
        " reason: r, by: b, at: '2026-01-01T00:00:00Z'}\n",
        encoding="utf-8",
    )
    done = bibia(settings, "sync")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"bibia: {settings.decisions_path} : la décision c-1 corrige 'couleur', qui n'est pas un "
        "champ du formulaire"
    ]


# -- identity across correction links, as literal examples ----------------------------------
def _row(sid: str, day: int, own: str, ref: str | None = None, valid: bool = True) -> Lineage:
    return Lineage(sid, datetime(2026, 1, day), own, ref, valid)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        # a published project renamed through its link keeps its identity
        ([_row("a", 1, "P"), _row("b", 2, "Q", "a")], {"b": "P"}),
        # ...along a chain of links
        ([_row("a", 1, "P"), _row("b", 2, "Q", "a"), _row("c", 3, "R", "b")], {"b": "P", "c": "P"}),
        # a held submission hands nothing down: the new one keeps its own identity
        ([_row("a", 1, "P", valid=False), _row("b", 2, "Q", "a")], {"b": "Q"}),
        # unless it had itself come through a link
        (
            [_row("a", 1, "P"), _row("h", 2, "X", "a", valid=False), _row("b", 3, "Q", "h")],
            {"h": "P", "b": "P"},
        ),
        # an unknown reference, or one to a later submission, is ignored
        ([_row("b", 2, "Q", "zz")], {"b": "Q"}),
        ([_row("a", 3, "P"), _row("b", 2, "Q", "a")], {"b": "Q"}),
    ],
    ids=["renamed", "chain", "held-root", "held-linked", "unknown", "later"],
)
def test_references_resolve_to_a_project(rows, expected):
    assert resolve_references({r.submission_id: r for r in rows}) == expected


def test_a_correction_link_carries_the_reference_and_the_answers_escaped():
    link = correction_link(
        "https://tally.so/r/abc",
        "ref",
        {"nom_projet": "nom_projet", "sous_theme": "sous_theme"},
        "S1",
        {"nom_projet": "Éclairage & co", "sous_theme": ["Éclairage public", "Stationnement"]},
    )
    assert link == (
        "https://tally.so/r/abc?ref=S1&nom_projet=%C3%89clairage+%26+co"
        "&sous_theme=%C3%89clairage+public%2C+Stationnement"
    )
    assert correction_link(None, "ref", {}, "S1", {}) is None


def test_a_curators_correction_moves_the_projects_last_update(settings):
    demo_synced(settings)
    ((submitted,),) = query(
        settings,
        "SELECT strftime(submitted_at, '%Y-%m-%d') FROM raw_tally_submissions "
        f"WHERE submission_id = '{CAUX}'",
    )
    done = bibia(settings, "curate", "correct", CAUX, "coll_siret", CAUX_SIRET, "--reason", "r")
    assert done.returncode == 0, done.stderr
    run_job(settings, "sync")
    ((date,),) = query(settings, f"SELECT date FROM projects WHERE submission_id = '{CAUX}'")
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    assert submitted < today and str(date) == today  # the correction's day, not the answer's
