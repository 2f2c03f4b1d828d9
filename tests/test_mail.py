"""Messages to contributors and curators, sent to a real SMTP server on loopback (aiosmtpd,
STARTTLS and a login required: `tests/mailserver.py`), from runs of the demo form served by
the Tally emulator, into a real DuckDB warehouse."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from bibia.pipeline import run_job
from bibia.status import render
from schemas.errors import BibiaError
from tests import spawn
from tests.conftest import (
    DEMO_HELD,
    ROOT,
    VALID_ANSWERS,
    bibia_cli,
    make_settings,
    query,
    tally_submission,
)
from tests.mailserver import PASSWORD, MailServer, text_of
from transforms.mail import address_of, message_id

SENDER = "Bibliothèque d'IA territoriales <bibliotheque@exemple.fr>"
CURATORS = "curateurs@exemple.fr"
CAUX_MAIL = "courrier@cauxseine.fr"  # the contact of the held submission fM93eg


@pytest.fixture
def smtp(tmp_path):
    with MailServer(tmp_path / "tls") as server:
        yield server


def mail_settings(tmp_path, emulator, smtp, **more):
    return make_settings(
        tmp_path,
        emulator.url,
        **{**smtp.settings(), "mail_optouts_path": tmp_path / "optouts.txt", **more},
    )


def held_rows(settings):
    return query(
        settings,
        "SELECT submission_id, projet_contact, lien_correction FROM quarantine "
        "WHERE released_by IS NULL ORDER BY submission_id",
    )


def by_key(smtp, key):
    wanted = message_id(key, SENDER)
    return [r for r in smtp.received if r.message["Message-ID"] == wanted]


def outbox_state(settings, key):
    rows = query(settings, "SELECT state, attempts, last_error FROM outbox WHERE key = ?", [key])
    return rows[0] if rows else None


def test_each_held_contributor_gets_one_message_with_its_link_and_a_second_sync_sends_nothing(
    tmp_path, emulator, smtp
):
    settings = mail_settings(tmp_path, emulator, smtp)
    report = run_job(settings, "sync")
    assert report.mail is not None and "envoyé(s)" in report.mail
    held = held_rows(settings)
    assert len(held) == DEMO_HELD
    reachable = [(sid, address_of(contact), link) for sid, contact, link in held]
    reachable = [(sid, address, link) for sid, address, link in reachable if address]
    assert len(reachable) >= 5
    links = {link for _sid, _a, link in reachable}
    for sid, address, link in reachable:
        got = by_key(smtp, f"retenue:{sid}")
        assert len(got) == 1, sid
        assert got[0].recipients == [address]
        text = text_of(got[0].message)
        assert text.startswith("Bonjour,") and "ne peut pas encore être publié" in text
        assert link in text
        assert not (links - {link}) & set(text.split())  # no other submission's link
        assert got[0].message["Reply-To"] == "Curateurs <curateurs@exemple.fr>"
    published = query(settings, "SELECT projet_id, projet_contact FROM projects ORDER BY projet_id")
    told = [(pid, address_of(contact)) for pid, contact in published if address_of(contact)]
    assert told
    for projet_id, address in told:
        (got,) = by_key(smtp, f"publie:{projet_id}")
        assert got.recipients == [address]
        page = f"https://bibliotheque.exemple.fr/projets/{projet_id}.html"
        assert page in text_of(got.message)
    (digest,) = smtp.to(CURATORS)
    assert all(sid in text_of(digest.message) for sid, _c, _l in held)
    # the released submission (a correction link replaced it) is told nothing
    released = query(settings, "SELECT submission_id FROM quarantine WHERE released_by IS NOT NULL")
    assert released and not any(by_key(smtp, f"retenue:{sid}") for (sid,) in released)
    assert len(smtp.received) == len(reachable) + len(told) + 1
    assert {r.sender for r in smtp.received} == {"bibliotheque@exemple.fr"}

    before = len(smtp.received)
    second = run_job(settings, "sync")
    assert len(smtp.received) == before
    assert second.mail == "aucun à envoyer"


def test_a_crash_between_the_commit_and_the_sending_sends_each_message_once_at_the_next_run(
    tmp_path, emulator, smtp
):
    settings = mail_settings(tmp_path, emulator, smtp)
    done = bibia_cli(
        settings,
        "sync",
        BIBIA_FAILPOINT="mail:kill",
        BIBIA_MAIL_OPTOUTS=str(tmp_path / "optouts.txt"),
        **smtp.environment(),
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert smtp.received == []
    waiting = query(settings, "SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0]
    assert waiting >= DEMO_HELD  # committed with the run, not sent
    run_job(settings, "sync")
    ids = Counter(r.message["Message-ID"] for r in smtp.received)
    assert set(ids.values()) == {1}
    assert len(ids) == waiting + 1  # and the curators' digest, which says a run was killed
    (digest,) = smtp.to(CURATORS)
    assert "arrêtée(s) avant leur fin" in text_of(digest.message)
    run_job(settings, "sync")
    assert len(smtp.received) == waiting + 1


def test_a_temporary_refusal_waits_for_the_next_run_then_goes(tmp_path, emulator, smtp):
    settings = mail_settings(tmp_path, emulator, smtp)
    smtp.answer(CAUX_MAIL, "451 4.7.1 Greylisted, try again later")
    run_job(settings, "sync")
    assert by_key(smtp, "retenue:fM93eg") == []
    state, attempts, error = outbox_state(settings, "retenue:fM93eg")
    assert (state, attempts) == ("pending", 1) and "451 4.7.1 Greylisted" in error
    shown = render(settings)
    assert "en attente" in shown and "451 4.7.1 Greylisted" in shown
    run_job(settings, "sync")
    assert len(by_key(smtp, "retenue:fM93eg")) == 1
    assert outbox_state(settings, "retenue:fM93eg")[:2] == ("sent", 2)


def test_temporary_refusals_for_five_days_are_a_refusal_for_good(tmp_path, emulator, smtp):
    import duckdb

    settings = mail_settings(tmp_path, emulator, smtp)
    smtp.answer(CAUX_MAIL, "452 4.2.2 Mailbox full", "452 4.2.2 Mailbox full")
    run_job(settings, "sync")
    assert outbox_state(settings, "retenue:fM93eg")[0] == "pending"
    con = duckdb.connect(str(settings.db_path))
    con.execute(
        "UPDATE outbox SET created_at = created_at - INTERVAL 6 DAY WHERE key = 'retenue:fM93eg'"
    )
    con.close()
    run_job(settings, "sync")
    state, attempts, error = outbox_state(settings, "retenue:fM93eg")
    assert (state, attempts) == ("refused", 2)
    assert "452 4.2.2 Mailbox full (refus temporaires depuis 5 jours)" in error
    assert by_key(smtp, "retenue:fM93eg") == []


def test_a_permanent_refusal_is_recorded_shown_told_and_never_tried_again(tmp_path, emulator, smtp):
    settings = mail_settings(tmp_path, emulator, smtp)
    smtp.answer(CAUX_MAIL, "550 5.1.1 No such user here")
    run_job(settings, "sync")
    state, attempts, error = outbox_state(settings, "retenue:fM93eg")
    assert (state, attempts) == ("refused", 1) and "550 5.1.1 No such user here" in error
    shown = render(settings)
    assert "REFUSÉ" in shown and CAUX_MAIL in shown and "550 5.1.1" in shown
    run_job(settings, "sync")
    assert outbox_state(settings, "retenue:fM93eg")[:2] == ("refused", 1)
    digests = smtp.to(CURATORS)
    assert len(digests) == 2  # the run's news, then the refusal
    assert "refusé(s) pour de bon" in text_of(digests[1].message)
    assert CAUX_MAIL in text_of(digests[1].message)


def test_a_refused_login_keeps_every_message_waiting_and_the_password_is_found_nowhere(
    tmp_path, emulator, smtp, caplog
):
    wrong = "mauvais-mot-de-passe-7"
    settings = mail_settings(tmp_path, emulator, smtp, smtp_password=wrong)
    report = run_job(settings, "sync")
    assert report.status == "succeeded" and smtp.received == []
    assert report.mail is not None and "a refusé l'identifiant bibia" in report.mail
    shown = render(settings)
    assert "a refusé l'identifiant bibia" in shown
    everything = shown + caplog.text + report.mail + repr(settings)
    everything += "".join(str(r) for r in query(settings, "SELECT * FROM outbox"))
    assert wrong not in everything and PASSWORD not in everything
    assert wrong.encode() not in settings.db_path.read_bytes()
    run_job(settings.with_(smtp_password=PASSWORD), "sync")
    ids = Counter(r.message["Message-ID"] for r in smtp.received)
    assert ids and set(ids.values()) == {1}
    assert query(settings, "SELECT count(*) FROM outbox WHERE state = 'pending'") == [(0,)]


def test_a_certificate_nobody_vouches_for_is_refused_and_the_messages_wait(
    tmp_path, emulator, smtp
):
    settings = mail_settings(tmp_path, emulator, smtp, smtp_ca_file=None)
    report = run_job(settings, "sync")
    assert report.status == "succeeded" and smtp.received == []
    assert report.mail is not None and "certificat non reconnu" in report.mail


def test_a_contributor_who_asked_for_no_more_messages_gets_none(tmp_path, emulator, smtp):
    settings = mail_settings(tmp_path, emulator, smtp)
    optouts = str(settings.mail_optouts_path)
    stopped = bibia_cli(
        settings, "mail", "stop", "Courrier@CauxSeine.fr", BIBIA_MAIL_OPTOUTS=optouts
    )
    assert stopped.returncode == 0 and "ne recevra plus de message" in stopped.stdout
    run_job(settings, "sync")
    assert smtp.to(CAUX_MAIL) == []
    state, _attempts, error = outbox_state(settings, "retenue:fM93eg")
    assert state == "cancelled" and "ne plus recevoir" in error
    assert smtp.to("drh@cauxseine.fr")  # the others are written to


def test_a_hold_released_before_its_message_went_is_not_told(tmp_path, emulator, smtp):
    down = mail_settings(tmp_path, emulator, smtp, smtp_port=1)  # nothing listens there
    report = run_job(down, "sync")
    assert report.mail is not None and "injoignable" in report.mail
    assert outbox_state(down, "retenue:fM93eg")[0] == "pending"
    correction = tally_submission(
        "corrFM",
        {**VALID_ANSWERS, "coll_nom": "Caux Seine Agglo"},
        submitted_at="2026-11-20T10:00:00.000Z",
        hidden={"ref": "fM93eg"},
    )
    emulator.add_submissions("bibiaD", [correction])
    run_job(down.with_(smtp_port=smtp.port), "sync")
    assert by_key(smtp, "retenue:fM93eg") == []
    state, _attempts, error = outbox_state(down, "retenue:fM93eg")
    assert state == "cancelled" and "plus retenue" in error
    assert by_key(smtp, "retenue:L5pK8h")  # still held: told


def test_a_reminder_goes_once_when_a_hold_still_waits_after_the_delay(tmp_path, emulator, smtp):
    settings = mail_settings(tmp_path, emulator, smtp, mail_reminder_days=14.0)
    run_job(settings, "sync")
    run_job(settings, "sync")
    assert not any(r.message["Subject"].startswith("Rappel") for r in smtp.received)
    import duckdb

    con = duckdb.connect(str(settings.db_path))
    con.execute(
        "UPDATE outbox SET sent_at = sent_at - INTERVAL 15 DAY WHERE key = 'retenue:fM93eg'"
    )
    con.close()
    run_job(settings, "sync")
    run_job(settings, "sync")
    (reminder,) = by_key(smtp, "rappel:fM93eg")
    assert reminder.message["Subject"].startswith("Rappel :")
    assert "attend toujours une correction" in text_of(reminder.message)
    assert [r for r in smtp.received if r.message["Subject"].startswith("Rappel")] == [reminder]


def test_a_failed_run_tells_the_curators_at_once_and_nobody_else(tmp_path, emulator, smtp):
    settings = mail_settings(tmp_path, emulator, smtp, failpoint="export")
    with pytest.raises(BibiaError):
        run_job(settings, "sync")
    (told,) = smtp.received
    assert told.recipients == [CURATORS]
    assert "L'exécution a échoué" in text_of(told.message)
    assert "BIBIA_FAILPOINT=export" in text_of(told.message)
    with pytest.raises(BibiaError):
        run_job(settings, "sync")  # the same failure again: told once
    assert len(smtp.received) == 1


def test_the_demo_writes_its_messages_as_eml_files_a_newcomer_opens(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALLY_", "BIBIA_"))}
    env["PYTHONPATH"] = str(ROOT)

    def demo(*args: str) -> subprocess.CompletedProcess[str]:
        """`bibia ARGS --demo`, from a newcomer's folder."""
        return spawn.run(
            [sys.executable, "-m", "bibia.cli", *args, "--demo"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    done = demo("sync")
    assert done.returncode == 0, done.stderr
    assert "message(s) écrit(s) dans demo-output/mail" in done.stdout
    files = sorted((tmp_path / "demo-output" / "mail").glob("*.eml"))
    kinds = Counter(path.name.split("-", 1)[1].split("-", 1)[0] for path in files)
    assert kinds["retenue"] >= 5 and kinds["publie"] >= 1 and kinds["curateurs"] == 1
    held = next(path for path in files if "-retenue-" in path.name)
    message = BytesParser(policy=policy.default).parse(held.open("rb"))
    assert "https://tally.so/r/bibiaD?ref=" in text_of(message)  # type: ignore[arg-type]
    assert f"Messages (BIBIA_MAIL=log) : {len(files)} envoyé(s)" in demo("status").stdout
    again = demo("sync")
    assert again.returncode == 0 and "messages : aucun à envoyer" in again.stdout
    assert sorted((tmp_path / "demo-output" / "mail").glob("*.eml")) == files


def test_bibia_mail_send_sends_what_waits_now(tmp_path, emulator, smtp):
    down = mail_settings(tmp_path, emulator, smtp, smtp_port=1)
    run_job(down, "sync")
    waiting = query(down, "SELECT count(*) FROM outbox WHERE state = 'pending'")[0][0]
    assert waiting and smtp.received == []
    done = bibia_cli(
        down, "mail", "send", BIBIA_MAIL_OPTOUTS=str(tmp_path / "optouts.txt"), **smtp.environment()
    )
    assert done.returncode == 0, done.stderr
    assert f"messages : {waiting} message(s) envoyé(s)" in done.stdout
    assert len(smtp.received) == waiting


def test_with_mail_off_nothing_is_sent_then_or_later(tmp_path, emulator, smtp):
    settings = mail_settings(tmp_path, emulator, smtp, mail_mode="off")
    report = run_job(settings, "sync")
    assert report.mail is None and smtp.received == []
    states = query(settings, "SELECT DISTINCT state, last_error FROM outbox")
    assert states == [("cancelled", "BIBIA_MAIL=off")]  # recorded as not told
    run_job(settings.with_(mail_mode="on"), "sync")  # switched on: no contributor hears of before
    assert [r.recipients for r in smtp.received] == [[CURATORS]]  # what waits, for the curators


def older_warehouse(tmp_path: Path, last: int) -> Path:
    """A warehouse as a bibia whose last migration was `last` left it, holding one hold."""
    import duckdb

    from warehouse.migrate import MIGRATIONS_DIR, migrate

    older = tmp_path / "older"
    older.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        if int(path.name[:3]) <= last:
            (older / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    migrate(con, older)
    con.execute(
        "INSERT INTO quarantine (submission_id, submitted_at, since_run_id, since_at, reason) "
        "VALUES ('old1', now()::TIMESTAMP, 'r0', now()::TIMESTAMP, 'SIRET invalide')"
    )
    con.close()
    return db


def test_what_was_held_or_published_before_the_outbox_is_never_told(tmp_path):
    """Migration 015 on a warehouse that has a register already: nobody receives, the day mail
    is switched on, a message about a project published or held months ago."""
    from warehouse.db import connect

    db = older_warehouse(tmp_path, 14)
    con = connect(db)
    try:
        rows = con.execute("SELECT key, state, last_error FROM outbox").fetchall()
    finally:
        con.close()
    assert rows == [("retenue:old1", "cancelled", "retenue avant les messages (migration 015)")]


@pytest.mark.parametrize("last", [12, 14])
def test_status_reads_an_older_warehouse_no_run_has_migrated_yet(tmp_path, last):
    """`bibia status` opens the warehouse read-only, so never migrates it: what it has not yet
    is left out, and said."""
    from bibia.settings import Settings

    db = older_warehouse(tmp_path, last)
    shown = render(Settings(db_path=db, export_dir=tmp_path / "exports"))
    assert "En quarantaine : 1 soumission(s)" in shown and "Messages" not in shown
    assert "l'entrepôt date d'une version précédente de bibia" in shown


def test_the_digest_tells_a_target_newly_behind_and_access_requests_once(tmp_path, emulator, smtp):
    from bibia.members.journal import Journal

    nowhere = (tmp_path / "absent" / "site.git").as_uri()  # no repository there: behind
    settings = mail_settings(tmp_path, emulator, smtp, publish_site_repo=nowhere)
    settings.members_journal.parent.mkdir(parents=True, exist_ok=True)
    journal = Journal(settings.members_journal, 90)
    journal.request("ana.martin@ville-exemple.fr", "Ana", "Martin", "21350238800019")
    journal.close()
    run_job(settings, "sync")
    (first,) = smtp.to(CURATORS)
    said = text_of(first.message)
    assert "Publication en retard" in said and "site : " in said
    assert "ana.martin@ville-exemple.fr (Ana Martin, SIRET 21350238800019)" in said
    emulator.add_submissions(
        "bibiaD",
        [
            tally_submission(
                "late1",
                {**VALID_ANSWERS, "nom_projet": None, "coll_nom": "Late"},
                submitted_at="2026-11-30T10:00:00.000Z",
            )
        ],
    )
    run_job(settings, "sync")  # a new hold: news; the site still behind and Ana: not again
    second = smtp.to(CURATORS)[1]
    said = text_of(second.message)
    assert "late1" in said
    assert "Publication en retard" not in said and "ana.martin" not in said


def test_a_run_whose_mail_settings_do_not_hold_stops_before_anything_in_one_line(settings):
    done = bibia_cli(settings, "sync", BIBIA_MAIL="on", BIBIA_MAIL_FROM="b@exemple.fr")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "bibia: BIBIA_CURATORS_EMAIL, BIBIA_SITE_URL, BIBIA_SMTP_HOST : à définir avec "
        "BIBIA_MAIL=on (ou BIBIA_MAIL=off : aucun message)"
    ]
    assert not settings.db_path.exists()  # nothing was done


def test_a_held_message_reads_in_a_browser_with_its_link_to_follow(
    tmp_path, emulator, smtp, browser
):
    """The HTML part, as a mail program shows it: the reasons as a list, the link a button
    away, nothing of another submission."""
    from selenium.webdriver.common.by import By

    from tests.conftest import screenshot

    settings = mail_settings(tmp_path, emulator, smtp)
    run_job(settings, "sync")
    (got,) = by_key(smtp, "retenue:fM93eg")
    html = got.message.get_body(("html",))
    assert html is not None
    page = tmp_path / "message.html"
    page.write_text(html.get_content(), encoding="utf-8")  # type: ignore[attr-defined]
    browser.get(page.as_uri())
    items = [li.text for li in browser.find_elements(By.CSS_SELECTOR, "li")]
    assert len(items) == 1 and items[0].startswith("Identifiant SIRET de la collectivité")
    link = browser.find_element(By.LINK_TEXT, "Corriger le projet")
    assert link.get_attribute("href").startswith("https://tally.so/r/bibiaD?ref=fM93eg&")
    assert "Tri automatique du courrier entrant" in browser.find_element(By.TAG_NAME, "body").text
    browser.set_window_size(720, 560)  # a mail program's reading pane
    screenshot(browser, "message-retenue")
