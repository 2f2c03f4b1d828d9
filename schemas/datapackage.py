"""datapackage.json, generated from the ProjectVersion contract and the taxonomy."""

from __future__ import annotations

from typing import Any

from schemas.kinds import KINDS, LIST_DELIMITER
from schemas.project import PUBLIC, RESTRICTED, columns_meta, export_columns
from schemas.taxonomy import Taxonomy

EXPORT_NAME = "bibliotheque_ia"
__all__ = ["EXPORT_NAME", "LIST_DELIMITER", "datapackage"]

_TITLES = {
    PUBLIC: "Bibliothèque d'IA territoriales (données publiques)",
    RESTRICTED: "Bibliothèque d'IA territoriales (données réservées aux membres)",
}


def _field(name: str, col: Any, taxonomy: Taxonomy, for_csv: bool) -> dict[str, Any]:
    meta = col.metadata
    out: dict[str, Any] = {"name": name, "title": col.title, "description": col.description}
    of = KINDS[meta["kind"]]
    vocab = taxonomy[meta["vocabulary"]] if meta["vocabulary"] else None
    out.update(of.table_schema if for_csv or of.parquet_schema is None else of.parquet_schema)
    constraints = out.setdefault("constraints", {})
    if meta["required"]:
        constraints["required"] = True
    if vocab is not None:
        if of.csv != "list" and not vocab.open:
            constraints["enum"] = vocab.labels
        # the vocabulary as a whole, also for lists and open vocabularies
        out["bibia:vocabulary"] = {
            "name": vocab.name,
            "open": vocab.open,
            "values": vocab.labels,
            "taxonomy_version": taxonomy.version,
        }
    if not constraints:
        del out["constraints"]
    return out


def datapackage(access: str, taxonomy: Taxonomy) -> dict[str, Any]:
    columns = columns_meta()
    names = export_columns(access)

    def schema(for_csv: bool) -> dict[str, Any]:
        return {
            "fields": [_field(n, columns[n], taxonomy, for_csv) for n in names],
            "primaryKey": ["projet_id"],
        }

    return {
        "name": f"bibliotheque-ia-territoriales-{access}",
        "title": _TITLES[access],
        "description": (
            "Projets d'intelligence artificielle des collectivités territoriales françaises, "
            "une ligne par projet (sa dernière version valide)."
        ),
        "licenses": [
            {
                "name": "etalab-2.0",
                "title": "Licence Ouverte / Open Licence 2.0",
                "path": "https://www.etalab.gouv.fr/licence-ouverte-open-licence",
            }
        ],
        "keywords": ["intelligence artificielle", "collectivités", "bibliothèque d'IA"],
        "bibia:taxonomy_version": taxonomy.version,
        "resources": [
            {
                "name": f"{EXPORT_NAME}_csv",
                "path": f"{EXPORT_NAME}.csv",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "dialect": {"delimiter": ",", "quoteChar": '"', "header": True},
                "schema": schema(for_csv=True),
            },
            {
                "name": f"{EXPORT_NAME}_parquet",
                "path": f"{EXPORT_NAME}.parquet",
                "format": "parquet",
                "mediatype": "application/vnd.apache.parquet",
                "schema": schema(for_csv=False),
            },
        ],
    }
