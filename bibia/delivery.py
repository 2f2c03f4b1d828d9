"""After a run's publication on disk: the public site, the Datami feed and the open data
delivered where people read them (`publish/deliver/`): the site's git branch (GitHub Pages),
the current site's repository, data.gouv.fr. Each target is optional.

A delivery never fails the run: a target that did not receive everything is marked behind in
`deliveries` with its reason (French), and the next run (or `bibia publish`) tries again; a
transient failure (the network, a server error) is tried again within the run first. A run
that changed nothing public delivers nothing, unless a target is behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from bibia.settings import Settings
from publish.deliver import ProjectChanges
from publish.deliver.datagouv import Portal, Upload, upload
from publish.deliver.git import Author, Delivered, DeliveryFailed, GitTarget, deliver
from publish.site.build import SITE
from schemas.datapackage import EXPORT_NAME
from schemas.errors import ConfigError
from schemas.project import PUBLIC
from schemas.tables import columns_of

log = logging.getLogger("bibia")
SITE_TARGET, FEED_TARGET, DATAGOUV_TARGET = "site", "feed", "datagouv"
FEED_FOLDER = "datami"
T = TypeVar("T")


@dataclass(frozen=True)
class Outcome:
    """What one target received (`said`, French), or why it is behind (`behind`)."""

    target: str
    address: str
    said: str
    behind: str | None = None
    commit: str | None = None


def configured(settings: Settings) -> list[str]:
    """The targets these settings name."""
    found = []
    if settings.publish_site_repo:
        found.append(SITE_TARGET)
    if settings.publish_feed_repo:
        found.append(FEED_TARGET)
    if settings.datagouv_dataset or settings.datagouv_api_key:
        if not (settings.datagouv_dataset and settings.datagouv_api_key):
            raise ConfigError("DATAGOUV_DATASET et DATAGOUV_API_KEY vont ensemble")
        found.append(DATAGOUV_TARGET)
    return found


def author_of(text: str) -> Author:
    found = re.match(r"^\s*(.+?)\s*<([^<>\s]+@[^<>\s]+)>\s*$", text)
    if found is None:
        raise ConfigError(f"BIBIA_PUBLISH_AUTHOR prend « Nom <adresse> », pas {text!r}")
    return Author(found.group(1), found.group(2))


def files_under(folder: Path) -> dict[str, Path]:
    """Every file under `folder`, by its path there."""
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def message_of(changes: ProjectChanges | None, run_id: str) -> str:
    """The commit's message: what changed for readers, and the run."""
    if changes is None:
        return f"Registre publié à nouveau (rattrapage, {run_id})"
    parts = [
        f"{n} projet{'s' if n > 1 else ''} {word}{'s' if n > 1 else ''}"
        for n, word in (
            (changes.added, "ajouté"),
            (changes.updated, "mis à jour"),
            (changes.withdrawn, "retiré"),
        )
        if n
    ]
    said = ", ".join(parts) if parts else "pages et données mises à jour"
    return f"Registre : {said} (exécution {run_id})\n\nPublié par bibia."


def deliver_all(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: str,
    now: datetime,
    changes: ProjectChanges | None,
    force: bool = False,
) -> list[Outcome]:
    """Deliver to every configured target that needs it: the run changed what is public
    (`changes`), the target is behind or never received anything, or `force`."""
    outcomes = []
    rows = con.execute("SELECT target, behind FROM deliveries").fetchall()
    behind = {target: late for target, late in rows}
    for target in configured(settings):
        if not (force or changes is not None or behind.get(target, True)):
            continue
        outcome = _attempt(target, settings, run_id, changes, con)
        _record(con, outcome, run_id, now)
        outcomes.append(outcome)
        log.debug("livraison %s : %s", target, outcome.behind or outcome.said)
    return outcomes


def _attempt(
    target: str,
    settings: Settings,
    run_id: str,
    changes: ProjectChanges | None,
    con: duckdb.DuckDBPyConnection,
) -> Outcome:
    address = _address(target, settings)
    try:
        if target == DATAGOUV_TARGET:
            said = _retrying(lambda: _to_datagouv(settings, con), settings.publish_backoff_seconds)
            return Outcome(target, address, said)
        message = message_of(changes, run_id)
        pushed = _retrying(
            lambda: _to_git(target, settings, message), settings.publish_backoff_seconds
        )
    except DeliveryFailed as exc:
        return Outcome(target, address, "", behind=str(exc))
    except Exception as exc:  # a bug or a resource gone: the target waits, the run goes on
        log.debug("delivery to %s failed", target, exc_info=True)
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        return Outcome(
            target, address, "", behind=f"erreur inattendue ({type(exc).__name__}: {first})"
        )
    if pushed.commit is None:
        return Outcome(target, address, "rien de nouveau : aucun commit")
    sent = f"{pushed.bytes_sent:,}".replace(",", "\u202f")
    said = (
        f"commit {pushed.commit[:12]} : {pushed.added} fichier(s) ajouté(s), "
        f"{pushed.changed} modifié(s), {pushed.removed} supprimé(s), {sent} octets envoyés"
    )
    return Outcome(target, address, said, commit=pushed.commit)


def _retrying(attempt: Callable[[], T], backoff: float) -> T:
    """`attempt`, tried again after a transient failure: after `backoff`, then five times it."""
    for pause in (backoff, backoff * 5, None):
        try:
            return attempt()
        except DeliveryFailed as exc:
            if not exc.transient or pause is None:
                raise
            log.info("livraison : %s ; nouvel essai dans %g s", exc, pause)
            time.sleep(pause)
    raise AssertionError("unreachable")


