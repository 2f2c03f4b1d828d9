"""Nothing a sender does stops the register (issue 28): what cannot be landed is refused at the
webhook's door or set aside with its reason, curators' commands at once lose nothing, a
withdrawal follows its project across corrections, and the receiver holds against slow,
numerous or malformed clients. Real processes, real HTTP on loopback, real DuckDB."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pytest
import requests
import yaml

from bibia.demo.realistic import RealisticForm
from bibia.emulators.tally import webhook_event
from bibia.pipeline import RUN_MEMORY_LIMIT, run_job
from bibia.settings import Settings
from bibia.webhook import OWN_FOLDER, Spool, signature
from schemas.records import RawRow
from schemas.times import iso_z, submitted_time
from tests import spawn
from tests.conftest import (
    ROOT,
    VALID_ANSWERS,
    bibia_cli,
    cli_env,
    demo_synced,
    query,
    tally_submission,
)
from tests.test_webhook import (
    SECRET,
    Receiver,
    exported_names,
    start_receiver,
    wait_until,
)
from tests.web import free_port
from warehouse import raw
from warehouse.db import connect
from warehouse.load import raw_rows
from warehouse.raw import raw_rows_of

# -- poison: what cannot be landed -----------------------------------------------------------
NESTED_900 = {"a": json.loads("[" * 900 + "]" * 900)}
POISONS: dict[str, Any] = {
    "lone surrogate": "\ud800",
    "integer past 64 bits": 2**70,
    "nesting 900 deep": NESTED_900,
}


@contextlib.contextmanager
def receiving(settings: Settings, tmp_path: Path, **env: str) -> Iterator[Receiver]:
    """`bibia webhook` started (`start_receiver`), stopped when the block ends."""
    receiver = start_receiver(settings, tmp_path, **env)
    try:
        yield receiver
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=30)  # a loaded machine ends a process slowly


def poisoned_event(demo_form: Any, what: str, event_id: str) -> bytes:
    """A correctly formed event of a new project, one of whose answers is `what` (or whose
    `respondentId` is an object), as the raw bytes a hostile sender would sign."""
    submission = tally_submission(
        f"poison-{event_id}", {**VALID_ANSWERS, "nom_projet": f"Projet {event_id}"}
    )
    event = webhook_event(demo_form, submission, event_id)
    if what == "respondentId object":
        event["data"]["respondentId"] = {"id": "x"}
    else:
        event["data"]["fields"][0]["value"] = POISONS[what]
    return json.dumps(event).encode()  # Python writes "\ud800" and 2**70 as JSON allows


def send_raw(url: str, body: bytes, secret: str = SECRET) -> requests.Response:
    headers = {"Content-Type": "application/json", "Tally-Signature": signature(secret, body)}
    return requests.post(url, data=body, headers=headers, timeout=10)


@pytest.mark.parametrize("what", [*POISONS, "respondentId object"])
def test_f1_a_signed_event_that_cannot_be_landed_is_refused_at_the_door(
    settings, tmp_path, demo_form, what
):
    with receiving(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600") as receiver:
        answer = send_raw(receiver.url, poisoned_event(demo_form, what, "evt-poison"))
        assert answer.status_code == 400, answer.text
        assert answer.json()["ok"] is False and answer.json()["reason"]
        assert receiver.pending() == []
        assert list((receiver.spool / "pending").iterdir()) == []  # no temporary file either
        good = webhook_event(demo_form, tally_submission("fine", VALID_ANSWERS), "evt-fine")
        assert receiver.send(good).status_code == 200


def test_f1_a_poison_event_in_the_spool_is_set_aside_and_the_next_submission_published(
    settings, tmp_path, emulator, demo_form
):
    """The issue's reproduction: after a first sync, an event with "\\ud800" in an answer
    reaches the spool (an older receiver let it in), then a new submission is listed by the
    API: two `bibia sync` both exit 0, the event is set aside with its reason in `bibia
    status`, and the new submission is published."""
    assert bibia_cli(settings, "sync").returncode == 0
    spool = Spool.at(settings.spool_folder).prepare()
    body = poisoned_event(demo_form, "lone surrogate", "evt-old-receiver")
    assert spool.store("evt-old-receiver", body)
    emulator.add_submissions(
        "bibiaD",
        [
            tally_submission(
                "after-poison",
                {**VALID_ANSWERS, "nom_projet": "Après le poison"},
                "2026-12-06T10:00:00.000Z",
            )
        ],
    )
    first = bibia_cli(settings, "sync")
    second = bibia_cli(settings, "sync")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert "Après le poison" in exported_names(settings)
    assert spool.pending() == []
    assert len(list((spool.folder / "set_aside").glob("*.json"))) == 1
    aside = query(settings, "SELECT source, submission_id, reason, spool_file FROM set_aside")
    assert [(a[0], a[1]) for a in aside] == [("webhook", "poison-evt-old-receiver")]
    assert "UTF-8" in aside[0][2] and aside[0][3]
    status = bibia_cli(settings, "status")
    assert "Mis de côté : 1 élément" in status.stdout
    assert "poison-evt-old-receiver" in status.stdout and "UTF-8" in status.stdout


def test_f1_an_item_of_tallys_list_that_cannot_be_landed_is_set_aside_and_kept(
    settings, emulator, demo_form
):
    """A stored submission that the list now brings in a shape that cannot be landed keeps its
    stored version (a full walk does not withdraw it), and is set aside once, however many
    runs meet it."""
    first = demo_form.submissions[0]["id"]
    run_job(settings, "sync")
    published = query(settings, "SELECT count(*) FROM projects")[0][0]
    demo_form.submissions[0]["respondentId"] = {"not": "a text"}
    demo_form.submissions[0]["submittedAt"] = "2026-11-30T10:00:00.000Z"  # an edit
    emulator.add_submissions(
        "bibiaD",
        [
            tally_submission(
                "later", {**VALID_ANSWERS, "nom_projet": "Plus tard"}, "2026-12-06T11:00:00.000Z"
            )
        ],
    )
    for _ in range(2):
        report = run_job(settings, "sync_full")
        assert report.status == "succeeded"
        assert any("mis de côté" in note for note in report.notes)
    assert report.deleted == 0
    assert query(settings, "SELECT count(*) FROM projects")[0][0] == published + 1
    rows = query(
        settings, "SELECT submission_id, reason, first_run_id <> last_run_id FROM set_aside"
    )
    assert rows == [(first, "`respondentId` est un dict, pas un texte", True)]


def test_f4_a_run_with_no_correction_to_apply_reads_no_payload(tmp_path):
    """The query that ran out of memory at 50,000 had nothing to do: it is not run at all (a
    closed connection would refuse any query)."""
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.close()
    assert list(raw_rows(con, "form", set())) == []


def test_f4_payloads_are_read_a_chunk_at_a_time(settings, emulator):
    demo_synced(settings)
    ids = [r[0] for r in query(settings, "SELECT submission_id FROM raw_tally_submissions")]
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        chunks = list(raw_rows(con, "bibiaD", ids, chunk=10))
    finally:
        con.close()
    assert [len(c) for c in chunks] == [10] * (len(ids) // 10) + (
        [len(ids) % 10] if len(ids) % 10 else []
    )
    assert sorted(r.submission_id for c in chunks for r in c) == sorted(ids)


REAL_SIZE = 20_000  # submissions of the API's shape, about 6 KB each: 120 MB of payloads
EPOCH = datetime(2025, 1, 1)


TEMPLATES = 1_000  # distinct submissions of the realistic form, each used again below


@functools.cache
def _templates() -> list[tuple[bytes, bytes, str]]:
    """The realistic form's first submissions as they are landed (canonical JSON), each with its
    id as written there and its respondent."""
    generator = RealisticForm()
    rows, _, _ = raw_rows_of([generator.submission(i, EPOCH) for i in range(TEMPLATES)])
    assert len(rows) == TEMPLATES
    return [(r.payload, f'"{r.submission_id}"'.encode(), r.respondent_id or "") for r in rows]


SUBMITTED_AT = re.compile(rb'"submittedAt":"([^"]*)"')
EDITED_AT = b'"submittedAt":"2026-06-01T00:00:00.000Z"'


def api_sized(first: int, count: int, edited: bool = False) -> list[RawRow]:
    """Submissions `first`... in the API's shape and size (about 6 KB each), all different, as
    they are landed: the realistic form's first thousand under other ids and dates, written
    into their canonical JSON (making 25,000 of them took 20 s of the check; parsing each
    again, 8 s); `edited`: as their contributors edited them later (another date: another
    content)."""
    epoch = json.dumps(iso_z(EPOCH)).encode()
    batch = []
    for i in range(first, first + count):
        payload, sid, respondent = _templates()[i % TEMPLATES]
        payload = payload.replace(sid, f'"s{i:07d}"'.encode())
        if respondent:
            payload = payload.replace(f'"{respondent}"'.encode(), f'"u{i}"'.encode())
        payload = payload.replace(epoch, json.dumps(iso_z(EPOCH + timedelta(seconds=i))).encode())
        if edited:
            payload = SUBMITTED_AT.sub(EDITED_AT, payload, count=1)
        found = SUBMITTED_AT.search(payload)
        submitted = submitted_time(found.group(1).decode() if found else None)
        digest = hashlib.sha256(payload).hexdigest()
        batch.append(
            RawRow(f"s{i:07d}", submitted, payload, digest, f"u{i}" if respondent else None)
        )
    return batch


@pytest.fixture(scope="module")
def real_size_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A warehouse holding 20,000 API-shaped submissions (landed only, committed)."""
    path = tmp_path_factory.mktemp("real-size") / "w.duckdb"
    con = connect(path, memory_limit=RUN_MEMORY_LIMIT)
    try:
        con.execute("BEGIN TRANSACTION")
        known = raw.Known(con, "f", whole=True)
        for first in range(0, REAL_SIZE, 1_000):
            raw.land_submissions(con, "f", api_sized(first, 1_000), "r1", EPOCH, known)
        con.execute("COMMIT")
    finally:
        con.close()
    return path


