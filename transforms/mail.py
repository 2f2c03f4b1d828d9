"""The messages bibia writes to people, composed from values: to a contributor whose submission
is held (what to fix, field by field, and the correction link), reminded once, or whose project
is published (its page and the link to update it later); to the curators, a digest of a run's
news. Pure: no warehouse, no network; `bibia.mail` queues and sends what is made here.

A message to a contributor holds only that submission's own values (its answers, its link),
never another project's, and goes only to the address it gave, when that address holds.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses

from transforms.membership import EMAIL

REGISTER = "Bibliothèque d'IA territoriales"
RETENUE, RAPPEL, PUBLIE, CURATEURS = "retenue", "rappel", "publie", "curateurs"
SUBJECT_CHARS = 90  # a project's name in a subject, at most
DIGEST_LINES = 50  # lines a section of the curators' digest, at most
LONG_LINES = policy.default.clone(max_line_length=998)  # headers folded only past SMTP's limit


@dataclass(frozen=True)
class Problem:
    """Why a field holds a submission back, in the words `bibia status` uses."""

    label: str  # the field, as the form names it
    value: str | None  # what was typed (the contributor's own answer)
    message: str


@dataclass(frozen=True)
class Hold:
    submission_id: str
    submitted_at: datetime
    coll_nom: str | None
    nom_projet: str | None
    contact: str | None  # as typed
    link: str | None  # the correction link
    problems: tuple[Problem, ...]


@dataclass(frozen=True)
class Publication:
    projet_id: str
    coll_nom: str
    nom_projet: str
    contact: str | None
    link: str | None
    page_url: str


@dataclass(frozen=True)
class News:
    """What the curators hear after a run: what happened since their last digest."""

    run_id: str
    failure: str | None = None  # this run failed: why (one line)
    holds: tuple[Hold, ...] = ()
    interrupted: tuple[str, ...] = ()  # runs stopped before their end (killed?)
    behind: tuple[tuple[str, str], ...] = ()  # (target, why) newly behind
    requests: tuple[tuple[str, str, str | None], ...] = ()  # (email, name, siret) asking access
    refused: tuple[tuple[str, str], ...] = ()  # (recipient, why) a message refused for good

    def __bool__(self) -> bool:
        return bool(
            self.failure
            or self.holds
            or self.interrupted
            or self.behind
            or self.requests
            or self.refused
        )


@dataclass(frozen=True)
class Letter:
    """A message, before it is an e-mail: `key` says what it is about (one message each)."""

    key: str
    kind: str
    recipient: str
    subject: str
    text: str
    html: str


def address_of(contact: str | None) -> str | None:
    """The address a contributor gave, if it is one (spaces around it dropped), else None."""
    if not contact:
        return None
    found = contact.strip()
    return found if found.isascii() and EMAIL.match(found) else None  # SMTP without SMTPUTF8


def _one_line(text: str | None, limit: int = SUBJECT_CHARS) -> str:
    said = re.sub(r"\s+", " ", text or "").strip()
    return said if len(said) <= limit else f"{said[: limit - 1]}…"


def _project(hold_or_pub: Hold | Publication) -> str:
    """« le projet « Nom » », or « votre projet » when it has no name."""
    name = _one_line(hold_or_pub.nom_projet)
    return f"le projet « {name} »" if name else "votre projet"


SIGNATURE = (
    "\n-- \n"
    f"{REGISTER}\n"
    "Une question ? Répondez à ce message : il parvient aux curateurs de la bibliothèque.\n"
    "Pour ne plus recevoir de message de la bibliothèque, répondez « ne plus recevoir »."
)


Paragraph = str | list[str] | tuple[str, str]  # a paragraph, a bulleted list, a link
BUTTON = (  # a link as a button, inline: mail programs ignore style sheets
    "display: inline-block; background: #000091; color: #fff; padding: 0.5em 1em; "
    "text-decoration: none; border-radius: 4px"
)


def _html(paragraphs: list[Paragraph]) -> str:
    """Plain HTML from paragraphs, lists and links (text, address), every value escaped."""
    out = [
        '<!doctype html><html lang="fr"><meta charset="utf-8">'
        '<body style="font-family: Marianne, Arial, sans-serif; line-height: 1.5; '
        'color: #161616; max-width: 40em; margin: 1.5em">'
    ]
    for paragraph in paragraphs:
        if isinstance(paragraph, list):
            items = "".join(f"<li>{html.escape(item)}</li>" for item in paragraph)
            out.append(f"<ul>{items}</ul>")
        elif isinstance(paragraph, tuple):
            said, url = paragraph
            out.append(
                f'<p><a href="{html.escape(url, quote=True)}" style="{BUTTON}">'
                f"{html.escape(said)}</a></p>"
            )
        else:
            out.append(f"<p>{html.escape(paragraph)}</p>")
    out.append(
        f'<hr style="border: 0; border-top: 1px solid #ddd"><p style="color: #666">'
        f"<small>{html.escape(REGISTER)}. Une question ? Répondez à ce message : il "
        "parvient aux curateurs de la bibliothèque. Pour ne plus recevoir de message de la "
        "bibliothèque, répondez « ne plus recevoir ».</small></p></body></html>"
    )
    return "\n".join(out)


def held(hold: Hold, reminder: bool = False) -> Letter | None:
    """To the contributor of a held submission: what to fix, field by field, and the link
    that opens the form with its answers. None when it gave no address that holds."""
    recipient = address_of(hold.contact)
    if recipient is None:
        return None
    project = _project(hold)
    where = f" ({_one_line(hold.coll_nom, 200)})" if hold.coll_nom else ""
    lines = [
        f"{p.label} : {p.message}"
        + (
            f" (saisi : « {_one_line(p.value, 200)} »)"
            if p.value and p.value not in p.message
            else ""
        )
        for p in hold.problems
    ] or ["une réponse manque ou ne peut pas être lue"]
    opening = (
        f"Il y a quelque temps, nous vous écrivions au sujet de {project}{where}, "
        f"décrit le {hold.submitted_at:%d/%m/%Y} : il attend toujours une correction pour "
        "être publié dans la bibliothèque."
        if reminder
        else f"Merci d'avoir décrit {project}{where} dans la {REGISTER}, le "
        f"{hold.submitted_at:%d/%m/%Y}. Il ne peut pas encore être publié :"
    )
    if hold.link:
        action = (
            "Pour le corriger, ouvrez ce lien : le formulaire s'ouvre avec vos réponses ; "
            "modifiez ce qui est indiqué, puis envoyez-le à nouveau. Le projet sera publié "
            "à la prochaine mise à jour de la bibliothèque."
        )
    else:
        action = "Pour le corriger, répondez à ce message : les curateurs s'en chargeront."
    text = "\n\n".join(
        [
            "Bonjour,",
            opening,
            "\n".join(f"- {line}" for line in lines),
            action + (f"\n{hold.link}" if hold.link else ""),
        ]
    )
    subject = (
        f"Rappel : {project} attend toujours une correction"
        if reminder
        else f"{project[0].upper()}{project[1:]} attend une correction avant sa publication"
    )
    paragraphs: list[Paragraph] = ["Bonjour,", opening, lines, action]
    if hold.link:
        paragraphs.append(("Corriger le projet", hold.link))
    return Letter(
        f"{RAPPEL if reminder else RETENUE}:{hold.submission_id}",
        RAPPEL if reminder else RETENUE,
        recipient,
        subject,
        text + "\n" + SIGNATURE,
        _html(paragraphs),
    )


def published(publication: Publication) -> Letter | None:
    """To the contributor of a project published for the first time: its page, and the link
    to update it later. None when it gave no address that holds."""
    recipient = address_of(publication.contact)
    if recipient is None:
        return None
    project = _project(publication)
    project = f"{project[0].upper()}{project[1:]}"
    where = f" ({_one_line(publication.coll_nom, 200)})" if publication.coll_nom else ""
    intro = f"{project}{where} est publié dans la {REGISTER}. Sa page :\n{publication.page_url}"
    update = (
        "Pour le mettre à jour plus tard (un nouveau statut, un résultat, une autre personne à "
        "contacter), gardez ce lien : il ouvre le formulaire avec vos réponses."
        + (f"\n{publication.link}" if publication.link else "")
        if publication.link
        else "Pour le mettre à jour plus tard, répondez à ce message."
    )
    text = "\n\n".join(["Bonjour,", intro, update, "Merci de partager votre expérience !"])
    paragraphs: list[Paragraph] = [
        "Bonjour,",
        f"{project}{where} est publié dans la {REGISTER}.",
        ("Voir sa page", publication.page_url),
        update.split("\n")[0],
    ]
    if publication.link:
        paragraphs.append(("Mettre à jour le projet", publication.link))
    paragraphs.append("Merci de partager votre expérience !")
    return Letter(
        f"{PUBLIE}:{publication.projet_id}",
        PUBLIE,
        recipient,
        f"{project} est publié",
        text + "\n" + SIGNATURE,
        _html(paragraphs),
    )


def _sections(news: News) -> list[tuple[str, list[str]]]:
    """The digest's sections, each a title and its lines."""
    found = [
        (
            "L'exécution a échoué : rien n'a changé, les exports précédents restent en place.",
            [_one_line(news.failure, 1_000)] if news.failure else [],
        ),
        (
            "Exécution(s) arrêtée(s) avant leur fin (processus tué ?), rien n'en a été gardé :",
            list(news.interrupted),
        ),
        (
            f"{len(news.holds)} soumission(s) nouvellement retenue(s) :",
            [_hold_line(hold) for hold in news.holds],
        ),
        (
            "Publication en retard (la prochaine exécution réessaie ; `bibia publish` : "
            "maintenant) :",
            [f"{target} : {_one_line(why, 500)}" for target, why in news.behind],
        ),
        (
            "Demandes d'accès à l'espace des membres (`bibia members requests`) :",
            [
                f"{email} ({_one_line(name, 100) or 'sans nom'}, SIRET {siret or 'inconnu'})"
                for email, name, siret in news.requests
            ],
        ),
        (
            "Message(s) refusé(s) pour de bon par le serveur de courrier :",
            [f"{who} : {_one_line(why, 300)}" for who, why in news.refused],
        ),
    ]
    return [(title, _capped(lines)) for title, lines in found if lines]


