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

import functools
import hashlib
import html
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import orjson
import pyarrow
import pyarrow.parquet as pq
from markupsafe import Markup

from bibia.site.charts import bar_chart
from schemas.datapackage import EXPORT_NAME
from schemas.kinds import KINDS
from schemas.project import PUBLIC, RESTRICTED, columns_meta, export_columns
from schemas.taxonomy import Taxonomy

HERE = Path(__file__).resolve().parent
LEAFLET = "vendor/leaflet-1.9.4"
PAGE_SIZE = 100  # cards on each page of the list readable without JavaScript
EXCERPT = 220  # characters of the description on a card
SITE = "site"  # the folder of each edition, beside its export files
DOWNLOADS = "donnees"  # the export files, copied into the site: it is served as it is
# Colours of the points on the map, by theme code (`taxonomy.yaml`): the current site's.
THEME_COLOURS = {
    "transition_ecologique": "#01a755",
    "attractivite_amenagement": "#9a42c9",
    "citoyennete_sante_solidarite": "#f75ad6",
    "mobilites": "#ff834e",
    "gouvernance_socles": "#6992ff",
    "administration_interne": "#5b7f28",
}
OTHER_COLOUR = "#4a4a55"
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
    ("La collectivité", ["coll_nom", "coll_type", "coll_siret", "latitude", "longitude"]),
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


@dataclass
class Shown:
    """A field as a project page shows it: links, list entries, paragraphs or a text."""

    name: str
    title: str
    links: list[str] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    paragraphs: list[str] = field(default_factory=list)
    text: str = ""

    def html(self) -> str:
        """Its `<dt>` and `<dd>`, every value escaped (a page has about thirty of them: written
        here rather than in the template, five times faster)."""
        e = html.escape
        if self.links:
            value = "".join(
                f'<a href="{e(link)}" rel="noopener noreferrer nofollow">{e(link)}</a>'
                for link in self.links
            )
        elif self.entries:
            value = '<ul class="inline">' + "".join(f"<li>{e(i)}</li>" for i in self.entries)
            value += "</ul>"
        elif self.paragraphs:
            value = "".join(f"<p>{e(para)}</p>" for para in self.paragraphs)
        elif self.text:
            value = e(self.text)
        else:
            value = '<span class="empty">non renseigné</span>'
        return f'<dt>{e(self.title)}</dt>\n<dd data-field="{self.name}">{value}</dd>\n'


@dataclass(frozen=True)
class SiteSettings:
    """Where the map's background comes from (`BIBIA_SITE_TILES`, a tile URL template with
    `{z}`, `{x}`, `{y}`; empty: the points on a plain background) and its credit line."""

    tiles: str = ""
    attribution: str = ""


@dataclass(frozen=True)
class Page:
    """A file of the site: its path in the site and its bytes; `content` None: the file is
    kept as published, since it would be made from the same inputs (`made_from`)."""

    path: str
    content: bytes | None
    made_from: str | None = None


Reuse = Callable[[dict[str, str]], set[str]]  # page path -> made_from: the pages to keep


def never(made_from: dict[str, str]) -> set[str]:
    return set()


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
    return f"projets/{projet_id}.html"


def list_page(number: int) -> str:
    """The pages of the list sit beside each other: a card reads the same on every page."""
    return "index.html" if number == 1 else f"page-{number}.html"


CARD_COLUMNS = [
    "projet_id",
    "nom_projet",
    "coll_nom",
    "coll_siret",
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
    "date",
]
READ_ROWS = 4_096  # rows read at once from an export (one Parquet row group)
DIGEST_MEMORY = "128MB"  # DuckDB's share while it hashes a batch of rows (a cap: used as needed)


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


@dataclass
class Listing:
    """What the list, the map and the key figures are made of, one card per project, in the
    export's order; the same for both editions (a card shows public fields only)."""

    cards: list[str] = field(default_factory=list)  # each card's HTML
    points: list[bytes] = field(default_factory=list)  # the cards as JSON, a batch per item
    found: dict[str, Counter[str]] = field(default_factory=dict)  # filter -> value -> projects
    sirens: set[str] = field(default_factory=set)
    latest: str | None = None
    located: int = 0

    @classmethod
    def of(cls, tables: Iterable[pyarrow.Table], colour: Callable[[str], str]) -> Listing:
        listing = cls(found={name: Counter() for name in FILTERS})
        for table in tables:
            cards = [card_of(row, colour) for row in table.to_pylist()]
            # one JSON text a batch: orjson keeps an 8 KB buffer behind each text it returns
            listing.points.append(orjson.dumps(cards)[1:-1])
            for card in cards:
                listing.cards.append(card_html(card))
                for name in FILTERS:
                    value = card[name]
                    listing.found[name].update(value if isinstance(value, list) else [value])
                listing.located += card["lat"] is not None and card["lon"] is not None
            listing.sirens.update(s[:9] for s in table.column("coll_siret").to_pylist())
            days = [str(d)[:10] for d in table.column("date").to_pylist()]
            listing.latest = max([*days, listing.latest or ""]) or None
        return listing

    @property
    def total(self) -> int:
        return len(self.cards)

    def json(self) -> bytes:
        return b"[" + b",".join(p for p in self.points if p) + b"]"


