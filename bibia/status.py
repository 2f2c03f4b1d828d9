"""`bibia status`: what a curator wants to know, readable in a terminal, in French."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from bibia.settings import Settings
from schemas.errors import RunLockedError
from schemas.text import printable
from schemas.times import now_utc
from warehouse.db import connect, first_row, lock_holder

EXPORT_FILES = ("bibliotheque_ia.csv", "bibliotheque_ia.parquet", "datapackage.json")
RUN_STATES = {
    "running": "en cours",
    "succeeded": "réussie",
    "failed": "échouée",
    "interrupted": "interrompue",
}


def _age(moment: datetime, now: datetime) -> str:
    seconds = int((now - moment).total_seconds())
    if seconds < 120:
        return f"il y a {seconds} s"
    if seconds < 7200:
        return f"il y a {seconds // 60} min"
    if seconds < 172800:
        return f"il y a {seconds // 3600} h"
    return f"il y a {seconds // 86400} jours"


def _shown(value: object) -> str:
    return printable(value)


def render(settings: Settings, runs: int = 10, held: int | None = 20, more: bool = False) -> str:
    """Last `runs` runs, the `held` most recent submissions in quarantine (None: all), the
    warnings' count, the exports' freshness."""
    now = now_utc()
    try:
        con = connect(settings.db_path, read_only=True)
    except RunLockedError:  # a run writes: what can be said without the warehouse
        return "\n".join([*_busy(settings, now), "", *_exports(settings, now)])
    out = [f"Entrepôt {settings.db_path}", ""]
    sections: list[Callable[[], list[str]]] = [
        lambda: _runs(con, runs),
        lambda: _held(con, settings, held),
        lambda: _set_aside(con),
        lambda: _decision_notes(con),
        lambda: _deliveries(con),
        lambda: _messages(con, settings),
    ]
    if more:
        sections.append(lambda: details(con))
    older = False
    for section in sections:
        try:
            out += section()
        except (duckdb.CatalogException, duckdb.BinderException):  # a table newer than it
            older = True
    con.close()
    if older:
        out += [
            "",
            "(l'entrepôt date d'une version précédente de bibia : ce qu'il n'a pas encore n'est "
            "pas montré ; la prochaine exécution le met à jour)",
        ]
    return "\n".join([*out, "", *_exports(settings, now)])


def _deliveries(con: Any) -> list[str]:
    """Each delivery target: its last success, and what waits (why it is behind)."""
    rows = con.execute(
        "SELECT target, address, behind, reason, last_attempt_at, last_success_at, last_commit "
        "FROM deliveries ORDER BY target"
    ).fetchall()
    if not rows:
        return []
    out = ["", "Livraisons (dépôts git, data.gouv.fr)"]
    for target, address, behind, reason, tried, succeeded, commit in rows:
        last = f"{succeeded:%Y-%m-%d %H:%M} UTC" if succeeded else "jamais"
        state = "EN RETARD" if behind else "à jour"
        out.append(f"  {target:<9} {state:<10} dernier succès : {last}  {address}")
        if commit:
            out.append(f"      dernier commit : {commit[:12]}")
        if behind:
            out.append(
                f"      en attente depuis l'essai du {tried:%Y-%m-%d %H:%M} UTC : "
                f"{_shown(reason or '')} ; la prochaine exécution réessaie (`bibia publish` : "
                "maintenant)"
            )
    return out


MESSAGE_KINDS = {
    "retenue": "retenue",
    "rappel": "rappel",
    "publie": "publication",
    "curateurs": "aux curateurs",
}


def _messages(con: Any, settings: Settings) -> list[str]:
    """The messages: how many went, what waits and why, what was refused for good."""
    counts = dict(
        con.execute(
            "SELECT CASE WHEN state = 'sent' AND sent_via = 'log' THEN 'logged' "
            "WHEN last_error = 'pas d''adresse valable' THEN 'unreachable' ELSE state END, "
            "count(*) FROM outbox "
            "WHERE created_run_id <> 'migration_015' GROUP BY ALL"
        ).fetchall()
    )
    if not counts or (settings.mail_mode == "off" and set(counts) <= {"cancelled", "unreachable"}):
        return []
    sent, logged = counts.get("sent", 0), counts.get("logged", 0)
    written = f" (dont {logged} en fichiers .eml seulement : BIBIA_MAIL=log)" if logged else ""
    out = [
        "",
        f"Messages (BIBIA_MAIL={settings.mail_mode}) : {sent + logged} envoyé(s){written}, "
        f"{counts.get('pending', 0)} en attente, {counts.get('refused', 0)} refusé(s) pour de "
        f"bon, {counts.get('unreachable', 0)} sans adresse valable, "
        f"{counts.get('cancelled', 0)} annulé(s)",
    ]
    rows = con.execute(
        "SELECT state, kind, recipient, attempts, last_error, last_attempt_at FROM outbox "
        "WHERE state IN ('pending', 'refused') AND created_run_id <> 'migration_015' "
        "ORDER BY state, last_attempt_at DESC NULLS LAST, key LIMIT 20"
    ).fetchall()
    for state, kind, recipient, attempts, error, tried in rows:
        when = f", dernier essai le {tried:%Y-%m-%d %H:%M} UTC" if tried else ""
        said = "en attente" if state == "pending" else "REFUSÉ"
        why = f" : {_shown(error)}" if error else ""
        out.append(
            f"  {said:<10} {MESSAGE_KINDS.get(kind, kind):<13} à {_shown(recipient)} "
            f"({attempts} essai(s){when}){why}"
        )
    return out


def _runs(con: Any, runs: int) -> list[str]:
    """The last `runs` runs, the most recent first."""
    out = ["Dernières exécutions"]
    rows = con.execute(
        """SELECT run_id, kind, status, started_at, ended_at, fetched, new, updated,
                  quarantined, exported, error
           FROM sync_runs ORDER BY started_at DESC LIMIT ?""",
        [runs],
    ).fetchall()
    if not rows:
        out.append("  (aucune)")
    for run_id, kind, status, started, ended, fetched, new, updated, kept, exported, error in rows:
        took = f"{(ended - started).total_seconds():.1f} s" if ended else "en cours"
        state = RUN_STATES.get(status, status)
        counts = (
            f"lues {fetched or 0}, nouvelles {new or 0}, modifiées {updated or 0}, "
            f"exportés {exported or 0}, en quarantaine {kept or 0}"
            if status in ("succeeded", "running")
            else "rien de gardé : les exports précédents restent en place"
        )
        out.append(
            f"  {started:%Y-%m-%d %H:%M} UTC  {state:<8} {kind:<9} {took:>8}  {counts}  [{run_id}]"
        )
        if error:
            out.append(f"      erreur : {_shown(error)}")
    return out


def _held(con: Any, settings: Settings, held: int | None) -> list[str]:
    """The `held` most recent submissions in quarantine (None: all), each with why; the counts
    of released holds and of warnings."""
    out: list[str] = []
    total_held = first_row(con, "SELECT count(*) FROM quarantine WHERE released_by IS NULL")
    held_rows = con.execute(
        """SELECT submission_id, submitted_at, since_at, coll_nom, nom_projet, projet_contact,
                  lien_correction
           FROM quarantine WHERE released_by IS NULL
           ORDER BY submitted_at DESC, submission_id LIMIT ?""",
        [held if held is not None else 2**31],
    ).fetchall()
    count = total_held[0] if total_held else 0
    shown = f", les {len(held_rows)} plus récentes ci-dessous" if len(held_rows) < count else ""
    out += ["", f"En quarantaine : {count} soumission(s) retenue(s){shown}"]
    reasons: dict[str, list[tuple[str, str | None, str]]] = {}
    for sid, field, value, message in con.execute(
        """SELECT i.submission_id, i.field, i.value, i.message FROM validation_issues i
           WHERE i.severity = 'error' AND i.submission_id IN (SELECT unnest(?))
           ORDER BY i.submission_id, i.field""",
        [[row[0] for row in held_rows]],
    ).fetchall():
        reasons.setdefault(sid, []).append((field, value, message))
    for sid, submitted_at, since_at, coll_nom, nom_projet, contact, link in held_rows:
        what = f"{coll_nom or '(porteur absent)'} — {nom_projet or '(projet absent)'}"
        out.append(f"  {sid}  {_shown(what)}")
        out.append(
            f"      envoyée le {submitted_at:%Y-%m-%d}, retenue depuis le {since_at:%Y-%m-%d} ; "
            f"contact : {_shown(contact) if contact else 'non renseigné'}"
        )
        for field, value, message in reasons.get(sid, []):
            typed = f" = « {value} »" if value is not None and value not in message else ""
            out.append(f"      {field}{_shown(typed)} : {_shown(message)}")
        if link:
            out.append(f"      lien de correction : {_shown(link)}")
    if shown:
        out.append(
            f"  (toutes : `bibia status --held all`, ou {settings.export_dir / 'restricted'}"
            "/quarantine.csv)"
        )
    released = first_row(con, "SELECT count(*) FROM quarantine WHERE released_by IS NOT NULL")
    if released and released[0]:
        out.append(
            f"  ({released[0]} autre(s) soumission(s) retenue(s) remplacée(s) depuis par une "
            "version plus récente : `bibia status --details`)"
        )
    warnings = first_row(
        con,
        "SELECT count(*), count(DISTINCT submission_id) FROM validation_issues "
        "WHERE severity = 'warning'",
    )
    if warnings and warnings[0]:
        out.append(
            f"  ({warnings[0]} avertissement(s) sur {warnings[1]} soumission(s), qui ne retiennent "
            "rien : `bibia status --details`)"
        )
    return out


def details(con: Any) -> list[str]:
    """What `--details` adds: the warnings (published all the same, what was typed kept), the
    projects the curators withdrew, the holds a later submission released."""
    out = ["", "Avertissements (publiés quand même ; ce qui a été saisi est gardé)"]
    rows = con.execute(
        """SELECT i.submission_id, i.field, i.value, i.message,
                  coalesce(v.nom_projet, q.nom_projet, '')
           FROM validation_issues i LEFT JOIN project_versions v USING (submission_id)
           LEFT JOIN quarantine q USING (submission_id)
           WHERE i.severity = 'warning' ORDER BY i.submission_id, i.field"""
    ).fetchall()
    for sid, field, value, message, name in rows:
        typed = f" = « {value} »" if value is not None and value not in message else ""
        out.append(
            f"  {sid} ({_shown(name) or 'sans nom'}) {field}{_shown(typed)} : {_shown(message)}"
        )
    if not rows:
        out.append("  (aucun)")
    out += ["", "Projets retirés par les curateurs"]
    rows = con.execute(
        """SELECT d.decision_id, w.projet_id, coalesce(p.nom_projet, ''), d.decided_by,
                  d.decided_at, d.reason
           FROM curator_decisions d JOIN withdrawn_projects w ON w.decision_id = d.decision_id
           LEFT JOIN (SELECT projet_id, any_value(nom_projet) AS nom_projet
                      FROM project_versions GROUP BY ALL) p ON p.projet_id = w.projet_id
           ORDER BY d.decided_at DESC"""
    ).fetchall()
    for decision_id, projet_id, name, by, at, reason in rows:
        out.append(
            f"  {projet_id} ({_shown(name) or 'sans nom'}) : retiré le {at:%Y-%m-%d} par "
            f"{_shown(by)} ({_shown(reason)}) [{decision_id}]"
        )
    if not rows:
        out.append("  (aucun)")
    out += ["", "Soumissions retenues puis remplacées par une version plus récente"]
    rows = con.execute(
        """SELECT submission_id, released_by, coalesce(nom_projet, ''), since_at
           FROM quarantine WHERE released_by IS NOT NULL ORDER BY since_at DESC"""
    ).fetchall()
    for sid, by, name, since in rows:
        out.append(
            f"  {sid} ({_shown(name) or 'sans nom'}), retenue depuis le {since:%Y-%m-%d}, "
            f"remplacée par {by}"
        )
    if not rows:
        out.append("  (aucune)")
    return out


def _set_aside(con: Any, shown: int = 10) -> list[str]:
    """What runs received and could not land (the dead letters), the most recent first."""
    count = first_row(con, "SELECT count(*) FROM set_aside")
    if not count or not count[0]:
        return []
    rows = con.execute(
        """SELECT source, submission_id, reason, spool_file, first_at, last_at, received
           FROM set_aside ORDER BY last_at DESC, set_aside_id LIMIT ?""",
        [shown],
    ).fetchall()
    out = [
        "",
        f"Mis de côté : {count[0]} élément(s) reçu(s) impossible(s) à enregistrer tel(s) quel(s) "
        "(jamais publié(s) ; rien d'autre n'est bloqué)",
    ]
    for source, sid, reason, spool_file, first_at, last_at, received in rows:
        origin = "liste de Tally" if source == "api" else "webhook"
        out.append(
            f"  {origin}, soumission {_shown(sid or '(sans identifiant)')} : {_shown(reason)}"
        )
        seen = f"reçu le {first_at:%Y-%m-%d %H:%M} UTC"
        if last_at != first_at:
            seen += f", encore le {last_at:%Y-%m-%d %H:%M} UTC"
        where = f" ; fichier set_aside/{spool_file} du spool" if spool_file else ""
        out.append(f"      {seen}{where}")
        out.append(f"      reçu : {_shown(received[:160])}{'…' if len(received) > 160 else ''}")
    if count[0] > shown:
        out.append("  (tous : SELECT * FROM set_aside ORDER BY last_at DESC)")
    return out


def _decision_notes(con: Any) -> list[str]:
    """Curators' decisions the last run refused, or followed under a new project id."""
    rows = con.execute(
        """SELECT decision_id, state, state_note FROM curator_decisions
           WHERE state_note IS NOT NULL ORDER BY decision_id"""
    ).fetchall()
    if not rows:
        return []
    out = ["", "Décisions des curateurs à regarder"]
    for decision_id, state, note in rows:
        what = "refusée" if state == "refused" else "retrait"
        out.append(f"  {decision_id} ({what}) : {_shown(note)}")
    return out


