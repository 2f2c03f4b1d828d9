"""`bibia webhook` on loopback, with real HTTP: Tally's signed events, the spool, the run they
ask for, and one landing shared with polling."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from bibia.emulators.tally import EmulatedForm, webhook_event
from bibia.pipeline import run_job
from bibia.settings import Settings
from bibia.webhook import signature
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
from tests.web import free_port
from warehouse.db import lock_holder

SECRET = "whsec-test-secret"
PATH = "/tally/webhook"


class Receiver:
    def __init__(self, url: str, spool: Path, process: subprocess.Popen[str]) -> None:
        self.url, self.spool, self.process = url, spool, process

    def pending(self) -> list[Path]:
        folder = self.spool / "pending"
        return sorted(folder.glob("*.json")) if folder.exists() else []

    def send(self, event: Any, secret: str = SECRET, **changes: Any) -> requests.Response:
        body = event if isinstance(event, bytes) else json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "Tally-Signature": signature(secret, body)}
        headers.update(changes.pop("headers", {}))
        method = changes.pop("method", "POST")
        return requests.request(method, self.url, data=body, headers=headers, timeout=10)


def start_receiver(settings: Settings, tmp_path: Path, **env: str) -> Receiver:
    """`bibia -v webhook` on a free port, once it says it listens there (its log line, not a
    connection that succeeds: another test's server may have taken the port between its pick
    and the receiver's start, and answered instead); on another port when it had been taken."""
    spool = tmp_path / "spool"
    log_path = tmp_path / "receiver.log"
    for _ in range(3):
        port = free_port()
        wanted = {
            "TALLY_WEBHOOK_SECRET": SECRET,
            "BIBIA_WEBHOOK_PORT": str(port),
            "BIBIA_WEBHOOK_SPOOL": str(spool),
            "BIBIA_WEBHOOK_DEBOUNCE_SECONDS": "0.5",
            **env,
        }
        with open(log_path, "w") as log:  # the process writes to its own copy of it
            process = spawn.Process(
                [sys.executable, "-m", "bibia", "-v", "webhook"],
                cwd=ROOT,
                env=cli_env(settings, **wanted),
                stdout=log,
                stderr=subprocess.STDOUT,
                text=True,
            )
        url = f"http://127.0.0.1:{port}{PATH}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            said = log_path.read_text(encoding="utf-8")
            if f"à l'écoute sur {url}" in said:
                return Receiver(url, spool, process)
            if process.poll() is not None:
                if "déjà utilisé" in said:
                    break  # taken meanwhile: another port
                raise AssertionError(said)
            time.sleep(0.02)
        else:
            process.kill()
            raise AssertionError(f"the receiver did not start: {log_path.read_text()}")
    raise AssertionError("no free port for the receiver in three tries")


def spool_events(settings: Settings, tmp_path: Path, *events: dict[str, Any]) -> Receiver:
    """`events` sent to a receiver that asks for no run, each answered 200; the receiver is
    stopped, its spool kept."""
    receiver = start_receiver(settings, tmp_path, BIBIA_WEBHOOK_DEBOUNCE_SECONDS="600")
    try:
        for event in events:
            assert receiver.send(event).status_code == 200
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=10)
    return receiver


@pytest.fixture
def receiver(settings: Settings, tmp_path: Path) -> Iterator[Receiver]:
    run_job(settings, "sync")  # the register as it is
    started = start_receiver(settings, tmp_path)
    yield started
    started.process.terminate()
    started.process.wait(timeout=10)


def new_submission(sid: str, name: str) -> dict[str, Any]:
    return tally_submission(
        sid, {**VALID_ANSWERS, "nom_projet": name}, submitted_at="2026-11-21T09:30:00.000Z"
    )


def exported_names(settings: Settings) -> set[str]:
    path = settings.export_dir / "public" / "bibliotheque_ia.csv"
    import csv

    with open(path, encoding="utf-8") as handle:
        return {row["nom_projet"] for row in csv.DictReader(handle)}