# The filters of the list: card key -> label, vocabulary (None: the values found).
FILTERS: dict[str, tuple[str, str | None]] = {
    "theme": ("Thème", "theme"),
    "sous_theme": ("Sous-thème", "sous_theme"),
    "statut": ("Maturité", "projet_status"),
    "type": ("Type de collectivité", "coll_type"),
    "audience": ("Public", "audience_service"),
    "annee": ("Année de démarrage", None),
}


def batches(export: Path, columns: list[str] | None = None) -> Iterator[pyarrow.Table]:
    """An export's rows, a row group at a time, in the file's order (by `projet_id`)."""
    reader = pq.ParquetFile(export)
    for batch in reader.iter_batches(batch_size=READ_ROWS, columns=columns):
        yield pyarrow.Table.from_batches([batch])


def _joined(fields: list[Shown]) -> Markup:
    return Markup("".join(f.html() for f in fields))  # each value escaped by `Shown.html`


class Site:
    """Renders one edition of the site: the pages of the list, the map, the key figures and
    the data from the `listing`; a page per project from the edition's export."""

    def __init__(
        self,
        edition: Edition,
        taxonomy: Taxonomy,
        settings: SiteSettings,
        listing: Listing | None = None,
        digests: duckdb.DuckDBPyConnection | None = None,
    ) -> None:
        self.edition, self.taxonomy, self.settings = edition, taxonomy, settings
        self.listing = listing or Listing(found={name: Counter() for name in FILTERS})
        self.columns = columns_meta()
        self.fields = export_columns(edition.access)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,  # no stat of the template at each page
        )
        self.updated = french_day(self.listing.latest) or "—"
        self.salt = "\0".join([code_fingerprint(), edition.access, taxonomy.version]).encode()
        self.digests = digests

    def colour(self, theme: str) -> str:
        term = self.taxonomy["theme"].by_label(theme)
        return THEME_COLOURS.get(term.code, OTHER_COLOUR) if term else OTHER_COLOUR

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
            out.append({"name": name, "label": label, "options": options})
        return out

    # -- the pages ----------------------------------------------------------------------------
    def render(self, template: str, root: str, **values: Any) -> bytes:
        values.setdefault("updated", self.updated)
        text = self.env.get_template(template).render(
            edition=self.edition,
            root=root,
            taxonomy_version=self.taxonomy.version,
            **values,
        )
        return text.encode("utf-8")

    def pages(self, projects: Iterable[pyarrow.Table], reuse: Reuse = never) -> Iterator[Page]:
        """Every file of this edition; `projects`: the edition's export, a batch at a time.
        A project's page is made from its row alone (with this code, edition and taxonomy):
        the pages that `reuse({path: made_from})` says were published from the same are not
        rendered again (`Page.content` None)."""
        listing = self.listing
        total = listing.total
        count = max(1, -(-total // PAGE_SIZE))
        filters = self.filters()
        for number in range(1, count + 1):
            yield Page(
                list_page(number),
                self.render(
                    "index.html",
                    "",
                    page="index",
                    title="Les projets",
                    total=total,
                    cards=Markup("".join(listing.cards[(number - 1) * PAGE_SIZE :][:PAGE_SIZE])),
                    filters=filters,
                    number=number,
                    pages=count,
                    page_path=list_page,
                ),
            )
        yield Page("data/projets.json", listing.json())
        yield Page(
            "carte.html",
            self.render(
                "carte.html",
                "",
                page="carte",
                title="La carte des projets",
                total=total,
                located=listing.located,
                tiles=self.settings.tiles,
                attribution=self.settings.attribution,
                leaflet=LEAFLET,
                legend=self.legend(),
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
        for table in projects:
            yield from self.project_pages(table, reuse)
        for source in sorted((HERE / "static").rglob("*")):
            if source.is_file():
                yield Page(f"assets/{source.relative_to(HERE / 'static')}", source.read_bytes())

    def project_pages(self, table: pyarrow.Table, reuse: Reuse) -> Iterator[Page]:
        """The pages of a batch of projects; only those whose row changed are rendered."""
        made = {page_path(i): digest for i, digest in self.made_from(table).items()}
        keep = reuse(made)
        paths = [page_path(i) for i in table.column("projet_id").to_pylist()]
        wanted = [path not in keep for path in paths]
        for path in (p for p, render in zip(paths, wanted, strict=True) if not render):
            yield Page(path, None, made[path])
        if not any(wanted):
            return
        for row in table.filter(pyarrow.array(wanted)).to_pylist():
            path = page_path(row["projet_id"])
            yield Page(path, self.project_page(row), made[path])

    def made_from(self, table: pyarrow.Table) -> dict[str, str]:
        """projet_id -> digest of what its page is made from: its row, this code, this
        edition, the taxonomy's version."""
        rows = table  # noqa: F841 - read by name, from the query
        if self.digests is None:
            self.digests = duckdb.connect(config={"threads": 1, "memory_limit": DIGEST_MEMORY})
        found = self.digests.execute(
            "SELECT projet_id, md5(to_json(r)::VARCHAR) FROM rows r"
        ).fetchall()
        return {i: hashlib.sha256(self.salt + digest.encode()).hexdigest() for i, digest in found}

    def project_page(self, row: dict[str, Any]) -> bytes:
        """A project's page: from its row only (not even the register's last update), so that
        it changes only when the project does."""
        sections, placed = [], set()
        for title, names in SECTIONS:
            shown = [self.field(name, row) for name in names if name in self.fields]
            placed.update(names)
            if shown:
                sections.append({"title": title, "html": _joined(shown)})
        rest = [
            self.field(name, row)
            for name in self.fields
            if name not in placed and name not in ("nom_projet", "projet_id")
        ]
        rest.append(self.field("projet_id", row))
        sections.append({"title": "Autres informations", "html": _joined(rest)})
        card = card_of(row, self.colour)
        return self.render(
            "projet.html",
            "../",
            page="projet",
            title=row["nom_projet"],
            updated=None,
            p={**card, "date_iso": str(row["date"])[:10], "date_fr": french_day(row["date"])},
            sections=sections,
        )

    def field(self, name: str, row: dict[str, Any]) -> Shown:
        col = self.columns[name]
        of = KINDS[col.metadata["kind"]]
        value = row.get(name)
        shown = Shown(name, col.title)
        if value is None or value == [] or value == "":
            return shown
        if of.name == "url":
            if web(value):
                shown.links = [value]
            else:
                shown.text = value
        elif of.csv == "list":
            shown.entries = list(value)
        elif of.name == "longtext" or "\n" in str(value):
            shown.paragraphs = [p for p in str(value).split("\n") if p.strip()]
        elif of.name == "month":
            shown.text = french_month(value)
        elif of.name == "day":
            shown.text = french_day(value)
        elif of.name == "number":
            shown.text = f"{value:.5f}".rstrip("0").rstrip(".")
        else:
            shown.text = str(value)
        return shown

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
            "authorities": len(self.listing.sirens),
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


def build(
    export_dir: Path,
    out: Path,
    taxonomy: Taxonomy,
    settings: SiteSettings,
) -> int:
    """Render both editions from the exports in `export_dir` into `out/public` and
    `out/restricted` (a preview, outside any publication); return the number of files."""
    files = 0
    for edition, page in editions(export_dir, taxonomy, settings):
        assert page.content is not None
        target = out / edition.access / page.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(page.content)
        files += 1
    return files


def editions(
    export_dir: Path,
    taxonomy: Taxonomy,
    settings: SiteSettings,
    reuse: Callable[[str, dict[str, str]], set[str]] | None = None,
) -> Iterator[tuple[Edition, Page]]:
    """The pages of both editions, from the exports in `export_dir`. `reuse(access,
    {path: made_from})`: the projects' pages published from the same inputs."""
    public = export_dir / PUBLIC / f"{EXPORT_NAME}.parquet"
    colour = Site(Edition(PUBLIC), taxonomy, settings).colour
    listing = Listing.of(batches(public, CARD_COLUMNS), colour)
    digests = duckdb.connect(config={"threads": 1, "memory_limit": DIGEST_MEMORY})
    try:
        for access in (PUBLIC, RESTRICTED):
            edition = Edition(access)
            site = Site(edition, taxonomy, settings, listing, digests)
            check: Reuse = functools.partial(reuse, access) if reuse else never
            projects = batches(export_dir / access / f"{EXPORT_NAME}.parquet")
            for page in site.pages(projects, check):
                yield edition, page
    finally:
        digests.close()
