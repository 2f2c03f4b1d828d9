"""Raw submissions -> normalised records -> valid versions, quarantine and issues.

Pure: no database, no network. `warehouse.load` writes what this returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pandas as pd

from schemas.project import ProjectVersion, columns_meta
from transforms import normalise
from transforms.identity import projet_id
from transforms.mapping import FieldPlan, FormShape, map_submission
from transforms.taxonomy import Taxonomy
from transforms.validate import (
    ERROR,
    open_vocabulary_fields,
    rule_warnings,
    schema_issues,
    validation_schema,
)

COLUMNS = list(columns_meta())  # project_versions' columns, in order


@dataclass(frozen=True)
class RawSubmission:
    submission_id: str
    submitted_at: datetime  # UTC, naive
    payload: dict[str, Any]


RawRow = tuple[str, datetime, str | bytes]  # a raw submission as stored: id, submitted, JSON


@dataclass
class Derived:
    versions: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)


def _normaliser(kind: str, vocabulary: str | None, taxonomy: Taxonomy) -> Callable[[Any], Any]:
    if kind == "enum" and vocabulary:
        vocab = taxonomy[vocabulary]
        return lambda v: normalise.enum(v, vocab)
    if kind == "enum_list" and vocabulary:
        vocab = taxonomy[vocabulary]
        return lambda v: normalise.enum_list(v, vocab)
    return {
        "text": normalise.text,
        "longtext": normalise.long_text,
        "siret": normalise.siret,
        "month": normalise.month,
        "url": normalise.url,
        "email": normalise.email,
    }[kind]


MEMO_KINDS = {"enum", "enum_list", "month", "siret", "url", "email"}  # answers that repeat
MEMO_SIZE = 100_000


def _memoised(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`fn` remembering its answers: the same labels and dates come back on every submission."""
    memo: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        key = tuple(value) if isinstance(value, list) else value
        try:
            return copy_list(memo[key])
        except KeyError:
            pass
        except TypeError:  # not hashable (a list of lists): no memo
            return fn(value)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[key] = result = fn(value)
        return copy_list(result)

    return cached


def copy_list(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


class Normaliser:
    """Normalises mapped records field by field, following each column's `kind`."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.fields = {}
        for name, col in columns_meta().items():
            if not col.metadata.get("form_title"):
                continue
            kind = col.metadata["kind"]
            fn = _normaliser(kind, col.metadata["vocabulary"], taxonomy)
            self.fields[name] = _memoised(fn) if kind in MEMO_KINDS else fn

    def record(self, mapped: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, fn in self.fields.items():
            value = mapped.get(name)
            out[name] = None if value is None else fn(value)
        return out


def build_record(
    raw: RawSubmission, plan: FieldPlan, form: FormShape, normaliser: Normaliser
) -> dict[str, Any]:
    mapped, extra = map_submission(raw.payload, plan, form)
    record = normaliser.record(mapped)
    coll_type = normaliser.taxonomy["coll_type"].by_label(record.get("coll_type") or "")
    record.update(
        projet_id=projet_id(record["coll_siret"], record["nom_projet"]),
        date=raw.submitted_at.strftime("%Y-%m-%d"),
        latitude=None,
        longitude=None,
        submission_id=raw.submission_id,
        submitted_at=raw.submitted_at,
        coll_groupe=coll_type.group if coll_type else None,
        extra=json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None,
    )
    return {name: record.get(name) for name in COLUMNS}


def derive(
    raws: Iterable[RawSubmission], plan: FieldPlan, form: FormShape, taxonomy: Taxonomy
) -> Derived:
    normaliser = Normaliser(taxonomy)
    records = [build_record(raw, plan, form, normaliser) for raw in raws]
    out = Derived()
    if not records:
        return out
    frame = pd.DataFrame.from_records(records, columns=COLUMNS).astype(object)
    frame = frame.where(frame.notna(), None)
    out.issues = schema_issues(frame, taxonomy, validation_schema(taxonomy))
    open_fields = open_vocabulary_fields(taxonomy)
    for record in records:
        out.issues.extend(rule_warnings(record, taxonomy, open_fields))
    failing: dict[str, list[dict[str, Any]]] = {}
    for issue in out.issues:
        if issue["severity"] == ERROR:
            failing.setdefault(issue["submission_id"], []).append(issue)
    for record in records:
        errors = failing.get(record["submission_id"])
        if errors:
            out.quarantined.append(
                {
                    "submission_id": record["submission_id"],
                    "submitted_at": record["submitted_at"],
                    "reason": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
                    "coll_nom": record["coll_nom"],
                    "nom_projet": record["nom_projet"],
                }
            )
        else:
            out.versions.append(record)
    return out


def derive_rows(
    rows: list[RawRow], plan: FieldPlan, form: FormShape, taxonomy: Taxonomy
) -> Derived:
    """`derive` on raw submissions as stored (JSON text): what a worker process is sent, since
    text crosses a process boundary ten times faster than the parsed payloads."""
    return derive(
        (RawSubmission(sid, at, orjson.loads(text)) for sid, at, text in rows),
        plan,
        form,
        taxonomy,
    )


__all__ = ["Derived", "ProjectVersion", "RawRow", "RawSubmission", "derive", "derive_rows"]