def _address(target: str, settings: Settings) -> str:
    if target == SITE_TARGET:
        return f"{settings.publish_site_repo} ({settings.publish_site_branch})"
    if target == FEED_TARGET:
        where = settings.publish_feed_path or "/"
        return f"{settings.publish_feed_repo} ({settings.publish_feed_branch}, {where})"
    return f"{settings.datagouv_api_url} (jeu {settings.datagouv_dataset})"


def _to_git(target: str, settings: Settings, message: str) -> Delivered:
    public = settings.export_dir / PUBLIC
    if target == SITE_TARGET:
        assert settings.publish_site_repo
        where = GitTarget(
            target, settings.publish_site_repo, settings.publish_site_branch, "", True
        )
        files = files_under(public / SITE)
    else:
        assert settings.publish_feed_repo
        folder = settings.publish_feed_path.strip("/")
        where = GitTarget(target, settings.publish_feed_repo, settings.publish_feed_branch, folder)
        files = files_under(public / FEED_FOLDER)
    if not files:
        raise DeliveryFailed(f"rien de publié dans {public} : lancer `bibia sync`", False)
    return deliver(
        where,
        files,
        message,
        author_of(settings.publish_author),
        settings.delivery_folder / target,
        settings.git_token,
        settings.publish_timeout_seconds,
    )


def _to_datagouv(settings: Settings, con: duckdb.DuckDBPyConnection) -> str:
    """The public files whose bytes changed since they were last uploaded, replaced."""
    assert settings.datagouv_dataset and settings.datagouv_api_key
    public = settings.export_dir / PUBLIC
    schema = _table_schema(public, settings.delivery_folder / DATAGOUV_TARGET)
    uploads = [
        Upload(
            public / f"{EXPORT_NAME}.csv",
            "Bibliothèque d'IA territoriales (CSV)",
            "Les projets d'IA des collectivités, une ligne par projet (UTF-8, virgules).",
            "csv",
            follows_schema=True,
        ),
        Upload(
            public / f"{EXPORT_NAME}.parquet",
            "Bibliothèque d'IA territoriales (Parquet)",
            "Les mêmes données en Parquet, les listes gardées en listes.",
            "parquet",
            follows_schema=True,
        ),
        Upload(
            public / "datapackage.json",
            "Description des fichiers (Data Package)",
            "La description Frictionless des deux fichiers.",
            "json",
        ),
        Upload(
            schema,
            "Schéma des données (Table Schema)",
            "Le schéma que suivent le CSV et le Parquet : champs, types, valeurs permises.",
            "json",
        ),
    ]
    kept = {
        row[0]: (row[1], row[2])
        for row in con.execute(
            "SELECT file_name, resource_id, sha256 FROM datagouv_resources"
        ).fetchall()
    }
    digests = {u.path.name: hashlib.sha256(u.path.read_bytes()).hexdigest() for u in uploads}
    changed = [u for u in uploads if kept.get(u.path.name, ("", ""))[1] != digests[u.path.name]]
    if not changed:
        return "rien de nouveau : aucune ressource remplacée"
    portal = Portal(settings.datagouv_api_url, settings.datagouv_dataset)
    known = {name: rid for name, (rid, _digest) in kept.items()}
    done = upload(
        portal,
        settings.datagouv_api_key,
        changed,
        known,
        schema.name,
        settings.publish_timeout_seconds,
    )
    for item in done:
        con.execute(
            "INSERT OR REPLACE INTO datagouv_resources VALUES (?, ?, ?, current_timestamp)",
            [item.name, item.resource_id, digests[item.name]],
        )
    made = sum(item.made for item in done)
    return f"{len(done)} ressource(s) remplacée(s) ({made} créée(s)) : " + ", ".join(
        f"{item.name} → {item.stable_url}" for item in done
    )


def _table_schema(public: Path, folder: Path) -> Path:
    """The Table Schema the CSV and the Parquet follow, from the public datapackage."""
    package = json.loads((public / "datapackage.json").read_text(encoding="utf-8"))
    schema: dict[str, Any] = package["resources"][0]["schema"]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{EXPORT_NAME}.schema.json"
    text = json.dumps(schema, ensure_ascii=False, indent=2) + "\n"
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def _record(con: duckdb.DuckDBPyConnection, outcome: Outcome, run_id: str, now: datetime) -> None:
    """The target's row: its last attempt, and its last success or why it is behind."""
    columns = columns_of("deliveries")
    if outcome.behind is None:
        con.execute(
            f"INSERT OR REPLACE INTO deliveries ({', '.join(columns)}) VALUES "
            "(?, ?, false, NULL, ?, ?, coalesce(?, (SELECT last_commit FROM deliveries "
            "WHERE target = ?)), ?, NULL)",
            [outcome.target, outcome.address, now, now, outcome.commit, outcome.target, run_id],
        )
        return
    con.execute(
        f"INSERT OR REPLACE INTO deliveries ({', '.join(columns)}) "
        "SELECT ?, ?, true, ?, ?, d.last_success_at, d.last_commit, d.last_run_id, "
        "CASE WHEN d.behind THEN coalesce(d.behind_since_at, ?) ELSE ? END "
        "FROM (SELECT 1) LEFT JOIN deliveries d ON d.target = ?",
        [outcome.target, outcome.address, outcome.behind, now, now, now, outcome.target],
    )
