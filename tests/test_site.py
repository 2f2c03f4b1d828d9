"""The register's static site (public and members' editions), rendered by a real sync of the
demo form: its pages, what each shows, what it never shows, and what a sync rewrites."""

from __future__ import annotations

import copy
import hashlib
import json
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bibia.demo.synthetic import synthetic_form
from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.pipeline import run_job
from bibia.settings import Settings
from publish.site import build
from publish.site.build import (
    CLUSTERS,
    EMPTY,
    LEAFLET,
    NOT_ON_PAGE,
    PAGE_SIZE,
    field_html,
    french_day,
    french_month,
)
from schemas.project import PUBLIC, RESTRICTED, columns_meta, export_columns
from tests.conftest import (
    DEMO_PUBLISHED,
    VALID_ANSWERS,
    bibia_cli,
    make_settings,
    query,
    start_emulator,
    synced,
    tally_submission,
    with_restricted_answers,
)
from warehouse.db import connect

SITE = Path(__file__).resolve().parents[1] / "publish" / "site"


class Page(HTMLParser):
    """What a page shows: the text of each `data-field`, links, images, scripts, headings."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.links: list[str] = []
        self.images: list[dict[str, str | None]] = []
        self.scripts: list[str | None] = []
        self.stylesheets: list[str | None] = []
        self.meta: list[dict[str, str | None]] = []
        self.h1 = ""
        self.lang: str | None = None
        self._field: str | None = None
        self._depth = 0
        self._in_h1 = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "html":
            self.lang = values.get("lang")
        if tag == "a":
            self.links.append(values.get("href") or "")
        if tag == "img":
            self.images.append(values)
        if tag == "script":
            self.scripts.append(values.get("src"))
        if tag == "link" and values.get("rel") == "stylesheet":
            self.stylesheets.append(values.get("href"))
        if tag == "meta":
            self.meta.append(values)
        if tag == "h1":
            self._in_h1 = True
        if self._field is not None:
            self._depth += 1
        elif "data-field" in values:
            self._field, self._depth = values["data-field"], 1
            self.fields[self._field] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False
        if self._field is not None:
            self._depth -= 1
            if self._depth == 0:
                self._field = None

    def handle_data(self, data: str) -> None:
        if self._field is not None:
            self.fields[self._field] += data + " "
        if self._in_h1:
            self.h1 += data


def rows(settings: Settings, access: str) -> list[dict[str, Any]]:
    path = settings.export_dir / access / "bibliotheque_ia.parquet"
    return list(pq.read_table(path).to_pylist())


def site(settings: Settings, access: str = PUBLIC) -> Path:
    return settings.export_dir / access / "site"


def page_of(settings: Settings, projet_id: str, access: str = PUBLIC) -> Page:
    path = site(settings, access) / "projets" / f"{projet_id}.html"
    return Page(path.read_text(encoding="utf-8"))


def stamps(folder: Path) -> dict[str, int]:
    return {
        str(p.relative_to(folder)): p.stat().st_mtime_ns
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def published_last_first(settings: Settings) -> list[str]:
    """The projects of the public export, from the one whose first valid submission came last
    (on the same moment, by `projet_id`, from the greatest): the list's order."""
    sql = (
        "SELECT projet_id FROM read_parquet(?) JOIN project_versions USING (projet_id) "
        "GROUP BY projet_id ORDER BY min(submitted_at) DESC, projet_id DESC"
    )
    path = str(settings.export_dir / PUBLIC / "bibliotheque_ia.parquet")
    return [projet_id for (projet_id,) in query(settings, sql, [path])]


def all_cards(settings: Settings, access: str = PUBLIC) -> list[dict[str, Any]]:
    """The list's and the map's data as the site's script puts it together: the latest cards
    of `data/projets.json`, then each older part it names, in its order."""
    folder = site(settings, access) / "data"
    index = json.loads((folder / "projets.json").read_bytes())
    rows = list(index["projets"])
    for name in index["parties"]:
        rows += json.loads((folder / name.partition("?")[0]).read_bytes())
    return [read_card(index, row) for row in rows]