def _busy(settings: Settings, now: datetime) -> list[str]:
    holder = lock_holder(settings.db_path)
    if holder is None:
        who = "un autre processus (une connexion d'analyste ?) l'a ouvert en écriture"
    else:
        pid, since = holder
        started = datetime.fromtimestamp(since, UTC).replace(tzinfo=None)
        who = f"une exécution est en cours (processus {pid}, commencée {_age(started, now)})"
    return [
        f"Entrepôt {settings.db_path}",
        "",
        f"  Occupé : {who}. Les exécutions, la quarantaine et les avertissements se liront "
        "quand elle sera finie ; les exports ci-dessous restent ceux de la dernière "
        "publication, complets.",
    ]


def _webhook(settings: Settings, now: datetime) -> list[str]:
    """The webhook's spool: what waits for a run, and the last event received."""
    from bibia.webhook import spool_status

    waiting, last = spool_status(settings)
    if last is None:
        return []
    received = datetime.fromtimestamp(last, UTC).replace(tzinfo=None)
    return [
        f"Webhook : dernier événement reçu le {received:%Y-%m-%d %H:%M} UTC "
        f"({_age(received, now)}) ; {waiting} en attente de la prochaine exécution "
        f"({settings.spool_folder})",
        "",
    ]


def _exports(settings: Settings, now: datetime) -> list[str]:
    out = [*_webhook(settings, now), f"Exports dans {settings.export_dir}"]
    for access in ("public", "restricted"):
        folder = Path(settings.export_dir) / access
        stamps = [
            datetime.fromtimestamp((folder / name).stat().st_mtime, UTC).replace(tzinfo=None)
            for name in EXPORT_FILES
            if (folder / name).exists()
        ]
        label = "public" if access == "public" else "réservé"
        if len(stamps) < len(EXPORT_FILES):
            out.append(f"  {label:<8} absents (aucune exécution réussie)")
        else:
            newest = max(stamps)
            out.append(f"  {label:<8} écrits le {newest:%Y-%m-%d %H:%M} UTC ({_age(newest, now)})")
    return out