def _capped(lines: list[str]) -> list[str]:
    """At most DIGEST_LINES lines a section: a first digest over a whole register stays a
    message (`bibia status --held all` lists everything)."""
    if len(lines) <= DIGEST_LINES:
        return lines
    more = len(lines) - DIGEST_LINES
    return [*lines[:DIGEST_LINES], f"… et {more} autre(s) : `bibia status --held all`"]


def digest(news: News, curators: str) -> Letter | None:
    """To the curators: a run's news in one message (None: no news)."""
    if not news:
        return None
    sections = _sections(news)
    text = "\n\n".join(
        [
            f"Exécution {news.run_id}.",
            *(f"{title}\n" + "\n".join(f"- {item}" for item in items) for title, items in sections),
            "Le détail : `bibia status`.",
        ]
    )
    paragraphs: list[Paragraph] = [f"Exécution {news.run_id}."]
    for title, items in sections:
        paragraphs += [title, items]
    paragraphs.append("Le détail : bibia status.")
    counts = [
        what
        for what in (
            "échec" if news.failure else "",
            f"{len(news.holds)} retenue(s)" if news.holds else "",
            "publication en retard" if news.behind else "",
            f"{len(news.requests)} demande(s) d'accès" if news.requests else "",
            f"{len(news.interrupted)} exécution(s) interrompue(s)" if news.interrupted else "",
            f"{len(news.refused)} message(s) refusé(s)" if news.refused else "",
        )
        if what
    ]
    return Letter(
        f"{CURATEURS}:{news.run_id}{':echec' if news.failure else ''}",
        CURATEURS,
        curators,
        f"{REGISTER} : {', '.join(counts)}",
        text + "\n",
        _html(paragraphs),
    )


