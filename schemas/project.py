"""The contract of `project_versions` (and so of `projects` and both exports).

Each column carries, as metadata, its access level (`public`, `restricted`, or `internal`:
never exported), its kind (how it is normalised) and, for enums, its vocabulary in
`taxonomy.yaml`. The export column lists, the datapackage.json and the DDL check are derived from
this class; the column order here is the export order.
"""

from __future__ import annotations

from typing import Any

import pandera.pandas as pa
import pyarrow
from pandera.typing import Series

PUBLIC, RESTRICTED, INTERNAL = "public", "restricted", "internal"


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
) -> Any:
    """A pandera Field with the metadata the rest of bibia derives things from."""
    return pa.Field(
        title=title,
        description=description,
        nullable=(not required) if nullable is None else nullable,
        metadata={
            "access": access,
            "kind": kind,
            "required": required,
            "vocabulary": vocabulary,
            "form_title": form_title,
        },
    )


class ProjectVersion(pa.DataFrameModel):
    """One valid submission of a project, normalised to the data model."""

    projet_id: Series[str] = column(
        "Identifiant du projet",
        "Stable identifier of the project: same authority (SIREN) and same project name, "
        "kept across runs and resubmissions.",
        access=PUBLIC,
        kind="id",
        required=True,
    )
    coll_nom: Series[str] = column(
        "Porteur",
        "Name of the authority or organisation carrying the project.",
        access=PUBLIC,
        kind="text",
        required=True,
        form_title="Porteur",
    )
    nom_projet: Series[str] = column(
        "Projet",
        "Name of the project or service.",
        access=PUBLIC,
        kind="text",
        required=True,
        form_title="Projet",
    )
    coll_siret: Series[str] = column(
        "Identifiant SIRET de la collectivité",
        "SIRET of the authority: 14 digits (9 SIREN + 5 NIC) with a valid Luhn checksum, as text.",
        access=PUBLIC,
        kind="siret",
        required=True,
        form_title="Identifiant SIRET de la collectivité",
    )
    coll_type: Series[str] = column(
        "Type de collectivité",
        "Kind of authority (precise kind; its group is `coll_groupe`).",
        access=PUBLIC,
        kind="enum",
        vocabulary="coll_type",
        required=True,
        form_title="Type de collectivité",
    )
    projet_date: Series[str] = column(
        "Date de démarrage du projet",
        "Month the project started, as YYYY-MM.",
        access=PUBLIC,
        kind="month",
        required=True,
        form_title="Date de démarrage du projet",
    )
    projet_status: Series[str] = column(
        "Maturité",
        "Maturity of the project.",
        access=PUBLIC,
        kind="enum",
        vocabulary="projet_status",
        required=True,
        form_title="Maturité",
    )
    status_abandon: Series[str] = column(
        "Description d'un projet abandonné",
        "Why the project was abandoned.",
        access=PUBLIC,
        kind="longtext",
        form_title="Description d'un projet abandonné",
    )
    partenaires: Series[str] = column(
        "Partenaires associés",
        "Partners of the project, free text.",
        access=PUBLIC,
        kind="text",
        form_title="Partenaires associés",
    )
    usage_description: Series[str] = column(
        "Description globale du service et de ses usages",
        "What the service does and for whom.",
        access=PUBLIC,
        kind="longtext",
        required=True,
        form_title="Description globale du service et de ses usages",
    )
    theme: Series[str] = column(
        "Thème principal",
        "Main theme (Ecolab / Numérique360 nomenclature).",
        access=PUBLIC,
        kind="enum",
        vocabulary="theme",
        required=True,
        form_title="Thème principal",
    )
    sous_theme: Series[object] = column(
        "Sous-thèmes",
        "Up to two sub-themes.",
        access=PUBLIC,
        kind="enum_list",
        vocabulary="sous_theme",
        form_title="Sous-thèmes",
    )
    audience_service: Series[object] = column(
        "Audience du service",
        "Who the service is for.",
        access=PUBLIC,
        kind="enum_list",
        vocabulary="audience_service",
        required=True,
        form_title="Audience du service",
    )
    url_infos: Series[str] = column(
        "URL information",
        "Page describing the project.",
        access=PUBLIC,
        kind="url",
        form_title="URL information",
    )
    image_url: Series[str] = column(
        "image",
        "Logo of the authority.",
        access=PUBLIC,
        kind="url",
        required=True,
        form_title="image",
    )
    date: Series[str] = column(
        "Date de mise à jour des informations",
        "UTC day (YYYY-MM-DD) of the submission of the latest version.",
        access=PUBLIC,
        kind="day",
        required=True,
    )
    latitude: Series[float] = column(
        "Latitude",
        "Latitude (WGS84) of the authority's seat, for the map.",
        access=PUBLIC,
        kind="number",
        nullable=True,
    )
    longitude: Series[float] = column(
        "Longitude",
        "Longitude (WGS84) of the authority's seat, for the map.",
        access=PUBLIC,
        kind="number",
        nullable=True,
    )
    projet_contact: Series[str] = column(
        "Contact du service en charge",
        "E-mail of the team in charge (personal data).",
        access=RESTRICTED,
        kind="email",
        form_title="Contact du service en charge",
    )
    financement: Series[str] = column(
        "Financement",
        "Funding scheme (interne, Fonds vert, CRTE, France 2030, FEDER, DIAT...).",
        access=RESTRICTED,
        kind="text",
        form_title="Financement",
    )
    budget: Series[str] = column(
        "Budget",
        "Yearly order of magnitude.",
        access=RESTRICTED,
        kind="enum",
        vocabulary="budget",
        form_title="Budget",
    )
    mise_en_oeuvre: Series[str] = column(
        "Développement et mise en œuvre",
        "How the project was built.",
        access=RESTRICTED,
        kind="enum",
        vocabulary="mise_en_oeuvre",
        required=True,
        form_title="Développement et mise en œuvre",
    )
    herbergement: Series[str] = column(
        "Hébergement du service",
        "Where the service runs.",
        access=RESTRICTED,
        kind="enum",
        vocabulary="herbergement",
        required=True,
        form_title="Hébergement du service",
    )
    nom_algorithme: Series[str] = column(
        "Nom de l'algorithme",
        "Name of the algorithm, or the decision it implements.",
        access=RESTRICTED,
        kind="text",
        required=True,
        form_title="Nom de l'algorithme",
    )
    algorithme_description: Series[str] = column(
        "Description globale de l'algorithme",
        "What the algorithm does.",
        access=RESTRICTED,
        kind="longtext",
        form_title="Description globale de l'algorithme",
    )
    algorithme_operations: Series[str] = column(
        "Opérations effectuées par l'algorithme",
        "Operations the algorithm performs.",
        access=RESTRICTED,
        kind="longtext",
        form_title="Opérations effectuées par l'algorithme",
    )
    type_algorithme: Series[object] = column(
        "Type d'algorithme",
        "Families of algorithms used.",
        access=RESTRICTED,
        kind="enum_list",
        vocabulary="type_algorithme",
        required=True,
        form_title="Type d'algorithme",
    )
    impact_environnement: Series[str] = column(
        "Évaluation de l'impact environnemental",
        "E.g. a Green Algorithms score.",
        access=RESTRICTED,
        kind="longtext",
        form_title="Évaluation de l'impact environnemental",
    )
    donnees_source: Series[object] = column(
        "Source des données",
        "Where the data comes from.",
        access=RESTRICTED,
        kind="enum_list",
        vocabulary="donnees_source",
        required=True,
        form_title="Source des données",
    )
    donnees_acces: Series[object] = column(
        "Mode de collecte et d'accès des données traitées",
        "How the data is collected.",
        access=RESTRICTED,
        kind="enum_list",
        vocabulary="donnees_acces",
        required=True,
        form_title="Mode de collecte et d'accès des données traitées",
    )
    url_ressources: Series[str] = column(
        "URL ressource",
        "Code, data set, model...",
        access=RESTRICTED,
        kind="url",
        form_title="URL ressource",
    )
    # -- internal: in the warehouse, never exported -------------------------------------------
    submission_id: Series[str] = column(
        "Identifiant de la soumission",
        "Tally submission id of this version.",
        access=INTERNAL,
        kind="id",
        required=True,
    )
    submitted_at: Series[Any] = column(
        "Soumis le (UTC)",
        "When Tally received this version.",
        access=INTERNAL,
        kind="timestamp",
        required=True,
    )
    coll_groupe: Series[str] = column(
        "Groupe de collectivité",
        "Group of `coll_type` (Commune, EPCI, Département, Région, Syndicat, Opérateur).",
        access=INTERNAL,
        kind="text",
        nullable=True,
    )
    extra: Series[str] = column(
        "Autres réponses",
        "JSON object of the answers to questions mapped to no field, by question title.",
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


_ARROW_TYPES = {
    "enum_list": pyarrow.list_(pyarrow.string()),
    "number": pyarrow.float64(),
    "timestamp": pyarrow.timestamp("us"),
}


def arrow_schema(names: list[str] | None = None) -> pyarrow.Schema:
    """The columns `names` (default: all of project_versions) as Arrow types, from `kind`: what
    the warehouse loads and what the Parquet exports hold."""
    columns = columns_meta()
    return pyarrow.schema(
        [
            pyarrow.field(name, _ARROW_TYPES.get(columns[name].metadata["kind"], pyarrow.string()))
            for name in (names or list(columns))
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
