"""Raw submissions -> normalised records -> valid versions, quarantine and issues.

Pure: no database, no network. `warehouse.load` writes what this returns.
"""

from __future__ import annotations

import contextlib
import gc
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import pyarrow

from schemas.kinds import KINDS
from schemas.project import ProjectVersion, arrow_schema, columns_meta
from schemas.records import RawRow
from schemas.tables import Quarantine, ValidationIssue
from schemas.taxonomy import Taxonomy
from transforms.curation import CORRECT, Decision, Decisions, corrected
from transforms.identity import correction_link, projet_id
from transforms.mapping import FieldPlan, FormShape, map_submission, shape_problems
from transforms.normalise import Normaliser, Typed, as_text
from transforms.validate import (
    ERROR,
    WARNING,
    apply_policy,
    expected_warnings,
    frame,
    issue,
    open_vocabulary_fields,
    rule_warnings,
    schema_failures,
    validation_schema,
    value_problems,
)

COLUMNS = list(columns_meta())  # project_versions' columns, in order


@dataclass(frozen=True)
class Submission:
    submission_id: str
    submitted_at: datetime  # UTC, naive
    payload: dict[str, Any]


@dataclass
class Derived:
    """What a batch of submissions gives: valid versions, held ones, issues (as records)."""

    versions: list[dict[str, Any]] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)


HELD_COLUMNS = [c for c in columns_meta(Quarantine) if c not in ("since_run_id", "since_at")]
ISSUE_COLUMNS = [c for c in columns_meta(ValidationIssue) if c != "run_id"]


@dataclass
class DerivedTables:
    """The same, as Arrow tables: what a worker process sends back (Arrow crosses a process
    boundary as buffers, records one object at a time) and what the warehouse loads."""

    versions: pyarrow.Table
    quarantined: pyarrow.Table
    issues: pyarrow.Table

    @classmethod
    def of(cls, derived: Derived) -> DerivedTables:
        return cls(
            pyarrow.Table.from_pylist(derived.versions, schema=arrow_schema()),
            pyarrow.Table.from_pylist(
                derived.quarantined, schema=arrow_schema(HELD_COLUMNS, Quarantine)
            ),
            issue_table(derived.issues),
        )


def issue_table(issues: list[dict[str, Any]]) -> pyarrow.Table:
    return pyarrow.Table.from_pylist(issues, schema=arrow_schema(ISSUE_COLUMNS, ValidationIssue))


@dataclass(frozen=True)
class Links:
    """How correction links are made: the form's public link, the hidden field that carries
    the reference, and the fields the form pre-fills (field -> URL parameter)."""

    form_url: str | None = None
    ref_param: str | None = None
    prefill: dict[str, str] = field(default_factory=dict)

    def link(self, submission_id: str, record: dict[str, Any] | Typed) -> str | None:
        return correction_link(self.form_url, self.ref_param, self.prefill, submission_id, record)


@dataclass(frozen=True)
class Rules:
    """Everything a batch is derived with, besides the submissions: which question feeds which
    field, what the form says of its questions, the taxonomy, the curators' corrections in
    force (submission -> field -> decision) and how correction links are made."""

    plan: FieldPlan
    form: FormShape
    taxonomy: Taxonomy
    corrections: dict[str, dict[str, Decision]] = field(default_factory=dict)
    links: Links = field(default_factory=Links)


def first_values(submission_id: str, mapped: dict[str, Any]) -> list[dict[str, Any]]:
    """A field of one value fed several (two files, a multi-choice) keeps the first; a warning
    names the others. (`mapped` is changed in place.)"""
    out = []
    for name, value in mapped.items():
        if isinstance(value, list) and len(value) > 1 and name in ONE_VALUE:
            mapped[name], others = value[0], value[1:]
            shown = ", ".join(f"« {as_text(v)} »" for v in others)
            out.append(
                issue(
                    submission_id,
                    name,
                    value,
                    WARNING,
                    f"plusieurs réponses pour un champ qui n'en prend qu'une : la première est "
                    f"publiée, pas les autres ({shown})",
                )
            )
    return out


ONE_VALUE = frozenset(
    name for name, col in columns_meta().items() if KINDS[col.metadata["kind"]].one_value
)


