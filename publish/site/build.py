"""The register's static site, rendered from an exported snapshot (a Parquet export file).

Two editions from the same templates: the public one (`public/site/`, from the public export:
it cannot show what it was never given) and the members' one (`restricted/site/`, from the
restricted export, never linked from the public one). Pages: the projects (cards, free-text
search and filters whose state is kept in the address; the cards readable without JavaScript,
page after page), the map (Leaflet, pinned and shipped), a page per project at an address
derived from `projet_id`, the key figures (charts drawn when the site is built), and the data
(downloads and the fields' documentation, from the contract).

Everything a contributor typed is escaped (Jinja's autoescape, DOM text in the scripts); only
http(s) addresses become links or images; logos load lazily and without a referrer. The same
snapshot gives the same bytes: nothing in a page depends on when it was built.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import html
import itertools
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import orjson
import pyarrow
import pyarrow.compute as pc
import pyarrow.parquet as pq
from markupsafe import Markup, escape

from publish.export import BUCKET_ROWS, bucket_of, every_input
from publish.site import datami
from publish.site.charts import bar_chart
from publish.site.colours import OTHER_COLOUR, THEME_COLOURS
from schemas.datapackage import EXPORT_NAME
from schemas.kinds import KINDS
from schemas.project import PUBLIC, RESTRICTED, columns_meta, export_columns
from schemas.tables import columns_of
from schemas.taxonomy import Taxonomy
from warehouse.db import in_parts, insert_rows

HERE = Path(__file__).resolve().parent
LEAFLET = "vendor/leaflet-1.9.4"
CLUSTERS = "vendor/leaflet.markercluster-1.5.3"  # the map's groups of nearby projects
PAGE_SIZE = 100  # cards on each page of the list readable without JavaScript
DATA_PART = 2_000  # cards in each older part of the list's and the map's data (1.2 MB)
LIST_PAGES = "page-{}.html"  # the list's older pages (`list_page`)
DATA_PARTS = "data/projets-{}.json"  # the older parts of the cards' data (`data_parts`)
EXCERPT = 220  # characters of the description on a card
SITE = "site"  # the folder of each edition, beside its export files
DOWNLOADS = "donnees"  # the export files, copied into the site: it is served as it is
PROJECTS = "projets/"  # the folder of the projects' pages
MONTHS = (
    "janvier février mars avril mai juin juillet août septembre octobre novembre décembre"
).split()

# How a project page groups its fields; what no section names goes to "Autres informations".
SECTIONS: list[tuple[str, list[str]]] = [
    (
        "Le projet",
        [
            "theme",
            "sous_theme",
            "projet_status",
            "status_abandon",
            "projet_date",
            "usage_description",
            "audience_service",
            "partenaires",
            "url_infos",
        ],
    ),
    ("La collectivité", ["coll_nom", "coll_type", "coll_siret"]),
    (
        "Mise en œuvre",
        ["projet_contact", "financement", "budget", "mise_en_oeuvre", "herbergement"],
    ),
    (
        "L'algorithme",
        [
            "nom_algorithme",
            "algorithme_description",
            "algorithme_operations",
            "type_algorithme",
            "impact_environnement",
        ],
    ),
    ("Les données", ["donnees_source", "donnees_acces", "url_ressources"]),
]


@dataclass(frozen=True)
class Edition:
    """Which site: the public one, or the members' one (restricted fields shown)."""

    access: str
    name: str = "Bibliothèque d'IA territoriales"

    @property
    def members(self) -> bool:
        return self.access == RESTRICTED


EMPTY = '<span class="empty">non renseigné</span>'  # a field without a value says so


def field_html(name: str, title: str, kind: str) -> Callable[[Any], str]:
    """How a project's page shows a field: its `<dt>` and `<dd>` from its value, as links, list
    entries, paragraphs or a text, every value escaped (a page has about thirty of them: written
    here rather than in the template, five times faster). What does not depend on the value (the
    title, the empty field) is made once per field, not once per page."""
    e = html.escape
    head = f'<dt>{e(title)}</dt>\n<dd data-field="{name}">'
    empty = f"{head}{EMPTY}</dd>\n"
    of = KINDS[kind]

    def shown(value: Any) -> str:
        if value is None or value == [] or value == "":
            return empty
        if of.page == "link":
            if not web(value):
                return f"{head}{e(value)}</dd>\n"
            link = e(value)
            return f'{head}<a href="{link}" rel="noopener noreferrer nofollow">{link}</a></dd>\n'
        if of.page == "list":
            entries = "".join(f"<li>{e(entry)}</li>" for entry in value)
            return f'{head}<ul class="inline">{entries}</ul></dd>\n'
        if of.page == "paragraphs" or "\n" in str(value):
            paragraphs = "".join(f"<p>{e(p)}</p>" for p in str(value).split("\n") if p.strip())
            return f"{head}{paragraphs}</dd>\n" if paragraphs else empty
        if of.page == "month":
            text = french_month(value)
        elif of.page == "day":
            text = french_day(value)
        elif of.page == "number":
            text = f"{value:.5f}".rstrip("0").rstrip(".")
        else:
            text = str(value)
        return f"{head}{e(text)}</dd>\n" if text else empty

    return shown


@dataclass(frozen=True)
class SiteSettings:
    """Where the map's background comes from (`BIBIA_SITE_TILES`, a tile URL template with
    `{z}`, `{x}`, `{y}`; empty: the points on a plain background) and its credit line; the
    path the public edition is served under (`BIBIA_SITE_BASE`: its `404.html`, which a host
    serves at any missing address, links from there)."""

    tiles: str = ""
    attribution: str = ""
    base: str = "/"


