"""Hard to break: a hostile source, crashes at every step, bad settings, hostile text.

Each test names the finding of issue 15 it covers (f1 to f12). Real processes, the loopback
emulator, real DuckDB files: nothing of bibia is patched.
"""

from __future__ import annotations

import csv
import os
import signal
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from bibia.emulators.loopback import Fault
from bibia.pipeline import run_job
from bibia.settings import Settings
from schemas.errors import BibiaError
from tests import spawn
from tests.conftest import (
    DEMO_COMPLETED,
    DEMO_PUBLISHED,
    ROOT,
    VALID_ANSWERS,
    bibia_cli,
    cli_env,
    demo_synced,
    make_settings,
    query,
    start_emulator,
    tally_submission,
)

BIBIA = [sys.executable, "-m", "bibia"]


def files_of(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Every file under `folder`: its bytes and modification time."""
    return {
        str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    return lines[0]


def new_project(sid: str, name: str, **answers: Any) -> dict[str, Any]:
    return tally_submission(
        sid, {**VALID_ANSWERS, "nom_projet": name, **answers}, "2026-11-20T10:00:00.000Z"
    )


# -- f1: a full refresh believes no list it cannot check ---------------------------------------
def hostile(emulator: Any, change: Any) -> None:
    emulator.page_hook = lambda number, page: change(number, dict(page))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda n, p: {**p, "submissions": [], "hasMore": False}, id="empty-list"),
        pytest.param(
            lambda n, p: {
                **p,
                "submissions": p["submissions"][:1],
                "hasMore": False,
                "totalNumberOfSubmissionsPerFilter": {"all": 1200, "completed": 1200},
            },
            id="short-list-total-1200",
        ),
        pytest.param(
            lambda n, p: {
                **p,
                "submissions": p["submissions"][:10],
                "hasMore": False,
                "totalNumberOfSubmissionsPerFilter": None,
            },
            id="short-list-no-total",
        ),
    ],
)
def test_f1_a_list_that_cannot_be_trusted_withdraws_nothing(settings, emulator, change):
    demo_synced(settings)
    before = files_of(settings.export_dir)
    hostile(emulator, change)
    done = bibia_cli(settings, "sync", "--full")
    assert done.returncode == 1
    line = one_line(done)
    assert "incomplète" in line and "rien n'a changé" in line
    assert query(settings, "SELECT count(*) FROM projects") == [(DEMO_PUBLISHED,)]
    assert query(
        settings, "SELECT count(*) FROM raw_tally_submissions WHERE deleted_at IS NOT NULL"
    ) == [(0,)]
    assert files_of(settings.export_dir) == before  # not a byte, not a modification time
    assert query(settings, "SELECT status FROM sync_runs ORDER BY started_at DESC LIMIT 1") == [
        ("failed",)
    ]


def test_f1_withdrawals_past_the_share_need_the_operators_word(settings, emulator):
    demo_synced(settings)
    gone = [s["id"] for s in emulator.forms["bibiaD"].submissions[:4]]  # 4 of 52: past 5 %
    for sid in gone:
        emulator.delete_submission("bibiaD", sid)
    with pytest.raises(BibiaError, match="--allow-withdrawals"):
        run_job(settings, "sync_full")
    assert query(
        settings, "SELECT count(*) FROM raw_tally_submissions WHERE deleted_at IS NOT NULL"
    ) == [(0,)]
    done = bibia_cli(settings, "sync", "--allow-withdrawals")
    assert done.returncode == 2 and "--full" in one_line(done)
    report = run_job(settings.with_(allow_withdrawals=True), "sync_full")
    assert report.deleted == 4 and report.status == "succeeded"


def test_f1_a_few_real_deletions_need_no_flag(settings, emulator):
    demo_synced(settings)
    for sid in [s["id"] for s in emulator.forms["bibiaD"].submissions[:2]]:
        emulator.delete_submission("bibiaD", sid)  # 2 of 52: within 5 %
    assert run_job(settings, "sync_full").deleted == 2


# -- f6: endless or repeated pages stop at once ------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda n, p: {**p, "hasMore": True, "page": 1}, id="same-page-forever"),
        pytest.param(
            lambda n, p: {**p, "totalNumberOfSubmissionsPerFilter": {"completed": 3}},
            id="past-the-total",
        ),
    ],
)
def test_f6_a_repeated_page_or_a_count_past_the_total_stops_the_walk(tmp_path, demo_form, change):
    server = start_emulator(demo_form)
    try:
        # every page answers as page 1 would: hasMore forever, the same submissions
        original = server.submissions_page

        def same_page(form: Any, q: dict[str, str]) -> Any:
            return original(form, {**q, "page": "1", "limit": "20"})

        server.submissions_page = same_page  # type: ignore[method-assign]
        hostile(server, change)
        settings = make_settings(tmp_path, server.url)
        started = time.monotonic()
        with pytest.raises(BibiaError, match="n'est pas fiable"):
            run_job(settings, "sync")
        assert time.monotonic() - started < 10
        assert len(server.submission_requests()) <= 2 + 3  # and the pages fetched ahead
        assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(0,)]
    finally:
        server.stop()


# -- f2: an item of an unexpected shape is held back, never fatal ------------------------------
def test_f2_items_of_unexpected_shapes_are_held_back_with_the_reason(settings, emulator):
    odd = [
        {**new_project("odd-int", "Réponse entière"), "responses": [7, "texte"]},
        {**new_project("odd-dict", "Réponses en objet"), "responses": {"q": "a"}},
        {**new_project("odd-date", "Sans date"), "submittedAt": "hier"},
    ]

    def slipped_in(number: int, page: dict[str, Any]) -> dict[str, Any]:
        if number != 1:
            return page
        totals = dict(page["totalNumberOfSubmissionsPerFilter"])
        totals["completed"] += len(odd)  # the server counts them too
        return {
            **page,
            "submissions": [*page["submissions"], *odd, 42, {"no": "id"}],
            "totalNumberOfSubmissionsPerFilter": totals,
        }

    emulator.page_hook = slipped_in
    report = run_job(settings, "sync")
    assert report.status == "succeeded"
    held = dict(
        query(
            settings,
            "SELECT submission_id, reason FROM quarantine WHERE submission_id LIKE 'odd-%'",
        )
    )
    assert "réponse n° 1 de forme inattendue (int)" in held["odd-int"]
    assert "réponses de forme inattendue (dict)" in held["odd-dict"]
    assert "date d'envoi absente ou illisible" in held["odd-date"]
    assert any("sans identifiant de soumission" in note for note in report.notes)
    assert query(settings, "SELECT count(*) FROM projects") == [(DEMO_PUBLISHED,)]
    assert run_job(settings, "sync").status == "succeeded"  # and every run after it


# -- f3: one outcome per run -------------------------------------------------------------------
def test_f3_an_export_folder_that_cannot_be_written_fails_before_the_commit(settings, emulator):
    demo_synced(settings)
    site = settings.export_dir / "restricted" / "site"
    moved = settings.export_dir.parent / "site-aside"
    site.rename(moved)
    site.write_text("a file where a folder should be")  # unwritable for root too
    public = files_of(settings.export_dir / "public")
    emulator.add_submissions("bibiaD", [new_project("f3-new", "Projet du lendemain")])
    done = bibia_cli(settings, "sync")
    assert done.returncode == 1
    assert "impossible de publier les exports" in one_line(done)
    assert "rien n'a changé" in done.stderr
    assert query(
        settings, "SELECT count(*) FROM raw_tally_submissions WHERE submission_id = 'f3-new'"
    ) == [(0,)]
    assert files_of(settings.export_dir / "public") == public
    site.unlink()
    moved.rename(site)
    report = run_job(settings, "sync")
    assert report.new == 1 and report.exported == DEMO_PUBLISHED + 1


def test_f3_a_failure_after_the_commit_is_repaired_by_the_next_run(settings, emulator):
    demo_synced(settings)
    emulator.add_submissions("bibiaD", [new_project("f3-late", "Projet publié plus tard")])
    public = files_of(settings.export_dir / "public")
    done = bibia_cli(settings, "sync", BIBIA_FAILPOINT="publish")
    assert done.returncode == 1
    assert "la prochaine exécution les publie" in one_line(done)
    assert files_of(settings.export_dir / "public") == public  # the previous version, whole
    (error,) = query(settings, "SELECT error FROM sync_runs ORDER BY started_at DESC LIMIT 1")[0]
    assert "la prochaine exécution les publie" in error  # what `bibia status` shows
    report = run_job(settings, "sync")  # nothing new in Tally: the exports are published
    assert report.new == 0 and report.files_written
    with open(settings.export_dir / "public" / "bibliotheque_ia.csv", encoding="utf-8") as f:
        names = [row["nom_projet"] for row in csv.DictReader(f)]
    assert "Projet publié plus tard" in names


# -- f4: least privilege on disk ---------------------------------------------------------------
def test_f4_the_warehouse_its_wal_and_lock_are_owner_only(settings, emulator):
    done = bibia_cli(settings, "sync")  # a process with the usual umask (022)
    assert done.returncode == 0, done.stderr
    db = settings.db_path
    found = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert {p.name for p in found} >= {db.name, db.name + ".lock"}
    for path in found:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    public = settings.export_dir / "public"
    assert stat.S_IMODE(public.stat().st_mode) == 0o755
    assert stat.S_IMODE((public / "bibliotheque_ia.csv").stat().st_mode) == 0o644
    assert stat.S_IMODE((public / "site" / "index.html").stat().st_mode) == 0o644
    restricted = settings.export_dir / "restricted"
    assert stat.S_IMODE(restricted.stat().st_mode) == 0o700
    for path in restricted.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_f4_an_older_world_readable_warehouse_is_made_owner_only(settings):
    demo_synced(settings)
    settings.db_path.chmod(0o644)
    run_job(settings, "sync")
    assert stat.S_IMODE(settings.db_path.stat().st_mode) == 0o600


# -- f5: crashes at every step -----------------------------------------------------------------
def processes_marked(mark: str) -> list[int]:
    """Processes whose environment holds `mark` (a run and the worker it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def public_rows(settings: Settings) -> int:
    path = settings.export_dir / "public" / "bibliotheque_ia.csv"
    with open(path, encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


STEPS = ["fetch_form", "fetch_page", "land", "derive", "enrich", "load", "export", "site"]


@pytest.mark.parametrize("where", [*STEPS, "publish"])
def test_f5_sigkill_at_any_step_loses_nothing_and_leaves_nothing_behind(settings, emulator, where):
    demo_synced(settings)  # the previous version: the demo form
    more = [new_project(f"k-{i:03d}", f"Projet tardif {i}") for i in range(60)]
    emulator.add_submissions("bibiaD", more)
    mark = f"BIBIA_TEST_MARK={uuid.uuid4()}"
    done = bibia_cli(
        settings,
        "sync",
        BIBIA_FAILPOINT=f"{where}:kill",
        BIBIA_BATCH_SIZE="25",  # several batches: the worker process is running
        BIBIA_TEST_MARK=mark,
    )
    assert done.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while processes_marked(mark) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert processes_marked(mark) == []  # the worker ended with its parent
    # the exports are one complete version: the previous one, or (killed while publishing,
    # after the commit) files of the next one
    assert public_rows(settings) in (DEMO_PUBLISHED, DEMO_PUBLISHED + 60)
    report = run_job(settings, "sync")
    assert report.status == "succeeded"
    runs = query(settings, "SELECT status, error FROM sync_runs ORDER BY started_at")
    assert [s for s, _ in runs] == ["succeeded", "interrupted", "succeeded"]
    assert "killed" in runs[1][1]
    assert query(
        settings, "SELECT count(*), count(DISTINCT submission_id) FROM raw_tally_submissions"
    ) == [(DEMO_COMPLETED + 60, DEMO_COMPLETED + 60)]
    assert query(settings, "SELECT count(*) FROM projects") == [(DEMO_PUBLISHED + 60,)]
    assert public_rows(settings) == DEMO_PUBLISHED + 60


def test_f5_sigterm_ends_a_run_with_one_line(tmp_path, demo_form):
    server = start_emulator(demo_form, delay_seconds=0.5)
    try:
        settings = make_settings(tmp_path, server.url)
        mark = f"BIBIA_TEST_MARK={uuid.uuid4()}"
        run = spawn.Process(
            [*BIBIA, "sync"],
            cwd=ROOT,
            env=cli_env(settings, BIBIA_TEST_MARK=mark),
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 30
        while not server.submission_requests() and time.monotonic() < deadline:
            time.sleep(0.05)
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=30)
        assert run.returncode == 130
        assert err.strip().splitlines() == [
            "bibia: arrêté par SIGTERM : l'exécution a été annulée, rien n'a changé"
        ]
        time.sleep(0.5)
        assert processes_marked(mark) == []
        assert query(settings, "SELECT status FROM sync_runs") == [("interrupted",)]
        assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(0,)]
    finally:
        server.stop()


# -- f7: time bounds that hold -----------------------------------------------------------------
def test_f7_a_trickled_body_is_cut_at_the_timeout_and_retried(tmp_path, demo_form):
    server = start_emulator(demo_form)
    try:
        settings = make_settings(tmp_path, server.url, tally_timeout_seconds=1.0)
        server.queue(Fault(trickle_seconds=0.01, path_contains="/submissions"))
        started = time.monotonic()
        report = run_job(settings, "sync")
        took = time.monotonic() - started
        assert report.status == "succeeded" and report.fetched == DEMO_COMPLETED
        assert took < 1.0 * 3 + 2  # the trickle would take minutes
        assert report.requests >= 3  # the form, the cut page, its retry...
    finally:
        server.stop()


def test_f7_a_huge_retry_after_gives_up_at_once(tmp_path, demo_form):
    server = start_emulator(demo_form)
    try:
        settings = make_settings(tmp_path, server.url)
        server.queue(Fault(status=429, retry_after="100000", path_contains="/submissions"))
        done = bibia_cli(settings, "sync", timeout=30)
        assert done.returncode == 1
        line = one_line(done)
        assert "Retry-After" in line and "100000" in line
    finally:
        server.stop()


def test_f7_a_body_shorter_than_its_length_is_retried(tmp_path, demo_form):
    server = start_emulator(demo_form)
    try:
        settings = make_settings(tmp_path, server.url)
        server.queue(Fault(short_body=True, path_contains="/submissions"))
        report = run_job(settings, "sync")
        assert report.status == "succeeded" and report.fetched == DEMO_COMPLETED
    finally:
        server.stop()


def test_f7_a_refused_connection_is_reported_within_seconds(tmp_path):
    with socket_closed() as port:
        settings = make_settings(tmp_path, f"http://127.0.0.1:{port}", tally_backoff_seconds=1.0)
        started = time.monotonic()
        done = bibia_cli(settings, "sync")
        assert time.monotonic() - started < 20
        assert done.returncode == 1 and "Traceback" not in done.stderr
        *retries, last = done.stderr.strip().splitlines()
        assert len(retries) == 2 and all("nouvel essai" in r for r in retries)  # said meanwhile
        assert last.startswith("bibia: ") and "connexion refusée" in last


def test_f7_a_run_past_its_budget_stops_with_one_line(tmp_path, demo_form):
    server = start_emulator(demo_form, delay_seconds=0.6)
    try:
        settings = make_settings(tmp_path, server.url)
        done = bibia_cli(settings, "sync", BIBIA_RUN_BUDGET_SECONDS="1")
        assert done.returncode == 1
        assert "BIBIA_RUN_BUDGET_SECONDS" in one_line(done)
        assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(0,)]
    finally:
        server.stop()


class socket_closed:
    """A loopback port where nothing listens."""

    def __enter__(self) -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        return None


# -- f8 and f11: every bad setting is one line and exit 2 --------------------------------------
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("TALLY_TIMEOUT_SECONDS", "0"),
        ("TALLY_TIMEOUT_SECONDS", "nan"),
        ("BIBIA_BATCH_SIZE", "inf"),
        ("BIBIA_BATCH_SIZE", "nan"),
        ("BIBIA_BATCH_SIZE", "0"),
        ("BIBIA_BATCH_SIZE", "2.7"),
        ("TALLY_MAX_REQUESTS_PER_MINUTE", "1e-9"),
        ("TALLY_MAX_REQUESTS_PER_MINUTE", "nan"),
        ("TALLY_MAX_REQUESTS_PER_MINUTE", "inf"),
        ("BIBIA_LOCK_TIMEOUT_SECONDS", "-1"),
        ("BIBIA_RUN_BUDGET_SECONDS", "0"),
        ("BIBIA_MAX_WITHDRAWAL_SHARE", "2"),
        ("TALLY_API_URL", "notaurl"),
        ("TALLY_API_URL", "ftp://tally.so"),
        ("RECHERCHE_ENTREPRISES_URL", "http//recherche"),
        ("GEO_API_URL", "https://geo api.gouv.fr"),
        ("PREFECT_API_URL", "localhost:4200"),
        ("BIBIA_FAILPOINT", "bogus"),
        ("BIBIA_ENRICHMENT", "maybe"),
        ("TALLY_FORM_ID", "../../x"),
        ("TALLY_FORM_ID", "abc?page=999"),
        ("BIBIA_DB", "/proc/no/such/place/bibia.duckdb"),
    ],
)
def test_f8_a_bad_setting_is_one_line_and_exit_2(settings, name, value):
    done = bibia_cli(settings, "sync", **{name: value})
    assert done.returncode == 2, done.stderr
    assert name in one_line(done)