def _hold_line(hold: Hold) -> str:
    name = _one_line(hold.nom_projet) or "(projet absent)"
    what = f"{_one_line(hold.coll_nom, 80) or '(porteur absent)'} — {name}"
    reasons = "; ".join(f"{p.label} : {_one_line(p.message, 120)}" for p in hold.problems)
    reach = "" if address_of(hold.contact) else " ; pas d'adresse valable : à joindre autrement"
    return f"{hold.submission_id} {what} ({reasons or 'motif inconnu'}){reach}"


def message_id(key: str, sender: str) -> str:
    """The message's Message-ID, the same at every attempt (a receiver may drop a second)."""
    domain = sender_address(sender).rpartition("@")[2] or "bibia.invalid"
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def sender_address(mailbox: str) -> str:
    """The bare address of `Nom <adresse>` (or of an address alone)."""
    found = getaddresses([mailbox])
    return found[0][1] if found else ""


def email_of(
    letter: Letter, sender: str, curators: str, message_id_: str, now: datetime
) -> EmailMessage:
    """The e-mail: plain text and HTML, `Reply-To` the curators, `List-Unsubscribe` to them
    (a contributor who asks gets no more), marked automatic (no out-of-office replies)."""
    message = EmailMessage(policy=LONG_LINES)
    name, address = getaddresses([sender])[0]
    user, _, domain = address.partition("@")
    message["From"] = Address(name or REGISTER, user, domain)
    message["To"] = letter.recipient
    message["Reply-To"] = curators
    message["Subject"] = _one_line(letter.subject, 200)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id_
    message["Auto-Submitted"] = "auto-generated"
    if letter.kind != CURATEURS:
        first = sender_address(curators.split(",")[0])
        message["List-Unsubscribe"] = (
            f"<mailto:{first}?subject=Ne%20plus%20recevoir%20de%20message>"
        )
    message.set_content(letter.text)
    message.add_alternative(letter.html, subtype="html")
    return message
