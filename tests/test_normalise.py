"""Normalisers, as tables of literal examples: one behaviour per row."""

from __future__ import annotations

import pytest

from bibia.settings import DEFAULT_TAXONOMY
from schemas.taxonomy import Taxonomy
from transforms import normalise as n

TAXONOMY = Taxonomy.load(DEFAULT_TAXONOMY)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("24350013900010", "24350013900010"),  # already clean
        ("243 500 139 00010", "24350013900010"),  # spaces, as typed in practice
        ("243.500.139.00010", "24350013900010"),  # dots
        (" 243-500-139-00010 ", "24350013900010"),  # dashes and outer spaces
        ("02100000000007", "02100000000007"),  # leading zero kept: text, not a number
        (24350013900010, "24350013900010"),  # a number question
        ("SIRET en cours", "SIRET en cours"),  # not digits: left for validation to reject
        ("", None),  # not answered
    ],
)
def test_siret(typed, expected):
    assert n.siret(typed) == expected


@pytest.mark.parametrize(
    ("siret", "valid"),
    [
        ("24350013900015", True),  # Luhn sum divisible by 10
        ("24350013900016", False),  # the next one by a spreadsheet drag
        ("24350013900017", False),
        ("73282932000074", True),  # a real SIRET (INSEE's example)
        ("2435001390001", False),  # 13 digits
        ("2435001390001A", False),
    ],
)
def test_siret_checksum(siret, valid):
    assert n.siret_valid(siret) is valid


@pytest.mark.parametrize(
    "dragged",
    ["200 010 700 00018", "200 010 700 00019", "200 010 700 00020"],
    ids=["+1", "+2", "+3"],
)
def test_the_three_drag_incremented_sirets_of_one_authority_fail(dragged):
    assert n.siret_valid(n.siret("200 010 700 00017"))  # the authority's real one
    assert not n.siret_valid(n.siret(dragged))


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("03/2022", "2022-03"),  # MM/AAAA
        ("3/2022", "2022-03"),  # M/AAAA
        ("01/09/2021", "2021-09"),  # JJ/MM/AAAA, zero-padded: day first
        ("7/1/2023", "2023-07"),  # M/D/YYYY from a spreadsheet, unpadded: month first
        ("5/13/2024", "2024-05"),  # M/D/YYYY, the day over 12 settles it
        ("13/05/2024", "2024-05"),  # JJ/MM/AAAA, the day over 12 settles it
        ("2023-10-02", "2023-10"),  # a date picker's YYYY-MM-DD
        ("2023-10", "2023-10"),  # already canonical
        ("2024-02-01T00:00:00Z", "2024-02"),  # a timestamp
        ("13/2025", "13/2025"),  # no month 13: left for validation to reject
        ("printemps 2024", "printemps 2024"),
        (None, None),
    ],
)
def test_month(typed, expected):
    assert n.month(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("https://www.sicoval.fr/eau", "https://www.sicoval.fr/eau"),
        ("www.sicoval.fr/eau", "https://www.sicoval.fr/eau"),  # scheme added
        ("sqy.fr", "https://sqy.fr"),
        ("HTTP://exemple.fr", "http://exemple.fr"),  # scheme lower-cased
        ("//cdn.exemple.fr/logo.png", "https://cdn.exemple.fr/logo.png"),
        ("voir le site de la CC", "voir le site de la CC"),  # not a URL: validation rejects it
        ("  ", None),
    ],
)
def test_url(typed, expected):
    assert n.url(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        (" Assainissement.IA@Rennesmetropole.fr ", "assainissement.ia@rennesmetropole.fr"),
        ("mailto:eau@sicoval.fr", "eau@sicoval.fr"),
        ("pas d'adresse", "pas d'adresse"),  # left for validation to reject
    ],
)
def test_email(typed, expected):
    assert n.email(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("  Rennes   Métropole ", "Rennes Métropole"),  # repeated spaces collapsed
        ("Purecontrol,\nSaur", "Purecontrol, Saur"),  # newline in a single-line field
        ("\t", None),
        (2024, "2024"),
        (["Leakmited", "Réseau 31"], "Leakmited, Réseau 31"),  # two questions, one field
    ],
)
def test_single_line_text(typed, expected):
    assert n.text(typed) == expected


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Ligne 1\nLigne 2", "Ligne 1\nLigne 2"),  # newlines kept
        ("\n  Ligne 1  \r\n- point\r\n\n", "Ligne 1\n- point"),  # CRLF, outer blank lines
        ("Un  espace  double", "Un  espace  double"),  # inner spacing is the author's
    ],
)
def test_long_text(typed, expected):
    assert n.long_text(typed) == expected


@pytest.mark.parametrize(
    ("vocabulary", "typed", "expected"),
    [
        (
            "sous_theme",
            "Biodiversité, Construction et aménagement",
            ["Biodiversité et préservation des espaces naturels", "Construction et aménagement"],
        ),
        (
            "sous_theme",
            "Déchets - Gestion de l'eau",
            ["Déchets et économie circulaire", "Gestion de l'eau"],
        ),
        (
            "sous_theme",
            "Gestion de l'eau; Éclairage public",
            ["Gestion de l'eau", "Éclairage public"],
        ),
        ("audience_service", "Agent, Élu", ["Agent", "Élu"]),
        ("audience_service", "Grand public", ["Grand public"]),  # a bare single choice
        # not every piece is a label: the string stays whole (it may carry a "-" of its own)
        ("audience_service", "Agent, Aménageurs", ["Agent, Aménageurs"]),
        ("audience_service", ["Elu", "Élu", "Agent"], ["Élu", "Agent"]),  # repeats dropped
        ("type_algorithme", ["Computer vision", "NSP"], ["Vision par ordinateur", "Ne sait pas"]),
        ("donnees_source", [], None),
    ],
)
def test_multi_valued(vocabulary, typed, expected):
    assert n.enum_list(typed, TAXONOMY[vocabulary]) == expected