def wait_until(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"waited {timeout:g} s for {what}")


def test_a_signed_event_is_accepted_at_once_and_published_by_the_run_it_asks_for(
    receiver, settings, demo_form
):
    sent = new_submission("wh-0001", "Projet annoncé par webhook")
    started = time.perf_counter()
    answer = receiver.send(webhook_event(demo_form, sent, "evt-0001"))
    took = time.perf_counter() - started
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert took < 0.5
    wait_until(lambda: "Projet annoncé par webhook" in exported_names(settings), 90, "the export")
    # the files are published before the run records its end and lets the warehouse go
    wait_until(lambda: lock_holder(settings.db_path) is None, 30, "the run to end")
    assert query(
        settings,
        "SELECT landed_by, polled_at IS NULL FROM raw_tally_submissions "
        "WHERE submission_id = 'wh-0001'",
    ) == [("webhook", True)]
    wait_until(lambda: not receiver.pending(), 10, "the spool to be emptied")
    assert list((receiver.spool / "landed").glob("*.json"))  # kept, as sent


@pytest.mark.parametrize(
    ("what", "send", "status"),
    [
        ("wrong-signature", {"secret": "another-secret"}, 401),
        ("missing-signature", {"headers": {"Tally-Signature": ""}}, 401),
        ("oversized-body", {"body": b"{" + b" " * 100_000 + b"}"}, 413),
        ("wrong-method", {"method": "GET"}, 405),
        ("wrong-content-type", {"headers": {"Content-Type": "text/plain"}}, 415),
        ("malformed-json", {"body": b'{"eventId": "x", '}, 400),
        ("unknown-event-type", {"event_type": "FORM_DELETED"}, 422),
        ("no-submission-id", {"no_submission": True}, 400),
    ],
)
def test_a_bad_request_is_refused_with_its_status_and_nothing_is_stored(
    settings, tmp_path, demo_form, what, send, status
):
    demo_synced(settings)
    receiver = start_receiver(settings, tmp_path, BIBIA_WEBHOOK_MAX_BYTES="65536")
    try:
        event = webhook_event(demo_form, new_submission("wh-bad", "Refusé"), f"evt-{what}")
        if send.get("event_type"):
            event["eventType"] = send["event_type"]
        if send.get("no_submission"):
            del event["data"]["submissionId"], event["data"]["responseId"]
        body = send.get("body") or json.dumps(event).encode()
        answer = receiver.send(
            body,
            secret=send.get("secret", SECRET),
            **{k: v for k, v in send.items() if k in {"headers", "method"}},
        )
        assert answer.status_code == status
        assert receiver.pending() == []  # nothing stored
        good = receiver.send(webhook_event(demo_form, new_submission("wh-ok", "OK"), "evt-ok"))
        assert good.status_code == 200  # still serving
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=10)


def test_one_event_twice_then_polling_is_one_raw_row_and_one_version(
    settings, tmp_path, emulator, demo_form
):
    demo_synced(settings)
    sent = new_submission("wh-twice", "Projet reçu deux fois")
    event = webhook_event(demo_form, sent, "evt-twice")
    receiver = spool_events(settings, tmp_path, event, event)  # Tally retries: a replay
    assert len(receiver.pending()) == 1
    spooled = settings.with_(webhook_spool=receiver.spool)
    first = run_job(spooled, "sync")  # lands the event
    assert first.new == 1
    emulator.add_submissions("bibiaD", [sent])  # ...and now polling lists it too
    again = run_job(spooled, "sync")
    assert (again.new, again.updated) == (0, 0)
    rows = query(
        settings,
        "SELECT landed_by, polled_at IS NOT NULL, content_hash FROM raw_tally_submissions "
        "WHERE submission_id = 'wh-twice'",
    )
    assert len(rows) == 1 and rows[0][:2] == ("webhook", True)
    assert query(
        settings,
        "SELECT count(*) FROM raw_tally_submission_history WHERE submission_id = 'wh-twice'",
    ) == [(0,)]
    assert query(
        settings, "SELECT count(*) FROM project_versions WHERE submission_id = 'wh-twice'"
    ) == [(1,)]


