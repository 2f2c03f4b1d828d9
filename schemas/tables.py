"""Contracts of the warehouse's other tables. Like `ProjectVersion`, each column carries its
title, description, access level and kind; the DDL test checks the migrations against them."""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from schemas.kinds import KINDS
from schemas.project import INTERNAL, ProjectVersion, column

RUN_STATUSES = ["running", "succeeded", "failed", "interrupted"]
SEVERITIES = ["error", "warning"]


class RawTallySubmission(pa.DataFrameModel):
    """A completed Tally submission, exactly as received."""

    submission_id: Series[str] = column(
        "Soumission", "Tally submission id.", access=INTERNAL, kind="id", required=True
    )
    form_id: Series[str] = column(
        "Formulaire", "Tally form id.", access=INTERNAL, kind="id", required=True
    )
    respondent_id: Series[str] = column(
        "Répondant", "Tally respondent id.", access=INTERNAL, kind="id"
    )
    submitted_at: Series[pd.Timestamp] = column(
        "Soumis le (UTC)",
        "When Tally received it.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )
    payload: Series[str] = column(
        "Contenu",
        "The submission object as received (JSON).",
        access=INTERNAL,
        kind="json",
        required=True,
    )
    content_hash: Series[str] = column(
        "Empreinte",
        "sha256 of the canonical JSON payload.",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    first_run_id: Series[str] = column(
        "Vue d'abord par", "Run that first saw it.", access=INTERNAL, kind="id", required=True
    )
    content_run_id: Series[str] = column(
        "Contenu vu d'abord par",
        "Run that first saw this content.",
        access=INTERNAL,
        kind="id",
        required=True,
    )
    first_seen_at: Series[pd.Timestamp] = column(
        "Vue le (UTC)", "When it was first seen.", access=INTERNAL, kind="timestamp", required=True
    )
    content_seen_at: Series[pd.Timestamp] = column(
        "Contenu vu le (UTC)",
        "When this content was first seen.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )
    deleted_run_id: Series[str] = column(
        "Supprimée selon", "Full run that no longer found it.", access=INTERNAL, kind="id"
    )
    deleted_at: Series[pd.Timestamp] = column(
        "Supprimée le (UTC)", "When it was found deleted.", access=INTERNAL, kind="timestamp"
    )
    landed_by: Series[str] = column(
        "Arrivée par",
        "The path that brought it first: api (polling) or webhook.",
        access=INTERNAL,
        kind="id",
    )
    polled_at: Series[pd.Timestamp] = column(
        "Lue par l'API le (UTC)",
        "When polling last brought it (empty: only the webhook has).",
        access=INTERNAL,
        kind="timestamp",
    )


class RawTallyForm(pa.DataFrameModel):
    """What the form said of its questions, one row per distinct content (`rebuild` maps answers
    with it, without the network)."""

    form_id: Series[str] = column(
        "Formulaire", "Tally form id.", access=INTERNAL, kind="id", required=True
    )
    content_hash: Series[str] = column(
        "Empreinte", "sha256 of the snapshot.", access=INTERNAL, kind="text", required=True
    )
    questions: Series[str] = column(
        "Questions", "The form's questions (JSON).", access=INTERNAL, kind="json", required=True
    )
    definition: Series[str] = column(
        "Définition", "The form's blocks (JSON).", access=INTERNAL, kind="json"
    )
    run_id: Series[str] = column(
        "Exécution", "Run that read it last.", access=INTERNAL, kind="id", required=True
    )
    fetched_at: Series[pd.Timestamp] = column(
        "Lu le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )


class RawTallySubmissionHistory(pa.DataFrameModel):
    """A content a submission had before it was edited in Tally."""

    submission_id: Series[str] = column(
        "Soumission", "Tally submission id.", access=INTERNAL, kind="id", required=True
    )
    content_hash: Series[str] = column(
        "Empreinte", "sha256 of that content.", access=INTERNAL, kind="text", required=True
    )
    payload: Series[str] = column(
        "Contenu", "The submission as it was (JSON).", access=INTERNAL, kind="json", required=True
    )
    run_id: Series[str] = column(
        "Exécution", "Run that first saw that content.", access=INTERNAL, kind="id", required=True
    )
    seen_at: Series[pd.Timestamp] = column(
        "Vu le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )


class TaxonomyTerm(pa.DataFrameModel):
    """A value of a vocabulary, as the taxonomy in force at the last run says."""

    vocabulary: Series[str] = column(
        "Vocabulaire",
        "theme, sous_theme, coll_type...",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    code: Series[str] = column("Code", "Stable code.", access=INTERNAL, kind="id", required=True)
    label: Series[str] = column(
        "Libellé", "What the exports carry.", access=INTERNAL, kind="text", required=True
    )
    parent_code: Series[str] = column(
        "Thème parent", "A sub-theme's theme.", access=INTERNAL, kind="id"
    )
    group_label: Series[str] = column(
        "Groupe", "A type of authority's group.", access=INTERNAL, kind="text"
    )
    position: Series[int] = column(
        "Rang", "Its place in the vocabulary.", access=INTERNAL, kind="integer", required=True
    )
    taxonomy_version: Series[str] = column(
        "Version", "Of the taxonomy.", access=INTERNAL, kind="text", required=True
    )


class SchemaMigration(pa.DataFrameModel):
    """A migration applied to the warehouse (written by warehouse/migrate.py)."""

    version: Series[int] = column(
        "Version", "NNN of its file name.", access=INTERNAL, kind="integer", required=True
    )
    name: Series[str] = column("Fichier", "Its file.", access=INTERNAL, kind="text", required=True)
    checksum: Series[str] = column(
        "Empreinte", "sha256 of its SQL.", access=INTERNAL, kind="text", required=True
    )
    applied_at: Series[pd.Timestamp] = column(
        "Appliquée le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )


class Quarantine(pa.DataFrameModel):
    """A submission held back from the exports until it is fixed."""

    submission_id: Series[str] = column(
        "Soumission", "Tally submission id.", access=INTERNAL, kind="id", required=True
    )
    submitted_at: Series[pd.Timestamp] = column(
        "Soumis le (UTC)",
        "When Tally received it.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )
    since_run_id: Series[str] = column(
        "Retenue depuis", "First run that held it back.", access=INTERNAL, kind="id", required=True
    )
    since_at: Series[pd.Timestamp] = column(
        "Retenue le (UTC)",
        "When it was first held back.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )
    reason: Series[str] = column(
        "Motif", "The errors, field by field.", access=INTERNAL, kind="text", required=True
    )
    coll_nom: Series[str] = column(
        "Porteur", "The authority, as typed.", access=INTERNAL, kind="text"
    )
    nom_projet: Series[str] = column(
        "Projet", "The project, as typed.", access=INTERNAL, kind="text"
    )
    coll_siret: Series[str] = column(
        "SIRET", "The SIRET, as normalised (maybe invalid).", access=INTERNAL, kind="text"
    )
    projet_contact: Series[str] = column(
        "Contact", "The contact e-mail, as typed: whom to write to.", access=INTERNAL, kind="text"
    )
    projet_id: Series[str] = column(
        "Projet (identifiant)",
        "The project it would be a version of.",
        access=INTERNAL,
        kind="id",
    )
    projet_ref: Series[str] = column(
        "Référence de correction",
        "The submission it updates (correction link).",
        access=INTERNAL,
        kind="id",
    )
    lien_correction: Series[str] = column(
        "Lien de correction",
        "The form's link that carries its reference and answers: what its contributor follows.",
        access=INTERNAL,
        kind="url",
    )
    curation: Series[str] = column(
        "Corrections des curateurs", "Fields set by curators.", access=INTERNAL, kind="json"
    )
    released_by: Series[str] = column(
        "Remplacée par",
        "A later submission of its project (or one sent through its correction link): it no "
        "longer waits for anything.",
        access=INTERNAL,
        kind="id",
    )


class ValidationIssue(pa.DataFrameModel):
    """A problem found in a submission: an error holds it back, a warning does not."""

    run_id: Series[str] = column(
        "Exécution", "Run that found it.", access=INTERNAL, kind="id", required=True
    )
    submission_id: Series[str] = column(
        "Soumission", "Tally submission id.", access=INTERNAL, kind="id", required=True
    )
    field: Series[str] = column(
        "Champ", "Field of the data model.", access=INTERNAL, kind="text", required=True
    )
    value: Series[str] = column(
        "Valeur", "The offending value, as normalised.", access=INTERNAL, kind="text"
    )
    severity: Series[str] = column(
        "Gravité", "error or warning.", access=INTERNAL, kind="text", required=True
    )
    message: Series[str] = column(
        "Message",
        "What is wrong, for a curator (in French).",
        access=INTERNAL,
        kind="text",
        required=True,
    )

    @pa.check("severity")
    def known_severity(cls, severity: pd.Series) -> pd.Series:
        return severity.isin(SEVERITIES)


class SyncRun(pa.DataFrameModel):
    """One run of sync or rebuild, recorded even when it fails."""

    run_id: Series[str] = column(
        "Exécution",
        "Run id (start time and a random suffix).",
        access=INTERNAL,
        kind="id",
        required=True,
    )
    kind: Series[str] = column(
        "Type", "sync, sync_full or rebuild.", access=INTERNAL, kind="text", required=True
    )
    form_id: Series[str] = column("Formulaire", "Tally form id.", access=INTERNAL, kind="id")
    started_at: Series[pd.Timestamp] = column(
        "Début (UTC)", "Start.", access=INTERNAL, kind="timestamp", required=True
    )
    ended_at: Series[pd.Timestamp] = column("Fin (UTC)", "End.", access=INTERNAL, kind="timestamp")
    status: Series[str] = column(
        "État", "running, succeeded or failed.", access=INTERNAL, kind="text", required=True
    )
    fetched: Series[int] = column(
        "Lues", "Completed submissions read from Tally.", access=INTERNAL, kind="integer"
    )
    new: Series[int] = column(
        "Nouvelles", "Submissions never seen before.", access=INTERNAL, kind="integer"
    )
    updated: Series[int] = column(
        "Modifiées",
        "Submissions seen before with another content.",
        access=INTERNAL,
        kind="integer",
    )
    quarantined: Series[int] = column(
        "En quarantaine", "Submissions held back after the run.", access=INTERNAL, kind="integer"
    )
    exported: Series[int] = column(
        "Exportés", "Projects in the exports after the run.", access=INTERNAL, kind="integer"
    )
    requests: Series[int] = column(
        "Requêtes", "HTTP requests made to Tally.", access=INTERNAL, kind="integer"
    )
    error: Series[str] = column(
        "Erreur", "Why the run failed (one line).", access=INTERNAL, kind="text"
    )
    files_written: Series[int] = column(
        "Fichiers écrits",
        "Export files the run rewrote (0: nothing new, the exports were left as they were).",
        access=INTERNAL,
        kind="integer",
    )


DECISION_STATES = ["in_force", "no_longer_applies", "unknown", "ended", "refused"]


class CuratorDecision(pa.DataFrameModel):
    """A decision of the curators' file, as the last run applied it."""

    decision_id: Series[str] = column(
        "Décision", "Its id in the decisions file.", access=INTERNAL, kind="id", required=True
    )
    action: Series[str] = column(
        "Action", "correct or withdraw.", access=INTERNAL, kind="text", required=True
    )
    submission_id: Series[str] = column(
        "Soumission", "correct: the submission corrected.", access=INTERNAL, kind="id"
    )
    field: Series[str] = column("Champ", "correct: the field set.", access=INTERNAL, kind="text")
    value: Series[str] = column(
        "Valeur", "correct: the value set (JSON).", access=INTERNAL, kind="json"
    )
    projet_id: Series[str] = column(
        "Projet",
        "The project (withdraw: the one kept out of the exports).",
        access=INTERNAL,
        kind="id",
    )
    reason: Series[str] = column(
        "Motif", "Why, in the curator's words.", access=INTERNAL, kind="text", required=True
    )
    decided_by: Series[str] = column(
        "Par", "Who decided.", access=INTERNAL, kind="text", required=True
    )
    decided_at: Series[pd.Timestamp] = column(
        "Le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )
    ended_by: Series[str] = column(
        "Levée par", "Who revoked or restored it.", access=INTERNAL, kind="text"
    )
    ended_at: Series[pd.Timestamp] = column(
        "Levée le (UTC)", "When.", access=INTERNAL, kind="timestamp"
    )
    end_reason: Series[str] = column("Motif de levée", "Why.", access=INTERNAL, kind="text")
    state: Series[str] = column(
        "État",
        "in_force; no_longer_applies (the contributor has since sent a new version); unknown "
        "(no such submission or project); ended; refused (a hand-written decision that does "
        "not hold: applied to nothing).",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    state_note: Series[str] = column(
        "Précision",
        "refused: why; a withdrawal that follows its project under a new id: that id.",
        access=INTERNAL,
        kind="text",
    )

    @pa.check("state")
    def known_state(cls, state: pd.Series) -> pd.Series:
        return state.isin(DECISION_STATES)


class AuthorityRecord(pa.DataFrameModel):
    """An authority as the official register knows it (the enrichment's cache)."""

    siret: Series[str] = column(
        "SIRET", "SIRET looked up.", access=INTERNAL, kind="siret", required=True
    )
    siren: Series[str] = column(
        "SIREN", "Its first 9 digits.", access=INTERNAL, kind="id", required=True
    )
    found: Series[bool] = column(
        "Connu", "Known to the register.", access=INTERNAL, kind="boolean", required=True
    )
    official_name: Series[str] = column(
        "Nom officiel", "nom_raison_sociale.", access=INTERNAL, kind="text"
    )
    legal_category: Series[str] = column(
        "Catégorie juridique", "INSEE nature juridique.", access=INTERNAL, kind="text"
    )
    legal_category_label: Series[str] = column(
        "Libellé de la catégorie", "Its label.", access=INTERNAL, kind="text"
    )
    unit_state: Series[str] = column(
        "État de l'unité légale", "A active, C ceased.", access=INTERNAL, kind="text"
    )
    establishment_state: Series[str] = column(
        "État de l'établissement", "A active, F closed.", access=INTERNAL, kind="text"
    )
    commune_insee: Series[str] = column(
        "Commune du siège", "INSEE code.", access=INTERNAL, kind="text"
    )
    latitude: Series[float] = column("Latitude", "Seat (WGS84).", access=INTERNAL, kind="number")
    longitude: Series[float] = column("Longitude", "Seat (WGS84).", access=INTERNAL, kind="number")
    coords_source: Series[str] = column(
        "Source du point",
        "recherche-entreprises, geo-commune, geo-epci or ban.",
        access=INTERNAL,
        kind="text",
    )
    fetched_at: Series[pd.Timestamp] = column(
        "Consulté le (UTC)",
        "When it was looked up.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )
    expires_at: Series[pd.Timestamp] = column(
        "Expire le (UTC)",
        "When it is looked up again.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )


class PublishedFile(pa.DataFrameModel):
    """A file of the exports, as the last run published it."""

    path: Series[str] = column(
        "Fichier", "Path relative to BIBIA_EXPORT_DIR.", access=INTERNAL, kind="text", required=True
    )
    sha256: Series[str] = column(
        "Empreinte", "sha256 of its bytes.", access=INTERNAL, kind="text", required=True
    )
    size: Series[int] = column("Taille", "Bytes.", access=INTERNAL, kind="bigint", required=True)
    mtime_ns: Series[int] = column(
        "Modifié (ns)",
        "Its modification time once published: a later change of the file is noticed.",
        access=INTERNAL,
        kind="bigint",
        required=True,
    )
    run_id: Series[str] = column(
        "Exécution", "Run that wrote these bytes.", access=INTERNAL, kind="id", required=True
    )
    published_at: Series[pd.Timestamp] = column(
        "Publié le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )
    made_from: Series[str] = column(
        "Fait à partir de",
        "sha256 of what the file was made from (a project's page: its row, the site's code, "
        "the edition, the taxonomy's version); NULL: made anew at each publication.",
        access=INTERNAL,
        kind="text",
        nullable=True,
    )


class SiteCard(pa.DataFrameModel):
    """What a project puts in the files made from every project, as the last publication made
    it: its card in the site's list, its line of the Datami feed."""

    projet_id: Series[str] = column(
        "Projet", "The project's `projet_id`.", access=INTERNAL, kind="id", required=True
    )
    made_from: Series[str] = column(
        "Fait à partir de",
        "Digest of what the card and the line were made from: the project's fields they show, "
        "the site's code, the taxonomy's version, the feed's joiner.",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    html: Series[str] = column(
        "HTML", "The card in the list's pages.", access=INTERNAL, kind="text", required=True
    )
    point: Series[str] = column(
        "Point",
        "The card as JSON, in `data/projets.json` (the filtered list and the map).",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    feed: Series[str] = column(
        "Ligne du flux",
        "Its line of the Datami feed's `processed_data.csv`.",
        access=INTERNAL,
        kind="text",
        required=True,
    )


class ExportInputs(pa.DataFrameModel):
    """The configuration the published exports were made with."""

    fingerprint: Series[str] = column(
        "Empreinte",
        "sha256 of the taxonomy, the mapping, the decisions, the links and bibia's version.",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    run_id: Series[str] = column(
        "Exécution", "Run that made them.", access=INTERNAL, kind="id", required=True
    )


SET_ASIDE_SOURCES = ["api", "webhook"]


class SetAside(pa.DataFrameModel):
    """What a run received and could not land as it was: set aside with its reason."""

    set_aside_id: Series[str] = column(
        "Mis de côté",
        "sha256 of where it came from and what it was.",
        access=INTERNAL,
        kind="id",
        required=True,
    )
    source: Series[str] = column(
        "Source",
        "api (a page of Tally's list) or webhook.",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    submission_id: Series[str] = column(
        "Soumission", "The submission it names, if any.", access=INTERNAL, kind="id"
    )
    reason: Series[str] = column(
        "Motif",
        "Why it could not be landed, in French.",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    received: Series[str] = column(
        "Reçu",
        "What came, escaped, cut at 4,000 characters.",
        access=INTERNAL,
        kind="longtext",
        required=True,
    )
    spool_file: Series[str] = column(
        "Fichier",
        "webhook: the event's file, in the spool's set_aside/.",
        access=INTERNAL,
        kind="text",
    )
    first_run_id: Series[str] = column(
        "Première exécution", "Run that first met it.", access=INTERNAL, kind="id", required=True
    )
    first_at: Series[pd.Timestamp] = column(
        "Le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )
    last_run_id: Series[str] = column(
        "Dernière exécution", "Run that last met it.", access=INTERNAL, kind="id", required=True
    )
    last_at: Series[pd.Timestamp] = column(
        "Le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )

    @pa.check("source")
    def known_source(cls, source: pd.Series) -> pd.Series:
        return source.isin(SET_ASIDE_SOURCES)


class WithdrawnSubmission(pa.DataFrameModel):
    """A submission of a project a withdrawal kept out, remembered across runs: the withdrawal
    follows it when a correction gives the project a new id."""

    decision_id: Series[str] = column(
        "Décision", "The withdrawal.", access=INTERNAL, kind="id", required=True
    )
    submission_id: Series[str] = column(
        "Soumission", "A submission of the project.", access=INTERNAL, kind="id", required=True
    )


class WithdrawnProject(pa.DataFrameModel):
    """A project a withdrawal in force keeps out, under the id it has now."""

    decision_id: Series[str] = column(
        "Décision", "The withdrawal.", access=INTERNAL, kind="id", required=True
    )
    projet_id: Series[str] = column(
        "Projet", "The project kept out.", access=INTERNAL, kind="id", required=True
    )


class Delivery(pa.DataFrameModel):
    """A place the register is delivered to beyond the disk: its last success, what waits."""

    target: Series[str] = column(
        "Destination", "site, feed or datagouv.", access=INTERNAL, kind="text", required=True
    )
    address: Series[str] = column(
        "Adresse",
        "The repository or the dataset (never a secret).",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    behind: Series[bool] = column(
        "En retard",
        "What is published on disk has not all reached it.",
        access=INTERNAL,
        kind="boolean",
        required=True,
    )
    reason: Series[str] = column(
        "Motif", "Why, in French, when behind.", access=INTERNAL, kind="text"
    )
    last_attempt_at: Series[pd.Timestamp] = column(
        "Dernier essai (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )
    last_success_at: Series[pd.Timestamp] = column(
        "Dernier succès (UTC)", "When.", access=INTERNAL, kind="timestamp"
    )
    last_commit: Series[str] = column(
        "Dernier commit", "git: the commit pushed last.", access=INTERNAL, kind="text"
    )
    last_run_id: Series[str] = column(
        "Exécution", "The run that delivered last.", access=INTERNAL, kind="id"
    )
    behind_since_at: Series[pd.Timestamp] = column(
        "En retard depuis (UTC)",
        "The attempt that left it behind first (news for the curators once).",
        access=INTERNAL,
        kind="timestamp",
    )


class DatagouvResource(pa.DataFrameModel):
    """The data.gouv.fr resource of each file, kept across runs."""

    file_name: Series[str] = column(
        "Fichier", "The file's name.", access=INTERNAL, kind="text", required=True
    )
    resource_id: Series[str] = column(
        "Ressource", "Its resource's id.", access=INTERNAL, kind="id", required=True
    )
    sha256: Series[str] = column(
        "Empreinte", "sha256 of what it holds.", access=INTERNAL, kind="text", required=True
    )
    uploaded_at: Series[pd.Timestamp] = column(
        "Envoyé le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )


OUTBOX_KINDS = ["retenue", "rappel", "publie", "curateurs"]
OUTBOX_STATES = ["pending", "sent", "refused", "cancelled"]


class OutboxMessage(pa.DataFrameModel):
    """A message to a contributor or to the curators: written in a run's transaction, sent
    after its commit, once."""

    key: Series[str] = column(
        "Objet",
        "What it is about (retenue:<submission_id>, rappel:..., publie:<projet_id>, "
        "curateurs:<run_id>): one message each.",
        access=INTERNAL,
        kind="id",
        required=True,
    )
    message_id: Series[str] = column(
        "Message-ID", "The same at every attempt.", access=INTERNAL, kind="text", required=True
    )
    kind: Series[str] = column(
        "Type", "retenue, rappel, publie or curateurs.", access=INTERNAL, kind="text", required=True
    )
    recipient: Series[str] = column(
        "Destinataire", "The address written to.", access=INTERNAL, kind="text", required=True
    )
    subject: Series[str] = column(
        "Sujet", "Its subject.", access=INTERNAL, kind="text", required=True
    )
    body_text: Series[str] = column(
        "Texte", "Its plain text part.", access=INTERNAL, kind="longtext", required=True
    )
    body_html: Series[str] = column(
        "HTML", "Its HTML part.", access=INTERNAL, kind="longtext", required=True
    )
    state: Series[str] = column(
        "État",
        "pending, sent, refused (for good) or cancelled (no longer relevant, or never to send).",
        access=INTERNAL,
        kind="text",
        required=True,
    )
    attempts: Series[int] = column(
        "Essais", "Attempts to send it.", access=INTERNAL, kind="integer", required=True
    )
    last_error: Series[str] = column(
        "Motif", "Why it waits, was refused or cancelled (French).", access=INTERNAL, kind="text"
    )
    created_run_id: Series[str] = column(
        "Écrit par", "The run that wrote it.", access=INTERNAL, kind="id", required=True
    )
    created_at: Series[pd.Timestamp] = column(
        "Écrit le (UTC)", "When.", access=INTERNAL, kind="timestamp", required=True
    )
    last_attempt_at: Series[pd.Timestamp] = column(
        "Dernier essai (UTC)", "When.", access=INTERNAL, kind="timestamp"
    )
    sent_at: Series[pd.Timestamp] = column(
        "Envoyé le (UTC)", "When the server accepted it.", access=INTERNAL, kind="timestamp"
    )
    sent_via: Series[str] = column(
        "Par", "smtp, or log (written as .eml, nothing sent).", access=INTERNAL, kind="text"
    )

    @pa.check("kind")
    def known_kind(cls, kind: pd.Series) -> pd.Series:
        return kind.isin(OUTBOX_KINDS)

    @pa.check("state")
    def known_state(cls, state: pd.Series) -> pd.Series:
        return state.isin(OUTBOX_STATES)


TABLES: dict[str, type[pa.DataFrameModel]] = {
    "schema_migrations": SchemaMigration,
    "raw_tally_forms": RawTallyForm,
    "raw_tally_submissions": RawTallySubmission,
    "raw_tally_submission_history": RawTallySubmissionHistory,
    "taxonomy_terms": TaxonomyTerm,
    "project_versions": ProjectVersion,
    "quarantine": Quarantine,
    "validation_issues": ValidationIssue,
    "sync_runs": SyncRun,
    "authorities": AuthorityRecord,
    "curator_decisions": CuratorDecision,
    "published_files": PublishedFile,
    "site_cards": SiteCard,
    "export_inputs": ExportInputs,
    "set_aside": SetAside,
    "withdrawn_submissions": WithdrawnSubmission,
    "withdrawn_projects": WithdrawnProject,
    "deliveries": Delivery,
    "datagouv_resources": DatagouvResource,
    "outbox": OutboxMessage,
}


def duckdb_type(kind: str) -> str:
    return KINDS[kind].duckdb


def columns_of(table: str) -> list[str]:
    """The columns of a warehouse table, in order, from its contract."""
    return list(TABLES[table].to_schema().columns)