def summary(report: Any, settings: Settings, demo: bool = False) -> str:
    """What a run did, in French: curators read it."""
    state = RUN_STATES.get(report.status, report.status)
    delivered = [f"  livraison {line}" for line in report.deliveries]
    if report.mail:
        delivered.append(f"  messages : {report.mail}")
    if report.files_written == 0:
        return "\n".join(
            [
                f"exécution {report.run_id} ({report.kind}) {state} : rien de nouveau "
                f"({report.fetched} lues) ; les exports restent tels quels "
                f"({report.exported} projets, {report.quarantined} en quarantaine)",
                *delivered,
            ]
        )
    lines = [
        f"exécution {report.run_id} ({report.kind}) {state} : "
        f"{report.fetched} lues, {report.new} nouvelles, {report.updated} modifiées, "
        f"{report.exported} projets exportés, {report.quarantined} en quarantaine",
        f"  entrepôt : {settings.db_path}",
        f"  exports :  {settings.export_dir / 'public'} et {settings.export_dir / 'restricted'}",
    ]
    lines += delivered
    if report.quarantined:
        status = "bibia status --demo" if demo else "bibia status"
        lines.append(f"  `{status}` dit ce qui attend en quarantaine, et pourquoi")
    return "\n".join(lines)


def run_summary(settings: Settings, report: Any, error: str | None) -> str:
    """A run's summary in Markdown, for the Prefect UI (an artifact of the flow run): counts,
    what was held back and why, warnings, notes. `report`: the run's (None when it failed)."""
    out = ["# Exécution bibia", ""]
    if report is None:
        out += [f"**Échec** : {printable(error)}", "", "Rien n'a changé (entrepôt et exports)."]
        return "\n".join(out)
    state = RUN_STATES.get(report.status, report.status)
    out += [
        f"Exécution `{report.run_id}` ({report.kind}) **{state}**.",
        "",
        "| lues | nouvelles | modifiées | retirées | projets exportés | en quarantaine | "
        "fichiers réécrits |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {report.fetched} | {report.new} | {report.updated} | {report.deleted} | "
        f"{report.exported} | {report.quarantined} | {report.files_written or 0} |",
    ]
    con = connect(settings.db_path, read_only=True)
    try:
        reasons = con.execute(
            """SELECT i.field, i.message, count(*) FROM validation_issues i
               JOIN quarantine q USING (submission_id)
               WHERE q.released_by IS NULL AND i.severity = 'error'
               GROUP BY ALL ORDER BY 3 DESC, 1, 2 LIMIT 10"""
        ).fetchall()
        warnings = con.execute(
            """SELECT field, count(*) FROM validation_issues WHERE severity = 'warning'
               GROUP BY ALL ORDER BY 2 DESC, 1 LIMIT 10"""
        ).fetchall()
    finally:
        con.close()
    if reasons:  # a list, not a table: a reason is read whole (a table's column is cut)
        out += ["", "## Retenues, et pourquoi", ""]
        out += [f"- **{f}** ({n} soumission(s)) : {_cell(m)}" for f, m, n in reasons]
    if warnings:
        out += [
            "",
            "## Avertissements (publiés quand même)",
            "",
            "| champ | nombre |",
            "|---|---:|",
        ]
        out += [f"| {f} | {n} |" for f, n in warnings]
    if report.deliveries:
        out += ["", "## Livraisons", ""] + [f"- {_cell(line)}" for line in report.deliveries]
    if report.mail:
        out += ["", "## Messages", "", f"- {_cell(report.mail)}"]
    if report.notes:
        out += ["", "## Notes", ""] + [f"- {_cell(note)}" for note in report.notes]
    return "\n".join(out)


def _cell(text: object) -> str:
    """Text for a Markdown table cell: printable, no pipe, no line break."""
    return printable(text).replace("|", "\\|").replace("\n", " ")
