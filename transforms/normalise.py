"""Normalisers: each takes what a contributor typed and returns the canonical form, or the
cleaned original when it cannot (validation then says why). None means "not answered"."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from schemas.kinds import KINDS, Kind
from schemas.project import columns_meta
from schemas.taxonomy import Taxonomy, Vocabulary
from schemas.text import squash, without_hidden

_SIRET_NOISE = re.compile(r"[\s.\-_/]")
_MONTH_FORMS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$"), "ymd"),  # date picker, ISO
    (re.compile(r"^(\d{4})-(\d{1,2})$"), "ym"),
    (re.compile(r"^(\d{1,2})[/.-](\d{4})$"), "my"),  # MM/AAAA
    (re.compile(r"^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$"), "dmy"),  # JJ/MM/AAAA, M/D/YYYY
)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
URL_PATTERN = r"^https?://(?:[\w-]+\.)+[\w-]+(?::\d{1,5})?(?:[/?#]\S*)?$"
_LABEL = r"[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?"
EMAIL_PATTERN = rf"^[a-z0-9!#$%&'*+/=?^_`{{|}}~.\-]+@{_LABEL}(?:\.{_LABEL})+$"
MONTH_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
SIRET_PATTERN = r"^\d{14}$"
_SPLITTERS = (";", ",", " - ", "-", "/", "\n")


def is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(is_blank(v) for v in value)
    return False


def as_text(value: Any) -> str | None:
    """A scalar answer as text (numbers from number questions, a one-item list)."""
    if is_blank(value):
        return None
    if isinstance(value, list | tuple):
        return ", ".join(t for t in (as_text(v) for v in value) if t)
    if isinstance(value, dict):  # a matrix, a payment...: as a person would write it
        return "; ".join(f"{k} : {as_text(v) or ''}" for k, v in value.items())
    if isinstance(value, bool):
        return "Oui" if value else "Non"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return without_hidden(str(value)) or None


def text(value: Any) -> str | None:
    """Single-line text: internal whitespace and newlines collapsed."""
    raw = as_text(value)
    return squash(raw) if raw is not None else None


def long_text(value: Any) -> str | None:
    """Long text: newlines kept (as \\n), trailing spaces and outer blank lines trimmed."""
    raw = as_text(value)
    if raw is None:
        return None
    lines = [line.rstrip() for line in raw.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines).strip() or None


def luhn_ok(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        n = int(char)
        if position % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def siret(value: Any) -> str | None:
    """Digits only (spaces, dots, dashes removed), kept as text for the leading zeros."""
    raw = as_text(value)
    if raw is None:
        return None
    compact = _SIRET_NOISE.sub("", raw.strip())
    return compact if compact.isdigit() else squash(raw)


def siret_valid(value: str) -> bool:
    return len(value) == 14 and value.isdigit() and luhn_ok(value)


def month(value: Any) -> str | None:
    """`MM/AAAA`, `JJ/MM/AAAA`, `M/D/YYYY`, `YYYY-MM-DD` -> `YYYY-MM`."""
    raw = as_text(value)
    if raw is None:
        return None
    raw = raw.strip()
    for pattern, form in _MONTH_FORMS:
        found = pattern.match(raw)
        if not found:
            continue
        groups = [int(g) for g in found.groups()]
        if form == "ymd":
            year, mon, day = groups
        elif form == "ym":
            (year, mon), day = groups, 1
        elif form == "my":
            (mon, year), day = groups, 1
        else:
            first, second, year = groups
            day, mon = _day_month(found.group(1), found.group(2), first, second)
        try:
            date(year, mon, day)
        except ValueError:
            return raw
        return f"{year:04d}-{mon:02d}"
    return raw


def _day_month(first_text: str, second_text: str, first: int, second: int) -> tuple[int, int]:
    """JJ/MM/AAAA as French contributors type it, or M/D/YYYY as spreadsheets export it.
    Decision: a part over 12 settles it; otherwise zero-padded parts (`01/09/2021`) are read
    day first and unpadded ones (`7/1/2023`, a spreadsheet's) month first."""
    if second > 12:
        return second, first
    if first > 12:
        return first, second
    padded = len(first_text) == 2 and len(second_text) == 2
    return (first, second) if padded else (second, first)


def url(value: Any) -> str | None:
    """Adds `https://` when the scheme is missing; what still is not a URL is left for the
    validation to reject."""
    raw = as_text(value)
    if raw is None:
        return None
    raw = raw.strip()
    if " " in raw or "." not in raw:
        return raw
    if not _SCHEME.match(raw):
        raw = "https://" + raw.removeprefix("//")
    scheme, rest = raw.split("://", 1)
    return f"{scheme.lower()}://{rest}"


def email(value: Any) -> str | None:
    raw = as_text(value)
    if raw is None:
        return None
    return raw.strip().removeprefix("mailto:").lower()


def enum(value: Any, vocabulary: Vocabulary) -> str | None:
    """The canonical label, or the cleaned text when it is not in the vocabulary."""
    raw = text(value)
    if raw is None:
        return None
    term = vocabulary.match(raw)
    return term.label if term else raw


def _pieces(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        out: list[str] = []
        for item in value:
            out.extend(_pieces(item))
        return out
    raw = text(value)
    return [raw] if raw else []


def split_known(raw: str, vocabulary: Vocabulary) -> list[str]:
    """A legacy multi-valued string, split on `;`, `,` or `-` only where every piece is a label
    of the vocabulary; otherwise the string stays whole."""
    if vocabulary.match(raw):
        return [raw]
    for separator in _SPLITTERS:
        if separator not in raw:
            continue
        parts = [p.strip() for p in raw.split(separator) if p.strip()]
        if len(parts) > 1 and all(vocabulary.match(p) for p in parts):
            return parts
    return [raw]


def enum_list(value: Any, vocabulary: Vocabulary) -> list[str] | None:
    """Each value to its canonical label, in the contributor's order, without repeats."""
    out: list[str] = []
    for piece in _pieces(value):
        for part in split_known(piece, vocabulary):
            term = vocabulary.match(part)
            label = term.label if term else part
            if label not in out:
                out.append(label)
    return out or None


class Typed:
    """A submission's answers as typed, by field, shown as text only when asked for (most
    records never need it: only what a warning or a held submission shows)."""

    __slots__ = ("_answers",)

    def __init__(self, answers: dict[str, Any]) -> None:
        self._answers = answers

    def __contains__(self, name: object) -> bool:
        return name in self._answers and not is_blank(self._answers[name])

    def get(self, name: str, default: Any = None) -> Any:
        return as_text(self._answers[name]) if name in self else default


# -- a whole record ------------------------------------------------------------------------------
MEMO_SIZE = 100_000


def _memoised(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`fn` remembering its answers: the same labels and dates come back on every submission."""
    memo: dict[Any, Any] = {}

    def cached(value: Any) -> Any:
        key = tuple(value) if isinstance(value, list) else value
        try:
            return _copy(memo[key])
        except KeyError:
            pass
        except TypeError:  # not hashable (a list of lists): no memo
            return fn(value)
        if len(memo) >= MEMO_SIZE:
            memo.clear()
        memo[key] = result = fn(value)
        return _copy(result)

    return cached


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def normaliser_of(kind: Kind, vocabulary: Vocabulary | None) -> Callable[[Any], Any]:
    """The normaliser a kind names (`Kind.normaliser`), given its vocabulary for the choices."""
    if kind.normaliser is None:
        raise ValueError(f"kind {kind.name} is not typed in by contributors")
    fn = NORMALISERS[kind.normaliser]
    if kind.normaliser in ("enum", "enum_list"):
        if vocabulary is None:
            raise ValueError(f"kind {kind.name} needs a vocabulary")
        return functools.partial(fn, vocabulary=vocabulary)
    return fn


class Normaliser:
    """Normalises the answers of a record field by field, each by its column's kind; answers
    of kinds that repeat (labels, dates, SIRETs, addresses) are normalised once each."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.fields: dict[str, Callable[[Any], Any]] = {}
        for name, col in columns_meta().items():
            if not (col.metadata.get("form_title") or col.metadata.get("hidden_field")):
                continue
            of = KINDS[col.metadata["kind"]]
            vocabulary = col.metadata["vocabulary"]
            fn = normaliser_of(of, taxonomy[vocabulary] if vocabulary else None)
            self.fields[name] = _memoised(fn) if of.repeats else fn

    def record(self, answers: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, fn in self.fields.items():
            value = answers.get(name)
            out[name] = None if value is None else fn(value)
        return out


# The normalisers a kind may name (`Kind.normaliser` in schemas/kinds.py), by that name.
NORMALISERS: dict[str, Callable[..., Any]] = {
    "text": text,
    "long_text": long_text,
    "siret": siret,
    "month": month,
    "url": url,
    "email": email,
    "enum": enum,
    "enum_list": enum_list,
}
