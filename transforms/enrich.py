"""What the official register says of each authority, applied to the records: the seat's
coordinates, and warnings (never errors) when the register and the contributor disagree."""

from __future__ import annotations

import functools
import re
from typing import Any, Protocol

from schemas.taxonomy import Taxonomy
from schemas.text import fold
from transforms.validate import WARNING

# Words that say what kind of body it is, not which one: ignored when comparing names.
_GENERIC = set(
    [
        "ville",
        "commune",
        "communaute",
        "agglomeration",
        "agglo",
        "communes",
        "metropole",
        "metropolitaine",
        "de",
        "du",
        "des",
        "la",
        "le",
        "les",
        "l",
        "d",
        "et",
        "en",
        "sur",
        "sous",
        "syndicat",
        "mixte",
        "departement",
        "departemental",
        "region",
        "regional",
        "conseil",
        "territorial",
        "etablissement",
        "public",
        "intercommunal",
        "intercommunalite",
        "ca",
        "cc",
        "cu",
        "ept",
        "mairie",
        "collectivite",
        "grand",
    ]
)
_WORD = re.compile(r"[a-z0-9]+")


class AuthorityLike(Protocol):
    found: bool
    official_name: str | None
    legal_category: str | None
    legal_category_label: str | None
    unit_state: str | None
    establishment_state: str | None
    latitude: float | None
    longitude: float | None


@functools.lru_cache(maxsize=4096)
def significant_words(name: str) -> frozenset[str]:
    return frozenset(w for w in _WORD.findall(fold(name)) if w not in _GENERIC and len(w) > 1)


def names_agree(typed: str, official: str) -> bool:
    """True when the typed name shares a distinctive word with the official one
    ("Sicoval" and "COMMUNAUTE D'AGGLOMERATION DU SICOVAL"), or either has none."""
    mine, theirs = significant_words(typed), significant_words(official)
    return not mine or not theirs or bool(mine & theirs)


def apply_authority(
    record: dict[str, Any],
    authority: AuthorityLike | None,
    taxonomy: Taxonomy,
    unavailable: str | None,
) -> list[dict[str, Any]]:
    """Fill the record's coordinates from its authority; return the warnings."""
    issues: list[dict[str, Any]] = []

    def warn(field: str, value: Any, message: str) -> None:
        issues.append(
            {
                "submission_id": record["submission_id"],
                "field": field,
                "value": None if value is None else str(value),
                "severity": WARNING,
                "message": message,
            }
        )

    siret = record.get("coll_siret")
    if authority is None:
        if unavailable:
            warn("latitude", None, f"SIRET non vérifié et coordonnées absentes : {unavailable}")
        return issues
    if unavailable:
        warn(
            "latitude",
            None,
            f"SIRET vérifié d'après le cache (service indisponible : {unavailable})",
        )
    if not authority.found:
        warn(
            "coll_siret",
            siret,
            "SIRET inconnu du répertoire Sirene (API Recherche d'entreprises) : vérifier le numéro",
        )
        return issues
    record["latitude"], record["longitude"] = authority.latitude, authority.longitude
    if authority.latitude is None:
        warn(
            "latitude",
            None,
            "le répertoire ne donne pas la position du siège : le projet "
            "n'apparaîtra pas sur la carte",
        )
    if authority.unit_state == "C" or authority.establishment_state == "F":
        warn(
            "coll_siret",
            siret,
            "établissement fermé d'après le répertoire Sirene : indiquer le SIRET du siège actuel",
        )
    coll_type = taxonomy["coll_type"].by_label(record.get("coll_type") or "")
    category = authority.legal_category
    if (
        coll_type
        and coll_type.legal_categories
        and category
        and (category not in coll_type.legal_categories)
    ):
        label = authority.legal_category_label or "catégorie inconnue"
        warn(
            "coll_type",
            coll_type.label,
            f"la catégorie juridique {category} ({label}) ne correspond pas au type déclaré "
            f"« {coll_type.label} »",
        )
    typed, official = record.get("coll_nom") or "", authority.official_name or ""
    if typed and official and not names_agree(typed, official):
        warn("coll_nom", typed, f"nom saisi éloigné du nom officiel « {official} »")
    return issues
