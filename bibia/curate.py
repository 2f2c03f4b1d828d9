"""`bibia curate`: the curators' decisions, checked against the warehouse, then written to the
decisions file (`BIBIA_DECISIONS`). The next sync or rebuild applies them.

Every refusal is one line and exit 2, and leaves the file as it was. Every change of the file
is read, made and written under an exclusive lock beside it, then renamed into place: two
commands at once never lose a decision that either acknowledged.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bibia.settings import Settings
from schemas.errors import ConfigError, RunLockedError
from schemas.files import exclusive, write_atomically
from schemas.kinds import KINDS
from schemas.project import form_fields
from schemas.taxonomy import Taxonomy
from schemas.text import printable
from schemas.times import now_utc
from transforms.curation import CORRECT, WITHDRAW, Decision, Decisions, Ending, new_decision_id
from transforms.derive import correction_problems, refused_decisions
from warehouse.db import connect


def curator(settings: Settings) -> str:
    """Who decides: BIBIA_CURATOR, else the user running the command."""
    if settings.curator:
        return settings.curator
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "inconnu"


@contextlib.contextmanager
def changing(path: Path) -> Iterator[Decisions]:
    """The decisions file as it is now, under an exclusive lock kept until the change is
    saved: the read, the change and the write of one command are never interleaved with
    another's."""
    with exclusive(path, "un autre `bibia curate` modifie"):
        yield Decisions.load(path)


def save(decisions: Decisions, path: Path) -> None:
    """Write the file atomically: a reader (a sync) sees the old file or the new one."""
    write_atomically(path, decisions.text())


def _one(settings: Settings, sql: str, params: list[Any]) -> tuple[Any, ...] | None:
    rows = _all(settings, sql, params)
    return rows[0] if rows else None


