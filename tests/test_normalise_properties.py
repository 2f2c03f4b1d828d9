"""Property tests (hypothesis): normalisation is idempotent, and a canonical record is a fixed
point of the whole record normaliser."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bibia.settings import DEFAULT_TAXONOMY
from schemas.project import form_fields, hidden_fields
from schemas.taxonomy import Taxonomy
from transforms import normalise as n
from transforms.derive import Normaliser

TAXONOMY = Taxonomy.load(DEFAULT_TAXONOMY)
NORMALISER = Normaliser(TAXONOMY)

messy_text = st.text(
    alphabet=st.sampled_from(list("abcéèœ’' -,;:/.?*\n\t\r0123456789ABCÉ@")), max_size=40
)


def luhn_complete(body: str) -> str:
    return next(body + str(d) for d in range(10) if n.luhn_ok(body + str(d)))


sirets = st.text(alphabet="0123456789", min_size=13, max_size=13).map(luhn_complete)
months = st.tuples(st.integers(1990, 2030), st.integers(1, 12)).map(lambda t: f"{t[0]}-{t[1]:02d}")
single_line = (
    st.text(alphabet=st.sampled_from(list("abcdeéàç'’ -,.0123456789")), min_size=1, max_size=30)
    .map(n.squash)
    .filter(bool)
)
long_text = st.lists(single_line, min_size=1, max_size=4).map("\n".join)
urls = st.from_regex(r"https://[a-z]{1,10}\.(fr|org|eu)(/[a-z0-9\-]{0,10}){0,2}", fullmatch=True)
emails = st.from_regex(r"[a-z]{1,8}(\.[a-z]{1,8})?@[a-z]{2,10}\.fr", fullmatch=True)


def canonical_value(name: str, col: Any) -> st.SearchStrategy[Any]:
    kind, vocabulary = col.metadata["kind"], col.metadata["vocabulary"]
    if kind == "enum":
        return st.sampled_from(TAXONOMY[vocabulary].labels)
    if kind == "enum_list":
        labels = TAXONOMY[vocabulary].labels
        return st.lists(st.sampled_from(labels), min_size=1, max_size=2, unique=True)
    return {
        "siret": sirets,
        "month": months,
        "url": urls,
        "email": emails,
        "text": single_line,
        "longtext": long_text,
        "id": single_line,
    }[kind]


ANSWERED = {**form_fields(), **hidden_fields()}  # what the normaliser is given
canonical_records = st.fixed_dictionaries(
    {name: st.one_of(st.none(), canonical_value(name, col)) for name, col in ANSWERED.items()}
)


@settings(max_examples=300, deadline=None)
@given(canonical_records)
def test_a_canonical_record_is_left_unchanged(record):
    assert NORMALISER.record(record) == record


@settings(max_examples=300, deadline=None)
@given(
    st.fixed_dictionaries(
        {name: st.one_of(st.none(), messy_text, st.lists(messy_text)) for name in ANSWERED}
    )
)
def test_normalising_twice_is_normalising_once(messy):
    once = NORMALISER.record(messy)
    assert NORMALISER.record(once) == once


@settings(max_examples=300, deadline=None)
@given(st.one_of(messy_text, st.integers(0, 10**14)))
def test_each_normaliser_is_idempotent_on_anything(value):
    for fn in (n.text, n.long_text, n.siret, n.month, n.url, n.email):
        once = fn(value)
        assert fn(once) == once, fn.__name__
