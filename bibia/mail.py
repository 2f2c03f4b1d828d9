"""Messages to contributors and curators, in two steps of a run.

`fill_outbox` (step `outbox`, in the run's transaction, before its commit): a message to the
contributor of each submission newly held, and of each project published for the first time;
one reminder to a contributor still held `BIBIA_MAIL_REMINDER_DAYS` after the first; messages
still waiting about a hold since released, or a project since withdrawn, cancelled. A hold or a
publication is told once: the outbox keeps what was written, by what it is about.

`send_mail` (step `mail`, after the commit and the deliveries): the curators' digest of the
run's news, then whatever waits, sent at `BIBIA_MAIL_PER_MINUTE` at most. A crash before it
leaves the messages waiting: the next run sends them, not twice. A 4xx waits for the next
run, a 5xx is recorded as refused (`bibia status`, and the next digest). Sending never fails
the run. `BIBIA_MAIL=off`: nothing is sent, and what happens meanwhile is recorded as not
told (never told later); `log`: each message is written as an `.eml` file instead of sent.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from functools import partial
from pathlib import Path

import duckdb

from bibia.settings import Settings
from bibia.smtp import EmlFolder, Refused, SmtpTransport, Unreachable
from publish.site.build import page_path
from schemas.errors import BibiaError, ConfigError
from schemas.times import now_utc
from transforms.mail import (
    CURATEURS,
    Letter,
    News,
    address_of,
    email_of,
    held,
    message_id,
    published,
)
from transforms.mail import digest as digest_of
from warehouse import outbox

log = logging.getLogger("bibia")
MINUTES_PER_RUN = 5  # a run sends at most this many minutes' worth; the rest waits for the next
CHUNK = 1_000  # messages written to the outbox at once
# a message refused temporarily (4xx) this long after it was written is refused for good, as
# mail servers give up on their queue (Postfix: 5 days)
TEMPORARY_LIFETIME = timedelta(days=5)
OFF, LOG, ON = "off", "log", "on"


@dataclass(frozen=True)
class Sent:
    """What a run's sending did."""

    sent: int = 0
    waiting: int = 0
    refused: int = 0
    cancelled: int = 0
    stopped: str | None = None  # why the sending stopped (the server, the folder)

    def said(self, mode: str, folder: Path | None = None) -> str:
        verb = (
            f"écrit(s) dans {folder or 'le dossier des messages'}" if mode == LOG else "envoyé(s)"
        )
        if not (self.sent or self.waiting or self.refused or self.cancelled or self.stopped):
            return "aucun à envoyer"
        parts = [f"{self.sent} message(s) {verb}"]
        if self.waiting:
            parts.append(f"{self.waiting} en attente")
        if self.refused:
            parts.append(f"{self.refused} refusé(s) pour de bon")
        if self.cancelled:
            parts.append(f"{self.cancelled} annulé(s) (plus d'actualité, ou désabonné)")
        if self.stopped:
            parts.append(f"envoi arrêté : {self.stopped}")
        return ", ".join(parts)


def _stamp(letter: Letter, sender: str) -> tuple[Letter, str]:
    return letter, message_id(letter.key, sender)


def _unsendable(key: str, kind: str, contact: str | None) -> Letter:
    """What is kept of a message that cannot go (no address that holds): its key, so that
    the hold or the publication is not told later, and whom it was for."""
    return Letter(key, kind, (contact or "").strip()[:320], "", "", "")


def fill_outbox(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, now: datetime
) -> int:
    """The run's messages to contributors, written in its transaction, a thousand at a time
    (a first publication of 45,000 projects is 250 MB of messages: the run's DuckDB memory
    holds a chunk, not all); returns how many wait. With mail off, what a message would have
    been about is recorded as not told (cancelled): switching mail on later does not write
    about what happened meanwhile."""
    off = settings.mail_mode == OFF
    if not off:
        outbox.cancel_stale(con, now)
    sender = settings.mail_from or ""
    page = f"{(settings.site_url or '').rstrip('/')}/{page_path('{}')}"
    due: list[tuple[str, str, str | None, Callable[[], Letter | None]]] = [
        (f"retenue:{h.submission_id}", "retenue", h.contact, partial(held, h))
        for h in outbox.untold_holds(con)
    ]
    due += [
        (f"publie:{p.projet_id}", "publie", p.contact, partial(published, p))
        for p in outbox.untold_publications(con, page)
    ]
    if settings.mail_reminder_days and not off:
        before = now - timedelta(days=settings.mail_reminder_days)
        due += [
            (f"rappel:{h.submission_id}", "rappel", h.contact, partial(held, h, True))
            for h in outbox.holds_to_remind(con, before)
        ]
    why = "BIBIA_MAIL=off" if off else "pas d'adresse valable"
    for first in range(0, len(due), CHUNK):
        ready, unsendable = [], []
        for key, kind, contact, compose in due[first : first + CHUNK]:
            letter = None if off else compose()
            if letter is not None:
                ready.append(_stamp(letter, sender))
            elif kind != "rappel":  # a reminder to nobody is simply not due
                unsendable.append((_unsendable(key, kind, contact), ""))
        outbox.queue(con, unsendable, run_id, now, outbox.CANCELLED, why)
        outbox.queue(con, ready, run_id, now)
    return 0 if off else outbox.waiting(con)


