"""Extraction against the loopback Tally emulator: pagination, increments, retries, failures."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bibia.demo import DEMO_API_KEY
from bibia.demo.synthetic import more_submissions, synthetic_form
from bibia.emulators.loopback import Fault
from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.pipeline import run_job
from bibia.tally.client import TallyClient
from schemas.errors import TallyError
from tests.conftest import (
    DEMO_COMPLETED,
    bibia_cli,
    demo_synced,
    make_settings,
    query,
    start_emulator,
    table_snapshot,
)


@pytest.fixture
def big_emulator() -> TallyEmulator:
    server = start_emulator(EmulatedForm.from_json(synthetic_form(1_234)))
    yield server
    server.stop()


def walked(server):
    """The requests of the walk through the pages (not the one-submission look past the run's
    window that notes future-dated submissions: see test_hardening)."""
    return [seen for seen in server.submission_requests() if seen.query.get("limit") != "1"]


def test_pagination_walks_every_page_with_the_documented_parameters(tmp_path, big_emulator):
    settings = make_settings(tmp_path, big_emulator.url)
    report = run_job(settings, "sync")
    pages = walked(big_emulator)
    assert [p.query["page"] for p in pages] == ["1", "2", "3"]
    for page in pages:
        assert page.query["limit"] == "500"
        assert page.query["filter"] == "completed"
        assert "endDate" in page.query and "startDate" not in page.query
        assert page.had_auth and page.tally_version == "2025-02-01"
    assert report.fetched == report.new == 1_234
    assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(1_234,)]


def test_an_empty_page_stops_the_walk_even_if_has_more_lies(tmp_path):
    class Liar(TallyEmulator):
        def submissions_page(self, form, q):
            status, body = super().submissions_page(form, q)
            body["hasMore"] = True  # never false
            return status, body

    server = Liar([EmulatedForm.from_json(synthetic_form(700))], api_key=DEMO_API_KEY).start()
    try:
        report = run_job(make_settings(tmp_path, server.url), "sync")
        assert len(walked(server)) == 3  # 500, 200, then an empty page
        assert report.fetched == 700
    finally:
        server.stop()


def test_incremental_run_asks_only_from_the_last_submission(tmp_path, big_emulator):
    settings = make_settings(tmp_path, big_emulator.url)
    run_job(settings, "sync")
    last = query(settings, "SELECT max(submitted_at) FROM raw_tally_submissions")[0][0]
    form = big_emulator.forms["bibiaD"]
    big_emulator.add_submissions("bibiaD", more_submissions({"submissions": form.submissions}, 7))
    big_emulator.seen.clear()
    report = run_job(settings, "sync")
    (page,) = walked(big_emulator)
    assert page.query["startDate"].startswith(last.strftime("%Y-%m-%dT%H:%M:%S"))
    # the boundary submission comes again (inclusive startDate) and is not counted as new
    assert report.fetched == 8 and report.new == 7 and report.updated == 0
    assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(1_241,)]


def test_a_second_identical_run_changes_nothing(settings):
    demo_synced(settings)
    tables = [
        "raw_tally_submissions",
        "raw_tally_submission_history",
        "project_versions",
        "quarantine",
        "raw_tally_forms",
    ]
    before = {t: table_snapshot(settings, t) for t in tables}
    report = run_job(settings, "sync")
    assert (report.new, report.updated) == (0, 0)
    assert {t: table_snapshot(settings, t) for t in tables} == before


def test_an_edited_submission_is_a_new_content_hash_with_history(settings, emulator):
    demo_synced(settings)
    form = emulator.forms["bibiaD"]
    edited = dict(form.submissions[0])
    sid = edited["id"]
    old_hash = query(
        settings, "SELECT content_hash FROM raw_tally_submissions WHERE submission_id = ?", [sid]
    )[0][0]
    edited["responses"] = [*edited["responses"][:-1]]
    emulator.add_submissions("bibiaD", [edited])
    report = run_job(settings, "sync_full")
    assert report.updated == 1 and report.new == 0
    ((new_hash, run_id),) = query(
        settings,
        "SELECT content_hash, content_run_id FROM raw_tally_submissions WHERE submission_id = ?",
        [sid],
    )
    assert new_hash != old_hash and run_id == report.run_id
    history = query(
        settings,
        "SELECT content_hash FROM raw_tally_submission_history WHERE submission_id = ?",
        [sid],
    )
    assert history == [(old_hash,)]  # the replaced content is kept; raw holds the new one


def test_a_full_run_notices_deletions_and_keeps_the_raw_row(settings, emulator):
    demo_synced(settings)
    sid = emulator.forms["bibiaD"].submissions[5]["id"]
    emulator.delete_submission("bibiaD", sid)
    report = run_job(settings, "sync_full")
    assert report.deleted == 1
    assert query(
        settings, "SELECT deleted_run_id FROM raw_tally_submissions WHERE submission_id = ?", [sid]
    ) == [(report.run_id,)]
    assert query(
        settings, "SELECT count(*) FROM project_versions WHERE submission_id = ?", [sid]
    ) == [(0,)]


def test_partial_submissions_are_never_loaded(settings, demo_form_data):
    partial = [s["id"] for s in demo_form_data["submissions"] if not s["isCompleted"]]
    assert partial
    run_job(settings, "sync")
    found = query(
        settings,
        "SELECT count(*) FROM raw_tally_submissions WHERE submission_id IN "
        f"({', '.join('?' for _ in partial)})",
        partial,
    )
    assert found == [(0,)]


@pytest.mark.parametrize(
    "fault",
    [
        Fault(status=429, retry_after="1"),
        Fault(status=429),
        Fault(status=500),
        Fault(status=503),
        Fault(drop=True),
    ],
    ids=["429-retry-after", "429-bare", "500", "503", "dropped-connection"],
)
def test_transient_failures_are_retried_and_the_run_completes(settings, emulator, fault):
    emulator.queue(Fault(**{**fault.__dict__, "path_contains": "/submissions"}))
    report = run_job(settings, "sync")
    assert report.status == "succeeded" and report.fetched == DEMO_COMPLETED
    assert len(walked(emulator)) == 2  # the failed one, then its retry


def test_retry_after_is_honoured(settings, emulator):
    emulator.queue(Fault(status=429, retry_after="2", path_contains="/submissions"))
    slept: list[float] = []
    client = TallyClient(settings, sleep=slept.append)
    pages = list(client.iter_pages())
    assert slept == [2.0]
    assert sum(len(p.submissions) for p in pages) == DEMO_COMPLETED


def test_without_retry_after_backoff_grows_exponentially(settings, emulator):
    emulator.queue(*[Fault(status=429, path_contains="/submissions") for _ in range(4)])
    slept: list[float] = []
    client = TallyClient(settings.with_(tally_backoff_seconds=1.0), sleep=slept.append)
    list(client.iter_pages())
    assert len(slept) == 4
    for attempt, delay in enumerate(slept):
        assert 2**attempt <= delay <= 2 * 2**attempt  # base doubled, plus up to 100% jitter


def test_a_rate_limit_that_never_lifts_fails_after_the_retries(tmp_path):
    server = start_emulator(EmulatedForm.from_json(synthetic_form(1_600)), rate_limit_per_minute=3)
    try:
        settings = make_settings(tmp_path, server.url, tally_max_requests_per_minute=600)
        slept: list[float] = []
        client = TallyClient(settings, sleep=lambda s: (slept.append(s), time.sleep(s)))
        with pytest.raises(TallyError, match="HTTP 429"):
            # 4 pages + the form: more than 3 a minute, and the limit holds for a minute
            client.get_form()
            list(client.iter_pages())
        assert any(s > 0 for s in slept)  # pacing spaced the requests before giving up
    finally:
        server.stop()


def test_pacing_spaces_requests_at_the_configured_rate(settings):
    slept: list[float] = []
    now = [0.0]
    client = TallyClient(settings.with_(tally_max_requests_per_minute=90), sleep=slept.append)
    client.pacer.clock = lambda: now[0]
    client.pacer.sleep = lambda s: (slept.append(s), now.__setitem__(0, now[0] + s))
    for _ in range(3):
        client.pacer.wait()
    assert slept == pytest.approx([60 / 90, 60 / 90])


def test_a_garbage_page_fails_the_run_and_leaves_the_raw_table_as_it_was(settings, emulator):
    demo_synced(settings)
    before = table_snapshot(settings, "raw_tally_submissions")
    emulator.add_submissions(
        "bibiaD", more_submissions({"submissions": emulator.forms["bibiaD"].submissions}, 3)
    )
    emulator.queue(Fault(garbage=True, path_contains="/submissions"))
    with pytest.raises(TallyError, match="autre chose que du JSON"):
        run_job(settings, "sync")
    assert table_snapshot(settings, "raw_tally_submissions") == before
    assert (
        query(settings, "SELECT status, error FROM sync_runs ORDER BY started_at DESC LIMIT 1")[0][
            0
        ]
        == "failed"
    )


@pytest.mark.parametrize(
    "body",
    [[1, 2], {"submissions": "nope", "hasMore": False}, {"submissions": []}],
    ids=["a-list", "submissions-not-a-list", "no-hasMore"],
)
def test_an_undocumented_shape_fails_with_one_line(tmp_path, body):
    class Odd(TallyEmulator):
        def submissions_page(self, form, q):
            return 200, body

    server = Odd([EmulatedForm.from_json(synthetic_form(3))], api_key=DEMO_API_KEY).start()
    try:
        with pytest.raises(TallyError, match="forme non documentée"):
            run_job(make_settings(tmp_path, server.url), "sync")
    finally:
        server.stop()


def test_a_wrong_key_fails_with_one_line_naming_the_key(settings):
    secret = "tly-wrong-key-0123456789"
    done = bibia_cli(settings, "sync", TALLY_API_KEY=secret)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "bibia: Tally refuse TALLY_API_KEY (HTTP 401) : vérifier la clé ou la renouveler"
    ]
    assert "Traceback" not in done.stderr and secret not in done.stdout + done.stderr


@pytest.mark.parametrize(
    ("form_id", "expected"),
    [("nosuchform", "HTTP 404")],
)
def test_an_unknown_form_fails_with_one_line(settings, form_id, expected):
    done = bibia_cli(settings, "sync", TALLY_FORM_ID=form_id)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert expected in line and "TALLY_FORM_ID" in line


def test_missing_configuration_is_a_usage_error(settings):
    done = bibia_cli(settings, "sync", TALLY_API_KEY="")
    assert done.returncode == 2
    assert "TALLY_API_KEY" in done.stderr and "Traceback" not in done.stderr


def test_the_key_never_reaches_logs_output_or_database(settings, tmp_path: Path):
    done = bibia_cli(settings, "-v", "sync")
    assert done.returncode == 0, done.stderr
    key = settings.tally_api_key
    assert key and key not in done.stdout + done.stderr
    assert key not in repr(settings)
    for path in [settings.db_path, *settings.export_dir.rglob("*")]:
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path
