"""Curator decisions, as data: a correction of one field of one submission, a withdrawal of a
project from the exports. They live in a YAML file kept beside the configuration (and under
version control): the warehouse is rebuilt from Tally plus configuration, and curators'
decisions are configuration. `bibia curate` writes the file; every sync and rebuild applies it.

A decision is never deleted: ending it (revoking a correction, restoring a withdrawn project)
records who ended it, when and why, so the file is the decisions' whole history.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from schemas.errors import ConfigError
from schemas.files import load_yaml
from schemas.project import form_fields
from schemas.times import seconds_z, utc_naive

CORRECT, WITHDRAW = "correct", "withdraw"
Value = str | list[str] | None  # what a correction sets (None: the field emptied)


def parse_moment(text: Any, where: str) -> datetime:
    """An ISO-8601 instant as a naive UTC datetime."""
    try:
        return utc_naive(text if isinstance(text, datetime) else str(text))
    except ValueError:
        raise ConfigError(f"{where} : {text!r} n'est pas une date et heure ISO-8601") from None


@dataclass(frozen=True)
class Ending:
    """Who ended a decision (revoked a correction, restored a project), when and why."""

    by: str
    at: datetime
    reason: str


@dataclass(frozen=True)
class Decision:
    """One curator decision. `correct`: `submission_id`'s `field` is set to `value`;
    `withdraw`: project `projet_id` is kept out of the exports."""

    decision_id: str
    action: str
    reason: str
    by: str
    at: datetime
    submission_id: str | None = None
    field: str | None = None
    value: Value = None
    projet_id: str | None = None
    ended: Ending | None = None
    # withdraw: the project's submissions when it was withdrawn, so that the withdrawal
    # follows the project when a correction gives it another id
    submissions: tuple[str, ...] = ()

    @property
    def in_force(self) -> bool:
        return self.ended is None

    def as_yaml(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.decision_id, "action": self.action}
        if self.action == CORRECT:
            out.update(submission_id=self.submission_id, field=self.field, value=self.value)
        else:
            out["projet_id"] = self.projet_id
            if self.submissions:
                out["submissions"] = list(self.submissions)
        out.update(reason=self.reason, by=self.by, at=seconds_z(self.at))
        if self.ended is not None:
            out["ended"] = {
                "by": self.ended.by,
                "at": seconds_z(self.ended.at),
                "reason": self.ended.reason,
            }
        return out

    @classmethod
    def from_yaml(cls, item: Any, where: str) -> Decision:
        if not isinstance(item, dict):
            raise ConfigError(f"{where} : chaque décision est un dictionnaire (nom: valeur)")
        try:
            action = str(item["action"])
            ended = item.get("ended")
            decision = cls(
                decision_id=str(item["id"]),
                action=action,
                reason=str(item["reason"]),
                by=str(item["by"]),
                at=parse_moment(item["at"], where),
                submission_id=str(item["submission_id"]) if action == CORRECT else None,
                field=str(item["field"]) if action == CORRECT else None,
                value=_value(item.get("value"), where) if action == CORRECT else None,
                projet_id=str(item["projet_id"]) if action == WITHDRAW else None,
                submissions=_submissions(item.get("submissions"), where)
                if action == WITHDRAW
                else (),
                ended=(
                    Ending(str(ended["by"]), parse_moment(ended["at"], where), str(ended["reason"]))
                    if isinstance(ended, dict)
                    else None
                ),
            )
        except KeyError as missing:
            raise ConfigError(f"{where} : il manque {missing} à une décision") from None
        if action not in (CORRECT, WITHDRAW):
            raise ConfigError(f"{where} : action inconnue {action!r} (correct ou withdraw)")
        if action == CORRECT and decision.field not in form_fields():
            raise ConfigError(
                f"{where} : la décision {decision.decision_id} corrige {decision.field!r}, "
                "qui n'est pas un champ du formulaire"
            )
        return decision


def _submissions(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"{where} : les `submissions` d'un retrait sont une liste d'identifiants de soumission"
    )


def _value(value: Any, where: str) -> Value:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{where} : une valeur corrigée est un texte ou une liste de textes")


@dataclass(frozen=True)
class Decisions:
    """Every decision of the file, in the order they were taken."""

    items: tuple[Decision, ...] = ()
    path: Path | None = field(default=None, compare=False)
    # decision id -> why it is refused (a hand-written value that does not hold): applied to
    # nothing, shown to the curators
    refused: dict[str, str] = field(default_factory=dict, compare=False)

    HEADER = (
        "# Décisions des curateurs de la Bibliothèque d'IA territoriales.\n"
        "# Écrites par `bibia curate` ; appliquées à chaque `bibia sync` et `bibia rebuild`.\n"
        "# Une décision n'est jamais effacée : `ended` dit qui l'a levée, quand et pourquoi.\n"
    )

    @classmethod
    def load(cls, path: Path) -> Decisions:
        """The file's decisions; no file yet means no decision."""
        data = load_yaml(path, "fichier des décisions", missing_ok=True)
        if not isinstance(data, dict) or not isinstance(data.get("decisions") or [], list):
            raise ConfigError(f"fichier des décisions {path} : une liste `decisions:` est attendue")
        items = tuple(Decision.from_yaml(d, str(path)) for d in data.get("decisions") or [])
        ids = [d.decision_id for d in items]
        if len(set(ids)) != len(ids):
            raise ConfigError(
                f"fichier des décisions {path} : deux décisions ont le même identifiant"
            )
        return cls(items, path)

    def text(self) -> str:
        body = {"version": 1, "decisions": [d.as_yaml() for d in self.items]}
        dumped = yaml.safe_dump(body, allow_unicode=True, sort_keys=False, width=100)
        return self.HEADER + dumped

    def adding(self, decision: Decision) -> Decisions:
        return Decisions((*self.items, decision), self.path)

    def ending(self, decision_ids: str | set[str], ending: Ending) -> Decisions:
        ended = {decision_ids} if isinstance(decision_ids, str) else decision_ids
        items = tuple(replace(d, ended=ending) if d.decision_id in ended else d for d in self.items)
        return Decisions(items, self.path)

    def refusing(self, refused: dict[str, str]) -> Decisions:
        """The same decisions, those of `refused` applied to nothing."""
        return Decisions(self.items, self.path, dict(refused))

    def get(self, decision_id: str) -> Decision | None:
        return next((d for d in self.items if d.decision_id == decision_id), None)

    def in_force(self) -> list[Decision]:
        """The decisions a run applies: not ended, not refused."""
        return [d for d in self.items if d.in_force and d.decision_id not in self.refused]

    def corrections(self) -> dict[str, dict[str, Decision]]:
        """submission id -> field -> the correction in force (the latest one wins)."""
        out: dict[str, dict[str, Decision]] = {}
        for d in self.in_force():
            if d.action == CORRECT and d.submission_id and d.field:
                out.setdefault(d.submission_id, {})[d.field] = d
        return out

    def withdrawals(self) -> list[Decision]:
        """Every withdrawal in force."""
        return [d for d in self.in_force() if d.action == WITHDRAW and d.projet_id]

    def fingerprint(self) -> str:
        """Changes when a decision in force is added, changed or ended."""
        text = repr((sorted(repr(asdict(d)) for d in self.in_force()), sorted(self.refused)))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def new_decision_id(action: str, now: datetime, salt: str) -> str:
    """`c-` or `w-` and 8 hex digits: short enough to type, unique enough for one register."""
    digest = hashlib.sha256(f"{action}|{now.isoformat()}|{salt}".encode()).hexdigest()
    return f"{action[0]}-{digest[:8]}"


def corrected(
    mapped: dict[str, Any], corrections: dict[str, Decision]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The mapped answers with the curators' corrections applied, and the trace they leave on
    the record: field -> who set it, when, why, and what the contributor had answered."""
    if not corrections:
        return mapped, {}
    out = dict(mapped)
    trace: dict[str, Any] = {}
    for name, decision in corrections.items():
        trace[name] = {
            "decision_id": decision.decision_id,
            "by": decision.by,
            "at": seconds_z(decision.at),
            "reason": decision.reason,
            "typed": mapped.get(name),
        }
        out[name] = decision.value
    return out, trace