def news_of(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, failure: str | None = None
) -> News:
    """What the curators have not heard yet: since their last digest."""
    since = outbox.last_digest_at(con)
    if failure is not None:  # a failed run's message says that, at once
        return News(run_id, failure=failure)
    return News(
        run_id,
        holds=tuple(outbox.holds_since(con, since)),
        interrupted=tuple(outbox.interrupted_since(con, since)),
        behind=tuple(outbox.behind_since(con, since)),
        requests=tuple(access_requests(settings.members_journal, since)),
        refused=tuple(outbox.refused_since(con, since)),
    )


def access_requests(journal: Path, since: datetime | None) -> list[tuple[str, str, str | None]]:
    """People who logged in to the members' space without being members, since `since`: read
    from its journal (read-only; none when there is no journal)."""
    if not journal.is_file():
        return []
    after = f"{since:%Y-%m-%dT%H:%M:%S}Z" if since else ""
    try:
        con = sqlite3.connect(f"file:{journal}?mode=ro", uri=True, timeout=5)
        try:
            rows = con.execute(
                "SELECT email, trim(coalesce(given_name, '') || ' ' || coalesce(usual_name, '')), "
                "siret FROM requests WHERE first_at > ? ORDER BY first_at",
                [after],
            ).fetchall()
        finally:
            con.close()
    except sqlite3.Error as exc:
        log.info("messages : journal des membres illisible (%s) : demandes d'accès non lues", exc)
        return []
    return [(email, name, siret) for email, name, siret in rows]