def read_card(manifest: dict[str, Any], row: list[Any]) -> dict[str, Any]:
    """A card of the data as `projets.js` reads it: the manifest's fields, a term's number
    read in its vocabulary, the theme's colour and the page's address from the manifest."""
    card = {}
    for name, value in zip(manifest["champs"], row, strict=True):
        labels = manifest["vocabulaires"].get(name, [])

        def read(v: Any, labels: list[str] = labels) -> Any:  # text: a value kept as typed
            return labels[v] if isinstance(v, int) else v

        card[name] = [read(v) for v in value] if isinstance(value, list) else read(value)
    theme = row[manifest["champs"].index("theme")]
    card["couleur"] = manifest["couleurs"][theme] if isinstance(theme, int) else None
    card["page"] = manifest["fiche"].replace("{}", card["id"])
    return card


def card_ids(page: Path) -> list[str]:
    return re.findall(r'<h3 id="t-([^"]+)"', page.read_text(encoding="utf-8"))


@pytest.fixture
def published(settings: Settings) -> Settings:
    """The demo synced, for a test that changes it (a run, a file)."""
    run_job(settings, "sync")
    return settings


@pytest.fixture(scope="module")
def read_only(
    tmp_path_factory: pytest.TempPathFactory, demo_form_data: dict[str, Any]
) -> Iterator[Settings]:
    """The demo synced once for the module's tests that only read what it published."""
    server = start_emulator(EmulatedForm.from_json(copy.deepcopy(demo_form_data)))
    try:
        settings = make_settings(tmp_path_factory.mktemp("published"), server.url)
        run_job(settings, "sync")
        yield settings
    finally:
        server.stop()


def test_every_public_project_has_its_page_and_its_card(read_only):
    projects = rows(read_only, PUBLIC)
    assert len(projects) == DEMO_PUBLISHED
    pages = sorted(p.stem for p in (site(read_only) / "projets").iterdir())
    assert pages == sorted(r["projet_id"] for r in projects)
    home = (site(read_only) / "index.html").read_text(encoding="utf-8")
    assert home.count('<li class="card">') == DEMO_PUBLISHED  # fewer than a page of the list
    assert f'<span id="nombre">{DEMO_PUBLISHED}</span>' in home
    latest_first = published_last_first(read_only)
    assert sorted(latest_first) == sorted(pages)
    assert card_ids(site(read_only) / "index.html") == latest_first
    assert [c["id"] for c in all_cards(read_only)] == latest_first
    assert json.loads((site(read_only) / "data" / "projets.json").read_bytes())["parties"] == []
    assert not (site(read_only) / "page-1.html").exists()


def test_a_project_page_shows_every_public_field_and_its_last_update(read_only):
    elsewhere = {"nom_projet", *NOT_ON_PAGE}  # the title, the logo and the seat (on the map)
    for row in rows(read_only, PUBLIC):
        page = page_of(read_only, row["projet_id"])
        assert page.h1 == row["nom_projet"]
        assert page.lang == "fr"
        shown_fields = set(export_columns(PUBLIC)) - elsewhere
        if not row["status_abandon"]:  # said only of an abandoned project
            shown_fields.discard("status_abandon")
        assert set(page.fields) == shown_fields
        for name, value in row.items():
            if name not in shown_fields:
                continue
            shown = " ".join(page.fields[name].split())
            if value is None or value == []:
                assert shown == "non renseigné", (name, shown)
            elif isinstance(value, list):
                assert all(item in shown for item in value), (name, value, shown)
            elif name == "projet_date":
                assert shown == french_month(value)
            elif name == "date":
                assert shown == french_day(value)
            elif isinstance(value, float):
                assert abs(float(shown) - value) < 1e-5
            else:
                assert " ".join(str(value).split()) == shown, (name, value, shown)
        updated = (site(read_only) / "projets" / f"{row['projet_id']}.html").read_text()
        assert f'<time datetime="{row["date"]}">{french_day(row["date"])}</time>' in updated


LINK = 'rel="noopener noreferrer nofollow"'