def build_record(
    raw: Submission, rules: Rules, normaliser: Normaliser
) -> tuple[dict[str, Any], Typed, list[dict[str, Any]]]:
    """The record of one submission, its answers as typed (after the curators' corrections),
    by field, and the warnings about its answers' shapes."""
    mapped, extra = map_submission(raw.payload, rules.plan, rules.form)
    corrections = rules.corrections.get(raw.submission_id, {})
    mapped, trace = corrected(mapped, corrections)
    # the information was last updated by the contributor, or by a curator's correction since
    updated = max([raw.submitted_at, *(d.at for d in corrections.values())])
    warnings = first_values(raw.submission_id, mapped)
    record = normaliser.record(mapped)
    coll_type = normaliser.taxonomy["coll_type"].by_label(record.get("coll_type") or "")
    record.update(
        projet_id=projet_id(record["coll_siret"], record["nom_projet"], raw.submission_id),
        date=updated.strftime("%Y-%m-%d"),
        latitude=None,
        longitude=None,
        submission_id=raw.submission_id,
        submitted_at=raw.submitted_at,
        coll_groupe=coll_type.group if coll_type else None,
        extra=json.dumps(extra, ensure_ascii=False, sort_keys=True) if extra else None,
        curation=json.dumps(trace, ensure_ascii=False, sort_keys=True) if trace else None,
    )
    return {name: record.get(name) for name in COLUMNS}, Typed(mapped), warnings


def derive(raws: Iterable[Submission], rules: Rules) -> Derived:
    normaliser = Normaliser(rules.taxonomy)
    out = Derived()
    built = []
    for raw in raws:
        record, answers, warnings = build_record(raw, rules, normaliser)
        built.append((record, answers))
        out.issues += warnings
        for part, message in shape_problems(raw.payload):
            out.issues.append(issue(raw.submission_id, part, None, ERROR, message))
    if not built:
        return out
    records = [record for record, _ in built]
    typed = [answers for _, answers in built]
    failures = schema_failures(frame(records), validation_schema(rules.taxonomy))
    out.issues += apply_policy(records, typed, failures, rules.taxonomy)
    open_fields = open_vocabulary_fields(rules.taxonomy)
    for record, answers in built:
        out.issues.extend(expected_warnings(record, answers))
        out.issues.extend(rule_warnings(record, rules.taxonomy, open_fields))
    failing: dict[str, list[dict[str, Any]]] = {}
    for found in out.issues:
        if found["severity"] == ERROR:
            failing.setdefault(found["submission_id"], []).append(found)
    for record, answers in built:
        record["lien_correction"] = rules.links.link(
            record["submission_id"], record if record["submission_id"] not in failing else answers
        )
        errors = failing.get(record["submission_id"])
        if errors:
            out.quarantined.append(held(record, answers, errors))
        else:
            out.versions.append(record)
    return out


def held(record: dict[str, Any], typed: Typed, errors: list[dict[str, Any]]) -> dict[str, Any]:
    """A quarantine row: what a curator needs to recognise the submission (as typed) and to
    write to its contributor."""
    return {
        "submission_id": record["submission_id"],
        "submitted_at": record["submitted_at"],
        "reason": "; ".join(f"{e['field']}: {e['message']}" for e in errors),
        "coll_nom": typed.get("coll_nom"),
        "nom_projet": typed.get("nom_projet"),
        "coll_siret": record["coll_siret"],
        "projet_contact": typed.get("projet_contact"),
        "projet_id": record["projet_id"],
        "projet_ref": record["projet_ref"],
        "lien_correction": record["lien_correction"],
        "curation": record["curation"],
    }


def derive_tables(rows: list[RawRow], rules: Rules) -> DerivedTables:
    """`derive` on raw submissions as stored (JSON text), as Arrow tables: what a worker process
    is sent and sends back (text and Arrow cross a process boundary ten times faster than the
    parsed payloads and the records)."""
    with gc_paused():  # millions of young objects, no cycle among them
        raws = (Submission(r.submission_id, r.submitted_at, orjson.loads(r.payload)) for r in rows)
        return DerivedTables.of(derive(raws, rules))


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


__all__ = [
    "Derived",
    "DerivedTables",
    "Links",
    "ProjectVersion",
    "RawRow",
    "Rules",
    "Submission",
    "derive",
    "derive_tables",
]


def correction_problems(field_name: str, value: Any, taxonomy: Taxonomy) -> tuple[Any, list[str]]:
    """A curator's value for `field_name`, normalised as the contributor's would be, and why it
    would fail its checks (in French; none: it holds). What `bibia curate correct` refuses
    before writing, and what a run refuses in a hand-written decision."""
    normalised = None if value is None else Normaliser(taxonomy).fields[field_name](value)
    return normalised, value_problems(field_name, normalised, taxonomy)


def refused_decisions(decisions: Decisions, taxonomy: Taxonomy) -> dict[str, str]:
    """decision id -> why, for the corrections in force whose value does not hold (a
    hand-written one): the run applies them to nothing, and says so."""
    out: dict[str, str] = {}
    for decision in decisions.in_force():
        if decision.action != CORRECT or decision.field is None:
            continue
        _value, problems = correction_problems(decision.field, decision.value, taxonomy)
        if problems:
            out[decision.decision_id] = (
                f"valeur refusée pour {decision.field} : {' ; '.join(problems)}"
            )
    return out