def optouts(path: Path) -> set[str]:
    """The addresses that asked for no more messages (one a line, `#` comments)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return set()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"BIBIA_MAIL_OPTOUTS illisible ({path}) : {exc}") from None
    found = {line.split("#", 1)[0].strip().lower() for line in lines}
    return {address for address in found if address}


def stop_sending_to(path: Path, address: str) -> str:
    """`bibia mail stop ADRESSE`: the address added to the opt-outs (data, like decisions)."""
    found = address_of(address)
    if found is None:
        raise ConfigError(f"« {address} » n'est pas une adresse électronique")
    if found.lower() in optouts(path):
        return f"{found} ne reçoit déjà plus de message ({path})"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        if path.stat().st_size == 0:
            out.write("# Adresses qui ne reçoivent plus de message de la bibliothèque\n")
        out.write(f"{found.lower()}\n")
    return f"{found} ne recevra plus de message ({path})"


def send_mail(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: str,
    now: datetime,
    failure: str | None = None,
    digest: bool = True,
) -> Sent:
    """The curators' digest (when there is news; `digest`), then what waits, sent. Never
    raises for a server or a folder: what could not go waits, and the result says why."""
    if settings.mail_mode == OFF:
        return Sent()
    letter = (
        digest_of(news_of(con, settings, run_id, failure), settings.curators_email or "")
        if digest
        else None
    )
    if letter is not None:
        outbox.queue(con, [_stamp(letter, settings.mail_from or "")], run_id, now)
    cancelled = outbox.cancel_to(con, optouts(settings.mail_optouts_path), now)
    limit = max(1, int(settings.mail_per_minute * MINUTES_PER_RUN))
    queued = outbox.pending(con, limit)
    if failure is not None:
        queued = [q for q in queued if q.kind == CURATEURS]
    sent = _send(con, settings, queued, now)
    return Sent(sent.sent, outbox.waiting(con), sent.refused, cancelled, sent.stopped)


def _send(
    con: duckdb.DuckDBPyConnection, settings: Settings, queued: list[outbox.Queued], now: datetime
) -> Sent:
    if not queued:
        return Sent()
    pause = 60.0 / settings.mail_per_minute
    sender, curators = settings.mail_from or "", settings.curators_email or ""
    sent = refused = 0
    try:
        if settings.mail_mode == LOG:
            with EmlFolder(settings.mail_spool) as folder:
                for item in queued:
                    folder.send(_email(item, sender, curators, now), _file_name(item, now))
                    outbox.mark(con, item.key, outbox.SENT, now, via="log")
                    sent += 1
            return Sent(sent)
        with SmtpTransport(settings) as smtp:
            for number, item in enumerate(queued):
                if number:
                    time.sleep(pause)
                try:
                    message = _email(item, sender, curators, now)
                except (ValueError, TypeError, IndexError) as exc:  # never the whole sending
                    outbox.mark(
                        con, item.key, outbox.REFUSED, now, f"message impossible à composer ({exc})"
                    )
                    refused += 1
                    continue
                try:
                    smtp.send(message)
                except Refused as exc:
                    given_up = exc.permanent or now - item.created_at > TEMPORARY_LIFETIME
                    state = outbox.REFUSED if given_up else outbox.PENDING
                    refused += given_up
                    said = f"le serveur a répondu {exc}"
                    if given_up and not exc.permanent:
                        said += f" (refus temporaires depuis {TEMPORARY_LIFETIME.days} jours)"
                    outbox.mark(con, item.key, state, now, said)
                    log.info("message %s à %s : %s", item.key, item.recipient, exc)
                    continue
                outbox.mark(con, item.key, outbox.SENT, now, via="smtp")
                sent += 1
    except Unreachable as exc:
        log.info("messages : %s ; ils attendent la prochaine exécution", exc)
        _note_waiting(con, queued, sent, now, str(exc))
        return Sent(sent, refused=refused, stopped=str(exc))
    return Sent(sent, refused=refused)


def _note_waiting(
    con: duckdb.DuckDBPyConnection, queued: list[outbox.Queued], sent: int, now: datetime, why: str
) -> None:
    """Why the messages wait, on the first of them still pending (`bibia status` says it)."""
    for item in queued[sent:]:
        found = con.execute("SELECT state FROM outbox WHERE key = ?", [item.key]).fetchall()
        if found and found[0][0] == outbox.PENDING:
            outbox.mark(con, item.key, outbox.PENDING, now, why)
            return


def _email(item: outbox.Queued, sender: str, curators: str, now: datetime) -> EmailMessage:
    letter = Letter(item.key, item.kind, item.recipient, item.subject, item.text, item.html)
    return email_of(letter, sender, curators, item.message_id, now)


def _file_name(item: outbox.Queued, now: datetime) -> str:
    return f"{now:%Y%m%dT%H%M%S}-{re.sub(r'[^A-Za-z0-9_-]+', '-', item.key)}"


def tell_failure(
    con: duckdb.DuckDBPyConnection, settings: Settings, run_id: str, error: BaseException
) -> None:
    """A failed run tells the curators at once (the run is recorded already). Whatever goes
    wrong here is logged, never raised: the run's own error is what the operator reads."""
    if settings.mail_mode == OFF or not isinstance(error, Exception):
        return
    why = str(error).splitlines()[0] if str(error) else type(error).__name__
    if not isinstance(error, BibiaError):
        why = f"erreur inattendue ({type(error).__name__}: {why})"
    try:
        if _failed_alike_before(con, run_id):
            log.info("messages : même échec que l'exécution précédente, déjà dit aux curateurs")
            return
        send_mail(con, settings, run_id, now_utc(), why)
    except Exception as exc:  # the warehouse itself may be what failed
        log.info("messages : l'échec n'a pas pu être dit aux curateurs (%s)", exc)


def _failed_alike_before(con: duckdb.DuckDBPyConnection, run_id: str) -> bool:
    """Whether the run before this one failed with the same line: a failure repeated run
    after run (Tally down for a morning) is told once, when it starts."""
    rows = con.execute(
        "SELECT run_id, status, error FROM sync_runs ORDER BY started_at DESC LIMIT 2"
    ).fetchall()
    if len(rows) < 2 or rows[0][0] != run_id:
        return False
    (_id, _status, error), (_before, status_before, error_before) = rows
    return status_before == "failed" and error_before == error