def a_copy(path: Path, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    shutil.copyfile(path, tmp_path / "w.duckdb")
    return connect(tmp_path / "w.duckdb", memory_limit=RUN_MEMORY_LIMIT)


def test_f4_payloads_of_the_apis_size_are_read_back_within_a_runs_memory(
    real_size_warehouse, tmp_path
):
    """As a rebuild or a run's re-derivation reads them: inside a transaction, with a run's
    DuckDB memory (48 MB), every payload, by chunks. A semi-join on the ids, or two threads
    scanning, ran out of memory here."""
    con = a_copy(real_size_warehouse, tmp_path)
    try:
        con.execute("BEGIN TRANSACTION")
        found = con.execute("SELECT submission_id FROM raw_tally_submissions").fetchall()
        chunks = [
            [len(r.payload) for r in chunk] for chunk in raw_rows(con, "f", [f[0] for f in found])
        ]
        assert sum(map(len, chunks)) == REAL_SIZE and max(map(len, chunks)) <= 1_000
        assert sum(map(sum, chunks)) / REAL_SIZE > 5_000  # bytes a payload, as the API's
    finally:
        con.close()


def test_f4_thousands_of_edits_of_the_apis_size_land_within_a_runs_memory(
    real_size_warehouse, tmp_path
):
    """A full walk that brings 5,000 edited submissions of 20,000: their former contents go
    to the history and theirs replace them, in one transaction within 48 MB (the join that
    found them read every payload, and one UPDATE of 1,000 texts ran out of memory)."""
    con = a_copy(real_size_warehouse, tmp_path)
    try:
        con.execute("BEGIN TRANSACTION")
        known = raw.Known(con, "f", whole=False)
        for first in range(0, 5_000, 1_000):
            rows = api_sized(first, 1_000, edited=True)
            landed = raw.land_submissions(con, "f", rows, "r2", EPOCH, known)
            assert len(landed.changed_ids) == 1_000
        con.execute("COMMIT")
        history = con.execute("SELECT count(*) FROM raw_tally_submission_history").fetchall()
        moved = con.execute(
            "SELECT count(*) FROM raw_tally_submissions WHERE content_run_id = 'r2'"
        ).fetchall()
        assert history == [(5_000,)] and moved == [(5_000,)]
    finally:
        con.close()


# -- curators' decisions ---------------------------------------------------------------------
def published_ids(settings: Settings) -> list[str]:
    return [r[0] for r in query(settings, "SELECT projet_id FROM projects ORDER BY projet_id")]


def test_f2_six_curate_commands_at_once_keep_six_decisions(settings, emulator):
    demo_synced(settings)
    projects = published_ids(settings)[:6]
    env = cli_env(settings)
    commands = [
        spawn.Process(
            [sys.executable, "-m", "bibia", "curate", "withdraw", pid, "--reason", f"demande {i}"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, pid in enumerate(projects)
    ]
    outputs = [c.communicate(timeout=120) for c in commands]
    assert [c.returncode for c in commands] == [0] * 6, outputs
    saved = yaml.safe_load(settings.decisions_path.read_text(encoding="utf-8"))["decisions"]
    assert sorted(d["projet_id"] for d in saved) == sorted(projects)
    assert len({d["id"] for d in saved}) == 6


def correct(settings: Settings, submission_id: str, field: str, value: str) -> None:
    done = bibia_cli(
        settings, "curate", "correct", submission_id, field, value, "--reason", "coquille"
    )
    assert done.returncode == 0, done.stderr


def withdraw(settings: Settings, projet_id: str) -> None:
    done = bibia_cli(settings, "curate", "withdraw", projet_id, "--reason", "demande de retrait")
    assert done.returncode == 0, done.stderr


def test_f3_a_withdrawal_follows_its_project_when_a_curator_renames_it(settings, emulator):
    demo_synced(settings)
    pid, sid, name = query(
        settings, "SELECT projet_id, submission_id, nom_projet FROM projects ORDER BY 1 LIMIT 1"
    )[0]
    withdraw(settings, pid)
    run_job(settings, "sync")
    assert pid not in published_ids(settings)
    correct(settings, sid, "nom_projet", name + " (nom corrigé)")
    report = run_job(settings, "sync")
    new_id = query(
        settings, "SELECT projet_id FROM project_versions WHERE submission_id = ?", [sid]
    )
    assert new_id[0][0] != pid  # the correction gave the project another id...
    assert new_id[0][0] not in published_ids(settings)  # ...and it stays withdrawn
    assert name + " (nom corrigé)" not in exported_names(settings)
    assert any("nouvel identifiant" in note for note in report.notes), report.notes
    listed = bibia_cli(settings, "curate", "list").stdout
    assert "sans effet" not in listed and new_id[0][0] in listed


def test_f3_a_withdrawal_follows_its_project_when_the_contributor_edits_its_name(
    settings, emulator, demo_form
):
    demo_synced(settings)
    sid = demo_form.submissions[0]["id"]
    pid = query(settings, "SELECT projet_id FROM project_versions WHERE submission_id = ?", [sid])
    withdraw(settings, pid[0][0])
    run_job(settings, "sync")
    for response in demo_form.submissions[0]["responses"]:  # the contributor's edit in Tally
        if response["questionId"] == "qB3m9Z":
            response["answer"] = "Un tout autre nom"
    demo_form.submissions[0]["submittedAt"] = "2026-11-30T12:00:00.000Z"
    run_job(settings, "sync_full")
    now = query(settings, "SELECT projet_id FROM project_versions WHERE submission_id = ?", [sid])
    assert now and now[0][0] != pid[0][0]
    assert now[0][0] not in published_ids(settings)
    assert "Un tout autre nom" not in exported_names(settings)


def write_decisions(settings: Settings, decisions: list[dict[str, Any]], text: str = "") -> None:
    settings.decisions_path.parent.mkdir(parents=True, exist_ok=True)
    body = text or yaml.safe_dump({"version": 1, "decisions": decisions}, allow_unicode=True)
    settings.decisions_path.write_text(body, encoding="utf-8")


def withdrawal(decision_id: str, projet_id: str) -> dict[str, Any]:
    return {
        "id": decision_id,
        "action": "withdraw",
        "projet_id": projet_id,
        "reason": "demande",
        "by": "curatrice",
        "at": "2026-11-01T10:00:00Z",
    }


def test_restore_ends_every_withdrawal_of_the_project(settings, emulator):
    demo_synced(settings)
    pid = published_ids(settings)[0]
    write_decisions(settings, [withdrawal("w-00000001", pid), withdrawal("w-00000002", pid)])
    run_job(settings, "sync")
    assert pid not in published_ids(settings)
    done = bibia_cli(settings, "curate", "restore", pid, "--reason", "erreur")
    assert done.returncode == 0 and "w-00000001" in done.stdout and "w-00000002" in done.stdout
    run_job(settings, "sync")
    assert pid in published_ids(settings)


def test_yaml_aliases_in_the_decisions_file_are_refused_in_one_line(settings, emulator):
    demo_synced(settings)
    bomb = (
        "version: 1\nx: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        "y: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nz: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
        "decisions: []\n"
    )
    write_decisions(settings, [], bomb)
    started = time.monotonic()
    done = bibia_cli(settings, "curate", "list")
    assert done.returncode == 2 and time.monotonic() - started < 30
    assert len(done.stderr.strip().splitlines()) == 1 and "alias" in done.stderr
    assert len(done.stdout) < 1_000


def test_a_hand_written_decision_that_does_not_hold_is_refused_and_changes_nothing(
    settings, emulator
):
    demo_synced(settings)
    pid, sid = query(settings, "SELECT projet_id, submission_id FROM projects ORDER BY 1")[0]
    bad = {
        "id": "c-0badbad0",
        "action": "correct",
        "submission_id": sid,
        "field": "coll_type",
        "value": "Groupement de communes",  # not a value of the vocabulary
        "reason": "à la main",
        "by": "curatrice",
        "at": "2026-11-01T10:00:00Z",
    }
    write_decisions(settings, [bad])
    report = run_job(settings, "sync")
    assert report.status == "succeeded"
    assert pid in published_ids(settings)  # the project stays as it was
    assert query(settings, "SELECT count(*) FROM quarantine WHERE submission_id = ?", [sid]) == [
        (0,)
    ]
    assert any("c-0badbad0" in note and "coll_type" in note for note in report.notes)
    assert query(settings, "SELECT state FROM curator_decisions") == [("refused",)]
    listed = bibia_cli(settings, "curate", "list").stdout
    assert "refusée" in listed and "coll_type" in listed
    assert "c-0badbad0" in bibia_cli(settings, "status").stdout


def test_withdraw_given_a_submission_id_says_what_a_project_id_is(settings, emulator):
    demo_synced(settings)
    pid, sid = query(settings, "SELECT projet_id, submission_id FROM projects ORDER BY 1")[0]
    done = bibia_cli(settings, "curate", "withdraw", sid, "--reason", "x")
    assert done.returncode == 2 and "soumission" in done.stderr and pid in done.stderr


# -- the receiver ------------------------------------------------------------------------------
def raw_request(port: int, data: bytes, timeout: float = 10.0) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def port_of(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


def test_an_event_id_with_a_lone_surrogate_or_a_deep_array_is_a_400(settings, tmp_path, demo_form):
    with receiving(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600") as receiver:
        event = webhook_event(demo_form, tally_submission("s1", VALID_ANSWERS), "PLACEHOLDER")
        surrogate = json.dumps(event).replace("PLACEHOLDER", "\\ud800").encode()
        deep = b'{"eventId": "deep", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        for body in (surrogate, deep):
            answer = send_raw(receiver.url, body)
            assert answer.status_code == 400, answer.text
        assert receiver.process.poll() is None
        assert "Traceback" not in (tmp_path / "receiver.log").read_text()
        assert receiver.pending() == []


def test_an_event_of_another_form_is_a_422(settings, tmp_path, demo_form):
    with receiving(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600") as receiver:
        event = webhook_event(demo_form, tally_submission("s2", VALID_ANSWERS), "evt-other")
        event["data"]["formId"] = "autreForm"
        answer = receiver.send(event)
        assert answer.status_code == 422 and "autreForm" in answer.json()["reason"]
        assert receiver.pending() == []


def test_both_content_length_and_chunked_is_a_400(settings, tmp_path, demo_form):
    with receiving(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600") as receiver:
        event = webhook_event(demo_form, tally_submission("s3", VALID_ANSWERS), "evt-smuggle")
        body = json.dumps(event).encode()
        head = (
            f"POST /tally/webhook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Tally-Signature: {signature(SECRET, body)}\r\nContent-Length: {len(body)}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        ).encode()
        answer = raw_request(port_of(receiver.url), head + body)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
        assert receiver.pending() == []


def test_escape_sequences_of_a_request_line_never_reach_the_log(settings, tmp_path):
    with receiving(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600") as receiver:
        raw_request(port_of(receiver.url), b"GET /\x1b[2J\x1b]0;pwned\x07 HTTP/1.1\r\n\r\n")
        time.sleep(0.3)
    log = (tmp_path / "receiver.log").read_bytes()
    assert b"pwned" in log and b"\x1b" not in log and b"\x07" not in log


def test_a_slow_client_is_cut_at_the_whole_requests_deadline(settings, tmp_path):
    with (
        receiving(
            settings,
            tmp_path,
            BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600",
            BIBIA_WEBHOOK_REQUEST_SECONDS="1.5",
        ) as receiver,
        socket.create_connection(("127.0.0.1", port_of(receiver.url)), timeout=10) as sock,
    ):
        started = time.monotonic()
        closed = False
        for byte in b"POST /tally/webhook HTTP/1.1\r\nHost: slow\r\n" * 10:
            try:
                sock.sendall(bytes([byte]))  # a byte every 0.2 s: each read is quick...
            except OSError:
                closed = True
                break
            time.sleep(0.2)
            if time.monotonic() - started > 8:
                break
        if not closed:
            closed = sock.recv(100) == b""
        assert closed and time.monotonic() - started < 5  # ...the whole is not


def test_connections_past_the_cap_are_answered_503_at_once(settings, tmp_path, demo_form):
    receiver = start_receiver(
        settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600", BIBIA_WEBHOOK_MAX_CONNECTIONS="4"
    )
    port = port_of(receiver.url)
    idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
    try:
        for sock in idle:
            sock.sendall(b"POST /tally")  # each holds a slot
        deadline = time.monotonic() + 5  # the receiver takes them in (a loaded machine: late)
        answer = raw_request(port, b"GET / HTTP/1.1\r\n\r\n", timeout=3)
        while not answer.startswith(b"HTTP/1.1 503") and time.monotonic() < deadline:
            time.sleep(0.2)
            answer = raw_request(port, b"GET / HTTP/1.1\r\n\r\n", timeout=3)
        assert answer.startswith(b"HTTP/1.1 503"), answer[:60]
    finally:
        for sock in idle:
            sock.close()
    time.sleep(0.3)
    try:  # the slots come back
        event = webhook_event(demo_form, tally_submission("s4", VALID_ANSWERS), "evt-after")
        assert receiver.send(event).status_code == 200
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=30)  # a loaded machine ends a process slowly


def quiet_receiver(
    settings: Settings, tmp_path: Path, port: int, host: str = "127.0.0.1", **popen: Any
) -> subprocess.Popen[Any]:
    """`bibia webhook` on `host`:`port` asking for no run, its output where `popen` says."""
    env = cli_env(
        settings,
        TALLY_WEBHOOK_SECRET=SECRET,
        BIBIA_WEBHOOK_HOST=host,
        BIBIA_WEBHOOK_PORT=str(port),
        BIBIA_WEBHOOK_SPOOL=str(tmp_path / "spool"),
        BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "bibia", "webhook"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        **popen,
    )


def _ignore_file_size_signal() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (2_000, 2_000))


def test_a_full_spool_is_a_507_and_leaves_no_temporary_file(settings, tmp_path, demo_form):
    """The receiver's files may not grow past 2,000 bytes (RLIMIT_FSIZE): the spool is full."""
    port = free_port()
    process = quiet_receiver(
        settings, tmp_path, port, stderr=subprocess.DEVNULL, preexec_fn=_ignore_file_size_signal
    )
    try:
        wait_until(lambda: _listening(port), 30, "the receiver")
        event = webhook_event(demo_form, tally_submission("big", VALID_ANSWERS), "evt-big")
        answer = send_raw(f"http://127.0.0.1:{port}/tally/webhook", json.dumps(event).encode())
        assert answer.status_code == 507
        assert list((tmp_path / "spool" / "pending").iterdir()) == []
    finally:
        process.terminate()
        process.wait(timeout=30)  # a loaded machine ends a process slowly


def test_an_unwritable_spool_is_a_503_and_the_receiver_keeps_serving(settings, tmp_path, demo_form):
    receiver = start_receiver(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600")
    pending = receiver.spool / "pending"
    try:
        pending.rmdir()
        pending.write_text("not a folder")  # what a full disk or a wrong mount looks like
        event = webhook_event(demo_form, tally_submission("s6", VALID_ANSWERS), "evt-503")
        answer = receiver.send(event)
        assert answer.status_code == 503 and answer.json()["ok"] is False
        assert receiver.process.poll() is None
        pending.unlink()
        pending.mkdir(mode=0o700)
        assert receiver.send(event).status_code == 200  # the same event, once it can be kept
        assert len(receiver.pending()) == 1
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=30)  # a loaded machine ends a process slowly
    assert "Traceback" not in (tmp_path / "receiver.log").read_text()


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def test_a_restarted_receiver_asks_for_a_run_for_what_waits(settings, tmp_path, demo_form):
    demo_synced(settings)
    spool = Spool.at(tmp_path / "spool").prepare()
    submission = tally_submission("waiting", {**VALID_ANSWERS, "nom_projet": "Resté au spool"})
    event = webhook_event(demo_form, submission, "evt-waiting")
    assert spool.store("evt-waiting", json.dumps(event).encode())
    with receiving(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="0.2"):
        wait_until(lambda: spool.pending() == [], 60, "the run it asks for at start")
        # the spool is emptied at the run's commit, its exports published just after
        wait_until(lambda: "Resté au spool" in exported_names(settings), 30, "its publication")
        assert "Resté au spool" in exported_names(settings)


def test_a_spool_folder_bibia_did_not_make_keeps_its_mode(settings, tmp_path, demo_form):
    shared = tmp_path / "partage"
    shared.mkdir(mode=0o755)
    shared.chmod(0o755)
    with receiving(
        settings, tmp_path, BIBIA_WEBHOOK_SPOOL=str(shared), BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600"
    ) as receiver:
        event = webhook_event(demo_form, tally_submission("s5", VALID_ANSWERS), "evt-shared")
        assert receiver.send(event).status_code == 200
    assert shared.stat().st_mode & 0o777 == 0o755
    own = shared / OWN_FOLDER
    assert own.stat().st_mode & 0o777 == 0o700
    assert len(list((own / "pending").glob("*.json"))) == 1


@pytest.mark.parametrize(
    ("env", "said"),
    [
        ({"BIBIA_WEBHOOK_HOST": "hote.inexistant.invalid"}, "BIBIA_WEBHOOK_HOST"),
        ({"BIBIA_WEBHOOK_PORT": "PORT_IN_USE"}, "déjà utilisé"),
        ({"BIBIA_WEBHOOK_SPOOL": "UNDER_A_FILE"}, "BIBIA_WEBHOOK_SPOOL"),
    ],
    ids=["unknown host", "port in use", "spool not creatable"],
)
def test_a_receiver_that_cannot_start_says_why_in_one_line(settings, tmp_path, env, said):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    a_file = tmp_path / "un-fichier"
    a_file.write_text("x")
    env = {
        k: {
            "PORT_IN_USE": str(blocker.getsockname()[1]),
            "UNDER_A_FILE": str(a_file / "spool"),
        }.get(v, v)
        for k, v in env.items()
    }
    try:
        done = bibia_cli(
            settings,
            "webhook",
            timeout=30,
            TALLY_WEBHOOK_SECRET=SECRET,
            **{"BIBIA_WEBHOOK_PORT": str(free_port()), "BIBIA_WEBHOOK_SPOOL": str(tmp_path / "s")}
            | env,
        )
    finally:
        blocker.close()
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in done.stderr


def test_a_receiver_on_an_ipv6_loopback_accepts_events(settings, tmp_path, demo_form):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    port = free_port()
    process = quiet_receiver(
        settings, tmp_path, port, host="::1", stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://[::1]:{port}/tally/webhook"

        def up() -> bool:
            try:
                with socket.create_connection(("::1", port), timeout=0.2):
                    return True
            except OSError:
                return process.poll() is not None

        wait_until(up, 30, "the receiver")
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        event = webhook_event(demo_form, tally_submission("v6", VALID_ANSWERS), "evt-v6")
        assert send_raw(url, json.dumps(event).encode()).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=30)  # a loaded machine ends a process slowly


def test_an_event_dated_in_the_future_waits_for_its_date(settings, tmp_path, demo_form):
    demo_synced(settings)
    spool = Spool.at(settings.spool_folder).prepare()
    submission = tally_submission(
        "future", {**VALID_ANSWERS, "nom_projet": "Venu de 2099"}, "2099-01-01T00:00:00.000Z"
    )
    event = webhook_event(demo_form, submission, "evt-2099")
    assert spool.store("evt-2099", json.dumps(event).encode())
    report = run_job(settings, "sync")
    assert report.status == "succeeded"
    assert "Venu de 2099" not in exported_names(settings)
    assert len(spool.pending()) == 1
    assert any("futur" in note and "2099" in note for note in report.notes), report.notes


def test_landed_events_are_kept_a_bounded_time(settings, tmp_path, demo_form):
    demo_synced(settings)
    spool = Spool.at(settings.spool_folder).prepare()
    old = spool.folder / "landed" / ("0" * 40 + ".json")
    old.write_text("{}")
    two_days_ago = time.time() - 2 * 86_400
    os.utime(old, (two_days_ago, two_days_ago))
    event = webhook_event(demo_form, tally_submission("fresh", VALID_ANSWERS), "evt-fresh")
    assert spool.store("evt-fresh", json.dumps(event).encode())
    run_job(settings.with_(webhook_keep_days=1.0), "sync")
    kept = sorted(p.name for p in (spool.folder / "landed").glob("*.json"))
    assert kept == [Spool.name_of("evt-fresh")]


def test_sigterm_while_requests_arrive_ends_the_receiver_at_once(settings, tmp_path, demo_form):
    """A SIGTERM that landed while a request's thread was starting was taken for that
    request's error (a traceback in the log) and the receiver served on (seen in a loaded
    check: still running 30 s later)."""
    import threading

    receiver = start_receiver(settings, tmp_path)
    stop = threading.Event()

    def knock() -> None:
        while not stop.is_set():
            with contextlib.suppress(requests.RequestException):
                requests.get(receiver.url, timeout=2)

    knockers = [threading.Thread(target=knock, daemon=True) for _ in range(4)]
    for thread in knockers:
        thread.start()
    try:
        time.sleep(0.5)
        receiver.process.terminate()
        assert receiver.process.wait(timeout=15) == 0
    finally:
        stop.set()
        if receiver.process.poll() is None:
            receiver.process.kill()
    assert "Traceback" not in (tmp_path / "receiver.log").read_text()