@dataclass(frozen=True)
class Page:
    """A file of the site: its path in the site, its bytes (or its parts, made as they are
    written) and, for a project's page, a digest of what it is made from; `also`: the other
    editions that hold the same file (made once, copied)."""

    path: str
    content: bytes | Iterable[bytes]  # an iterable: made as it is written
    made_from: str | None = None
    also: tuple[str, ...] = ()  # the access of each other edition


# The pages to make, from a table of every page's inputs (`key`: a projet_id or a list page's
# number, `path`, `made_from`): key -> made_from of those not published from the same inputs.
Stale = Callable[[str], dict[str, str]]
StaleIn = Callable[[str, str], dict[str, str]]  # the same, for the edition (access, table)


@functools.cache
def code_fingerprint() -> str:
    """The site's own code (templates, scripts, styles, this package): a page made by other
    code is made again."""
    digest = hashlib.sha256()
    for path in sorted(HERE.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(HERE)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def web(url: Any) -> bool:
    return isinstance(url, str) and url.lower().startswith(("https://", "http://"))


def _initials(name: str) -> str:
    words = [w for w in name.replace("-", " ").split() if w[:1].isalnum() and len(w) > 2]
    return "".join(w[0].upper() for w in words[:2]) or "?"


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text or "")
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _excerpt(text: str | None) -> str:
    flat = " ".join((text or "").split())
    if len(flat) <= EXCERPT:
        return flat
    cut = flat[:EXCERPT].rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.") + "…"


def french_day(iso: str | None) -> str:
    if not iso:
        return ""
    moment = date.fromisoformat(str(iso)[:10])
    return f"{moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def french_month(value: str | None) -> str:
    if not value or len(value) != 7:
        return value or ""
    return f"{MONTHS[int(value[5:]) - 1]} {value[:4]}"


def page_path(projet_id: str) -> str:
    """A project's page, at an address that stays as long as its `projet_id`."""
    return f"{PROJECTS}{projet_id}.html"


def list_page(number: int) -> str:
    """A page of the list: 0, the first (`index.html`); the older ones are numbered from the
    oldest (`page-1.html`). The pages sit beside each other: a card reads the same on each."""
    return "index.html" if number == 0 else LIST_PAGES.format(number)


