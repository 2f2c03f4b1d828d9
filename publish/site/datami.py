"""The feed of the association's current site: the four files its Datami widget reads.

Same names and layout as in the site's repository (`csv/processed_data.csv` and three JSON files
under `json/`), so that pointing the site at `public/datami/` changes nothing but the data:

- `processed_data.csv`: the 16 columns it shows, `;`-separated, SIRET in groups
  (`243 300 316 00011`), `projet_date` as `MM/YYYY`, `date` as `DD/MM/YYYY`, no line break in
  any cell (the widget splits rows on line breaks before it reads quotes: a long text's line
  breaks become spaces), text a spreadsheet would run as a formula prefixed with `'` as in the
  CSV export. Multi-valued cells are joined by a character that occurs in none of their values
  (`-`, the widget's default, when it can), and the custom properties give it to the widget as
  `tagSeparator`: every value comes out whole. `partenaires` is free text: one tag per line.
- the Table Schema of those columns (titles, descriptions, `required` from the contract; `enum`
  from the taxonomy, plus the values an open list holds, so that every value can be filtered);
- the custom properties (how the widget shows each column, from its kind);
- the map settings (tiles, points, clusters; the points' colours and legend by theme).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from publish.site.colours import OTHER_COLOUR, THEME_COLOURS
from schemas.kinds import KINDS
from schemas.project import columns_meta
from schemas.taxonomy import Taxonomy
from schemas.text import FORMULA_START

FOLDER = "datami"
DATA = "csv/processed_data.csv"
SCHEMA = "json/interconnectes_IA-schema.json"
CUSTOM_PROPS = "json/interconnectes_IA-fields-custom-props.json"
MAP_SETTINGS = "json/interconnectes_IA-map_settings.json"
COLUMNS = [
    "coll_nom",
    "nom_projet",
    "coll_siret",
    "latitude",
    "longitude",
    "coll_type",
    "projet_date",
    "projet_status",
    "partenaires",
    "usage_description",
    "theme",
    "sous_theme",
    "audience_service",
    "url_infos",
    "image_url",
    "date",
]
LINES = {"partenaires"}  # free text shown as tags: one tag per line
MULTI = ["partenaires", "sous_theme", "audience_service"]  # the multi-valued columns
JOINERS = "-|¦•·§¤"  # the first one absent from every multi-value joins them
TAG_COLOUR = "#00adb8"
OVERRIDES = {"image_url": "image"}  # a URL shown as an image


def lines(text: str | None) -> list[str]:
    return [line for line in (text or "").split("\n") if line.strip()]


def items(name: str, values: list[Any]) -> list[list[str]] | None:
    """The items of each cell of a multi-valued column (None: a column of single values)."""
    if name in LINES:
        return [lines(v) for v in values]
    if any(isinstance(v, list) for v in values):
        return [list(v or []) for v in values]
    return None


def choose_joiner(multi: Iterable[list[list[str]]]) -> str:
    """A character that occurs in no item of any multi-valued cell."""
    text = "\n".join(item for cells in multi for cell in cells for item in cell)
    for joiner in JOINERS:
        if joiner not in text:
            return joiner
    used = set(text)
    code = 0xE000  # past every usual symbol: the first private-use character nobody typed
    while chr(code) in used:
        code += 1
    return chr(code)


def _text(value: str) -> str:
    if "\n" in value or "\r" in value:
        value = " ".join(value.splitlines())
    return "'" + value if value[:1] and value[0] in FORMULA_START else value


def siret_groups(siret: str) -> str:
    return f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}" if len(siret) == 14 else siret


def _month(value: str) -> str:
    return f"{value[5:7]}/{value[:4]}" if len(value) == 7 else value  # YYYY-MM


def _day(value: Any) -> str:
    text = str(value)[:10]  # YYYY-MM-DD
    return f"{text[8:]}/{text[5:7]}/{text[:4]}"


def cells(name: str, values: list[Any], multi: list[list[str]] | None, joiner: str) -> list[str]:
    """One column of `processed_data.csv`."""
    if multi is not None:
        return [joiner.join(_text(item) for item in cell) for cell in multi]
    if name == "coll_siret":
        render: Callable[[Any], str] = lambda v: siret_groups(str(v))  # noqa: E731
    elif name == "projet_date":
        render = _month
    elif name == "date":
        render = _day
    elif name in ("latitude", "longitude"):
        render = repr
    else:
        render = _text
    return [render(v) if v is not None and v != "" else "" for v in values]


def feed_lines(columns: dict[str, list[Any]], joiner: str) -> list[str]:
    """The lines of `processed_data.csv` for a batch of rows (`columns`: name -> values), each
    without its line break (no cell holds one)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerows(
        zip(*(cells(n, columns[n], items(n, columns[n]), joiner) for n in COLUMNS), strict=True)
    )
    return buffer.getvalue().split("\n")[:-1]


