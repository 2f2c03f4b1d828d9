"""A project's stable identity, and the correction link that keeps it.

A project is the same authority (SIREN) and the same project name, once folded. A submission
that came through a correction link carries, in a hidden field, the reference of the
submission it updates (`projet_ref`): it is a new version of that submission's project even
when the contributor changed the project's name or the SIRET.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from schemas.text import fold

_NON_ALNUM = re.compile(r"[^0-9a-z]+")


class Answers(Protocol):
    """Field -> value, by `get` (a record, or a submission's answers as typed)."""

    def get(self, name: str, default: Any = None, /) -> Any: ...


def project_key(siret: str | None, nom_projet: str | None) -> str:
    siren = (siret or "")[:9]
    name = _NON_ALNUM.sub(" ", fold(nom_projet or "")).strip()
    return f"{siren}|{name}"


def _hashed(key: str) -> str:
    return f"p-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"


def projet_id(siret: str | None, nom_projet: str | None, submission_id: str | None = None) -> str:
    """`p-` and 12 hex digits of the key's hash: the same on every run, rebuild and machine.
    A submission that names no authority (no 14-digit SIRET) or no project cannot share an
    identity with another one: given its `submission_id`, its id is its own."""
    identified = bool(siret and len(siret) == 14 and siret.isdigit() and (nom_projet or ""))
    if submission_id is not None and not identified:
        return _hashed(f"submission|{submission_id}")
    return _hashed(project_key(siret, nom_projet))


@dataclass(frozen=True)
class Lineage:
    """A submission as the resolution of references sees it."""

    submission_id: str
    submitted_at: datetime
    own_id: str  # from its own SIREN and name (see projet_id)
    ref: str | None  # the submission it updates, from its correction link
    valid: bool  # published (else held in quarantine)


def resolve_references(rows: Mapping[str, Lineage]) -> dict[str, str]:
    """The project of every submission of `rows` that carries a reference.

    A submission that refers to an earlier one takes that one's project when there is one to
    take: the referred submission is published, or itself took a project by reference. A held
    submission without reference has no project to hand down (its name or SIRET may be what
    was wrong): the new one keeps its own. References to unknown or later submissions are
    ignored, so chains always end."""
    memo: dict[str, str | None] = {}

    def inherited(sid: str) -> str | None:
        row = rows[sid]
        if row.ref is None or row.ref not in rows:
            return None
        target = rows[row.ref]
        if target.submitted_at >= row.submitted_at:
            return None
        return handed_down(row.ref)

    def handed_down(sid: str) -> str | None:
        if sid not in memo:
            memo[sid] = None  # a guard while resolving (times already exclude cycles)
            row = rows[sid]
            memo[sid] = inherited(sid) or (row.own_id if row.valid else None)
        return memo[sid]

    return {sid: inherited(sid) or row.own_id for sid, row in rows.items() if row.ref}


def correction_link(
    form_url: str | None,
    ref_param: str | None,
    prefill: Mapping[str, str],
    submission_id: str,
    record: Answers,
) -> str | None:
    """The form's link that carries the submission's reference and, for the fields the form
    pre-fills from hidden fields (`prefill`: field -> URL parameter), the answers given."""
    if not form_url or not ref_param:
        return None
    params = [(ref_param, submission_id)]
    for name, param in prefill.items():
        value = record.get(name)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if value not in (None, ""):
            params.append((param, str(value)))
    joiner = "&" if "?" in form_url else "?"
    return f"{form_url}{joiner}{urlencode(params)}"
