"""`bibia members add|remove|grant|revoke|list|requests|journal`: the curators change the
membership file (under a lock: two commands at once never lose a change) and read what the
members' space recorded. Every message is French: curators read them."""

from __future__ import annotations

import getpass
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bibia.members.journal import Journal
from bibia.settings import Settings
from schemas.errors import ConfigError
from schemas.files import exclusive, write_atomically
from schemas.times import now_utc
from transforms.membership import (
    ADD,
    GRANT,
    REMOVE,
    REVOKE,
    Change,
    Membership,
    email_key,
    organisation_key,
)


@contextmanager
def changing(path: Path) -> Iterator[Membership]:
    """The membership file as it is now, under an exclusive lock kept until the change is
    saved."""
    with exclusive(path, "une autre commande `bibia members` modifie"):
        yield Membership.load(path)


def _curator(settings: Settings) -> str:
    return settings.curator or getpass.getuser()


def _change(settings: Settings, action: str, target: str, reason: str, **more: object) -> Change:
    if not reason.strip():
        raise ConfigError("--reason ne peut pas être vide : dites pourquoi")
    now = now_utc()
    return Change(
        change_id=f"m-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
        action=action,
        target=target,
        by=_curator(settings),
        at=now,
        reason=reason.strip(),
        **more,  # type: ignore[arg-type]
    )


def _save(settings: Settings, membership: Membership, change: Change) -> None:
    write_atomically(settings.members_path, membership.with_change(change).text())


def add(settings: Settings, organisation: str, name: str | None, reason: str) -> str:
    key = organisation_key(organisation)
    with changing(settings.members_path) as membership:
        if key in membership.organisations():
            return f"{key} est déjà membre : rien n'a changé"
        change = _change(settings, ADD, key, reason, name=name)
        _save(settings, membership, change)
    what = "SIREN (tous ses établissements)" if len(key) == 9 else "SIRET"
    return f"{change.change_id} : {name or key} ({what} {key}) est membre"


def remove(settings: Settings, organisation: str, reason: str) -> str:
    key = organisation_key(organisation)
    with changing(settings.members_path) as membership:
        if key not in membership.organisations():
            return f"{key} n'est pas membre : rien n'a changé"
        change = _change(settings, REMOVE, key, reason)
        _save(settings, membership, change)
    return (
        f"{change.change_id} : {key} n'est plus membre (ses agents sont refusés dès leur "
        "prochaine page)"
    )


def grant(settings: Settings, email: str, name: str | None, curator: bool, reason: str) -> str:
    key = email_key(email)
    with changing(settings.members_path) as membership:
        change = _change(settings, GRANT, key, reason, name=name, curator=curator)
        _save(settings, membership, change)
    role = "curateur ou curatrice" if curator else "accès accordé"
    return f"{change.change_id} : {key} : {role}"


def revoke(settings: Settings, email: str, reason: str) -> str:
    key = email_key(email)
    with changing(settings.members_path) as membership:
        change = _change(settings, REVOKE, key, reason)
        _save(settings, membership, change)
    return (
        f"{change.change_id} : {key} : accès retiré, effectif dès sa prochaine page "
        "(quelle que soit sa session)"
    )


def listing(settings: Settings) -> str:
    membership = Membership.load(settings.members_path)
    lines = [f"Membres ({settings.members_path})"]
    if membership.contact:
        lines.append(f"contact pour les demandes : {membership.contact}")
    organisations = membership.organisations()
    lines.append(f"\nOrganisations membres : {len(organisations)}")
    for key, change in sorted(organisations.items()):
        label = "SIREN" if len(key) == 9 else "SIRET"
        lines.append(
            f"  {label} {key}  {change.name or ''}  (ajoutée le {change.at:%d/%m/%Y} par "
            f"{change.by} : {change.reason})"
        )
    people = membership.people()
    lines.append(f"\nPersonnes : {len(people)}")
    for email, change in sorted(people.items()):
        state = (
            "accès retiré"
            if change.action == REVOKE
            else "curateur ou curatrice"
            if change.curator
            else "accès accordé"
        )
        lines.append(
            f"  {email}  {state}  (le {change.at:%d/%m/%Y} par {change.by} : {change.reason})"
        )
    lines.append(f"\n{len(membership.changes)} changement(s) dans l'historique du fichier")
    return "\n".join(lines)


def requests(settings: Settings) -> str:
    journal = Journal(settings.members_journal, settings.members_journal_days)
    try:
        found = journal.requests()
    finally:
        journal.close()
    if not found:
        return "Aucune demande d'accès : personne de non membre ne s'est connecté."
    lines = [f"Demandes d'accès ({len(found)}) : personnes connectées sans être membres"]
    for r in found:
        who = " ".join(n for n in (r.given_name, r.usual_name) if n)
        lines.append(
            f"  {r.last_at}  {r.email}  {who}  SIRET {r.siret or '?'}  ({r.times} fois depuis "
            f"le {r.first_at[:10]})"
        )
    lines.append(
        "Pour accorder : `bibia members grant ADRESSE --reason ...` ou "
        "`bibia members add SIREN --reason ...`"
    )
    return "\n".join(lines)


def journal(settings: Settings, email: str | None, limit: int) -> str:
    opened = Journal(settings.members_journal, settings.members_journal_days)
    try:
        reads = opened.reads(email, limit)
    finally:
        opened.close()
    kept = f"gardé {settings.members_journal_days:g} jours"
    if not reads:
        return f"Journal des accès ({kept}) : aucune lecture."
    lines = [f"Journal des accès ({kept}), du plus récent : {len(reads)} lecture(s)"]
    lines += [f"  {r.read_at}  {r.email}  {r.status}  /{r.path.lstrip('/')}" for r in reads]
    return "\n".join(lines)
