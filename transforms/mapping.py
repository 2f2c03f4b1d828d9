"""From Tally questions and answers to data-model fields.

Questions are keyed by id; their titles are matched (folded) against `schemas/mapping.yaml`.
Answers come in every shape the API is known to use: `answer` or `value`; strings, numbers,
lists of option texts, a bare string for a single choice, option ids (resolved through the
form definition), file objects (their URLs).
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.errors import ConfigError, MappingError
from schemas.files import load_yaml
from schemas.project import form_fields, hidden_fields
from schemas.text import fold
from schemas.times import UNKNOWN_TIME, submitted_time

log = logging.getLogger("bibia.mapping")


HIDDEN_FIELDS = "HIDDEN_FIELDS"  # Tally's question type of a form's hidden fields
# blocks of the form definition that give an id a text (besides `*_OPTION`): checkboxes, and a
# matrix's rows and columns
OPTION_BLOCKS = {"CHECKBOX", "MATRIX_ROW", "MATRIX_COLUMN"}
MATRIX, PAYMENT, CALCULATED_FIELDS = "MATRIX", "PAYMENT", "CALCULATED_FIELDS"
NAMED_VALUES = {HIDDEN_FIELDS, CALCULATED_FIELDS}  # an answer of name -> value pairs


@dataclass(frozen=True)
class FieldMapping:
    titles: dict[str, str]  # folded question title -> field
    pinned: dict[str, str]  # question id -> field
    hidden: dict[str, str] = field(default_factory=dict)  # hidden field name -> field
    prefill: dict[str, str] = field(default_factory=dict)  # field -> hidden field (URL param)

    def hidden_name(self, name: str) -> str | None:
        """The hidden field that feeds `name` (`projet_ref`'s is the correction link's)."""
        return next((h for h, f in self.hidden.items() if f == name), None)

    @classmethod
    def load(cls, path: Path) -> FieldMapping:
        data = load_yaml(path, "fichier de correspondance")
        known = form_fields()
        titles: dict[str, str] = {}
        for name, spellings in (data.get("titles") or {}).items():
            if name not in known:
                raise ConfigError(
                    f"fichier de correspondance {path} : {name!r} n'est pas un champ du modèle"
                )
            for spelling in [known[name].metadata["form_title"], *(spellings or [])]:
                titles[fold(str(spelling))] = name
        for name, col in known.items():  # the data model's own titles always match
            titles.setdefault(fold(col.metadata["form_title"]), name)
        pinned = {str(k): str(v) for k, v in (data.get("questions") or {}).items()}
        for qid, name in pinned.items():
            if name not in known:
                raise ConfigError(
                    f"fichier de correspondance {path} : question {qid} attachée à un champ "
                    f"inconnu {name!r}"
                )
        hidden = {str(c.metadata["hidden_field"]): n for n, c in hidden_fields().items()}
        for name, spelling in (data.get("hidden_fields") or {}).items():
            if name not in hidden_fields():
                raise ConfigError(
                    f"fichier de correspondance {path} : {name!r} ne peut pas venir d'un champ "
                    "caché"
                )
            hidden = {h: f for h, f in hidden.items() if f != name}
            hidden[str(spelling)] = name
        prefill = {str(k): str(v) for k, v in (data.get("prefill") or {}).items()}
        for name in prefill:
            if name not in known:
                raise ConfigError(
                    f"fichier de correspondance {path} : pré-remplissage de {name!r}, qui n'est "
                    "pas un champ du formulaire"
                )
        return cls(titles=titles, pinned=pinned, hidden=hidden, prefill=prefill)


@dataclass
class Question:
    question_id: str
    title: str
    type: str
    deleted: bool
    current: bool = True  # in the form as last fetched (else known from an older snapshot)

    def named(self) -> str:
        """How a note names it: its id and title, or its id and type when it has no title
        (hidden and calculated fields)."""
        if self.title:
            return f"{self.question_id} « {self.title} »"
        return f"{self.question_id} ({self.type or 'type inconnu'}, sans titre)"


@dataclass
class FormShape:
    """What the form says about its questions and choice options."""

    questions: dict[str, Question]
    options: dict[str, str]  # option id -> option text

    def key_of(self, question_id: str) -> str:
        """The key of a question's answer in `extra`: its title when no other question of
        the form has the same (and it has one), else its id."""
        return self._keys.get(question_id, question_id)

    @functools.cached_property
    def _keys(self) -> dict[str, str]:
        titles = Counter(q.title for q in self.questions.values() if q.title)
        return {
            qid: q.title if q.title and titles[q.title] == 1 else qid
            for qid, q in self.questions.items()
        }

    @classmethod
    def from_snapshots(
        cls, snapshots: list[tuple[list[dict[str, Any]], dict[str, Any] | None]]
    ) -> FormShape:
        """Merge snapshots, oldest first: the last one is the form as it is now; older ones
        keep questions that have since disappeared, so their old answers still map."""
        merged = FormShape({}, {})
        for position, (questions, definition) in enumerate(snapshots):
            shape = cls.from_snapshot(questions, definition)
            last = position == len(snapshots) - 1
            for question in shape.questions.values():
                question.current = last
            merged.questions.update(shape.questions)
            merged.options.update(shape.options)
        return merged

    @classmethod
    def from_snapshot(
        cls, questions: list[dict[str, Any]], definition: dict[str, Any] | None
    ) -> FormShape:
        found: dict[str, Question] = {}
        options: dict[str, str] = {}
        for q in questions:
            qid = str(q.get("id", ""))
            if not qid:
                continue
            title = q.get("title") or ""
            kind = str(q.get("type", ""))
            for f in q.get("fields") or []:
                if kind not in NAMED_VALUES:  # there, fields name the values, not the question
                    title = title or f.get("title") or ""
                for opt in f.get("options") or []:
                    if isinstance(opt, dict) and "id" in opt and "text" in opt:
                        options[str(opt["id"])] = str(opt["text"])
            found[qid] = Question(qid, str(title), kind, bool(q.get("isDeleted")))
        for block in (definition or {}).get("blocks") or []:
            kind = str(block.get("type", ""))
            payload = block.get("payload") or {}
            if (kind in OPTION_BLOCKS or kind.endswith("_OPTION")) and "text" in payload:
                for key in (block.get("uuid"), payload.get("id")):
                    if key:
                        options[str(key)] = str(payload["text"])
        return cls(found, options)


@dataclass
class FieldPlan:
    """Which question feeds which field, and what the form carries that maps to nothing."""

    by_question: dict[str, str]
    hidden: dict[str, str] = field(default_factory=dict)  # hidden field name -> field
    echoes: frozenset[str] = frozenset()  # hidden fields that only pre-fill answers
    unmapped: list[Question] = field(default_factory=list)
    deleted: list[Question] = field(default_factory=list)
    missing_optional: list[str] = field(default_factory=list)

    def report(self) -> list[str]:
        lines = [f"question {q.named()} : ne nourrit aucun champ" for q in self.unmapped]
        lines += [
            f"question {q.named()} : supprimée du formulaire, ses réponses restent lues"
            for q in self.deleted
        ]
        lines += [
            f"aucune question du formulaire ne nourrit le champ facultatif {n}"
            for n in self.missing_optional
        ]
        return lines


def plan_fields(form: FormShape, mapping: FieldMapping) -> FieldPlan:
    """Match questions to fields. A required field with no question, or a pinned question that
    disappeared, fails the run: the mapping must be fixed before anything is published."""
    for qid, pinned in mapping.pinned.items():
        if qid not in form.questions or not form.questions[qid].current:
            raise MappingError(
                f"la question {qid}, attachée à {pinned} dans le fichier de correspondance, "
                "n'est plus dans le formulaire"
            )
    plan = FieldPlan(
        by_question={}, hidden=dict(mapping.hidden), echoes=frozenset(mapping.prefill.values())
    )
    for q in form.questions.values():
        if q.type == HIDDEN_FIELDS:
            continue  # its answer names each hidden field: see map_submission
        name = mapping.pinned.get(q.question_id) or mapping.titles.get(fold(q.title))
        if name is None:
            plan.unmapped.append(q)
            continue
        plan.by_question[q.question_id] = name
        if q.deleted:
            plan.deleted.append(q)
    fed = set(plan.by_question.values())
    live = {
        n
        for qid, n in plan.by_question.items()
        if form.questions[qid].current and not form.questions[qid].deleted
    }
    for name, col in form_fields().items():
        if col.metadata["required"] and name not in live:
            title = col.metadata["form_title"]
            raise MappingError(
                f"aucune question du formulaire ne nourrit le champ obligatoire {name} (titre "
                f"{title!r}) : ajouter la formulation du formulaire à schemas/mapping.yaml"
            )
        if name not in fed:
            plan.missing_optional.append(name)
    return plan


def answer_value(response: dict[str, Any], form: FormShape) -> Any:
    """The answer of one response as a person reading the form would read it, as a JSON value:
    option ids become their texts, a matrix its rows and columns' texts, a payment its amount,
    currency and status, files their addresses."""
    value = response["answer"] if "answer" in response else response.get("value")
    question = form.questions.get(str(response.get("questionId", "")))
    kind = question.type if question else str(response.get("type") or "")
    return readable(value, kind, form.options)


PAYMENT_KEYS = {  # what a payment answer says, under the names Tally uses for it
    "amount": ("amount", "price", "total"),
    "currency": ("currency",),
    "status": ("status", "paymentStatus", "state"),
    "payment_id": ("paymentId", "id"),
}


def readable(value: Any, kind: str, options: dict[str, str]) -> Any:
    """`value` of a question of Tally type `kind`, readable (see `answer_value`)."""
    if kind == MATRIX and isinstance(value, dict):
        return {
            options.get(str(row), str(row)): _plain(cols, options) for row, cols in value.items()
        }
    if kind == PAYMENT and isinstance(value, dict):
        found = {
            name: next((value[k] for k in keys if value.get(k) not in (None, "")), None)
            for name, keys in PAYMENT_KEYS.items()
        }
        return {k: v for k, v in found.items() if v is not None}
    if kind in NAMED_VALUES and isinstance(value, list):  # [{name, value}, ...]
        pairs = [v for v in value if isinstance(v, dict) and "name" in v]
        if pairs and len(pairs) == len(value):
            return {str(v["name"]): _plain(v.get("value"), options) for v in pairs}
    return _plain(value, options)


def _plain(value: Any, options: dict[str, str]) -> Any:
    if isinstance(value, str):
        return options.get(value, value)  # an option id becomes its text
    if isinstance(value, list):
        items = [_plain(v, options) for v in value]
        return [v for v in items if v is not None and v != ""]
    if isinstance(value, dict):
        if "url" in value:  # a file object
            return value["url"]
        if "text" in value:
            return value["text"]
        return {options.get(str(k), str(k)): _plain(v, options) for k, v in value.items()}
    return value


def shape_problems(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """What in a submission is not of the documented shape, as (part, message in French): such
    a submission is held back with the reason, never allowed to fail a run."""
    found = []
    if submitted_time(payload.get("submittedAt")) == UNKNOWN_TIME:
        found.append(("submittedAt", "date d'envoi absente ou illisible"))
    responses = payload.get("responses")
    if responses is not None and not isinstance(responses, list):
        found.append(
            ("responses", f"réponses de forme inattendue ({type(responses).__name__}) : illisibles")
        )
        return found
    for number, response in enumerate(responses or [], start=1):
        if not isinstance(response, dict):
            found.append(
                (
                    "responses",
                    f"réponse n° {number} de forme inattendue ({type(response).__name__}) : "
                    "illisible",
                )
            )
        elif not isinstance(response.get("questionId", ""), str):
            found.append(("responses", f"réponse n° {number} sans question identifiable"))
    return found


def map_submission(
    payload: dict[str, Any], plan: FieldPlan, form: FormShape
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(field -> answer, key -> what an unmapped question answered). Each entry of the second
    is `{"question_id", "type", "value"}`, under a key that cannot collide: the question's
    title when the form has no other question of that title, else its id; a hidden or
    calculated field's value under its name."""
    record: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    responses = payload.get("responses")
    for response in responses if isinstance(responses, list) else []:
        if not isinstance(response, dict):
            continue  # held back by `shape_problems`
        qid = str(response.get("questionId", ""))
        question = form.questions.get(qid)
        kind = question.type if question else str(response.get("type") or "")
        value = answer_value(response, form)
        if kind in NAMED_VALUES and isinstance(value, dict):
            for name, given in value.items():
                target = plan.hidden.get(name) if kind == HIDDEN_FIELDS else None
                if target is not None:
                    record[target] = given
                elif name not in plan.echoes and given not in (None, ""):
                    _keep(extra, name, qid, kind, given)
            continue
        if value is None or value == "" or value == [] or value == {}:
            continue
        name = plan.by_question.get(qid)
        if name is None:
            _keep(extra, form.key_of(qid), qid, kind, value)
            continue
        if name in record:  # two questions feed one field: keep both answers
            before = record[name]
            record[name] = (before if isinstance(before, list) else [before]) + (
                value if isinstance(value, list) else [value]
            )
        else:
            record[name] = value
    return record, extra


def _keep(extra: dict[str, Any], key: str, qid: str, kind: str, value: Any) -> None:
    """One unmapped answer into `extra`; a key met already gets the question's id added."""
    if key in extra:
        key = f"{key} [{qid}]"
    extra[key] = {"question_id": qid, "type": kind, "value": value}
