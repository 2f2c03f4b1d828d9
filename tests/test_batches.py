"""Runs of several batches: a worker process derives each batch while the main process lands
the next one. Whatever the batch size, the warehouse and the exports come out the same."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import signal
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bibia.demo.synthetic import synthetic_form
from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.pipeline import run_job
from bibia.settings import Settings
from bibia.worker import InPlace, InWorker, Worker
from schemas.errors import BibiaError
from schemas.records import RawRow
from schemas.taxonomy import Taxonomy
from tests.conftest import (
    VALID_ANSWERS,
    bibia_cli,
    make_settings,
    query,
    start_emulator,
    table_snapshot,
    tally_submission,
)
from transforms.derive import Rules, derive_tables
from transforms.mapping import FieldMapping, FormShape, plan_fields
from warehouse.raw import raw_rows_of

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


def children() -> set[int]:
    """The processes this one started and has not reaped."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):  # a thread that ended meanwhile
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def test_only_a_run_with_more_batches_to_come_starts_a_worker(demo_rules):
    before = children()
    worker = Worker()
    try:
        assert isinstance(worker.submit([], demo_rules, more_to_come=False), InPlace)
        assert not worker.started
        pending = worker.submit([], demo_rules, more_to_come=True)
        assert isinstance(pending, InWorker) and worker.started
        assert children() - before == {worker.pid}  # one process: no helper beside it
        assert pending.result().versions.num_rows == 0
        # once started, the worker takes the last batch too
        assert isinstance(worker.submit([], demo_rules, more_to_come=False), InWorker)
    finally:
        worker.close()
    assert not worker.started
    assert children() == before


def test_the_worker_derives_batches_in_order_as_in_place(demo_rules, demo_form_data):
    rows, _partial, _aside = raw_rows_of(demo_form_data["submissions"])
    halves = [rows[: len(rows) // 2], rows[len(rows) // 2 :]]
    worker = Worker()
    try:
        pending = [worker.submit(half, demo_rules, more_to_come=True) for half in halves]
        derived = [p.result() for p in pending]
    finally:
        worker.close()
    assert derived == [derive_tables(half, demo_rules) for half in halves]


def test_a_batch_that_fails_in_the_worker_fails_the_run_as_in_place(demo_rules):
    unreadable = [RawRow("s1", datetime(2025, 1, 1), b"{not json")]
    with pytest.raises(Exception) as in_place:
        derive_tables(unreadable, demo_rules)
    worker = Worker()
    try:
        pending = worker.submit(unreadable, demo_rules, more_to_come=True)
        with pytest.raises(Exception) as in_worker:
            pending.result()
        # the worker goes on: the run decides what to do
        assert worker.submit([], demo_rules, more_to_come=True).result().versions.num_rows == 0
    finally:
        worker.close()
    assert type(in_worker.value) is type(in_place.value)  # the same error, raised in the run
    assert str(in_worker.value) == str(in_place.value)


def test_a_failing_run_in_batches_stops_its_worker_and_writes_nothing(tmp_path, three_pages):
    before = children()
    settings = make_settings(tmp_path, three_pages.url, batch_size=500, failpoint="load")
    with pytest.raises(BibiaError, match="l'étape load échoue exprès"):
        run_job(settings, "sync_full")
    assert children() == before  # the worker was started, and stopped
    assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(0,)]
    assert query(settings, "SELECT status FROM sync_runs") == [("failed",)]
    assert not settings.export_dir.exists() or not any(settings.export_dir.iterdir())


def test_a_worker_that_dies_fails_the_batch_with_one_readable_line(demo_rules):
    worker = Worker()
    try:
        pending = worker.submit([], demo_rules, more_to_come=True)
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)  # still importing pandas: it dies mid-batch
        with pytest.raises(BibiaError, match="arrêté brusquement") as failure:
            pending.result()
        assert "\n" not in str(failure.value)
    finally:
        worker.close()


@pytest.mark.parametrize("batch_size", ["500", "5000"])  # derived in a worker; in place
def test_a_run_does_not_import_hypothesis_where_it_is_installed(tmp_path, three_pages, batch_size):
    assert importlib.util.find_spec("hypothesis") is not None  # installed: the tests use it
    settings = make_settings(tmp_path, three_pages.url)
    # `-X importtime` in the run and in its worker (from the environment): each lists its imports
    done = bibia_cli(
        settings,
        "sync",
        BIBIA_BATCH_SIZE=batch_size,
        PYTHONPROFILEIMPORTTIME="1",
        fresh_interpreter=True,
    )
    assert done.returncode == 0, done.stderr
    imported = [line.rpartition("|")[2].strip() for line in done.stderr.splitlines()]
    assert "pandera.api.pandas.container" in imported
    assert "hypothesis" not in imported  # (pandera's attempt at a submodule, refused, is listed)