@pytest.mark.parametrize(
    "content",
    [b"\x89PNG\r\n\x1a\n\x00\x00", b"- just\n- a list\n", b"titles: [unclosed\n"],
    ids=["binary", "a-list", "broken-yaml"],
)
def test_f8_a_mapping_file_that_is_not_a_mapping_is_one_line(settings, tmp_path, content):
    path = tmp_path / "mapping.yaml"
    path.write_bytes(content)
    done = bibia_cli(settings, "sync", BIBIA_MAPPING=str(path))
    assert done.returncode == 2 and "fichier de correspondance" in one_line(done)


def test_f8_a_damaged_warehouse_is_one_line(settings):
    demo_synced(settings)
    data = settings.db_path.read_bytes()
    settings.db_path.write_bytes(data[: len(data) // 2])
    done = bibia_cli(settings, "sync")
    assert done.returncode == 1 and "abîmé" in one_line(done)


def test_f8_status_with_a_negative_count_is_one_line(settings):
    demo_synced(settings)
    done = bibia_cli(settings, "status", "--runs", "-1")
    assert done.returncode == 2 and "--runs" in one_line(done)


@pytest.mark.parametrize("command", [["sync"], ["serve", "--interval", "60"]])
def test_f8_a_prefect_server_that_does_not_answer_is_one_line(settings, command):
    with socket_closed() as port:
        done = bibia_cli(settings, *command, PREFECT_API_URL=f"http://127.0.0.1:{port}/api")
    assert done.returncode == 2 and "PREFECT_API_URL" in one_line(done)


def test_f8_an_enrichment_service_that_is_down_never_fails_a_run(tmp_path, emulator):
    with socket_closed() as port:
        settings = make_settings(
            tmp_path,
            emulator.url,
            enrichment_enabled=True,
            recherche_entreprises_url=f"http://127.0.0.1:{port}",
        )
        report = run_job(settings, "sync")
    assert report.status == "succeeded" and report.exported == DEMO_PUBLISHED


# -- f9: nothing a contributor typed drives the curator's terminal -----------------------------
def test_f9_status_shows_escape_codes_instead_of_running_them(settings, emulator):
    evil = new_project(
        "f9-evil",
        "Projet \x1b[2J\x1b]0;pwned\x07 \u202egnp.exe",
        coll_siret="123",  # held back: its name is shown in the status
    )
    emulator.add_submissions("bibiaD", [evil])
    run_job(settings, "sync")
    done = bibia_cli(settings, "status", "--held", "all")
    assert done.returncode == 0
    assert "f9-evil" in done.stdout
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "\u202e" not in done.stdout
    assert "Projet [2J]0;pwned gnp.exe" in done.stdout  # cleaned when it was read
    # what an older bibia kept as typed is shown escaped
    con = duckdb.connect(str(settings.db_path))
    con.execute(
        "UPDATE quarantine SET nom_projet = 'Ancien \x1b[2J' WHERE submission_id = 'f9-evil'"
    )
    con.close()
    done = bibia_cli(settings, "status", "--held", "all")
    assert "\x1b" not in done.stdout and "Ancien \\x1b[2J" in done.stdout


# -- f10: readers never block the writer ------------------------------------------------------
def test_f10_a_sync_waits_for_an_analysts_connection_to_close(settings):
    demo_synced(settings)
    reader = duckdb.connect(str(settings.db_path), read_only=True)
    threading.Timer(1.5, reader.close).start()
    done = bibia_cli(settings, "sync")  # by default: a short query ends meanwhile
    assert done.returncode == 0, done.stderr


def test_f10_without_waiting_an_open_reader_is_one_line(settings):
    demo_synced(settings)
    reader = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        done = bibia_cli(settings, "sync", BIBIA_READER_WAIT_SECONDS="0")
    finally:
        reader.close()
    line = one_line(done)
    assert done.returncode == 1 and f"est ouvert par le processus {os.getpid()}" in line
    assert "BIBIA_READER_WAIT_SECONDS" in line


def test_f10_analysts_read_the_parquet_export_while_a_sync_runs(tmp_path, demo_form):
    server = start_emulator(demo_form, delay_seconds=0.3)
    try:
        settings = make_settings(tmp_path, server.url)
        run_job(settings, "sync")
        server.add_submissions("bibiaD", [new_project("f10-new", "Projet pendant la lecture")])
        asked = len(server.seen)
        run = spawn.Process(
            [*BIBIA, "sync"], cwd=ROOT, env=cli_env(settings), stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 30
        while len(server.seen) == asked and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None  # the sync is running...
        status = bibia_cli(settings, "status")
        assert status.returncode == 0, status.stderr
        assert "Occupé : une exécution est en cours" in status.stdout
        analyst = duckdb.connect()  # ...and an analyst reads the published export meanwhile
        path = settings.export_dir / "restricted" / "bibliotheque_ia.parquet"
        (count,) = analyst.execute(f"SELECT count(*) FROM '{path}'").fetchall()[0]
        assert count == DEMO_PUBLISHED
        assert run.wait(timeout=60) == 0, run.stderr.read() if run.stderr else ""
    finally:
        server.stop()


# -- f12: text hygiene, lengths, future dates --------------------------------------------------
def test_f12_control_and_bidi_characters_never_reach_the_exports(settings, emulator):
    emulator.add_submissions(
        "bibiaD",
        [new_project("f12-hidden", "Chat\x00bot \u202eadmin\u202c\x1b[31m municipal")],
    )
    run_job(settings, "sync")
    table = pq.read_table(settings.export_dir / "public" / "bibliotheque_ia.parquet")
    names = table.column("nom_projet").to_pylist()
    assert "Chatbot admin[31m municipal" in names


def test_f12_a_text_past_its_maximum_length_is_held_back(settings, emulator):
    emulator.add_submissions(
        "bibiaD", [new_project("f12-long", "Projet bavard", usage_description="x" * 30_000)]
    )
    run_job(settings, "sync")
    ((reason,),) = query(
        settings, "SELECT reason FROM quarantine WHERE submission_id = ?", ["f12-long"]
    )
    assert "texte trop long : 30000 caractères, au plus 20000" in reason
    with open(settings.export_dir / "restricted" / "quarantine.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))  # Python's csv module reads every cell
    assert any(r["submission_id"] == "f12-long" for r in rows)


def test_f12_a_submission_dated_in_the_future_is_noted(settings, emulator):
    later = tally_submission("f12-future", VALID_ANSWERS, "2099-01-01T00:00:00.000Z")
    emulator.add_submissions("bibiaD", [later])
    report = run_job(settings, "sync")
    (note,) = [n for n in report.notes if "futur" in n]
    assert "f12-future" in note and "2099-01-01" in note
    again = run_job(settings, "sync")  # the high-water mark did not jump to 2099
    assert again.status == "succeeded"
    assert query(
        settings, "SELECT count(*) FROM raw_tally_submissions WHERE submission_id = 'f12-future'"
    ) == [(0,)]


# -- conventions -------------------------------------------------------------------------------
def test_version_and_python_dash_m(settings):
    from bibia import __version__

    for command in ([*BIBIA, "--version"], [sys.executable, "-m", "bibia.cli", "--version"]):
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0 and done.stdout.strip() == f"bibia {__version__}"


def test_the_parquet_date_is_a_date(settings):
    demo_synced(settings)
    for access in ("public", "restricted"):
        schema = pq.read_schema(settings.export_dir / access / "bibliotheque_ia.parquet")
        assert str(schema.field("date").type) == "date32[day]"


def test_the_lock_file_is_ignored_by_git():
    done = subprocess.run(
        ["git", "check-ignore", "-q", "warehouse/bibia.duckdb.lock"], cwd=ROOT, timeout=10
    )
    assert done.returncode == 0


def test_a_rehearsed_failure_of_a_step_a_run_never_reaches_still_fails_the_run(settings):
    demo_synced(settings)
    done = bibia_cli(settings, "sync", BIBIA_FAILPOINT="load")  # nothing new: no batch to load
    assert done.returncode == 1
    line = one_line(done)
    assert "l'étape load n'a pas eu lieu" in line and "BIBIA_FAILPOINT=load" in line
    status = bibia_cli(settings, "status").stdout
    failed = [row for row in status.splitlines() if "échouée" in row]
    assert failed and "rien de gardé : les exports précédents restent en place" in failed[0]
    assert "exportés 0" not in status