@pytest.mark.parametrize(
    ("kind", "value", "shown"),
    [
        ("text", None, EMPTY),
        ("text", "", EMPTY),
        ("enum_list", [], EMPTY),
        ("text", "Régie & <b>", "Régie &amp; &lt;b&gt;"),
        ("text", 'l\'eau "vive"', "l&#x27;eau &quot;vive&quot;"),
        ("text", "une\ndeux", "<p>une</p><p>deux</p>"),
        ("longtext", "une", "<p>une</p>"),
        ("longtext", "une\n\n  \ndeux", "<p>une</p><p>deux</p>"),
        ("longtext", "\n  \n", EMPTY),
        (
            "url",
            "https://a.fr/?x=1&y=2",
            f'<a href="https://a.fr/?x=1&amp;y=2" {LINK}>https://a.fr/?x=1&amp;y=2</a>',
        ),
        ("url", "javascript:alert(1)", "javascript:alert(1)"),
        (
            "enum_list",
            ["Agent", "<Élu>"],
            '<ul class="inline"><li>Agent</li><li>&lt;Élu&gt;</li></ul>',
        ),
        ("month", "2021-01", "janvier 2021"),
        ("day", "2025-01-10", "10 janvier 2025"),
        ("number", 48.8566, "48.8566"),
        ("number", 2.0, "2"),
        ("number", 0.0, "0"),
        ("integer", 12000, "12000"),
    ],
)
def test_a_project_page_shows_a_field_as_its_kind_says(kind, value, shown):
    made = field_html("budget", "Budget <total>", kind)(value)
    assert made == f'<dt>Budget &lt;total&gt;</dt>\n<dd data-field="budget">{shown}</dd>\n'


def test_the_members_edition_shows_the_restricted_fields_and_is_never_linked(read_only):
    restricted = {r["projet_id"]: r for r in rows(read_only, RESTRICTED)}
    with_contact = [r for r in restricted.values() if r["projet_contact"]]
    assert with_contact
    for row in with_contact:
        page = page_of(read_only, row["projet_id"], RESTRICTED)
        assert row["projet_contact"] in page.fields["projet_contact"]
        assert {"content": "noindex, nofollow", "name": "robots"} in page.meta
    for path in site(read_only).rglob("*.html"):
        page = Page(path.read_text(encoding="utf-8"))
        assert not any("restricted" in link for link in page.links), path
    folder = site(read_only, RESTRICTED)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for path in folder.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


