"""Replay: `bibia rebuild` re-derives everything from raw, with no network."""

from __future__ import annotations

import csv
import subprocess
from pathlib import Path

from tests.conftest import ROOT, bibia_cli, demo_synced, query

ENVIRONNEMENT = "S00vLT"  # the demo submission whose theme is "Environnement"


def rebuild_cli(settings, **env: str) -> subprocess.CompletedProcess[str]:
    dead_tally = "http://127.0.0.1:9"  # nothing listens there: rebuild must not need it
    return bibia_cli(settings, "rebuild", TALLY_API_URL=dead_tally, **env)


def public_ids(settings) -> set[str]:
    path = settings.export_dir / "public" / "bibliotheque_ia.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["projet_id"] for row in csv.DictReader(handle)}


def test_every_completed_submission_is_published_or_quarantined(settings, demo_form_data):
    demo_synced(settings)
    completed = {s["id"] for s in demo_form_data["submissions"] if s["isCompleted"]}
    published = {sid for (sid,) in query(settings, "SELECT submission_id FROM project_versions")}
    held = {sid for (sid,) in query(settings, "SELECT submission_id FROM quarantine")}
    assert published | held == completed
    assert not published & held
    raw = {sid for (sid,) in query(settings, "SELECT submission_id FROM raw_tally_submissions")}
    assert raw == completed


def test_an_alias_added_by_a_curator_rescues_the_submission(settings, tmp_path: Path):
    demo_synced(settings)
    assert query(
        settings, "SELECT count(*) FROM quarantine WHERE submission_id = ?", [ENVIRONNEMENT]
    ) == [(1,)]
    before = public_ids(settings)

    taxonomy = tmp_path / "taxonomy.yaml"
    text = (ROOT / "schemas" / "taxonomy.yaml").read_text(encoding="utf-8")
    old = "aliases: [Transformation écologique et énergétique, Transition écologique]"
    assert old in text
    taxonomy.write_text(text.replace(old, old[:-1] + ", Environnement]"), encoding="utf-8")

    done = rebuild_cli(settings, BIBIA_TAXONOMY=str(taxonomy))
    assert done.returncode == 0, done.stderr

    assert query(
        settings, "SELECT count(*) FROM quarantine WHERE submission_id = ?", [ENVIRONNEMENT]
    ) == [(0,)]
    ((projet_id, theme),) = query(
        settings,
        "SELECT projet_id, theme FROM project_versions WHERE submission_id = ?",
        [ENVIRONNEMENT],
    )
    assert theme == "Transition écologique et énergétique"
    assert public_ids(settings) == before | {projet_id}


def test_rebuild_keeps_projet_ids_and_quarantine_history(settings):
    demo_synced(settings)
    ids = query(settings, "SELECT submission_id, projet_id FROM project_versions ORDER BY 1")
    since = query(settings, "SELECT submission_id, since_run_id FROM quarantine ORDER BY 1")
    csv_before = (settings.export_dir / "public" / "bibliotheque_ia.csv").read_bytes()
    done = rebuild_cli(settings)
    assert done.returncode == 0, done.stderr
    assert (
        query(settings, "SELECT submission_id, projet_id FROM project_versions ORDER BY 1") == ids
    )
    assert query(settings, "SELECT submission_id, since_run_id FROM quarantine ORDER BY 1") == since
    assert (settings.export_dir / "public" / "bibliotheque_ia.csv").read_bytes() == csv_before
    ((kind, status),) = query(
        settings, "SELECT kind, status FROM sync_runs ORDER BY started_at DESC LIMIT 1"
    )
    assert (kind, status) == ("rebuild", "succeeded")
