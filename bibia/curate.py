"""`bibia curate`: the curators' decisions, checked against the warehouse, then written to the
decisions file (`BIBIA_DECISIONS`). The next sync or rebuild applies them.

Every refusal is one line and exit 2, and leaves the file as it was.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from pathlib import Path
from typing import Any

from bibia.settings import Settings
from schemas.errors import ConfigError, RunLockedError
from schemas.project import form_fields
from schemas.taxonomy import Taxonomy
from schemas.text import printable
from schemas.times import now_utc
from transforms.curation import CORRECT, WITHDRAW, Decision, Decisions, Ending, new_decision_id
from transforms.derive import Normaliser
from transforms.validate import value_problems
from warehouse.db import connect


def curator(settings: Settings) -> str:
    """Who decides: BIBIA_CURATOR, else the user running the command."""
    if settings.curator:
        return settings.curator
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "inconnu"


def save(decisions: Decisions, path: Path) -> None:
    """Write the file atomically: a reader (a sync) sees the old file or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(decisions.text())
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _one(settings: Settings, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    if not settings.db_path.exists():
        raise ConfigError(f"pas d'entrepôt à {settings.db_path} : lancer d'abord `bibia sync`")
    try:
        con = connect(settings.db_path, read_only=True)
    except RunLockedError as exc:
        raise ConfigError(str(exc)) from None
    try:
        rows = con.execute(sql, params).fetchall()
    finally:
        con.close()
    return rows[0] if rows else None


def _reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason:
        raise ConfigError('une décision dit pourquoi : --reason "..."')
    return reason


def correct(
    settings: Settings, submission_id: str, field: str, values: list[str], reason: str
) -> str:
    """Set `field` of one submission to the value given (several for a list field)."""
    fields = form_fields()
    if field not in fields:
        raise ConfigError(
            f"champ inconnu {field!r} : les champs corrigeables sont {', '.join(fields)}"
        )
    kind = fields[field].metadata["kind"]
    given = [v for v in values if v.strip()]
    if kind != "enum_list" and len(given) > 1:
        raise ConfigError(f"{field} prend une seule valeur ({len(given)} données)")
    value: str | list[str] | None = (
        (given or None) if kind == "enum_list" else (given[0] if given else None)
    )
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    normalised = None if value is None else Normaliser(taxonomy).fields[field](value)
    problems = value_problems(field, normalised, taxonomy)
    if problems:
        raise ConfigError(f"valeur refusée pour {field} : {' ; '.join(problems)}")
    known = _one(
        settings,
        "SELECT submission_id FROM raw_tally_submissions WHERE submission_id = ?",
        [submission_id],
    )
    if known is None:
        raise ConfigError(f"soumission inconnue {submission_id!r} dans {settings.db_path}")
    decisions = Decisions.load(settings.decisions_path)
    now = now_utc()
    decision = Decision(
        decision_id=new_decision_id(CORRECT, now, f"{submission_id}|{field}|{value}"),
        action=CORRECT,
        reason=_reason(reason),
        by=curator(settings),
        at=now,
        submission_id=submission_id,
        field=field,
        value=normalised,  # the canonical form, as the exports will carry it
    )
    save(decisions.adding(decision), settings.decisions_path)
    return (
        f"décision {decision.decision_id} : {field} de la soumission {submission_id} "
        f"= « {normalised if not isinstance(normalised, list) else ', '.join(normalised)} » "
        "(appliquée au prochain `bibia sync` ou `bibia rebuild`)"
    )


def withdraw(settings: Settings, projet_id: str, reason: str) -> str:
    """Keep a project out of both exports (an authority asked for it to be taken down)."""
    decisions = Decisions.load(settings.decisions_path)
    if projet_id in decisions.withdrawn():
        raise ConfigError(f"le projet {projet_id} est déjà retiré")
    known = _one(
        settings,
        "SELECT nom_projet FROM project_versions WHERE projet_id = ? "
        "ORDER BY submitted_at DESC LIMIT 1",
        [projet_id],
    )
    if known is None:
        raise ConfigError(f"projet inconnu {projet_id!r} dans {settings.db_path}")
    now = now_utc()
    decision = Decision(
        decision_id=new_decision_id(WITHDRAW, now, projet_id),
        action=WITHDRAW,
        reason=_reason(reason),
        by=curator(settings),
        at=now,
        projet_id=projet_id,
    )
    save(decisions.adding(decision), settings.decisions_path)
    return (
        f"décision {decision.decision_id} : « {known[0]} » ({projet_id}) sera retiré des "
        "exports au prochain `bibia sync` ou `bibia rebuild`"
    )


def restore(settings: Settings, projet_id: str, reason: str) -> str:
    """End the withdrawal in force of a project: it comes back at the next run."""
    decisions = Decisions.load(settings.decisions_path)
    withdrawal = decisions.withdrawn().get(projet_id)
    if withdrawal is None:
        raise ConfigError(f"le projet {projet_id} n'est pas retiré")
    ending = Ending(curator(settings), now_utc(), _reason(reason))
    save(decisions.ending(withdrawal.decision_id, ending), settings.decisions_path)
    return (
        f"décision {withdrawal.decision_id} levée : {projet_id} revient dans les exports au "
        "prochain `bibia sync` ou `bibia rebuild`"
    )


def revoke(settings: Settings, decision_id: str, reason: str) -> str:
    """End a correction: the submission is derived again as its contributor sent it."""
    decisions = Decisions.load(settings.decisions_path)
    decision = decisions.get(decision_id)
    if decision is None:
        raise ConfigError(f"décision inconnue {decision_id!r} dans {settings.decisions_path}")
    if not decision.in_force:
        raise ConfigError(f"la décision {decision_id} est déjà levée")
    if decision.action == WITHDRAW:
        raise ConfigError(f"{decision_id} retire un projet : `bibia curate restore` le rétablit")
    ending = Ending(curator(settings), now_utc(), _reason(reason))
    save(decisions.ending(decision_id, ending), settings.decisions_path)
    return f"décision {decision_id} levée (au prochain `bibia sync` ou `bibia rebuild`)"


STATES = {
    "in_force": "en vigueur",
    "no_longer_applies": "sans objet : le contributeur a envoyé une version plus récente",
    "unknown": "sans effet : soumission ou projet inconnu de l'entrepôt",
    "ended": "levée",
}


def listing(settings: Settings, everything: bool = False) -> str:
    """The decisions in force (with `everything`, the ended ones too), each with its state as
    the last run applied it."""
    decisions = Decisions.load(settings.decisions_path)
    states: dict[str, str] = {}
    if settings.db_path.exists():
        from warehouse.curation import decision_states

        try:
            con = connect(settings.db_path, read_only=True)
        except RunLockedError:
            con = None
        if con is not None:
            try:
                states = {did: s for did, (s, _p) in decision_states(con).items()}
            finally:
                con.close()
    shown = [d for d in decisions.items if everything or d.in_force]
    lines = [
        f"Décisions {'(toutes)' if everything else 'en vigueur'} : {len(shown)} "
        f"— fichier {settings.decisions_path}"
    ]
    for d in shown:
        what = (
            f"corrige {d.field} de la soumission {d.submission_id} = « {_text(d.value)} »"
            if d.action == CORRECT
            else f"retire le projet {d.projet_id}"
        )
        state = "levée" if d.ended else STATES.get(states.get(d.decision_id, ""), "")
        lines.append(f"  {d.decision_id}  {what}")
        lines.append(f"      par {_text(d.by)} le {d.at:%Y-%m-%d %H:%M} UTC : {_text(d.reason)}")
        if d.ended is not None:
            lines.append(
                f"      levée par {_text(d.ended.by)} le {d.ended.at:%Y-%m-%d %H:%M} UTC : "
                f"{_text(d.ended.reason)}"
            )
        lines.append(f"      état : {state or 'en attente du prochain `bibia sync`'}")
    return "\n".join(lines)


def _text(value: str | list[str] | None) -> str:
    """A value for the terminal: escapes shown, never run."""
    if isinstance(value, list):
        return printable(", ".join(value))
    return printable(value or "")