def restricted_values(settings: Settings) -> set[str]:
    """Every value only the members may see: the restricted fields of the projects, and what
    the quarantine holds."""
    public = {r["projet_id"]: r for r in rows(settings, PUBLIC)}
    corpus = json.dumps(list(public.values()), ensure_ascii=False, default=str)
    found: set[str] = set()
    for row in rows(settings, RESTRICTED):
        for name in set(export_columns(RESTRICTED)) - set(export_columns(PUBLIC)):
            value = row[name]
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, str) and len(item) >= 8 and item not in corpus:
                    found.add(item)
    quarantine = settings.export_dir / RESTRICTED / "quarantine.csv"
    for line in quarantine.read_text(encoding="utf-8").splitlines()[1:]:
        found.update(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", line))
    return found


def public_text(settings: Settings) -> dict[str, str]:
    """Every file under `public/`, as text (Parquet: its values)."""
    texts = {}
    for path in sorted((settings.export_dir / PUBLIC).rglob("*")):
        if path.suffix == ".parquet":
            texts[str(path)] = json.dumps(
                pq.read_table(path).to_pylist(), ensure_ascii=False, default=str
            )
        elif path.is_file() and path.suffix not in (".png",):
            texts[str(path)] = path.read_text(encoding="utf-8")
    return texts


def test_no_restricted_value_appears_anywhere_under_public(tmp_path):
    form = synthetic_form(60)
    with_restricted_answers(form, "Green Algorithms 3 kg", "git.exemple.fr/algo")
    settings, _report = synced(tmp_path, form)
    secrets = restricted_values(settings)
    assert len(secrets) > 100  # e-mails, algorithm texts, funding, links to resources...
    texts = public_text(settings)
    assert any("/site/" in name for name in texts) and any("/datami/" in name for name in texts)
    for name, text in texts.items():
        leaked = [value for value in secrets if value in text]
        assert not leaked, (name, leaked[:3])


def test_no_restricted_value_of_the_demo_appears_under_public(read_only):
    secrets = restricted_values(read_only)
    assert any("@" in value for value in secrets)
    for name, text in public_text(read_only).items():
        assert not [value for value in secrets if value in text], name


HOSTILE = {
    **VALID_ANSWERS,
    "coll_nom": 'Ville "><img src=x onerror=alert(1)>',
    "nom_projet": "<script>alert('nom')</script> Projet piégé",
    "usage_description": "Texte <b>gras</b>\n<iframe src=javascript:alert(2)></iframe>",
    "partenaires": '<a href="javascript:alert(3)">partenaire</a>',
    "url_infos": "javascript:alert(4)",
    "image_url": "javascript:alert(5)",
}


def test_a_contributors_markup_and_javascript_links_come_out_inert(settings, emulator):
    emulator.add_submissions("bibiaD", [tally_submission("hostile1", HOSTILE)])
    run_job(settings, "sync")
    ((projet_id,),) = query(
        settings, "SELECT projet_id FROM projects WHERE submission_id = 'hostile1'"
    )
    for access in (PUBLIC, RESTRICTED):
        html = (site(settings, access) / "projets" / f"{projet_id}.html").read_text()
        page = Page(html)
        assert page.h1 == HOSTILE["nom_projet"]  # shown as typed, as text
        assert "&lt;script&gt;alert(&#39;nom&#39;)&lt;/script&gt;" in html
        assert page.scripts == ["../assets/fiche.js"]  # the site's own, for its share links
        assert not [
            a for a in page.links if not a.startswith(("http", "../", "#contenu", "mailto:"))
        ]
        assert page.images == []  # its logo, a javascript: address, is no image at all
        assert "<iframe" not in html and "<img src=x" not in html and "<b>" not in html
        home = (site(settings, access) / "index.html").read_text()
        assert "<script>alert" not in home and "<img src=x" not in home
        assert 'href="javascript:' not in home and 'src="javascript:' not in home


def test_key_figures_count_the_exported_projects(read_only):
    projects = rows(read_only, PUBLIC)
    html = (site(read_only) / "chiffres.html").read_text(encoding="utf-8")
    assert f"<strong>{len(projects)}</strong> projets" in html
    authorities = len({r["coll_siret"][:9] for r in projects})
    assert f"<strong>{authorities}</strong> collectivités" in html
    for theme, count in Counter(r["theme"] for r in projects).items():
        assert f'<tr><th scope="row">{theme}</th><td>{count}</td></tr>' in html
    for year, count in Counter(r["projet_date"][:4] for r in projects).items():
        assert f'<tr><th scope="row">{year}</th><td>{count}</td></tr>' in html
    assert html.count("<svg") == 4 and "<script" not in html  # drawn when built


def test_the_data_page_documents_each_field_from_the_contract(read_only):
    columns = columns_meta()
    for access in (PUBLIC, RESTRICTED):
        html = (site(read_only, access) / "donnees.html").read_text(encoding="utf-8")
        for name in export_columns(access):
            assert f"<code>{name}</code>" in html
            assert columns[name].description.replace("'", "&#39;") in html
        for name in set(export_columns(RESTRICTED)) - set(export_columns(access)):
            assert f"<code>{name}</code>" not in html
        page = Page(html)
        downloads = [link for link in page.links if link.startswith("donnees/")]
        assert downloads == [
            "donnees/bibliotheque_ia.csv",
            "donnees/bibliotheque_ia.parquet",
            "donnees/datapackage.json",
        ]
        for link in downloads:  # the same bytes as the export, inside the site
            copy = (site(read_only, access) / link).read_bytes()
            assert copy == (read_only.export_dir / access / Path(link).name).read_bytes()


@pytest.mark.parametrize(("library", "files"), [(LEAFLET, 7), (CLUSTERS, 2)])
def test_the_map_libraries_are_shipped_pinned_and_nothing_loads_from_elsewhere(
    read_only, library, files
):
    vendor = site(read_only) / "assets" / library
    source = (SITE / "static" / library / "SOURCE.md").read_text()
    digests = dict(
        (name, digest)
        for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", source, re.MULTILINE)
    )
    assert len(digests) == files
    for name, digest in digests.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
    for path in site(read_only).rglob("*.html"):
        page = Page(path.read_text(encoding="utf-8"))
        for src in [*page.scripts, *page.stylesheets]:
            assert src and not src.startswith(("http:", "https:", "//")), (path, src)


def test_the_sites_downloads_are_the_export_files_themselves(read_only):
    for access, mode in ((PUBLIC, 0o644), (RESTRICTED, 0o600)):
        for name in ("bibliotheque_ia.csv", "bibliotheque_ia.parquet", "datapackage.json"):
            export = read_only.export_dir / access / name
            download = site(read_only, access) / "donnees" / name
            assert download.samefile(export), (access, name)  # one file, two names
            assert stat.S_IMODE(download.stat().st_mode) == mode, (access, name)


def test_the_pages_of_fifty_projects_weigh_well_under_a_megabyte(tmp_path):
    settings, _report = synced(tmp_path, synthetic_form(50))
    folder = site(settings)
    home = ["index.html", "data/projets.json", "assets/site.css", "assets/site.js"]
    weight = sum((folder / name).stat().st_size for name in home)
    assert weight < 150_000, weight
    pages = list((folder / "projets").iterdir())
    assert len(pages) == 50 and max(p.stat().st_size for p in pages) < 20_000


def links(page: Path) -> dict[str, str]:
    """The list page's links to the pages beside it: rel -> address."""
    return dict(
        (rel, href)
        for href, rel in re.findall(r'<a href="([^"]+)" rel="(prev|next)"', page.read_text())
    )


def test_a_large_list_is_cut_into_pages_readable_without_javascript(tmp_path):
    settings, _report = synced(tmp_path, synthetic_form(PAGE_SIZE * 3 + 5))
    folder = site(settings)
    names = ["index.html", "page-2.html", "page-1.html"]  # from the most recent to the oldest
    pages = [card_ids(folder / name) for name in names]
    assert [len(ids) for ids in pages] == [PAGE_SIZE + 5, PAGE_SIZE, PAGE_SIZE]
    assert [i for ids in pages for i in ids] == published_last_first(settings)
    assert [links(folder / name) for name in names] == [
        {"next": "page-2.html"},
        {"prev": "index.html", "next": "page-1.html"},
        {"prev": "page-2.html"},
    ]
    assert not (folder / "page-3.html").exists()
    older = (folder / "page-1.html").read_text()
    assert f'<span id="nombre">{PAGE_SIZE}</span> projets sur cette page' in older
    assert f"{PAGE_SIZE * 3 + 5} projets" not in older and "mises à jour le" not in older
    assert f"{PAGE_SIZE * 3 + 5} projets" in (folder / "index.html").read_text()


@dataclass
class Growing:
    """A register of 305 projects sent one a minute ("Projet 0", `first`, published first),
    synced; `add_and_correct` then sends a new project and a correction of the first one,
    `fill` the rest of 400 projects, each followed by a sync."""

    settings: Settings
    server: TallyEmulator
    form_id: str
    first: str  # the first published project's submission
    later: list[dict[str, Any]]  # sent after every other: the new project first
    correction: dict[str, Any]

    def add_and_correct(self) -> None:
        self.server.add_submissions(self.form_id, [self.later[0], self.correction])
        run_job(self.settings, "sync")

    def fill(self) -> None:
        self.server.add_submissions(self.form_id, self.later[1:])
        run_job(self.settings, "sync")

    def projet_id(self, submission_id: str) -> str:
        sql = "SELECT projet_id FROM projects WHERE submission_id = ?"
        ((projet_id,),) = query(self.settings, sql, [submission_id])
        return str(projet_id)


@pytest.fixture
def growing(tmp_path: Path) -> Iterator[Growing]:
    form = synthetic_form(PAGE_SIZE * 3 + 5)
    later = datetime(2025, 6, 1, tzinfo=UTC)
    new = synthetic_form(PAGE_SIZE * 4, start=later, prefix="n")["submissions"]
    (correction,) = synthetic_form(1, seed=3, start=later, prefix="c")["submissions"]
    server = start_emulator(EmulatedForm.from_json(form))
    try:
        settings = make_settings(tmp_path, server.url)
        run_job(settings, "sync")
        first = form["submissions"][0]["id"]
        yield Growing(settings, server, form["id"], first, new[PAGE_SIZE * 3 + 5 :], correction)
    finally:
        server.stop()


def test_the_older_pages_of_the_list_stay_as_projects_are_added_or_corrected(growing):
    settings, folder = growing.settings, site(growing.settings)
    first = growing.projet_id(growing.first)
    assert card_ids(folder / "page-1.html")[-1] == first
    before = stamps(folder)
    growing.add_and_correct()
    after = stamps(folder)
    projet_id = growing.projet_id(growing.later[0]["id"])
    assert card_ids(folder / "index.html")[0] == projet_id  # the new project comes first
    assert card_ids(folder / "page-1.html")[-1] == first  # the corrected one keeps its place
    assert after["page-1.html"] != before["page-1.html"]  # ... and its page shows its card
    assert after["page-2.html"] == before["page-2.html"]
    assert after["index.html"] != before["index.html"]
    growing.fill()  # 400 projects: a page more
    again = stamps(folder)
    assert again["page-1.html"] == after["page-1.html"]
    assert again["page-2.html"] != after["page-2.html"]  # its link to the more recent ones
    assert links(folder / "page-2.html") == {"prev": "page-3.html", "next": "page-1.html"}
    assert links(folder / "page-3.html") == {"prev": "index.html", "next": "page-2.html"}
    assert len(card_ids(folder / "index.html")) == PAGE_SIZE
    assert [
        i for n in ("index", "page-3", "page-2", "page-1") for i in card_ids(folder / f"{n}.html")
    ] == published_last_first(settings)


@pytest.fixture
def parts_of_a_page(monkeypatch: pytest.MonkeyPatch) -> None:
    """The data's parts cut as the list's pages (requested before `growing`)."""
    monkeypatch.setattr(build, "DATA_PART", PAGE_SIZE)


def test_the_older_parts_of_the_lists_data_stay_as_projects_are_added_or_corrected(
    parts_of_a_page, growing
):
    settings, data = growing.settings, site(growing.settings) / "data"

    def index() -> dict[str, Any]:
        return dict(json.loads((data / "projets.json").read_bytes()))

    parts = index()["parties"]
    assert [name.partition("?")[0] for name in parts] == ["projets-2.json", "projets-1.json"]
    assert len(index()["projets"]) == PAGE_SIZE + 5
    assert [c["id"] for c in all_cards(settings)] == published_last_first(settings)
    assert all_cards(settings, RESTRICTED) == all_cards(settings)
    before = stamps(data)
    growing.add_and_correct()
    after = stamps(data)
    assert after["projets-1.json"] != before["projets-1.json"]  # holds the corrected card
    assert after["projets-2.json"] == before["projets-2.json"]
    assert index()["parties"][0] == parts[0]  # a browser's copy of part 2 still serves
    assert index()["parties"][1] != parts[1]
    assert [c["id"] for c in all_cards(settings)] == published_last_first(settings)
    growing.fill()  # 400 projects: a part more
    again = stamps(data)
    assert {name: again[name] for name in after} == {
        **after,
        "projets.json": again["projets.json"],
    }
    assert again["projets.json"] != after["projets.json"] and "projets-3.json" in again
    assert len(index()["parties"]) == 3 and len(index()["projets"]) == PAGE_SIZE
    assert [c["id"] for c in all_cards(settings)] == published_last_first(settings)
    assert all_cards(settings, RESTRICTED) == all_cards(settings)


def test_a_new_project_rewrites_its_page_and_the_list_only(published, emulator):
    before = stamps(published.export_dir)
    answers = {**VALID_ANSWERS, "nom_projet": "Un projet tout neuf"}
    new = tally_submission("new1", answers, submitted_at="2026-11-20T10:00:00.000Z")
    emulator.add_submissions("bibiaD", [new])
    report = run_job(published, "sync")
    after = stamps(published.export_dir)
    ((projet_id,),) = query(published, "SELECT projet_id FROM projects WHERE submission_id='new1'")
    new = {name for name in after if name not in before}
    assert new == {f"{a}/site/projets/{projet_id}.html" for a in (PUBLIC, RESTRICTED)}
    changed = {name for name in before if after[name] != before[name]}
    assert not [name for name in changed if "/projets/" in name]  # no other project's page
    assert {"public/site/index.html", "public/datami/csv/processed_data.csv"} <= changed
    assert report.files_written == len(new) + len(changed)


def test_a_new_project_makes_its_card_and_keeps_every_other(published, emulator):
    sql = "SELECT projet_id, made_from, html, point, feed FROM site_cards ORDER BY projet_id"
    before = query(published, sql)
    assert len(before) == DEMO_PUBLISHED
    answers = {**VALID_ANSWERS, "nom_projet": "Un projet tout neuf"}
    late = "2026-11-20T10:00:00.000Z"  # after the first run's: the next run brings it
    emulator.add_submissions("bibiaD", [tally_submission("new2", answers, submitted_at=late)])
    run_job(published, "sync")
    after = query(published, sql)
    ((projet_id,),) = query(published, "SELECT projet_id FROM projects WHERE submission_id='new2'")
    assert [row for row in after if row[0] != projet_id] == before
    (card,) = [row for row in after if row[0] == projet_id]
    assert "Un projet tout neuf" in card[2] and "Un projet tout neuf" in card[3]


def test_a_project_page_deleted_by_hand_is_made_again_by_the_next_run(published):
    pages = sorted((site(published) / "projets").iterdir())
    gone = pages[0]
    content = gone.read_bytes()
    gone.unlink()
    report = run_job(published, "sync")  # nothing new in Tally: the missing page is noticed
    assert report.new == 0 and report.files_written == 1
    assert gone.read_bytes() == content


def test_a_withdrawn_project_loses_its_page(published):
    ((projet_id,),) = query(published, "SELECT projet_id FROM projects ORDER BY projet_id LIMIT 1")
    done = bibia_cli(published, "curate", "withdraw", projet_id, "--reason", "à la demande")
    assert done.returncode == 0, done.stderr
    run_job(published, "sync")
    for access in (PUBLIC, RESTRICTED):
        assert not (site(published, access) / "projets" / f"{projet_id}.html").exists()
        assert projet_id not in [card["id"] for card in all_cards(published, access)]


def test_bibia_site_renders_again_from_the_published_exports(published):
    before = stamps(published.export_dir)
    tiles = "http://127.0.0.1:9/{z}/{x}/{y}.png"
    done = bibia_cli(published, "site", BIBIA_SITE_TILES=tiles)
    assert done.returncode == 0, done.stderr
    assert "2 fichiers réécrits (0 pages de projet refaites)" in done.stdout
    after = stamps(published.export_dir)
    changed = {name for name in before if after[name] != before[name]}
    assert changed == {"public/site/carte.html", "restricted/site/carte.html"}
    assert tiles in (site(published) / "carte.html").read_text()
    again = bibia_cli(published, "site", BIBIA_SITE_TILES=tiles)
    assert "0 fichiers réécrits" in again.stdout
    assert stamps(published.export_dir) == after


def test_bibia_site_before_any_sync_says_what_to_do(settings):
    done = bibia_cli(settings, "site")
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"bibia: pas encore d'exports dans {settings.export_dir} : lancer d'abord `bibia sync`"
    ]


