"""Folding of labels and titles, shared by the question mapping and the taxonomy."""

from __future__ import annotations

import functools
import re
import unicodedata

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "`": "'", "´": "'", "«": '"', "»": '"'})
_LIGATURES = {"œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss"}
_DASHES = str.maketrans({"–": "-", "—": "-", "‑": "-", "‐": "-"})
_TRAILING = re.compile(r"[\s?:*.!;,\-]+$")
_LEADING = re.compile(r"^[\s*\-•]+")
_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=65_536)  # the same labels come back on every submission
def fold(text: str) -> str:
    """The matching key of a label: case, accents, apostrophes, ligatures, spaces, trailing
    punctuation folded away. `fold("Élu ")` == `fold("elu")`."""
    text = text.translate(_APOSTROPHES).translate(_DASHES)
    for ligature, plain in _LIGATURES.items():
        text = text.replace(ligature, plain)
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = _SPACES.sub(" ", text.casefold()).strip()
    text = _TRAILING.sub("", text)
    text = _LEADING.sub("", text)
    return text.replace(" '", "'").replace("' ", "'")


# what starts a cell a spreadsheet would run as a formula (neutralised in the CSV and the feed)
FORMULA_START = "=+-@\t\r"


def squash(text: str) -> str:
    """Single-line text: internal whitespace and newlines collapsed to one space."""
    return _SPACES.sub(" ", text).strip()


_UNPRINTABLE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


# what is removed from every text a contributor sends before it is published: control
# characters (NUL and terminal escapes included; tabs and line breaks are kept) and the
# bidirectional embeddings, overrides and isolates that make a text display other than it reads
_HIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def without_hidden(text: str) -> str:
    """`text` without the characters a reader cannot see or that reorder what is shown."""
    return _HIDDEN.sub("", text) if _HIDDEN.search(text) else text


def printable(text: object) -> str:
    """Text safe to print on a terminal: control characters (escape sequences included) and
    bidirectional overrides shown as `\\x1b`-style escapes instead of being interpreted."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), str(text))
