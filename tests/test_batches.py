"""Runs of several batches: a worker process derives each batch while the main process lands
the next one. Whatever the batch size, the warehouse and the exports come out the same."""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from bibia.demo.synthetic import synthetic_form
from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.pipeline import run_job
from bibia.settings import Settings
from bibia.worker import InPlace, InWorker, Worker
from schemas.errors import BibiaError
from schemas.taxonomy import Taxonomy
from tests.conftest import (
    VALID_ANSWERS,
    make_settings,
    query,
    start_emulator,
    table_snapshot,
    tally_submission,
)
from transforms.derive import Rules
from transforms.mapping import FieldMapping, FormShape, plan_fields

DERIVED_TABLES = ("project_versions", "quarantine")
EXPORTS = [
    f"{access}/bibliotheque_ia.{ext}"
    for access in ("public", "restricted")
    for ext in ("csv", "parquet")
]


@pytest.fixture(scope="module")
def three_pages() -> Any:
    """1,200 valid submissions (three pages of 500) and four that must be held back, spread
    over the pages."""
    form = synthetic_form(1_200)
    held = [
        tally_submission(
            f"bad{i}",
            {**VALID_ANSWERS, "nom_projet": f"Projet retenu {i}", "coll_siret": "123"},
            submitted_at=f"2025-0{i + 1}-15T09:00:00.000Z",
        )
        for i in range(4)
    ]
    form["submissions"] += held
    server = start_emulator(EmulatedForm.from_json(form))
    yield server
    server.stop()


@pytest.fixture
def demo_rules(demo_form_data: dict[str, Any]) -> Rules:
    """What a batch of the demo form is derived with."""
    settings = Settings()
    form = FormShape.from_snapshot(demo_form_data["questions"], {"blocks": []})
    plan = plan_fields(form, FieldMapping.load(settings.mapping_path))
    return Rules(plan, form, Taxonomy.load(settings.taxonomy_path))


def synced(tmp_path: Path, server: TallyEmulator, batch_size: int) -> Settings:
    settings = make_settings(tmp_path, server.url, batch_size=batch_size)
    report = run_job(settings, "sync_full")
    assert (report.status, report.fetched, report.quarantined) == ("succeeded", 1_204, 4)
    return settings


def test_a_run_in_batches_gives_what_a_run_in_one_batch_gives(tmp_path, three_pages):
    whole = synced(tmp_path / "whole", three_pages, batch_size=5_000)  # one batch, in place
    batched = synced(tmp_path / "batched", three_pages, batch_size=500)  # three, in a worker
    assert table_snapshot(batched, "project_versions") == table_snapshot(whole, "project_versions")
    held = "SELECT * EXCLUDE (since_run_id, since_at) FROM quarantine ORDER BY ALL"  # runs differ
    assert query(batched, held) == query(whole, held)
    for name in EXPORTS:
        assert (batched.export_dir / name).read_bytes() == (whole.export_dir / name).read_bytes()


def test_a_rebuild_in_batches_gives_what_the_sync_gave(tmp_path, three_pages):
    settings = synced(tmp_path, three_pages, batch_size=5_000)
    before = {t: table_snapshot(settings, t) for t in DERIVED_TABLES}
    exports = {name: (settings.export_dir / name).read_bytes() for name in EXPORTS}
    report = run_job(settings.with_(batch_size=300), "rebuild")
    assert report.status == "succeeded"
    assert {t: table_snapshot(settings, t) for t in DERIVED_TABLES} == before
    assert {name: (settings.export_dir / name).read_bytes() for name in EXPORTS} == exports


def test_only_a_run_with_more_batches_to_come_starts_a_worker(demo_rules):
    worker = Worker()
    try:
        assert isinstance(worker.submit([], demo_rules, more_to_come=False), InPlace)
        assert not worker.started
        pending = worker.submit([], demo_rules, more_to_come=True)
        assert isinstance(pending, InWorker) and worker.started
        assert pending.result().versions.num_rows == 0
        # once started, the worker takes the last batch too
        assert isinstance(worker.submit([], demo_rules, more_to_come=False), InWorker)
    finally:
        worker.close()
    assert not worker.started


def test_a_failing_run_in_batches_stops_its_worker_and_writes_nothing(tmp_path, three_pages):
    settings = make_settings(tmp_path, three_pages.url, batch_size=500, failpoint="load")
    with pytest.raises(BibiaError, match="step load failed on purpose"):
        run_job(settings, "sync_full")
    assert multiprocessing.active_children() == []  # the worker was started, and stopped
    assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(0,)]
    assert query(settings, "SELECT status FROM sync_runs") == [("failed",)]
    assert not settings.export_dir.exists() or not any(settings.export_dir.iterdir())


def test_a_worker_that_dies_fails_the_batch_with_one_readable_line(demo_rules):
    worker = Worker()
    try:
        pending = worker.submit([], demo_rules, more_to_come=True)
        (child,) = multiprocessing.active_children()
        os.kill(child.pid, signal.SIGKILL)  # still importing pandas: it dies mid-batch
        with pytest.raises(BibiaError, match="stopped unexpectedly") as failure:
            pending.result()
        assert "\n" not in str(failure.value)
    finally:
        worker.close()