def test_both_editions_hold_the_same_list_and_map_data_recorded_as_such(read_only):
    public = (site(read_only) / "data" / "projets.json").read_bytes()
    members = site(read_only, RESTRICTED) / "data" / "projets.json"
    assert members.read_bytes() == public
    assert len(json.loads(public)["projets"]) == DEMO_PUBLISHED
    assert stat.S_IMODE(members.stat().st_mode) == 0o600
    digest = hashlib.sha256(public).hexdigest()
    recorded = query(
        read_only, "SELECT path, sha256 FROM published_files WHERE path LIKE '%/projets.json'"
    )
    assert sorted(recorded) == [
        (f"{PUBLIC}/site/data/projets.json", digest),
        (f"{RESTRICTED}/site/data/projets.json", digest),
    ]


def test_pages_made_again_with_the_same_bytes_stay_in_place_and_are_not_made_a_third_time(
    published,
):
    pages = sorted(site(published).glob("projets/*.html"))
    pages += sorted(site(published, RESTRICTED).glob("projets/*.html"))
    before = {page: page.stat().st_mtime_ns for page in pages}
    with connect(published.db_path) as con:  # as if published by an older version of bibia
        con.execute(
            "UPDATE published_files SET made_from = 'older:' || made_from "
            "WHERE made_from IS NOT NULL"
        )
    done = bibia_cli(published, "site")
    assert done.returncode == 0, done.stderr
    assert f"0 fichiers réécrits ({len(pages)} pages de projet refaites)" in done.stdout
    assert {page: page.stat().st_mtime_ns for page in pages} == before
    assert not query(published, "SELECT path FROM published_files WHERE made_from LIKE 'older:%'")
    again = bibia_cli(published, "site")
    assert "(0 pages de projet refaites)" in again.stdout, again.stderr


def test_bibia_site_all_renders_every_page_and_rewrites_none_that_is_the_same(published):
    before = stamps(published.export_dir)
    done = bibia_cli(published, "site", "--all")
    assert done.returncode == 0, done.stderr
    pages = 2 * DEMO_PUBLISHED  # both editions
    assert f"0 fichiers réécrits ({pages} pages de projet refaites)" in done.stdout
    assert stamps(published.export_dir) == before