def test_a_webhook_submission_never_moves_the_polling_mark(settings, emulator, tmp_path):
    """A submission only the webhook brought is newer than one polling has not listed yet (a
    missed delivery): the next poll still asks from before both."""
    demo_synced(settings)
    late = tally_submission(
        "wh-late",
        {**VALID_ANSWERS, "nom_projet": "Tardif"},
        submitted_at="2026-11-25T09:00:00.000Z",
    )
    spool = spool_events(
        settings, tmp_path, webhook_event(emulator.forms["bibiaD"], late, "e")
    ).spool
    spooled = settings.with_(webhook_spool=spool)
    run_job(spooled, "sync")
    missed = new_submission("wh-missed", "Livraison manquée")  # 2026-11-21, never delivered
    emulator.add_submissions("bibiaD", [missed])
    report = run_job(spooled, "sync")
    assert report.new == 1
    assert query(
        settings, "SELECT count(*) FROM projects WHERE nom_projet = 'Livraison manquée'"
    ) == [(1,)]


def test_a_burst_of_events_asks_for_one_run(receiver, settings, demo_form):
    before = query(settings, "SELECT count(*) FROM sync_runs")[0][0]
    names = [f"Projet en rafale {i}" for i in range(20)]
    for i, name in enumerate(names):
        sent = new_submission(f"wh-burst-{i:02d}", name)
        assert receiver.send(webhook_event(demo_form, sent, f"evt-burst-{i}")).status_code == 200
    wait_until(lambda: set(names) <= exported_names(settings), 90, "the burst in the export")
    wait_until(lambda: lock_holder(settings.db_path) is None, 30, "the run to end")
    runs = query(settings, "SELECT count(*) FROM sync_runs")[0][0] - before
    assert 1 <= runs <= 2  # one for the burst (two if a run started mid-burst)


def test_the_receiver_refuses_to_start_without_its_secret(settings):
    done = bibia_cli(settings, "webhook", timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("bibia: TALLY_WEBHOOK_SECRET")


def test_status_shows_the_last_event_and_the_spool(settings, tmp_path, demo_form):
    demo_synced(settings)
    sent = new_submission("wh-status", "Projet en attente")
    receiver = spool_events(settings, tmp_path, webhook_event(demo_form, sent, "evt-status"))
    done = bibia_cli(settings, "status", BIBIA_WEBHOOK_SPOOL=str(receiver.spool))
    assert "Webhook : dernier événement reçu le" in done.stdout
    assert "1 en attente de la prochaine exécution" in done.stdout


def test_the_spool_is_owner_only(settings, tmp_path, demo_form):
    sent = new_submission("wh-mode", "Projet privé")
    receiver = spool_events(settings, tmp_path, webhook_event(demo_form, sent, "evt-mode"))
    assert os.stat(receiver.spool).st_mode & 0o077 == 0
    for path in receiver.pending():
        assert path.stat().st_mode & 0o077 == 0


def test_the_emulators_event_lands_as_the_api_lists_it(demo_form: EmulatedForm):
    from transforms.mapping import FormShape
    from transforms.webhook import same_answers, submission_of_event

    for sent in demo_form.submissions[:20]:
        event = webhook_event(demo_form, sent, f"evt-{sent['id']}")
        landed = submission_of_event(event)
        assert landed["id"] == sent["id"] and landed["submittedAt"] == sent["submittedAt"]
        shape = FormShape.from_snapshot(demo_form.questions, {"blocks": demo_form.blocks})
        assert same_answers(landed, sent, shape.options), sent["id"]
