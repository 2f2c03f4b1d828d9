"""The contract of `project_versions` (and so of `projects` and both exports).

Each column carries, as metadata, its access level (`public`, `restricted`, or `internal`:
never exported), its kind (how it is normalised), for enums its vocabulary in `taxonomy.yaml`,
and its publication policy: what a missing answer does (`required`: the submission is held back;
`expected`: a warning) and what an invalid one does (`on_invalid`, see `POLICIES`). The export
column lists, the datapackage.json, the DDL check and the README's policy table are derived from
this class; the column order here is the export order.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.typing import Series

from schemas.kinds import KINDS

PUBLIC, RESTRICTED, INTERNAL = "public", "restricted", "internal"

# What an invalid answer does to its submission (`on_invalid`).
HOLD = "hold"  # the submission is held back in quarantine: the record is unpublishable
DROP = "drop"  # published without the value; a warning keeps what was typed
KEEP = "keep"  # kept as typed, with a warning (open lists)
POLICIES = (HOLD, DROP, KEEP)


def column(
    title: str,
    description: str,
    *,
    access: str,
    kind: str,
    required: bool = False,
    vocabulary: str | None = None,
    form_title: str | None = None,
    nullable: bool | None = None,
    expected: bool = False,
    on_invalid: str | None = None,
    hidden_field: str | None = None,
    unique: bool = False,
) -> Any:
    """A pandera Field with the metadata the rest of bibia derives things from. `required`: a
    missing answer holds the submission back; `expected`: the form asks for it, but a missing
    answer is only a warning; `on_invalid`: HOLD, DROP or KEEP (None: nothing to check);
    `hidden_field`: fed by this hidden field of the form (a URL parameter of its link)."""
    if on_invalid is not None and on_invalid not in POLICIES:
        raise ValueError(f"unknown publication policy {on_invalid!r}")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    return pa.Field(
        title=title,
        description=description,
        nullable=(not required) if nullable is None else nullable,
        unique=unique,
        metadata={
            "access": access,
            "kind": kind,
            "required": required,
            "vocabulary": vocabulary,
            "form_title": form_title,
            "expected": expected,
            "on_invalid": on_invalid,
            "hidden_field": hidden_field,
        },
    )


class ProjectVersion(pa.DataFrameModel):
    """One valid submission of a project, normalised to the data model."""

    projet_id: Series[str] = column(
        "Identifiant du projet",
        "Identifiant stable du projet : même collectivité (SIREN) et même nom de projet, "
        "conservé d'une mise à jour à l'autre.",
        access=PUBLIC,
        kind="id",
        required=True,
    )
    coll_nom: Series[str] = column(
        "Porteur",
        "Nom de la collectivité ou de l'organisation qui porte le projet.",
        access=PUBLIC,
        kind="text",
        required=True,
        form_title="Porteur",
    )
    nom_projet: Series[str] = column(
        "Projet",
        "Nom du projet ou du service déployé.",
        access=PUBLIC,
        kind="text",
        required=True,
        form_title="Projet",
    )
    coll_siret: Series[str] = column(
        "Identifiant SIRET de la collectivité",
        "SIRET de la collectivité : 14 chiffres (9 du SIREN, 5 du NIC), clé de Luhn valide, "
        "en texte.",
        access=PUBLIC,
        kind="siret",
        required=True,
        form_title="Identifiant SIRET de la collectivité",
        on_invalid=HOLD,
    )
    coll_type: Series[str] = column(
        "Type de collectivité",
        "Type précis de la collectivité.",
        access=PUBLIC,
        kind="enum",
        vocabulary="coll_type",
        required=True,
        form_title="Type de collectivité",
        on_invalid=HOLD,
    )
    projet_date: Series[str] = column(
        "Date de démarrage du projet",
        "Mois de démarrage du projet (AAAA-MM).",
        access=PUBLIC,
        kind="month",
        required=True,
        form_title="Date de démarrage du projet",
        on_invalid=HOLD,
    )
    projet_status: Series[str] = column(
        "Maturité",
        "Maturité du projet.",
        access=PUBLIC,
        kind="enum",
        vocabulary="projet_status",
        required=True,
        form_title="Maturité",
        on_invalid=HOLD,
    )
    status_abandon: Series[str] = column(
        "Description d'un projet abandonné",
        "Pourquoi le projet a été abandonné : les obstacles rencontrés.",
        access=PUBLIC,
        kind="longtext",
        form_title="Description d'un projet abandonné",
    )
    partenaires: Series[str] = column(
        "Partenaires associés",
        "Partenaires académiques, experts, techniques ou financeurs, en texte libre.",
        access=PUBLIC,
        kind="text",
        form_title="Partenaires associés",
    )
    usage_description: Series[str] = column(
        "Description globale du service et de ses usages",
        "À quoi sert le service, pour qui, avec quels bénéfices attendus.",
        access=PUBLIC,
        kind="longtext",
        required=True,
        form_title="Description globale du service et de ses usages",
    )
    theme: Series[str] = column(
        "Thème principal",
        "Thème principal de politique publique (nomenclature Ecolab / Numérique360).",
        access=PUBLIC,
        kind="enum",
        vocabulary="theme",
        required=True,
        form_title="Thème principal",
        on_invalid=HOLD,
    )
    sous_theme: Series[object] = column(
        "Sous-thèmes",
        "Un ou deux sous-thèmes de la nomenclature.",
        access=PUBLIC,
        kind="enum_list",
        vocabulary="sous_theme",
        form_title="Sous-thèmes",
        on_invalid=DROP,
    )
    audience_service: Series[object] = column(
        "Audience du service",
        "À qui s'adresse le service.",
        access=PUBLIC,
        kind="enum_list",
        vocabulary="audience_service",
        required=True,
        form_title="Audience du service",
        on_invalid=KEEP,
    )
    url_infos: Series[str] = column(
        "URL information",
        "Page qui présente le projet ou donne accès au service.",
        access=PUBLIC,
        kind="url",
        form_title="URL information",
        on_invalid=DROP,
    )
    image_url: Series[str] = column(
        "image",
        "Logo de la collectivité qui porte le projet.",
        access=PUBLIC,
        kind="url",
        form_title="image",
        expected=True,
        on_invalid=DROP,
    )
    date: Series[str] = column(
        "Date de mise à jour des informations",
        "Jour (UTC, AAAA-MM-JJ) de l'envoi de la dernière version de la fiche.",
        access=PUBLIC,
        kind="day",
        required=True,
    )
    latitude: Series[float] = column(
        "Latitude",
        "Latitude (WGS84) du siège de la collectivité, pour la carte.",
        access=PUBLIC,
        kind="number",
        nullable=True,
    )
    longitude: Series[float] = column(
        "Longitude",
        "Longitude (WGS84) du siège de la collectivité, pour la carte.",
        access=PUBLIC,
        kind="number",
        nullable=True,
    )
    projet_contact: Series[str] = column(
        "Contact du service en charge",
        "Adresse e-mail du service en charge (donnée personnelle).",
        access=RESTRICTED,
        kind="email",
        form_title="Contact du service en charge",
        on_invalid=DROP,
    )
    financement: Series[str] = column(
        "Financement",
        "Guichet de financement (interne, Fonds vert, CRTE, France 2030, FEDER, DIAT…).",
        access=RESTRICTED,
        kind="text",
        form_title="Financement",
    )
    budget: Series[str] = column(
        "Budget",
        "Ordre de grandeur annuel.",
        access=RESTRICTED,
        kind="enum",
        vocabulary="budget",
        form_title="Budget",
        on_invalid=DROP,
    )
    mise_en_oeuvre: Series[str] = column(
        "Développement et mise en œuvre",
        "Comment le projet a été développé.",
        access=RESTRICTED,
        kind="enum",
        vocabulary="mise_en_oeuvre",
        form_title="Développement et mise en œuvre",
        expected=True,
        on_invalid=DROP,
    )
    herbergement: Series[str] = column(
        "Hébergement du service",
        "Où le service et ses données sont hébergés.",
        access=RESTRICTED,
        kind="enum",
        vocabulary="herbergement",
        form_title="Hébergement du service",
        expected=True,
        on_invalid=DROP,
    )
    nom_algorithme: Series[str] = column(
        "Nom de l'algorithme",
        "Nom de l'algorithme, ou la décision qu'il met en œuvre.",
        access=RESTRICTED,
        kind="text",
        form_title="Nom de l'algorithme",
        expected=True,
    )
    algorithme_description: Series[str] = column(
        "Description globale de l'algorithme",
        "À quoi sert l'algorithme, quelles tâches il accomplit.",
        access=RESTRICTED,
        kind="longtext",
        form_title="Description globale de l'algorithme",
    )
    algorithme_operations: Series[str] = column(
        "Opérations effectuées par l'algorithme",
        "Les opérations techniques effectuées par l'algorithme.",
        access=RESTRICTED,
        kind="longtext",
        form_title="Opérations effectuées par l'algorithme",
    )
    type_algorithme: Series[object] = column(
        "Type d'algorithme",
        "Les familles d'algorithmes employées.",
        access=RESTRICTED,
        kind="enum_list",
        vocabulary="type_algorithme",
        form_title="Type d'algorithme",
        expected=True,
        on_invalid=DROP,
    )
    impact_environnement: Series[str] = column(
        "Évaluation de l'impact environnemental",
        "Score ou impact environnemental de l'algorithme (par exemple Green Algorithms).",
        access=RESTRICTED,
        kind="longtext",
        form_title="Évaluation de l'impact environnemental",
    )
    donnees_source: Series[object] = column(
        "Source des données",
        "Qui fournit les données d'entraînement et d'usage.",
        access=RESTRICTED,
        kind="enum_list",
        vocabulary="donnees_source",
        form_title="Source des données",
        expected=True,
        on_invalid=KEEP,
    )
    donnees_acces: Series[object] = column(
        "Mode de collecte et d'accès des données traitées",
        "Comment les données sont collectées et mises à jour.",
        access=RESTRICTED,
        kind="enum_list",
        vocabulary="donnees_acces",
        form_title="Mode de collecte et d'accès des données traitées",
        expected=True,
        on_invalid=DROP,
    )
    url_ressources: Series[str] = column(
        "URL ressource",
        "Lien vers des ressources techniques : code, jeu de données, modèle…",
        access=RESTRICTED,
        kind="url",
        form_title="URL ressource",
        on_invalid=DROP,
    )
    # -- internal: in the warehouse, never exported -------------------------------------------
    submission_id: Series[str] = column(
        "Identifiant de la soumission",
        "Identifiant Tally de la soumission de cette version.",
        access=INTERNAL,
        kind="id",
        required=True,
        unique=True,
    )
    submitted_at: Series[pd.Timestamp] = column(
        "Soumis le (UTC)",
        "Quand Tally a reçu cette version.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )
    coll_groupe: Series[str] = column(
        "Groupe de collectivité",
        "Groupe du type de collectivité (Commune, EPCI, Département, Région, Syndicat, Opérateur).",
        access=INTERNAL,
        kind="text",
        nullable=True,
    )
    extra: Series[str] = column(
        "Autres réponses",
        "Objet JSON des réponses aux questions qui n'alimentent aucun champ, par question.",
        access=INTERNAL,
        kind="json",
        nullable=True,
    )
    lien_correction: Series[str] = column(
        "Lien de correction",
        "Le lien du formulaire qui porte la référence de cette version (et, quand le "
        "formulaire les accepte, ses réponses) : la collectivité le suit pour mettre sa fiche "
        "à jour sans créer de doublon.",
        access=RESTRICTED,
        kind="url",
        nullable=True,
    )
    projet_ref: Series[str] = column(
        "Référence de correction",
        "La soumission que celle-ci met à jour, portée par le champ caché du lien de "
        "correction : elle en fait une version du même projet.",
        access=INTERNAL,
        kind="id",
        nullable=True,
        hidden_field="ref",
    )
    curation: Series[str] = column(
        "Corrections des curateurs",
        "Objet JSON : champ -> la décision de curation qui l'a fixé (decision_id, by, at, "
        "reason, typed : ce que le contributeur avait répondu).",
        access=INTERNAL,
        kind="json",
        nullable=True,
    )

    class Config:
        strict = True
        coerce = False


def columns_meta(model: type[pa.DataFrameModel] = ProjectVersion) -> dict[str, Any]:
    """name -> pandera Column, in model order."""
    return dict(model.to_schema().columns)


def arrow_schema(
    names: list[str] | None = None,
    model: type[pa.DataFrameModel] | None = None,
    parquet: bool = False,
) -> pyarrow.Schema:
    """The columns `names` (default: all) of `model` (default: project_versions) as Arrow
    types, from `kind`: what the warehouse loads, or (`parquet`) what the Parquet exports hold
    (a day is a date there)."""
    columns = columns_meta(model or ProjectVersion)
    kinds = [KINDS[columns[name].metadata["kind"]] for name in (names or list(columns))]
    return pyarrow.schema(
        [
            pyarrow.field(name, (parquet and kind.parquet_arrow) or kind.arrow)
            for name, kind in zip(names or list(columns), kinds, strict=True)
        ]
    )


def export_columns(access: str) -> list[str]:
    """The export's columns, in order: public ones, then (restricted export) restricted ones."""
    levels = {PUBLIC} if access == PUBLIC else {PUBLIC, RESTRICTED}
    if access not in (PUBLIC, RESTRICTED):
        raise ValueError(f"unknown access level {access!r}")
    return [name for name, col in columns_meta().items() if col.metadata["access"] in levels]


