"""Who may read the members' edition, as data: the curators' changes to the membership, kept in
a YAML file (like their decisions, under version control), never deleted, each with who, when
and why. The state is the changes read in order: for each organisation and each person, the
latest change says.

- an organisation is a member by its SIREN (an authority's every establishment) or one SIRET:
  `add`, `remove`;
- a person, by e-mail (the stable key ProConnect gives; `sub` differs per identity provider):
  `grant` (with or without the curator role) lets them in whatever their organisation;
  `revoke` keeps them out whatever their organisation, until a later `grant`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from schemas.errors import ConfigError
from schemas.files import load_yaml
from schemas.times import seconds_z, utc_naive

ADD, REMOVE, GRANT, REVOKE = "add", "remove", "grant", "revoke"
ACTIONS = (ADD, REMOVE, GRANT, REVOKE)
SIREN = re.compile(r"^\d{9}$")
SIRET = re.compile(r"^\d{14}$")
EMAIL = re.compile(r"^[^@\s<>\"',;]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
HEADER = (
    "# Qui peut lire l'édition des membres de la Bibliothèque d'IA territoriales.\n"
    "# Changé par `bibia members add|remove|grant|revoke` : chaque changement garde qui l'a\n"
    "# fait, quand et pourquoi ; aucun n'est effacé. `contact` : à qui un non-membre écrit.\n"
)


def organisation_key(text: str) -> str:
    """A SIREN (9 digits) or a SIRET (14), spaces removed; a `ConfigError` otherwise."""
    digits = re.sub(r"[\s.]", "", str(text))
    if not (SIREN.match(digits) or SIRET.match(digits)):
        raise ConfigError(f"{text!r} n'est ni un SIREN (9 chiffres) ni un SIRET (14 chiffres)")
    return digits


def email_key(text: str) -> str:
    """An e-mail address, lower-cased (ProConnect's stable key for a person)."""
    email = str(text).strip().lower()
    if not EMAIL.match(email):
        raise ConfigError(f"{text!r} n'est pas une adresse électronique")
    return email


@dataclass(frozen=True)
class Change:
    """One change of the membership: `add`/`remove` an organisation (`target`: a SIREN or a
    SIRET), `grant`/`revoke` a person (`target`: an e-mail; `curator`: the curator role)."""

    change_id: str
    action: str
    target: str
    by: str
    at: datetime
    reason: str
    name: str | None = None  # the organisation's or the person's name, for people to read
    curator: bool = False

    def as_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "change_id": self.change_id,
            "action": self.action,
            "target": self.target,
        }
        if self.name:
            data["name"] = self.name
        if self.curator:
            data["curator"] = True
        data |= {"by": self.by, "at": seconds_z(self.at), "reason": self.reason}
        return data


@dataclass(frozen=True)
class Access:
    """What the membership says of one person: whether they may read, as a curator, and why
    (a sentence, in French, for them and for the journal)."""

    allowed: bool
    curator: bool
    why: str


@dataclass(frozen=True)
class Membership:
    """The membership file: its changes, in order, and whom a non-member should write to."""

    changes: tuple[Change, ...] = ()
    contact: str | None = None

    @classmethod
    def load(cls, path: Path) -> Membership:
        """The file (an absent one: nobody is a member yet); a `ConfigError` naming the change
        for anything it cannot hold."""
        data = load_yaml(path, "fichier des membres", missing_ok=True)
        contact = data.get("contact")
        if contact is not None and not isinstance(contact, str):
            raise ConfigError(f"{path} : `contact` prend un texte (une adresse, une page)")
        items = data.get("changes") or []
        if not isinstance(items, list):
            raise ConfigError(f"{path} : `changes` prend une liste")
        changes = tuple(
            _change(item, f"{path} : changement {i + 1}") for i, item in enumerate(items)
        )
        seen: set[str] = set()
        for change in changes:
            if change.change_id in seen:
                raise ConfigError(f"{path} : change_id {change.change_id} est donné deux fois")
            seen.add(change.change_id)
        return cls(changes, contact)

    def text(self) -> str:
        data: dict[str, Any] = {}
        if self.contact:
            data["contact"] = self.contact
        data["changes"] = [change.as_data() for change in self.changes]
        return HEADER + yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)

    def with_change(self, change: Change) -> Membership:
        return replace(self, changes=(*self.changes, change))

    def organisations(self) -> dict[str, Change]:
        """Each member organisation (SIREN or SIRET) -> the change that made it one."""
        latest: dict[str, Change] = {}
        for change in self.changes:
            if change.action in (ADD, REMOVE):
                latest[change.target] = change
        return {key: c for key, c in latest.items() if c.action == ADD}

    def people(self) -> dict[str, Change]:
        """Each person a curator granted or revoked (e-mail) -> the latest such change."""
        latest: dict[str, Change] = {}
        for change in self.changes:
            if change.action in (GRANT, REVOKE):
                latest[change.target] = change
        return latest

    def access(self, email: str, siret: str | None) -> Access:
        """May this person (their e-mail, their organisation's SIRET as ProConnect gives it)
        read the members' edition now?"""
        person = self.people().get(email.strip().lower())
        if person is not None and person.action == REVOKE:
            return Access(False, False, f"accès retiré le {person.at:%d/%m/%Y} ({person.reason})")
        if person is not None:
            role = "curateur ou curatrice" if person.curator else "accès accordé"
            return Access(True, person.curator, f"{role} le {person.at:%d/%m/%Y}")
        organisations = self.organisations()
        siret = siret or ""
        for key in (siret, siret[:9]):
            member = organisations.get(key) if SIRET.match(siret) else None
            if member is not None:
                label = "SIRET" if len(key) == 14 else "SIREN"
                named = f"{member.name} ({label} {key})" if member.name else f"{label} {key}"
                return Access(True, False, f"membre au titre de {named}")
        return Access(False, False, "organisation non membre des Interconnectés")

    def fingerprint(self) -> str:
        return hashlib.sha256(self.text().encode()).hexdigest()


def _change(item: Any, where: str) -> Change:
    if not isinstance(item, dict):
        raise ConfigError(f"{where} doit être un dictionnaire (nom: valeur)")
    action = item.get("action")
    if action not in ACTIONS:
        raise ConfigError(f"{where} : action prend l'une de {', '.join(ACTIONS)}, pas {action!r}")
    for key in ("change_id", "target", "by", "at", "reason"):
        if not isinstance(item.get(key), str | int | datetime) or not str(item[key]).strip():
            raise ConfigError(f"{where} : `{key}` manque")
    target = str(item["target"])
    target = organisation_key(target) if action in (ADD, REMOVE) else email_key(target)
    try:
        at = utc_naive(item["at"] if isinstance(item["at"], datetime) else str(item["at"]))
    except ValueError:
        raise ConfigError(f"{where} : `at` {item['at']!r} n'est pas un instant ISO-8601") from None
    name = item.get("name")
    return Change(
        change_id=str(item["change_id"]),
        action=action,
        target=target,
        by=str(item["by"]),
        at=at,
        reason=str(item["reason"]),
        name=str(name) if name else None,
        curator=item.get("curator") is True,
    )
