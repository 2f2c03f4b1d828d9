"""Validation of normalised records: the pandera contract (errors) and the rules beyond types
(warnings). Every failure becomes a row of `validation_issues` with a message a curator can act
on, in French."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pyarrow
from pandera.engines.pandas_engine import Engine

from schemas.kinds import KINDS
from schemas.project import DROP, ProjectVersion, columns_meta
from schemas.taxonomy import Taxonomy, Term, Vocabulary
from schemas.text import fold
from transforms.normalise import (
    EMAIL_PATTERN,
    MONTH_PATTERN,
    URL_PATTERN,
    Typed,
    siret_valid,
)

ERROR, WARNING = "error", "warning"

_MESSAGES: dict[str, str] = {
    "not_nullable": "champ obligatoire non renseigné",
    "siret_format": "SIRET invalide : 14 chiffres attendus",
    "siret_luhn": "SIRET invalide : la clé de contrôle ne correspond pas (faute de frappe ?)",
    "month_format": "date de démarrage illisible : attendu MM/AAAA, JJ/MM/AAAA ou AAAA-MM-JJ",
    "url_format": "adresse web invalide",
    "email_format": "adresse e-mail invalide",
    "max_items": "trop de valeurs : au plus {max_items}",
    "too_long": "texte trop long : {length} caractères, au plus {limit} (le projet est retenu ; "
    "raccourcir la réponse)",
}
SHOWN_CHARACTERS = 2_000  # what an issue keeps of a value typed (the raw landing keeps it all)


@dataclass(frozen=True)
class CheckCode:
    """Which check a value failed, and its parameter (a vocabulary's name, a limit): a value,
    never a text to parse again. pandera carries it as its text (`str`), read back once
    (`of`) where pandera hands failures back."""

    name: str
    parameter: str | None = None

    def __str__(self) -> str:
        return self.name if self.parameter is None else f"{self.name}:{self.parameter}"

    @classmethod
    def of(cls, text: str) -> CheckCode:
        name, _, parameter = text.partition(":")
        return cls(name, parameter or None)

    @property
    def limit(self) -> int:
        """The number a limit check carries (max_items, too_long)."""
        assert self.parameter is not None and self.parameter.isdigit(), self
        return int(self.parameter)


NOT_NULLABLE = CheckCode("not_nullable")
VOCABULARY, MAX_ITEMS, TOO_LONG = "vocabulary", "max_items", "too_long"


def _element_check(code: CheckCode, test: Callable[[Any], bool]) -> pa.Check:
    return pa.Check(test, element_wise=True, error=str(code), name=str(code))


def _max_items_check(limit: int) -> pa.Check:
    return _element_check(CheckCode(MAX_ITEMS, str(limit)), lambda v: len(v) <= limit)


def _vocab_check(vocab: Vocabulary) -> pa.Check:
    labels = frozenset(vocab.labels)
    code = CheckCode(VOCABULARY, vocab.name)
    if vocab.multi:
        return _element_check(code, lambda v: all(item in labels for item in v))
    return _element_check(code, lambda v: v in labels)


def _siret_checks(_vocab: Vocabulary | None) -> list[pa.Check]:
    return [
        _element_check(CheckCode("siret_format"), lambda v: len(v) == 14 and v.isdigit()),
        _element_check(
            CheckCode("siret_luhn"), lambda v: not (len(v) == 14 and v.isdigit()) or siret_valid(v)
        ),
    ]


def _pattern(pattern: str, code: str) -> Callable[[Vocabulary | None], list[pa.Check]]:
    return lambda _vocab: [pa.Check.str_matches(pattern, error=code)]


def _vocabulary_checks(vocab: Vocabulary | None) -> list[pa.Check]:
    assert vocab is not None, "a vocabulary check without a vocabulary"
    checks = [] if vocab.open else [_vocab_check(vocab)]
    if vocab.max_items:
        checks.append(_max_items_check(vocab.max_items))
    return checks


# What each `Kind.check` of schemas/kinds.py means, given the column's vocabulary.
CHECKS: dict[str, Callable[[Vocabulary | None], list[pa.Check]]] = {
    "siret": _siret_checks,
    "month": _pattern(MONTH_PATTERN, "month_format"),
    "url": _pattern(URL_PATTERN, "url_format"),
    "email": _pattern(EMAIL_PATTERN, "email_format"),
    "vocabulary": _vocabulary_checks,
}


def validation_schema(taxonomy: Taxonomy) -> pa.DataFrameSchema:
    """ProjectVersion's contract (its dtypes, nullability and unique ids) plus the checks its
    columns' kinds name, given their vocabularies; a text column's type is `frame`'s to check."""
    schema = ProjectVersion.to_schema()
    updates: dict[str, dict[str, Any]] = {}
    for name, col in schema.columns.items():
        kind = KINDS[col.metadata["kind"]]
        if kind.pandas == "str":
            # `frame` makes a text column through Arrow, which refuses any value that is not a
            # text; pandera 0.35 would check it again, and write a report of its failures (a
            # frame rendered as text) even when there are none: 17 ms of a batch's 78
            updates[name] = {"dtype": None}
        checks = []
        if kind.max_length is not None:
            checks.append(
                pa.Check.str_length(
                    max_value=kind.max_length, error=str(CheckCode(TOO_LONG, str(kind.max_length)))
                )
            )
        if kind.check is not None:
            vocabulary = col.metadata["vocabulary"]
            checks += CHECKS[kind.check](taxonomy[vocabulary] if vocabulary else None)
        if checks:
            updates.setdefault(name, {})["checks"] = checks
    return schema.update_columns(updates)


def frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """Records as the frame pandera validates, each column with its kind's dtype. Text goes
    through Arrow, which refuses anything that is not a text (a bug), as fast as it reads it."""
    columns = {}
    for name, col in columns_meta().items():
        values = [r[name] for r in records]
        dtype = KINDS[col.metadata["kind"]].pandas
        if dtype == "str":
            try:
                strict = pyarrow.array(values, pyarrow.string())
            except (pyarrow.ArrowTypeError, pyarrow.ArrowInvalid) as exc:
                raise TypeError(
                    f"column {name}: a value that is not a text (a bibia bug: a normaliser or a "
                    f"record builder returned the wrong type): {exc}"
                ) from None
            columns[name] = pd.Series(pd.array(strict, dtype="str"))
        else:
            columns[name] = pd.Series(values, dtype=dtype)
    return pd.DataFrame(columns)


def _show(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    text = str(value)
    return text if len(text) <= SHOWN_CHARACTERS else text[:SHOWN_CHARACTERS] + "…"


def closest_first(vocabulary: Vocabulary, typed: str) -> list[str]:
    """The vocabulary's labels, the one closest to `typed` first (by its label, code or
    aliases, case and accents folded), then in the taxonomy's order."""
    folded = fold(str(typed))

    def closeness(term: Term) -> float:
        spellings = (term.label, term.code, *term.aliases)
        return max(difflib.SequenceMatcher(None, folded, fold(s)).ratio() for s in spellings)

    ranked = sorted(enumerate(vocabulary.terms), key=lambda it: (-closeness(it[1]), it[0]))
    return [term.label for _i, term in ranked]


def message_for(code: CheckCode, value: Any, taxonomy: Taxonomy) -> str:
    if code.name == VOCABULARY and code.parameter is not None:
        vocab = taxonomy[code.parameter]
        values = value if isinstance(value, list | tuple) else [value]
        unknown = [v for v in values if v not in set(vocab.labels)]
        shown = ", ".join(f"« {v} »" for v in unknown)
        allowed = closest_first(vocab, unknown[0] if unknown else "")
        listed = ", ".join(f"« {label} »" for label in allowed)
        alias = (
            f" ; ou, si « {unknown[0]} » veut dire « {allowed[0]} », l'ajouter comme alias de ce "
            "terme dans la taxonomie"
            if unknown and allowed
            else ""
        )
        return (
            f"{shown} : valeur inconnue du vocabulaire {vocab.name} (taxonomie "
            f"{taxonomy.version}) ; valeurs permises, la plus proche d'abord : {listed}{alias}"
        )
    if code.name == MAX_ITEMS:
        return _MESSAGES[MAX_ITEMS].format(max_items=code.limit)
    if code.name == TOO_LONG:
        length = len(value) if isinstance(value, str) else 0
        return _MESSAGES[TOO_LONG].format(length=length, limit=code.limit)
    return _MESSAGES.get(code.name, f"contrôle {code} non respecté")


def issue(
    submission_id: str, field: str, value: Any, severity: str, message: str
) -> dict[str, Any]:
    """One row of `validation_issues` (the run id is added when it is loaded)."""
    return {
        "submission_id": submission_id,
        "field": field,
        "value": _show(value),
        "severity": severity,
        "message": message,
    }


@dataclass(frozen=True)
class Failure:
    """One value that failed one check of the contract."""

    row: int
    field: str
    code: CheckCode


def schema_failures(frame: pd.DataFrame, schema: pa.DataFrameSchema) -> list[Failure]:
    """Every (record, field, check) that fails the contract, in pandera's order: its columns,
    dtypes, unique ids, nullability, then each column's checks, each run as pandera runs it
    (`Check.__call__`, missing values left out). pandera's lazy `validate` finds the same
    failures (`tests/test_validation.py` compares them) and writes a report of each failing
    column besides, which bibia has no use for: 300 ms of the demo's 360 ms derivation here."""
    if list(frame.columns) != list(schema.columns):
        raise TypeError(f"columns {list(frame.columns)} are not the contract's (a bibia bug)")
    failures = []
    for name, column in schema.columns.items():
        series = frame[name]
        if column.dtype is not None and not column.dtype.check(Engine.dtype(series.dtype)):
            # what a contributor typed is checked by the kinds' checks; a wrong type is bibia's
            # own mistake, which no record must survive
            raise TypeError(
                f"column {name}: {series.dtype} is not {column.dtype} (a bibia bug: a normaliser "
                "or a record builder returned the wrong type)"
            )
        if column.unique and series.duplicated().any():
            raise TypeError(f"column {name}: a value twice in one batch (a bibia bug)")
        if not column.nullable:
            missing = np.flatnonzero(series.isna().to_numpy())
            failures += [Failure(int(row), name, NOT_NULLABLE) for row in missing]
        for check in column.checks:
            passed = check(series).check_output
            code = CheckCode.of(check.error or check.name)
            failed = passed.index[~passed.fillna(False).to_numpy(dtype=bool)]
            failures += [Failure(int(row), name, code) for row in failed]
    return failures


def apply_policy(
    records: list[dict[str, Any]],
    typed: list[Typed],
    failures: list[Failure],
    taxonomy: Taxonomy,
) -> list[dict[str, Any]]:
    """What each failure does, by its field's publication policy (`on_invalid` in the contract):
    a missing required value or a HOLD field's invalid value is an error (the record is held
    back); a DROP field's invalid value is removed from the record (for a list, the invalid
    items only) with a warning that keeps what was typed. `typed`: each record's answers as
    typed, before normalisation. Returns the issues; `records` are changed in place."""
    columns = ProjectVersion.to_schema().columns
    out = []
    for failure in failures:
        record = records[failure.row]
        value = record[failure.field]
        meta = columns[failure.field].metadata
        message = message_for(failure.code, value, taxonomy)
        shown = typed[failure.row].get(failure.field, value)
        if (
            failure.code == NOT_NULLABLE
            or failure.code.name == TOO_LONG  # abuse or a mistake: never published
            or meta["on_invalid"] != DROP
        ):
            out.append(issue(record["submission_id"], failure.field, shown, ERROR, message))
            continue
        kept = _without_invalid(value, failure.code, taxonomy)
        if kept == value:
            continue  # an earlier failure of the same value already removed what failed
        record[failure.field] = kept
        note = (
            " ; valeur retirée de la publication"
            if kept is None
            else (f" ; publié avec « {_show(kept)} »")
        )
        out.append(issue(record["submission_id"], failure.field, shown, WARNING, message + note))
    return out


def _without_invalid(value: Any, code: CheckCode, taxonomy: Taxonomy) -> Any:
    """The value with what failed `code` removed (None when nothing is left)."""
    if isinstance(value, list):
        if code.name == VOCABULARY and code.parameter is not None:
            labels = set(taxonomy[code.parameter].labels)
            kept = [item for item in value if item in labels]
        elif code.name == MAX_ITEMS:
            kept = value[: code.limit]
        else:
            kept = []
        return kept or None
    return None


def expected_warnings(record: dict[str, Any], typed: Typed) -> list[dict[str, Any]]:
    """Fields the form asks for (`expected` in the contract) that were not answered."""
    out = []
    for name, col in ProjectVersion.to_schema().columns.items():
        if col.metadata.get("expected") and record.get(name) is None and name not in typed:
            out.append(
                issue(
                    record["submission_id"],
                    name,
                    None,
                    WARNING,
                    "réponse attendue mais absente : le projet est publié sans elle",
                )
            )
    return out


def rule_warnings(
    record: dict[str, Any], taxonomy: Taxonomy, open_fields: dict[str, Vocabulary]
) -> list[dict[str, Any]]:
    """Rules beyond types: they flag, they never hold a submission back. `open_fields` comes
    from `open_vocabulary_fields(taxonomy)`."""
    out: list[dict[str, Any]] = []

    def warn(field: str, value: Any, message: str) -> None:
        out.append(issue(record["submission_id"], field, value, WARNING, message))

    theme = taxonomy["theme"].by_label(record.get("theme") or "")
    for label in record.get("sous_theme") or []:
        sub = taxonomy["sous_theme"].by_label(label)
        if sub is not None and theme is not None and sub.parent != theme.code:
            home = next(t.label for t in taxonomy["theme"].terms if t.code == sub.parent)
            warn(
                "sous_theme",
                label,
                f"le sous-thème « {label} » relève du thème « {home} », "
                f"pas du thème choisi « {theme.label} »",
            )
    if record.get("projet_status") == "Abandonné" and not record.get("status_abandon"):
        warn("status_abandon", None, "projet abandonné sans description de l'abandon")
    siret = record.get("coll_siret") or ""
    coll_type = taxonomy["coll_type"].by_label(record.get("coll_type") or "")
    if (
        coll_type is not None
        and coll_type.siren_prefixes
        and siret[:1] == "2"
        and siret[:2] not in coll_type.siren_prefixes
    ):
        warn(
            "coll_type",
            coll_type.label,
            f"le SIREN {siret[:9]} ne correspond pas au type déclaré « {coll_type.label} » "
            f"(préfixe {siret[:2]}, attendu {' ou '.join(coll_type.siren_prefixes)})",
        )
    for name, vocab in open_fields.items():
        values = record.get(name) or []
        for value in values if isinstance(values, list) else [values]:
            if vocab.by_label(value) is None:
                warn(
                    name,
                    value,
                    f"« {value} » ne fait pas partie de la liste {vocab.name} (valeur conservée)",
                )
    return out


def open_vocabulary_fields(taxonomy: Taxonomy) -> dict[str, Vocabulary]:
    """Fields whose vocabulary keeps unknown values (with a warning)."""
    out = {}
    for name, col in ProjectVersion.to_schema().columns.items():
        vocabulary = col.metadata["vocabulary"]
        if vocabulary and taxonomy[vocabulary].open:
            out[name] = taxonomy[vocabulary]
    return out


def value_problems(name: str, value: Any, taxonomy: Taxonomy) -> list[str]:
    """Why `value` (normalised) would fail field `name`'s checks, in French (none: it passes).
    What the curators' commands refuse before writing a decision."""
    checks = validation_schema(taxonomy).columns[name].checks
    column = ProjectVersion.to_schema().columns[name].update_checks(checks)  # with its dtype
    frame = pd.DataFrame({name: pd.Series([value], dtype=object)})
    try:
        pa.DataFrameSchema({name: column}).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as exc:
        codes = dict.fromkeys(CheckCode.of(str(c)) for c in exc.failure_cases["check"])
        return [message_for(code, value, taxonomy) for code in codes]
    return []
