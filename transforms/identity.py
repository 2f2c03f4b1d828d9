"""A project's stable identity: same authority (SIREN) and same project name, once folded."""

from __future__ import annotations

import hashlib
import re

from bibia.text import fold

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


def project_key(siret: str | None, nom_projet: str | None) -> str:
    siren = (siret or "")[:9]
    name = _NON_ALNUM.sub(" ", fold(nom_projet or "")).strip()
    return f"{siren}|{name}"


def projet_id(siret: str | None, nom_projet: str | None) -> str:
    """`p-` and 12 hex digits of the key's hash: the same on every run, rebuild and machine."""
    digest = hashlib.sha256(project_key(siret, nom_projet).encode("utf-8")).hexdigest()
    return f"p-{digest[:12]}"