def older_pages(total: int, size: int = PAGE_SIZE) -> int:
    """How many pages of `size` cards come after the first (the list's, of `PAGE_SIZE`; the
    cards' data, of `DATA_PART`). The list runs from the project published last to the one
    published first (by its first valid submission; a correction does not move it); the older
    pages hold `size` projects each, counted from the first published (page 1), so that a page
    keeps its cards as projects are added; the first page holds the rest: from `size` to twice
    as many less one (all of them when fewer)."""
    return max(0, total // size - 1)


CARD_COLUMNS = [  # what a card shows (`card_of` reads these, and nothing else)
    "projet_id",
    "nom_projet",
    "coll_nom",
    "theme",
    "sous_theme",
    "projet_status",
    "coll_type",
    "audience_service",
    "projet_date",
    "image_url",
    "usage_description",
    "latitude",
    "longitude",
]
READ_ROWS = 1_024  # rows read at once from an export (a quarter of a Parquet row group)
SPARSE = 16  # fewer rows wanted than one in this many: `rows_of` asks DuckDB for them
PAGE_VALUES = ("nom", "porteur", "logo", "date_iso", "date_fr", "id", "resume")  # `projet.html`
# Fields a project's page shows otherwise: the logo (as the image), the seat (on the map).
NOT_ON_PAGE = frozenset({"image_url", "latitude", "longitude"})
ONLY_WHEN_GIVEN = frozenset({"status_abandon"})  # says something only of an abandoned project
CARDS_MARK = "\0cards\0"  # where a list page's cards go in its shell (never in escaped text)
PAGES_MARK = "\0pages\0"  # ... and its links to the pages beside it


def rows_of(
    export: Path,
    wanted: Collection[str],
    columns: list[str] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Iterator[dict[str, Any]]:
    """The rows of an export whose `projet_id` is `wanted`, in the file's order. A few (fewer
    than one row in `SPARSE`): found by `con`'s DuckDB, `READ_ROWS` at a time, which reads the
    wanted rows' pages on both cores (100 among 50,000: 0.06 s, against 0.15 s for reading
    the row groups that hold them, every one of them when they are spread). Otherwise: the file
    is sorted by `projet_id` and each row group's first and last are in its metadata, so only
    the row groups that hold a wanted row are read (memory: a row group)."""
    file = pq.ParquetFile(export)
    keys = sorted(wanted)
    schema = (
        file.schema_arrow
        if columns is None
        else pyarrow.schema([file.schema_arrow.field(name) for name in columns])
    )
    if con is not None and len(keys) * SPARSE < file.metadata.num_rows:
        sql = (
            f"SELECT {', '.join(schema.names)} FROM read_parquet($path) "
            "WHERE projet_id IN (SELECT unnest($keys)) ORDER BY projet_id"
        )
        for start in range(0, len(keys), READ_ROWS):
            found = con.sql(
                sql, params={"path": str(export), "keys": keys[start : start + READ_ROWS]}
            )
            yield from found.to_arrow_table().cast(schema).to_pylist()
        return
    column = file.schema_arrow.get_field_index("projet_id")
    for group in range(file.num_row_groups):
        stats = file.metadata.row_group(group).column(column).statistics
        inside = keys
        if stats is not None and stats.has_min_max:
            first = bisect.bisect_left(keys, stats.min)
            inside = keys[first : bisect.bisect_right(keys, stats.max)]
            if not inside:
                continue
        table = file.read_row_group(group, columns=columns)
        chosen = pc.is_in(table.column("projet_id"), value_set=pyarrow.array(inside))
        yield from table.filter(chosen).to_pylist()


def card_html(card: dict[str, Any]) -> str:
    """A card of the list (the same in both editions and on every page of the list); what
    `site.js` builds for the filtered list, node by node."""
    e = html.escape
    if card["logo"]:
        logo = (
            f'<img class="logo" src="{e(card["logo"])}" alt="Logo de {e(card["porteur"])}" '
            'loading="lazy" referrerpolicy="no-referrer" width="64" height="64">'
        )
    else:
        logo = f'<span class="logo placeholder" aria-hidden="true">{e(card["initiales"])}</span>'
    return (
        f'<li class="card"><article aria-labelledby="t-{e(card["id"])}">{logo}'
        f'<h3 id="t-{e(card["id"])}"><a href="{e(card["page"])}">{e(card["nom"])}</a></h3>'
        f'<p class="porteur">{e(card["porteur"])}</p>'
        f'<p class="tags"><span class="tag theme">{e(card["theme"])}</span> '
        f'<span class="tag statut">{e(card["statut"])}</span></p>'
        f'<p class="extrait">{e(card["extrait"])}</p></article></li>\n'
    )


def card_of(row: dict[str, Any], colour: Callable[[str], str]) -> dict[str, Any]:
    start = row.get("projet_date") or ""
    return {
        "id": row["projet_id"],
        "nom": row["nom_projet"],
        "porteur": row["coll_nom"],
        "initiales": _initials(row["coll_nom"]),
        "theme": row["theme"],
        "couleur": colour(row["theme"]),
        "sous_theme": list(row.get("sous_theme") or []),
        "statut": row["projet_status"],
        "type": row["coll_type"],
        "audience": list(row.get("audience_service") or []),
        "annee": start[:4],
        "logo": row["image_url"] if web(row.get("image_url")) else None,
        "extrait": _excerpt(row.get("usage_description")),
        "lat": row.get("latitude"),
        "lon": row.get("longitude"),
        "page": page_path(row["projet_id"]),
    }


# The cards' data as the browser reads it (`projets.js`), compact at 50,000 projects: a card
# is a JSON array of these fields, in this order; a field the filters take from a vocabulary
# holds the number of its term in `data/projets.json`'s `vocabulaires` (a value outside the
# taxonomy, kept as it was typed, stays text); a theme's colour and a project's page are made
# in the browser from the manifest (`couleurs`, `fiche`).
DATA_FIELDS = (
    "id",
    "nom",
    "porteur",
    "initiales",
    "theme",
    "sous_theme",
    "statut",
    "type",
    "audience",
    "annee",
    "logo",
    "extrait",
    "lat",
    "lon",
)
DEGREES = 5  # decimals kept of a seat's coordinates (about a metre)


@dataclass(frozen=True)
class DataCodes:
    """The numbers of the vocabularies' terms in the cards' data, from the taxonomy."""

    labels: dict[str, tuple[str, ...]]  # card key -> its vocabulary's labels, in order
    colours: tuple[str, ...]  # of the themes, in the same order
    other_colour: str = OTHER_COLOUR

    @classmethod
    def of(cls, taxonomy: Taxonomy) -> DataCodes:
        labels = {
            key: tuple(taxonomy[vocabulary].labels)
            for key, (_, vocabulary) in FILTERS.items()
            if vocabulary is not None
        }
        colour = colours(taxonomy)
        return cls(labels, tuple(colour(label) for label in labels["theme"]))

    @functools.cached_property
    def numbers(self) -> dict[str, dict[str, int]]:
        return {key: {label: i for i, label in enumerate(ls)} for key, ls in self.labels.items()}

    def row(self, card: dict[str, Any]) -> bytes:
        """A card as the browser reads it (`DATA_FIELDS`)."""
        values = []
        for name in DATA_FIELDS:
            value = card[name]
            numbers = self.numbers.get(name)
            if numbers is not None:
                value = (
                    [numbers.get(v, v) for v in value]
                    if isinstance(value, list)
                    else numbers.get(value, value)
                )
            elif name in ("lat", "lon") and value is not None:
                value = round(value, DEGREES)
            values.append(value)
        return orjson.dumps(values)

    def manifest(self) -> bytes:
        """What `data/projets.json` says of the cards besides them (its start, as JSON)."""
        return orjson.dumps(
            {
                "champs": DATA_FIELDS,
                "vocabulaires": self.labels,
                "couleurs": self.colours,
                "autre_couleur": self.other_colour,
                "fiche": page_path("{}"),
            }
        )[:-1]


def pagination(number: int, older: int) -> str:
    """The links of a list page (`number`, 0 for the first) to the pages beside it, when there
    are `older` pages after the first (none when there are none). A page says nothing of how
    many there are: an older page does not change when projects are added."""
    if older == 0:
        return ""
    links = []
    if number:
        newer = list_page(number + 1 if number < older else 0)
        links.append(f'<a href="{newer}" rel="prev">fiches plus récentes</a>')
        links.append(f"Fiches plus anciennes, page {number}")
    else:
        links.append("Les fiches les plus récentes")
    if number != 1:
        next_page = list_page(number - 1 if number else older)
        links.append(f'<a href="{next_page}" rel="next">fiches plus anciennes</a>')
    return (
        '<nav class="pagination" aria-label="Pages de la liste">\n'
        f"  <p>{' · '.join(links)}</p>\n</nav>\n"
    )


# The filters of the list: card key -> label, vocabulary (None: the values found).
FILTERS: dict[str, tuple[str, str | None]] = {
    "theme": ("Thème", "theme"),
    "sous_theme": ("Sous-thème", "sous_theme"),
    "statut": ("Maturité", "projet_status"),
    "type": ("Type de collectivité", "coll_type"),
    "audience": ("Public", "audience_service"),
    "annee": ("Année de démarrage", None),
}
# ... and the export column each counts (a list's items; the start year: `projet_date`'s)
FILTER_COLUMNS = {
    "theme": "theme",
    "sous_theme": "sous_theme",
    "statut": "projet_status",
    "type": "coll_type",
    "audience": "audience_service",
    "annee": "projet_date",
}


@dataclass
class Listing:
    """What the files made from every project are made of: the projects of the public export,
    counted, and what each puts in them: its card in the list and on the map (the same in both
    editions: a card shows public fields only) and its line of the Datami feed, kept in the
    table `site_cards` of `con`, and the list's order (`card_order`). In a run,
    `con` is the warehouse in the run's transaction: a card and a line are made again only
    when what they show changed."""

    con: duckdb.DuckDBPyConnection
    codes: DataCodes  # the vocabularies' numbers in the cards' data
    total: int = 0
    authorities: int = 0  # distinct SIREN
    latest: str | None = None  # the most recent `date`
    located: int = 0
    found: dict[str, Counter[str]] = field(default_factory=dict)  # filter -> value -> projects
    joiner: str = "-"  # of the feed's multi-valued cells (`datami.joiner_of`)

    @classmethod
    def of(cls, con: duckdb.DuckDBPyConnection, export: Path, taxonomy: Taxonomy) -> Listing:
        """The listing of the public `export`, its cards made where they changed. The figures
        are counted in Arrow, a row group at a time (not in DuckDB: its share of memory, in a
        run, is mostly taken by the run's uncommitted rows)."""
        listing = cls(con, DataCodes.of(taxonomy))
        listing.found = {name: Counter() for name in FILTERS}
        sirens: set[str] = set()
        columns = ["coll_siret", "date", "latitude", "longitude", *FILTER_COLUMNS.values()]
        reader = pq.ParquetFile(export)
        for batch in reader.iter_batches(
            batch_size=READ_ROWS, columns=list(dict.fromkeys(columns))
        ):
            listing.total += batch.num_rows
            sirens.update(pc.utf8_slice_codeunits(batch.column("coll_siret"), 0, 9).to_pylist())
            latest = pc.max(batch.column("date")).as_py()
            if latest is not None:
                listing.latest = max(listing.latest or "", str(latest)[:10])
            located = pc.and_(
                batch.column("latitude").is_valid(), batch.column("longitude").is_valid()
            )
            listing.located += pc.sum(located).as_py() or 0
            for name, column in FILTER_COLUMNS.items():
                values = batch.column(column)
                if pyarrow.types.is_list(values.type):
                    values = pc.list_flatten(values)
                elif name == "annee":  # the first four characters of `projet_date`, or ""
                    values = pc.utf8_slice_codeunits(pc.fill_null(values, ""), 0, 4)
                for counted in pc.value_counts(values).to_pylist():
                    listing.found[name][counted["values"]] += counted["counts"]
        listing.authorities = len(sirens)
        listing.joiner = datami.joiner_of(con, export)
        # a card's data holds numbers of the taxonomy's terms: made again when they change
        salt = salt_of("card", taxonomy.version, listing.joiner, listing.codes.manifest().decode())
        listing._update_cards(export, colours(taxonomy), salt)
        con.execute(  # the list's order (rank 0: the first published), see `older_pages`
            "CREATE OR REPLACE TEMP TABLE card_order AS SELECT projet_id, row_number() OVER "
            "(ORDER BY first_at NULLS FIRST, projet_id) - 1 AS rank FROM read_parquet(?) "
            "LEFT JOIN (SELECT projet_id, min(submitted_at) AS first_at FROM project_versions "
            "GROUP BY projet_id) USING (projet_id)",
            [str(export)],
        )
        return listing

    def _update_cards(self, export: Path, colour: Callable[[str], str], salt: str) -> None:
        """Keep the cards and lines made from the same fields; make the others; drop those of
        the projects no longer exported."""
        con = self.con
        names = CARD_COLUMNS + [n for n in datami.COLUMNS if n not in CARD_COLUMNS]
        fields = ", ".join(names)
        con.execute(
            "CREATE OR REPLACE TEMP TABLE card_inputs AS SELECT projet_id, "
            f"? || hash(struct_pack({fields}))::VARCHAR AS made_from FROM read_parquet(?)",
            [salt, str(export)],
        )
        (count,) = con.execute("SELECT count(*) FROM card_inputs").fetchall()[0]
        in_parts(
            con,
            "DELETE FROM site_cards s WHERE hash(projet_id) % {k} = {b} AND NOT EXISTS (SELECT 1 "
            "FROM card_inputs i WHERE hash(i.projet_id) % {k} = {b} "
            "AND i.projet_id = s.projet_id AND i.made_from = s.made_from)",
            count,
        )
        missing = dict(
            in_parts(
                con,
                "SELECT projet_id, made_from FROM card_inputs WHERE hash(projet_id) % {k} = {b} "
                "AND projet_id NOT IN "
                "(SELECT projet_id FROM site_cards WHERE hash(projet_id) % {k} = {b})",
                count,
            )
        )
        rows = rows_of(export, missing, names, con)
        while batch := list(itertools.islice(rows, READ_ROWS)):
            columns = {name: [row[name] for row in batch] for name in names}
            lines = datami.feed_lines(columns, self.joiner)
            made = []
            for row, line in zip(batch, lines, strict=True):
                card = card_of(row, colour)
                made.append(
                    {
                        "projet_id": card["id"],
                        "made_from": missing[card["id"]],
                        "html": card_html(card),
                        "point": self.codes.row(card).decode(),
                        "feed": line,
                    }
                )
            insert_rows(con, "site_cards", made, columns_of("site_cards"))
        con.execute("DROP TABLE card_inputs")

    def by_column(self) -> dict[str, Counter[str]]:
        """The values counted, by the export column they were counted in (a list's items)."""
        return {column: self.found[name] for name, column in FILTER_COLUMNS.items()}

    def feed(self) -> Iterator[bytes]:
        """The lines of the Datami feed's `processed_data.csv`, in the export's order (by
        `projet_id`), a bucket of `projet_id` at a time, each sorted alone (memory: a bucket,
        not the register), joined by Arrow (Python never holds a line)."""
        buckets = max(1, math.ceil(self.total / BUCKET_ROWS))
        for bucket in range(buckets):
            lines = self.con.sql(
                f"SELECT feed FROM site_cards WHERE {bucket_of(buckets)} = {bucket} "
                "ORDER BY projet_id"
            ).to_arrow_table()
            if lines.num_rows:
                yield joined(lines.column(0).combine_chunks(), "\n") + b"\n"

    def newest_first(self, column: str, start: int, stop: int) -> Iterator[list[tuple[int, str]]]:
        """`(rank, column)` of the cards of the list ranked from `start` to `stop` (excluded),
        from the last published, `BUCKET_ROWS` at a time (memory: a bucket of cards,
        whatever the number of projects)."""
        while stop > start:
            low = max(start, stop - BUCKET_ROWS)
            yield self.con.execute(
                f"SELECT o.rank, c.{column} FROM card_order o JOIN site_cards c USING (projet_id) "
                "WHERE o.rank >= ? AND o.rank < ? ORDER BY o.rank DESC",
                [low, stop],
            ).fetchall()
            stop = low

    def older_inputs(
        self,
        table: str,
        salt: str,
        size: int = PAGE_SIZE,
        path: str = LIST_PAGES,
        linked: bool = True,
    ) -> None:
        """The table `table` of the older pages of `size` cards (the list's; the data's parts):
        `key`, the page's number; `path` (`{}`: the number); `made_from`: what a page is made
        of, its shell (`salt`), the cards it holds and, `linked` (the list's), whether it is
        the most recent of them (its link to the first page)."""
        older = older_pages(self.total, size)
        head, _, tail = path.partition("{}")
        newest = older if linked else -1
        self.con.execute(  # each card at its place, by a hash of both, in no order (6 ms at
            # 50,000): a string of every card's inputs, sorted, ran out of DuckDB's memory at
            # 200,000 projects (with the list's and the data's pages at once)
            f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT number::VARCHAR AS key, "
            "? || number || ? AS path, ? || hash(cards, number = ?)::VARCHAR AS made_from "
            "FROM (SELECT o.rank // ? + 1 AS number, bit_xor(hash(o.rank, c.made_from)) "
            "AS cards FROM card_order o JOIN site_cards c USING (projet_id) WHERE o.rank < ? "
            "GROUP BY number)",
            [head, tail, salt, newest, size, older * size],
        )

    def json(self, start: int, stop: int) -> Iterator[bytes]:
        """The cards ranked from `start` to `stop` (excluded), for the filtered list and the
        map, from the last published, as a JSON array, a bucket of cards at a time."""
        yield b"["
        first = True
        for found in self.newest_first("point", start, stop):
            if found:
                points = ",".join(point for _, point in found)
                yield (points if first else "," + points).encode("utf-8")
                first = False
        yield b"]"


def joined(texts: pyarrow.Array, separator: str) -> bytes:
    """The `texts` joined by `separator`, as UTF-8."""
    offsets = pyarrow.array([0, len(texts)], pyarrow.int32())
    whole = pc.binary_join(pyarrow.ListArray.from_arrays(offsets, texts), separator)[0]
    return whole.as_buffer().to_pybytes()


def runs(numbers: Iterable[int], longest: int) -> Iterator[list[int]]:
    """`numbers` (sorted) cut into runs of consecutive ones, `longest` at most."""
    run: list[int] = []
    for number in numbers:
        if run and (number != run[-1] + 1 or len(run) == longest):
            yield run
            run = []
        run.append(number)
    if run:
        yield run


def shared_pages(
    listing: Listing, sites: list[Site], stale: StaleIn | None
) -> Iterator[tuple[Edition, Page]]:
    """The pages of the list and `data/projets.json` of every edition, from the cards (the
    same in each edition; the shell of each edition's list page is not). The first page is
    made at every run (it shows the number of projects and the last update); an older page
    only when `stale(access, table)` names it (None: all of them). Memory: a bucket of cards,
    whatever the number of projects. Each page's content is read before the next is asked for
    (the list's order is dropped once the last is)."""
    total, older = listing.total, older_pages(listing.total)
    newest = [
        card
        for found in listing.newest_first("html", older * PAGE_SIZE, total)
        for _, card in found
    ]
    for site in sites:
        head, middle, tail = site.list_shell()
        text = head + "".join(newest) + middle + pagination(0, older) + tail
        yield site.edition, Page(list_page(0), text.encode("utf-8"))
    shells = {}
    wanted: dict[int, list[tuple[Site, str]]] = {}
    for site in sites:
        access = site.edition.access
        shells[access] = shell = site.list_shell(on_page=PAGE_SIZE)
        table = f"list_inputs_{access}"
        listing.older_inputs(table, salt_of(access, *shell))
        made = every_input(listing.con, table) if stale is None else stale(access, table)
        for key, made_from in made.items():
            wanted.setdefault(int(key), []).append((site, made_from))
    for run in runs(sorted(wanted), BUCKET_ROWS // PAGE_SIZE):
        cards: dict[int, list[str]] = {number: [] for number in run}
        for found in listing.newest_first("html", (run[0] - 1) * PAGE_SIZE, run[-1] * PAGE_SIZE):
            for rank, card in found:
                cards[rank // PAGE_SIZE + 1].append(card)
        for number in run:
            links = pagination(number, older)
            for site, made_from in wanted[number]:
                head, middle, tail = shells[site.edition.access]
                text = head + "".join(cards[number]) + middle + links + tail
                yield site.edition, Page(list_page(number), text.encode("utf-8"), made_from)
    yield from data_parts(listing, sites, stale)
    listing.con.execute("DROP TABLE card_order")  # written: its memory, to the rest of the run


def data_parts(
    listing: Listing, sites: list[Site], stale: StaleIn | None
) -> Iterator[tuple[Edition, Page]]:
    """The cards' data, for the filtered list and the map: `data/projets.json` holds the
    latest cards and names the older parts, `DATA_PART` cards each, as the list's older pages
    are cut, so that a part is made (and fetched again by a browser) only when a card it holds
    changed; each name carries a digest of its inputs. The same bytes in every edition: made
    once, copied."""
    first, *others = sites
    also = tuple(site.edition.access for site in others)
    table = "data_inputs"
    listing.older_inputs(table, salt_of("data"), DATA_PART, DATA_PARTS, linked=False)
    every = every_input(listing.con, table)
    wanted: dict[str, str] = {}
    for site in sites:  # every edition's copy in place, or both made
        wanted.update(every if stale is None else stale(site.edition.access, table))
    for number in sorted(map(int, wanted)):
        cards = listing.json((number - 1) * DATA_PART, number * DATA_PART)
        path = DATA_PARTS.format(number)
        yield first.edition, Page(path, cards, wanted[str(number)], also=also)
    names = [  # from the newest; `?v=`: a browser's copy of a part is used until it changes
        DATA_PARTS.format(number).rpartition("/")[2]
        + "?v="
        + hashlib.sha256(every[str(number)].encode()).hexdigest()[:12]
        for number in sorted(map(int, every), reverse=True)
    ]
    older = older_pages(listing.total, DATA_PART)
    head = listing.codes.manifest() + b',"parties":' + orjson.dumps(names) + b',"projets":'
    latest = listing.json(older * DATA_PART, listing.total)
    content = itertools.chain([head], latest, [b"}"])
    yield first.edition, Page("data/projets.json", content, also=also)


def colours(taxonomy: Taxonomy) -> Callable[[str], str]:
    """The colour of a theme's points on the map, by its label."""

    def colour(theme: str) -> str:
        term = taxonomy["theme"].by_label(theme)
        return THEME_COLOURS.get(term.code, OTHER_COLOUR) if term else OTHER_COLOUR

    return colour


def salt_of(*parts: str) -> str:
    """What every page or card is made from besides its row, as a short prefix of its digest:
    made by other code, for another edition or taxonomy, it is made again."""
    return hashlib.sha256("\0".join([code_fingerprint(), *parts]).encode()).hexdigest()[:16] + ":"


@functools.cache
def templates() -> jinja2.Environment:
    """The site's templates, compiled once in a process for both editions (an edition is a
    value given to each page, not a setting of the environment)."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,  # no stat of the template at each page
    )


class Site:
    """Renders one edition of the site: the pages of the list, the map, the key figures and
    the data from the `listing`; a page per project from the edition's export."""

    def __init__(
        self,
        edition: Edition,
        taxonomy: Taxonomy,
        settings: SiteSettings,
        listing: Listing,
    ) -> None:
        self.edition, self.taxonomy, self.settings = edition, taxonomy, settings
        self.listing = listing
        self.columns = columns_meta()
        self.fields = export_columns(edition.access)
        self.env = templates()
        self.updated = french_day(self.listing.latest) or "—"
        self.colour = colours(taxonomy)
        # a page shows each field under its title, as its kind says: the contract is an input
        contract = "\0".join(
            f"{n}:{self.columns[n].title}:{self.columns[n].metadata['kind']}" for n in self.fields
        )
        self.salt = salt_of(edition.access, taxonomy.version, contract)

    def legend(self) -> list[tuple[str, str]]:
        return [(label, self.colour(label)) for label in self.taxonomy["theme"].labels]

    def filters(self) -> list[dict[str, Any]]:
        out = []
        for name, (label, vocabulary) in FILTERS.items():
            found = self.listing.found[name]
            if vocabulary is None:
                options = sorted((v for v in found if v), reverse=True)
            else:
                known = self.taxonomy[vocabulary].labels
                others = sorted(set(found) - set(known) - {""}, key=_fold)  # an open list's
                options = [v for v in known if found[v]] + others
                if name in ("theme", "statut"):
                    options = known + others  # the whole nomenclature
            parents: dict[str, str] = {}
            if name == "sous_theme":  # each sub-theme's theme: the list narrows to the theme's
                themes = {t.code: t.label for t in self.taxonomy["theme"].terms}
                for term in self.taxonomy[vocabulary or ""].terms:
                    if term.parent in themes:
                        parents[term.label] = themes[term.parent]
            out.append({"name": name, "label": label, "options": options, "parents": parents})
        return out

    # -- the pages ----------------------------------------------------------------------------
    def render(self, template: str, root: str, **values: Any) -> bytes:
        return self.render_text(template, root, **values).encode("utf-8")

    def render_text(self, template: str, root: str, **values: Any) -> str:
        values.setdefault("updated", self.updated)
        return self.env.get_template(template).render(
            edition=self.edition,
            root=root,
            taxonomy_version=self.taxonomy.version,
            **values,
        )

    def list_shell(self, on_page: int = 0) -> tuple[str, str, str]:
        """A page of the list, rendered once, around its cards and its links to the pages
        beside it: what comes before the cards, between them and the links, and after. The
        first page's shows the number of projects and the last update; an older page's
        (`on_page`: the projects it holds) neither, so that it stays as projects are added."""
        shell = self.render_text(
            "index.html",
            "",
            page="index",
            title="Les projets, fiches plus anciennes" if on_page else "Les projets",
            total=self.listing.total,
            on_page=on_page,
            updated=None if on_page else self.updated,
            cards=Markup(CARDS_MARK),
            filters=self.filters(),
            pagination=Markup(PAGES_MARK),
        )
        head, rest = shell.split(CARDS_MARK)
        middle, tail = rest.split(PAGES_MARK)
        return head, middle, tail

    def pages(
        self, export: Path, con: duckdb.DuckDBPyConnection, stale: Stale | None = None
    ) -> Iterator[Page]:
        """The files of this edition but the list's (`shared_pages`); `export`: the edition's
        export, read by `con`. A project's page is made from its row alone (with this code,
        edition, contract and taxonomy): only those `stale` names are rendered."""
        listing = self.listing
        yield Page(
            "carte.html",
            self.render(
                "carte.html",
                "",
                page="carte",
                title="La carte des projets",
                total=listing.total,
                located=listing.located,
                tiles=self.settings.tiles,
                attribution=self.settings.attribution,
                leaflet=LEAFLET,
                clusters=CLUSTERS,
                legend=self.legend(),
                filters=self.filters(),
            ),
        )
        figures = self.render("chiffres.html", "", page="chiffres", **self.figures())
        yield Page("chiffres.html", figures)
        yield Page(
            "donnees.html",
            self.render(
                "donnees.html",
                "",
                page="donnees",
                title="Les données",
                fields=self.documentation(),
                downloads=DOWNLOADS,
            ),
        )
        yield from self.project_pages(export, con, stale)
        if not self.edition.members:  # for a static host (GitHub Pages): served as it is
            missing = self.render("404.html", self.settings.base, page="404")
            yield Page("404.html", missing)
            yield Page(".nojekyll", b"")  # folders and files are served as they are named
        for source in sorted((HERE / "static").rglob("*")):
            if source.is_file():
                yield Page(f"assets/{source.relative_to(HERE / 'static')}", source.read_bytes())

    def project_pages(
        self, export: Path, con: duckdb.DuckDBPyConnection, stale: Stale | None
    ) -> Iterator[Page]:
        """The projects' pages: those that `stale` names (all of them without it), rendered a
        batch of rows at a time. What each page is made from is listed in SQL, in the table
        `page_inputs_<access>`, so that the pages kept as published cost no Python at all."""
        inputs = f"page_inputs_{self.edition.access}"
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {inputs} AS SELECT projet_id AS key, "
            f"'{PROJECTS}' || projet_id || '.html' AS path, ? || hash(r)::VARCHAR AS made_from "
            "FROM read_parquet(?) r",
            [self.salt, str(export)],
        )
        made = every_input(con, inputs) if stale is None else stale(inputs)
        for row in rows_of(export, made, con=con):
            projet_id = row["projet_id"]
            yield Page(page_path(projet_id), self.project_page(row), made[projet_id])

    @functools.cached_property
    def layout(self) -> list[tuple[str, list[str]]]:
        """The sections of a project's page in this edition, with their fields (the same for
        every project: a field without a value says so)."""
        out, placed = [], set()
        for title, names in SECTIONS:
            shown = [name for name in names if name in self.fields]
            placed.update(names)
            if shown:
                out.append((title, shown))
        placed |= NOT_ON_PAGE
        rest = [n for n in self.fields if n not in placed and n not in ("nom_projet", "projet_id")]
        out.append(("Autres informations", [*rest, "projet_id"]))
        return out

    @functools.cached_property
    def page_shells(self) -> dict[bool, list[str]]:
        """`projet.html` rendered once (with a logo, and without), its values left as marks:
        the parts between them, and their names at odd positions. A page is these parts with
        each value escaped as the template escapes it (five times faster than rendering)."""
        marks = {name: Markup(f"\0{name}\0") for name in PAGE_VALUES}
        sections = [
            {"title": title, "html": Markup(f"\0section{i}\0")}
            for i, (title, _) in enumerate(self.layout)
        ]
        shells = {}
        for logo in (True, False):
            text = self.render_text(
                "projet.html",
                "../",
                page="projet",
                title=marks["nom"],
                updated=None,
                p={**marks, "logo": marks["logo"] if logo else None},
                sections=sections,
            )
            shells[logo] = re.split("\0(\\w+)\0", text)
        return shells

    @functools.cached_property
    def section_fields(self) -> list[list[tuple[str, Callable[[Any], str]]]]:
        """Each section's fields, with how the page shows each (`field_html`)."""
        return [
            [
                (
                    name,
                    field_html(name, self.columns[name].title, self.columns[name].metadata["kind"]),
                )
                for name in names
            ]
            for _, names in self.layout
        ]

    def project_page(self, row: dict[str, Any]) -> bytes:
        """A project's page: from its row only (not even the register's last update), so that
        it changes only when the project does."""
        logo = row["image_url"] if web(row.get("image_url")) else None
        values: dict[str, str] = {
            "nom": escape(row["nom_projet"]),
            "porteur": escape(row["coll_nom"]),
            "logo": escape(logo or ""),
            "date_iso": escape(str(row["date"])[:10]),
            "date_fr": escape(french_day(row["date"])),
            "id": escape(row["projet_id"]),
            "resume": escape(_excerpt(row.get("usage_description")) or row["coll_nom"]),
        }
        get = row.get
        for i, fields in enumerate(self.section_fields):
            values[f"section{i}"] = "".join(
                [
                    shown(get(name))
                    for name, shown in fields
                    if name not in ONLY_WHEN_GIVEN or get(name) not in (None, "", [])
                ]
            )
        parts = self.page_shells[logo is not None]
        return "".join(
            [part if i % 2 == 0 else values[part] for i, part in enumerate(parts)]
        ).encode("utf-8")

    def figures(self) -> dict[str, Any]:
        found = self.listing.found

        def counted(name: str, vocabulary: str | None, nonzero: bool = False) -> list[Any]:
            tally = found[name]
            keys = self.taxonomy[vocabulary].labels if vocabulary else sorted(k for k in tally if k)
            keys += sorted(set(tally) - set(keys) - {""}) if vocabulary else []
            return [(k, tally.get(k, 0)) for k in keys if tally.get(k, 0) or not nonzero]

        themes = counted("theme", "theme")
        charts: list[tuple[str, str, list[Any]]] = [
            ("Projets par thème", "Thème", themes),
            ("Projets par maturité", "Maturité", counted("statut", "projet_status")),
            (
                "Projets par type de collectivité",
                "Type de collectivité",
                counted("type", "coll_type", nonzero=True),
            ),
            ("Projets par année de démarrage", "Année", counted("annee", None)),
        ]
        return {
            "title": "Les chiffres clés",
            "total": self.listing.total,
            "authorities": self.listing.authorities,
            "themes_used": sum(1 for _, n in themes if n),
            "themes_total": len(themes),
            "charts": [
                {
                    "title": title,
                    "dimension": dimension,
                    "rows": rows,
                    "svg": Markup(bar_chart(title, rows)),
                }
                for title, dimension, rows in charts
            ],
        }

    def documentation(self) -> list[dict[str, Any]]:
        """The fields of this edition's export, from the contract and the taxonomy."""
        out = []
        for name in self.fields:
            col = self.columns[name]
            meta = col.metadata
            of = KINDS[meta["kind"]]
            vocabulary = self.taxonomy[meta["vocabulary"]] if meta["vocabulary"] else None
            out.append(
                {
                    "name": name,
                    "title": col.title,
                    "description": col.description,
                    "type": TYPE_NAMES.get(of.name, "texte"),
                    "required": bool(meta["required"]),
                    "values": vocabulary.labels if vocabulary else [],
                    "open": bool(vocabulary and vocabulary.open),
                }
            )
        return out


TYPE_NAMES = {
    "siret": "SIRET (14 chiffres)",
    "month": "mois (AAAA-MM)",
    "day": "date (AAAA-MM-JJ)",
    "url": "adresse web",
    "email": "adresse e-mail",
    "enum": "une valeur de la liste",
    "enum_list": "des valeurs de la liste",
    "number": "nombre (degrés décimaux)",
    "id": "identifiant",
}


def editions(
    export_dir: Path,
    taxonomy: Taxonomy,
    settings: SiteSettings,
    listing: Listing,
    stale: StaleIn | None = None,
) -> Iterator[tuple[Edition, Page]]:
    """The pages of both editions, from the exports in `export_dir` and their `listing` (whose
    connection reads them). `stale(access, table)`: the pages to make (the projects', the
    list's older ones), of those listed in `table` (None: all of them)."""
    sites = [Site(Edition(access), taxonomy, settings, listing) for access in (PUBLIC, RESTRICTED)]
    yield from shared_pages(listing, sites, stale)
    for site in sites:
        access = site.edition.access
        check = functools.partial(stale, access) if stale else None
        export = export_dir / access / f"{EXPORT_NAME}.parquet"
        for page in site.pages(export, listing.con, check):
            yield site.edition, page