def _all(settings: Settings, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    if not settings.db_path.exists():
        raise ConfigError(f"pas d'entrepôt à {settings.db_path} : lancer d'abord `bibia sync`")
    try:
        con = connect(settings.db_path, read_only=True)
    except RunLockedError as exc:
        raise ConfigError(str(exc)) from None
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


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
    many = KINDS[fields[field].metadata["kind"]].many
    given = [v for v in values if v.strip()]
    if not many and len(given) > 1:
        raise ConfigError(f"{field} prend une seule valeur ({len(given)} données)")
    value: str | list[str] | None = (given or None) if many else (given[0] if given else None)
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    normalised, problems = correction_problems(field, value, taxonomy)
    if problems:
        raise ConfigError(f"valeur refusée pour {field} : {' ; '.join(problems)}")
    known = _one(
        settings,
        "SELECT submission_id FROM raw_tally_submissions WHERE submission_id = ?",
        [submission_id],
    )
    if known is None:
        raise ConfigError(f"soumission inconnue {submission_id!r} dans {settings.db_path}")
    why = _reason(reason)
    with changing(settings.decisions_path) as decisions:
        now = now_utc()
        decision = Decision(
            decision_id=_unused(decisions, CORRECT, now, f"{submission_id}|{field}|{value}"),
            action=CORRECT,
            reason=why,
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
    """Keep a project out of both exports (an authority asked for it to be taken down). The
    decision records the project's submissions: it follows the project if a correction of its
    name or SIRET gives it another id."""
    why = _reason(reason)
    known = _one(
        settings,
        "SELECT nom_projet, (SELECT list(submission_id ORDER BY submission_id) "
        "FROM project_versions WHERE projet_id = $1) FROM project_versions "
        "WHERE projet_id = $1 ORDER BY submitted_at DESC LIMIT 1",
        [projet_id],
    )
    if known is None:
        raise ConfigError(
            f"projet inconnu {projet_id!r} dans {settings.db_path}"
            + _looks_like_a_submission(settings, projet_id)
        )
    with changing(settings.decisions_path) as decisions:
        if _withdrawals_of(settings, decisions, projet_id):
            raise ConfigError(f"le projet {projet_id} est déjà retiré")
        now = now_utc()
        decision = Decision(
            decision_id=_unused(decisions, WITHDRAW, now, projet_id),
            action=WITHDRAW,
            reason=why,
            by=curator(settings),
            at=now,
            projet_id=projet_id,
            submissions=tuple(known[1]),
        )
        save(decisions.adding(decision), settings.decisions_path)
    return (
        f"décision {decision.decision_id} : « {known[0]} » ({projet_id}) sera retiré des "
        "exports au prochain `bibia sync` ou `bibia rebuild`"
    )


def _looks_like_a_submission(settings: Settings, text: str) -> str:
    """What to say when a project id was expected and a submission id was given."""
    found = _one(settings, "SELECT projet_id FROM project_versions WHERE submission_id = ?", [text])
    if found is None:
        return " (un identifiant de projet compte 16 caractères : `bibia status` les montre)"
    return (
        f" : c'est l'identifiant d'une soumission, celle du projet {found[0]} "
        f"(`bibia curate withdraw {found[0]} ...`)"
    )


def _withdrawals_of(settings: Settings, decisions: Decisions, projet_id: str) -> list[Decision]:
    """Every withdrawal in force that keeps `projet_id` out: made on that id, or following
    the project there since a correction gave it a new id (as the last run found it)."""
    followed: set[str] = set()
    if settings.db_path.exists():
        with contextlib.suppress(ConfigError):
            rows = _all(
                settings,
                "SELECT decision_id FROM withdrawn_projects WHERE projet_id = ?",
                [projet_id],
            )
            followed = {r[0] for r in rows}
    return [
        d for d in decisions.withdrawals() if d.projet_id == projet_id or d.decision_id in followed
    ]


def restore(settings: Settings, projet_id: str, reason: str) -> str:
    """End every withdrawal in force of a project: it comes back at the next run."""
    why = _reason(reason)
    with changing(settings.decisions_path) as decisions:
        withdrawals = _withdrawals_of(settings, decisions, projet_id)
        if not withdrawals:
            raise ConfigError(f"le projet {projet_id} n'est pas retiré")
        ending = Ending(curator(settings), now_utc(), why)
        ended = {d.decision_id for d in withdrawals}
        save(decisions.ending(ended, ending), settings.decisions_path)
    return (
        f"décision(s) {', '.join(sorted(ended))} levée(s) : {projet_id} revient dans les "
        "exports au prochain `bibia sync` ou `bibia rebuild`"
    )


def revoke(settings: Settings, decision_id: str, reason: str) -> str:
    """End a correction: the submission is derived again as its contributor sent it."""
    why = _reason(reason)
    with changing(settings.decisions_path) as decisions:
        decision = decisions.get(decision_id)
        if decision is None:
            raise ConfigError(f"décision inconnue {decision_id!r} dans {settings.decisions_path}")
        if not decision.in_force:
            raise ConfigError(f"la décision {decision_id} est déjà levée")
        if decision.action == WITHDRAW:
            raise ConfigError(
                f"{decision_id} retire un projet : `bibia curate restore` le rétablit"
            )
        ending = Ending(curator(settings), now_utc(), why)
        save(decisions.ending(decision_id, ending), settings.decisions_path)
    return f"décision {decision_id} levée (au prochain `bibia sync` ou `bibia rebuild`)"


def _unused(decisions: Decisions, action: str, now: Any, salt: str) -> str:
    """A new decision id, never one the file holds (two commands in the same instant)."""
    decision_id, attempt = new_decision_id(action, now, salt), 0
    while decisions.get(decision_id) is not None:
        attempt += 1
        decision_id = new_decision_id(action, now, f"{salt}|{attempt}")
    return decision_id


STATES = {
    "in_force": "en vigueur",
    "no_longer_applies": "sans objet : le contributeur a envoyé une version plus récente",
    "unknown": "sans effet : soumission ou projet inconnu de l'entrepôt",
    "ended": "levée",
    "refused": "refusée",
}


def listing(settings: Settings, everything: bool = False) -> str:
    """The decisions in force (with `everything`, the ended ones too), each with its state as
    the last run applied it."""
    decisions = Decisions.load(settings.decisions_path)
    refused = refused_decisions(decisions, Taxonomy.load(settings.taxonomy_path))
    states: dict[str, str] = {}
    notes: dict[str, str] = {}
    if settings.db_path.exists():
        from warehouse.curation import decision_states

        try:
            con = connect(settings.db_path, read_only=True)
        except RunLockedError:
            con = None
        if con is not None:
            try:
                found = decision_states(con)
                states = {did: state for did, (state, _n) in found.items()}
                notes = {did: note for did, (_s, note) in found.items() if note}
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
        if d.decision_id in refused and not d.ended:
            state = f"refusée, appliquée à rien : {_text(refused[d.decision_id])}"
        elif notes.get(d.decision_id) and not d.ended:
            state = f"{state} ({_text(notes[d.decision_id])})"
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