def joiner_of(con: duckdb.DuckDBPyConnection, export: Path) -> str:
    """`choose_joiner` over the public export, in SQL: the first of `JOINERS` that no item of
    a multi-valued cell holds (an item holds it if its cell's text does: no joiner is a line
    break)."""
    texts = " || chr(10) || ".join(
        f"coalesce({name}, '')"
        if name in LINES
        else f"coalesce(array_to_string({name}, chr(10)), '')"
        for name in MULTI
    )
    found = con.execute(
        "SELECT "
        + ", ".join("coalesce(bool_or(contains(t, ?)), false)" for _ in JOINERS)
        + f" FROM (SELECT {texts} AS t FROM read_parquet(?))",
        [*JOINERS, str(export)],
    ).fetchall()[0]
    for joiner, used in zip(JOINERS, found, strict=True):
        if not used:
            return joiner
    return choose_joiner(multi_values(export))  # every usual one is taken: look further


def multi_values(export: Path) -> Iterator[list[list[str]]]:
    """The items of every multi-valued column, a row group at a time."""
    reader = pq.ParquetFile(export)
    for batch in reader.iter_batches(batch_size=4_096, columns=MULTI):
        for name in MULTI:
            found = items(name, batch.column(name).to_pylist())
            if found is not None:
                yield found


def _enum(meta: dict[str, Any], taxonomy: Taxonomy, found: Iterable[str | None]) -> list[str]:
    labels = list(taxonomy[meta["vocabulary"]].labels)
    # an open list's other values, filterable too
    return labels + sorted({v for v in found if v} - set(labels))


def schema(taxonomy: Taxonomy, found: Mapping[str, Iterable[str | None]]) -> dict[str, Any]:
    """The feed's fields, those of a vocabulary with the values `found` in the export (by
    column: a list's items)."""
    columns = columns_meta()
    fields = []
    for name in COLUMNS:
        col = columns[name]
        meta = col.metadata
        field: dict[str, Any] = {
            "name": name,
            "title": col.title,
            "description": FORMATS.get(name, col.description),
            "type": KINDS[meta["kind"]].datami_type,
        }
        constraints: dict[str, Any] = {"required": bool(meta["required"])}
        if meta["vocabulary"]:
            constraints["enum"] = _enum(meta, taxonomy, found[name])
        field["constraints"] = constraints
        fields.append(field)
    return {"fields": fields}


FORMATS = {
    "coll_siret": "SIRET de la collectivité : 14 chiffres, écrits par groupes (3 3 3 5).",
    "projet_date": "Mois de démarrage du projet (MM/AAAA).",
    "date": "Date de mise à jour des informations (JJ/MM/AAAA).",
}


def custom_props(joiner: str) -> dict[str, Any]:
    columns = columns_meta()
    fields = []
    for name in COLUMNS:
        subtype = OVERRIDES.get(name) or KINDS[columns[name].metadata["kind"]].datami_subtype
        if name in LINES:
            subtype = "tags"
        field: dict[str, Any] = {"name": name}
        if subtype:
            field["subtype"] = subtype
        if subtype in ("tag", "tags"):
            field["bgColor"] = TAG_COLOUR
        if subtype == "tags":
            field["tagSeparator"] = joiner  # what the widget splits on
            field["separator"] = joiner  # the key the current file wrote (ignored by it)
        fields.append(field)
    return {"fields": fields}


def _theme_match(taxonomy: Taxonomy) -> list[Any]:
    match: list[Any] = ["match", ["get", "theme"]]
    for term in taxonomy["theme"].terms:
        match += [term.label, THEME_COLOURS.get(term.code, OTHER_COLOUR)]
    return [*match, "#000000"]


MAP_TEMPLATE = Path(__file__).with_name("datami_map.json")  # the map's settings, as data


def map_settings(taxonomy: Taxonomy) -> dict[str, Any]:
    """The current site's map (`datami_map.json`), its themes' colours and legend from our
    taxonomy: `"@couleur_du_theme"` there is the expression that colours a point by its theme,
    `"@legende_des_themes"` the legend's list of themes and colours."""
    filled = {
        "@couleur_du_theme": _theme_match(taxonomy),
        "@legende_des_themes": [
            {"value": term.label, "color": THEME_COLOURS.get(term.code, OTHER_COLOUR)}
            for term in taxonomy["theme"].terms
        ],
    }

    def fill(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: fill(value) for key, value in node.items()}
        if isinstance(node, list):
            return [fill(value) for value in node]
        return filled.get(node, node) if isinstance(node, str) else node

    return dict(fill(json.loads(MAP_TEMPLATE.read_text(encoding="utf-8"))))


def _json(value: Any) -> bytes:
    return (json.dumps(value, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def write_feed(
    folder: Path,
    taxonomy: Taxonomy,
    lines: Iterable[bytes],
    joiner: str,
    found: Mapping[str, Iterable[str | None]],
) -> None:
    """The feed's four files in `folder`: the rows of the public Parquet export as `lines`
    (`feed_lines`, in the export's order, a batch at a time, each line ending with a line
    break, in UTF-8), their items joined by `joiner`; `found`: the values of each column of a
    vocabulary in the export (`schema`)."""
    (folder / "csv").mkdir(parents=True, exist_ok=True)
    (folder / "json").mkdir(parents=True, exist_ok=True)
    with open(folder / DATA, "wb") as handle:
        handle.write((";".join(COLUMNS) + "\n").encode("utf-8"))
        for batch in lines:
            handle.write(batch)
    (folder / SCHEMA).write_bytes(_json(schema(taxonomy, found)))
    (folder / CUSTOM_PROPS).write_bytes(_json(custom_props(joiner)))
    (folder / MAP_SETTINGS).write_bytes(_json(map_settings(taxonomy)))