def form_fields() -> dict[str, Any]:
    """The fields a contributor answers in the form (every column with a form title)."""
    return {n: c for n, c in columns_meta().items() if c.metadata.get("form_title")}


def hidden_fields() -> dict[str, Any]:
    """The fields fed by a hidden field of the form (filled from its link's URL parameters)."""
    return {n: c for n, c in columns_meta().items() if c.metadata.get("hidden_field")}


POLICY_LABELS = {
    HOLD: "holds the project back",
    DROP: "published without the value, with a warning",
    KEEP: "kept as typed, with a warning",
}


INVALID_WHEN = {
    "siret": "not 14 digits with a valid checksum",
    "month": "not a month (MM/AAAA, JJ/MM/AAAA, AAAA-MM-JJ)",
    "url": "not a web address",
    "email": "not an e-mail address",
}


def policy_table() -> list[str]:
    """The publication policy of every field a contributor answers, as the Markdown table the
    README prints (a test keeps the two the same)."""
    lines = [
        "| field | access | when missing | invalid when | when invalid | longest text |",
        "|---|---|---|---|---|---|",
    ]
    for name, col in form_fields().items():
        meta = col.metadata
        if meta["required"]:
            missing = POLICY_LABELS[HOLD]
        elif meta["expected"]:
            missing = "published, with a warning"
        else:
            missing = "published"
        what = INVALID_WHEN.get(meta["kind"], "(any text is valid)")
        if meta["vocabulary"]:
            what = f"outside the `{meta['vocabulary']}` list"
        invalid = POLICY_LABELS[meta["on_invalid"]] if meta["on_invalid"] else ""
        limit = KINDS[meta["kind"]].max_length
        longest = f"{limit:,} characters (longer holds it back)" if limit else ""
        lines.append(
            f"| `{name}` | {meta['access']} | {missing} | {what} | {invalid} | {longest} |"
        )
    return lines
