"""The public site of the demo in a real headless Chromium (Debian's package, driven through
chromedriver), served by a static host on loopback; the map's tiles and the contributors'
logos come from a loopback image server: nothing reaches the internet.

`python3 run.py check` installs Chromium when it is missing. `BIBIA_SCREENSHOTS=docs/images`
saves the screenshots the README shows."""

from __future__ import annotations

import copy
import json
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow.parquet as pq
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import Select

from bibia.emulators.government import GovApisEmulator
from bibia.emulators.tally import EmulatedForm
from bibia.pipeline import run_job
from publish.site import build
from publish.site.build import _excerpt
from tests.conftest import (
    DEMO_PUBLISHED,
    VALID_ANSWERS,
    make_settings,
    screenshot,
    start_emulator,
    tally_submission,
)
from tests.web import image_host, static_host

WAIT = 10.0
DEMO_PART = 10  # cards in each older part of the demo site's data (`build.DATA_PART`)


def demo_with_loopback_logos(data: dict[str, Any], images: str) -> dict[str, Any]:
    """The demo form, its logos served by the loopback image server instead of Tally's
    storage."""
    text = json.dumps(data).replace("https://storage.tally.so", images)
    return dict(json.loads(text))


def build_site(
    folder: Path, data: dict[str, Any], images: str, extra: list[dict[str, Any]] | None = None
) -> tuple[Path, list[dict[str, Any]]]:
    form = EmulatedForm.from_json(copy.deepcopy(demo_with_loopback_logos(data, images)))
    server = start_emulator(form)
    try:
        if extra:
            server.add_submissions("bibiaD", extra)
        with GovApisEmulator() as government:  # the map's coordinates, as in the demo
            settings = make_settings(
                folder,
                server.url,
                site_tiles=images + "/tiles/{z}/{x}/{y}.png",
                enrichment_enabled=True,
                **government.urls,
            )
            run_job(settings, "sync")
    finally:
        server.stop()
    export = settings.export_dir / "public"
    return export / "site", list(pq.read_table(export / "bibliotheque_ia.parquet").to_pylist())


class Demo:
    def __init__(self, url: str, rows: list[dict[str, Any]], seen: list[str], folder: Path) -> None:
        self.url, self.rows, self.images_seen, self.folder = url, rows, seen, folder


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory, demo_form_data: dict[str, Any]
) -> Iterator[Demo]:
    images, seen = image_host()
    with pytest.MonkeyPatch.context() as patch:  # its data in parts, as a large register's
        patch.setattr(build, "DATA_PART", DEMO_PART)
        folder, rows = build_site(tmp_path_factory.mktemp("site"), demo_form_data, images.url)
    parts = json.loads((folder / "data" / "projets.json").read_bytes())["parties"]
    assert len(parts) == DEMO_PUBLISHED // DEMO_PART - 1 > 1
    host = static_host(folder)
    try:
        yield Demo(host.url, rows, seen, folder)
    finally:
        host.stop()
        images.stop()


def errors(driver: WebDriver) -> list[str]:
    """The console's errors since the last call (warnings and information aside)."""
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"waited {WAIT:g} s for {what}")


def shown(driver: WebDriver) -> int:
    """The number of projects the page says match, once the cards agree with it."""
    count = int(driver.find_element(By.ID, "nombre").text)
    cards = driver.find_elements(By.CSS_SELECTOR, "#cartes li.card")
    assert len(cards) == min(count, 60), (count, len(cards))
    return count


def settle(driver: WebDriver, expected: int) -> None:
    wait_for(lambda: int(driver.find_element(By.ID, "nombre").text) == expected, "the count")
    assert shown(driver) == expected


def open_home(driver: WebDriver, demo: Demo, query: str = "") -> None:
    driver.get(f"{demo.url}/index.html{query}")
    wait_for(lambda: driver.execute_script("return document.readyState") == "complete", "load")
    wait_for(  # the script has taken over the list (the pagination links are hidden)
        lambda: driver.execute_script("return window.__bibiaReady === true"), "the filters"
    )


def fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def searchable(row: dict[str, Any]) -> str:
    parts = [
        row["nom_projet"],
        row["coll_nom"],
        row["theme"],
        _excerpt(row["usage_description"]),
        " ".join(row["sous_theme"] or []),
        row["projet_status"],
        row["coll_type"],
    ]
    return fold(" ".join(parts))


def test_the_home_page_loads_without_error_with_one_card_per_project(browser, demo):
    open_home(browser, demo)
    assert errors(browser) == []
    assert len(demo.rows) == DEMO_PUBLISHED
    assert shown(browser) == DEMO_PUBLISHED
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#cartes h3")]
    assert sorted(titles) == sorted(r["nom_projet"] for r in demo.rows)
    wait_for(lambda: any("/private/logo-" in p for p in demo.images_seen), "a logo")
    assert browser.execute_script("return document.documentElement.lang") == "fr"
    screenshot(browser, "accueil")


def test_a_theme_filter_gives_the_expected_count_and_its_address_can_be_shared(browser, demo):
    open_home(browser, demo)
    theme = "Mobilités"
    expected = sum(1 for r in demo.rows if r["theme"] == theme)
    assert 0 < expected < DEMO_PUBLISHED
    Select(browser.find_element(By.ID, "theme")).select_by_visible_text(theme)
    settle(browser, expected)
    assert all(
        e.text == theme for e in browser.find_elements(By.CSS_SELECTOR, "#cartes .tag.theme")
    )
    shared = browser.current_url
    assert "theme=Mobilit" in shared
    browser.get(shared)  # someone opens the shared address
    wait_for(lambda: browser.execute_script("return window.__bibiaReady === true"), "filters")
    settle(browser, expected)
    assert Select(browser.find_element(By.ID, "theme")).first_selected_option.text == theme
    assert errors(browser) == []


def test_a_search_word_and_filters_combine(browser, demo):
    open_home(browser, demo)
    word = "eclairage"
    expected = [r for r in demo.rows if word in searchable(r)]
    assert 0 < len(expected) < DEMO_PUBLISHED
    browser.find_element(By.ID, "q").send_keys("Éclairage")
    settle(browser, len(expected))
    year = sorted({r["projet_date"][:4] for r in expected})[-1]
    Select(browser.find_element(By.ID, "annee")).select_by_visible_text(year)
    both = sum(1 for r in expected if r["projet_date"].startswith(year))
    settle(browser, both)
    assert "q=%C3%89clairage" in browser.current_url and f"annee={year}" in browser.current_url
    browser.find_element(By.ID, "effacer").click()
    settle(browser, DEMO_PUBLISHED)
    assert errors(browser) == []


def test_the_filters_can_be_reached_and_used_with_the_keyboard_alone(browser, demo):
    open_home(browser, demo)
    for _ in range(15):  # from the top of the page
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("id") == "theme":
            break
    focused = browser.switch_to.active_element
    assert focused.get_attribute("id") == "theme"
    outline = browser.execute_script("return getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", "")  # the focus is visible
    focused.send_keys(Keys.ARROW_DOWN)  # the first theme of the list
    first = Select(browser.find_element(By.ID, "theme")).first_selected_option.text
    expected = sum(1 for r in demo.rows if r["theme"] == first)
    settle(browser, expected)
    for _ in range(15):  # on to "Effacer les filtres", and press it
        ActionChains(browser).send_keys(Keys.TAB).perform()
        if browser.switch_to.active_element.get_attribute("id") == "effacer":
            break
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    settle(browser, DEMO_PUBLISHED)


def test_a_project_page_shows_its_fields(browser, demo):
    open_home(browser, demo)
    row = max(demo.rows, key=lambda r: sum(v not in (None, [], "") for v in r.values()))
    link = browser.find_element(By.LINK_TEXT, row["nom_projet"])
    link.click()
    wait_for(lambda: "/projets/" in browser.current_url, "the project page")
    assert browser.find_element(By.TAG_NAME, "h1").text == row["nom_projet"]
    assert browser.current_url.endswith(f"/projets/{row['projet_id']}.html")

    def field(name: str) -> str:
        return str(browser.find_element(By.CSS_SELECTOR, f'dd[data-field="{name}"]').text)

    assert field("coll_nom") == row["coll_nom"]
    assert field("theme") == row["theme"]
    assert field("coll_siret") == row["coll_siret"]
    for item in row["audience_service"]:
        assert item in field("audience_service")
    assert field("usage_description").split() == row["usage_description"].split()
    assert errors(browser) == []
    screenshot(browser, "fiche-projet")


def test_a_project_page_can_be_shared_and_says_nothing_of_an_abandonment_it_did_not_have(
    browser, demo
):
    row = next(r for r in demo.rows if r["projet_status"] != "Abandonné")
    browser.get(f"{demo.url}/projets/{row['projet_id']}.html")
    mail = wait_for(
        lambda: [
            e for e in browser.find_elements(By.CSS_SELECTOR, ".share-mail") if e.is_displayed()
        ],
        "the share links",
    )[0]
    href = unquote(mail.get_attribute("href") or "")
    assert href.startswith("mailto:?subject=") and row["nom_projet"] in href
    assert f"/projets/{row['projet_id']}.html" in href  # the page's own address
    fields = {e.get_attribute("data-field") for e in browser.find_elements(By.CSS_SELECTOR, "dd")}
    assert not fields & {"status_abandon", "latitude", "longitude", "image_url"}
    meta = browser.find_element(By.CSS_SELECTOR, 'meta[property="og:title"]')
    assert meta.get_attribute("content") == row["nom_projet"]
    assert errors(browser) == []


def test_a_withdrawn_projects_address_gives_the_sites_french_404(browser, demo):
    browser.get(f"{demo.url}/projets/p-000000000000.html")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Page introuvable"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "fr"
    browser.find_element(By.LINK_TEXT, "La liste des projets").click()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "li.card"), "the list, from the 404")
    said = errors(browser)  # the 404 itself, and nothing else
    assert len(said) == 1 and "404" in said[0]


@pytest.mark.parametrize("page", ["index.html", "carte.html"])
def test_a_site_opened_from_disk_says_how_to_serve_it_and_keeps_its_cards(browser, demo, page):
    browser.get((demo.folder / page).as_uri())
    notice = wait_for(
        lambda: [e for e in browser.find_elements(By.ID, "sans-donnees") if e.is_displayed()],
        "the notice",
    )[0]
    assert "ouverte depuis le disque" in notice.text and "python3 -m http.server" in notice.text
    if page == "index.html":
        assert not browser.find_element(By.ID, "filtres").is_displayed()  # no "0 projets"
        assert len(browser.find_elements(By.CSS_SELECTOR, "li.card")) == DEMO_PUBLISHED


@pytest.fixture
def phone(browser: WebDriver) -> Iterator[WebDriver]:
    """The browser at a phone's width, back to its own after the test."""
    browser.set_window_size(390, 844)
    try:
        yield browser
    finally:
        browser.set_window_size(1280, 1000)


def test_on_a_phone_the_first_cards_come_before_the_folded_filters(phone, demo):
    open_home(phone, demo)
    first = phone.find_element(By.CSS_SELECTOR, "li.card")
    height = phone.execute_script("return window.innerHeight")
    assert first.location["y"] < height  # a card on the first screen
    theme = phone.find_element(By.ID, "theme")
    assert not theme.is_displayed()
    toggle = phone.find_element(By.ID, "afficher-filtres")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.click()
    assert theme.is_displayed() and toggle.get_attribute("aria-expanded") == "true"
    screenshot(phone, "telephone-filtres")
    phone.get(f"{demo.url}/chiffres.html")
    svg = phone.find_element(By.CSS_SELECTOR, ".chart svg")
    assert svg.size["width"] >= 34 * 16 - 1  # not shrunk to the phone's width: it scrolls
    assert errors(phone) == []


def test_no_result_says_how_to_widen_the_search_and_sub_themes_follow_the_theme(browser, demo):
    open_home(browser, demo, "?q=zzzzzz")
    none = browser.find_element(By.ID, "aucun")
    assert none.is_displayed() and "Retirez un filtre" in none.text
    browser.find_element(By.ID, "tout-voir").click()
    wait_for(lambda: not none.is_displayed(), "the list back")
    assert int(browser.find_element(By.ID, "nombre").text) == DEMO_PUBLISHED
    Select(browser.find_element(By.ID, "theme")).select_by_visible_text("Mobilités")
    options = browser.find_elements(By.CSS_SELECTOR, "#sous_theme option")
    offered = [o.text for o in options if o.is_enabled() and o.get_attribute("value")]
    others = [o for o in options if not o.is_enabled()]
    assert offered and others  # some sub-themes offered, those of other themes not
    assert all(o.get_attribute("data-theme") == "Mobilités" for o in options if o.is_enabled()
               and o.get_attribute("value"))  # fmt: skip
    assert errors(browser) == []


def open_map(driver: WebDriver, demo: Demo, query: str = "") -> WebElement:
    driver.get(f"{demo.url}/carte.html{query}")
    wait_for(lambda: driver.execute_script("return window.__bibiaReady === true"), "the map")
    box = driver.find_element(By.ID, "carte")
    wait_for(lambda: box.get_attribute("data-placed"), "the points")
    return box


def on_map(driver: WebDriver) -> int:
    """The projects the map shows at this zoom: a marker each, or counted in its group (read
    at once: the map redraws while it moves)."""
    return int(
        driver.execute_script(
            "var n = document.querySelectorAll('#carte .point').length;"
            "document.querySelectorAll('#carte .grappe span[aria-hidden]')"
            ".forEach(function (g) { n += parseInt(g.textContent, 10); });"
            "return n;"
        )
    )


def popup_title(driver: WebDriver) -> str:
    return str(
        driver.execute_script(
            "var a = document.querySelector('#carte .leaflet-popup a');"
            "return a && document.activeElement === a ? a.textContent : '';"
        )
    )


def test_the_map_groups_projects_and_reaches_each_one_even_on_a_shared_seat(browser, demo):
    located = [r for r in demo.rows if r["latitude"] is not None]
    assert len(located) >= DEMO_PUBLISHED - 2
    box = open_map(browser, demo)
    assert int(box.get_attribute("data-placed") or 0) == len(located)
    wait_for(lambda: on_map(browser) == len(located), "every project, in a group or alone")
    assert browser.find_elements(By.CSS_SELECTOR, "#carte .grappe")  # nearby ones grouped
    wait_for(lambda: any("/tiles/" in p for p in demo.images_seen), "the tiles")
    screenshot(browser, "carte")
    listed = browser.find_elements(By.CSS_SELECTOR, "#points li a")
    assert sorted(a.text for a in listed) == sorted(r["nom_projet"] for r in located)
    seats = Counter((r["latitude"], r["longitude"]) for r in located)
    shared = [r for r in located if seats[(r["latitude"], r["longitude"])] > 1]
    assert len(shared) >= 9  # the demo's authorities with several projects: one seat each
    for row in shared:  # each reached from the list: the map opens its group, its popup
        button = next(
            li.find_element(By.TAG_NAME, "button")
            for li in browser.find_elements(By.CSS_SELECTOR, "#points li")
            if li.find_element(By.TAG_NAME, "a").text == row["nom_projet"]
        )
        assert button.get_attribute("aria-label") == f"Montrer « {row['nom_projet']} » sur la carte"
        button.click()
        wait_for(lambda row=row: popup_title(browser) == row["nom_projet"], row["nom_projet"])
    assert errors(browser) == []


def test_the_maps_groups_and_markers_open_with_the_keyboard_alone(browser, demo):
    open_map(browser, demo)
    body = browser.find_element(By.TAG_NAME, "body")
    body.click()

    def tab_to(selector: str) -> None:
        for _ in range(300):
            ActionChains(browser).send_keys(Keys.TAB).perform()
            if browser.execute_script(f"return document.activeElement.matches({selector!r})"):
                return
        raise AssertionError(f"no {selector} reached with the Tab key")

    def drawn() -> tuple[int, list[str]]:  # read at once: the map redraws while it zooms
        found = browser.execute_script(
            "return [document.querySelectorAll('#carte .point').length,"
            " Array.from(document.querySelectorAll('#carte .grappe'), g => g.textContent)]"
        )
        return int(found[0]), list(found[1])

    for _ in range(6):  # a group opens into smaller ones, then into its markers
        tab_to("#carte .grappe")
        name = browser.execute_script("return document.activeElement.textContent")
        assert "Groupe de" in name and "projets : l'ouvrir" in name
        before = drawn()
        ActionChains(browser).send_keys(Keys.ENTER).perform()
        wait_for(lambda before=before: drawn() != before, "the group opened")
        if drawn()[0]:
            break
    else:
        raise AssertionError("no group opened into its markers")
    tab_to("#carte .point")
    title = browser.execute_script("return document.activeElement.title")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#carte .leaflet-popup a"), "the popup")
    popup = browser.find_element(By.CSS_SELECTOR, "#carte .leaflet-popup a").text
    assert title.startswith(popup + " (")
    assert errors(browser) == []


def test_the_lists_filters_apply_to_the_map_and_travel_between_them(browser, demo):
    theme = Counter(r["theme"] for r in demo.rows if r["latitude"] is not None).most_common()[1][0]
    placed = sum(1 for r in demo.rows if r["latitude"] is not None and r["theme"] == theme)
    everyone = sum(1 for r in demo.rows if r["theme"] == theme)
    box = open_map(browser, demo)
    Select(browser.find_element(By.ID, "theme")).select_by_visible_text(theme)
    wait_for(lambda: box.get_attribute("data-placed") == str(placed), "the theme's points")
    wait_for(lambda: on_map(browser) == placed, "the map redrawn")
    assert len(browser.find_elements(By.CSS_SELECTOR, "#points li")) == placed
    assert browser.find_element(By.ID, "nombre").text == str(placed)
    link = browser.find_element(By.ID, "vers-liste")
    assert "theme=" in (link.get_attribute("href") or "")
    link.click()  # the list, with the same filter
    wait_for(lambda: browser.execute_script("return window.__bibiaReady === true"), "the list")
    settle(browser, everyone)
    assert Select(browser.find_element(By.ID, "theme")).first_selected_option.text == theme
    browser.find_element(By.ID, "vers-carte").click()  # and back
    box = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#carte[data-placed]"), "map")[0]
    assert box.get_attribute("data-placed") == str(placed)
    assert errors(browser) == []


def test_the_map_draws_every_project_without_tiles(browser, demo):
    """`BIBIA_SITE_TILES=` (empty): no background, the groups and markers all the same (the
    map once threw "Map has no maxZoom" and drew nothing)."""
    page = (demo.folder / "carte.html").read_text(encoding="utf-8")
    assert 'data-tiles="http' in page
    without = page.replace(page.split('data-tiles="')[1].split('"')[0], "", 1)
    (demo.folder / "carte-sans-fond.html").write_text(without, encoding="utf-8")
    located = sum(1 for r in demo.rows if r["latitude"] is not None)
    browser.get(f"{demo.url}/carte-sans-fond.html")
    wait_for(lambda: browser.execute_script("return window.__bibiaReady === true"), "the map")
    wait_for(lambda: on_map(browser) == located, "every project, in a group or alone")
    assert not browser.find_elements(By.CSS_SELECTOR, "#carte .leaflet-tile")
    assert errors(browser) == []


def test_the_key_figures_page_draws_its_charts_without_a_script(browser, demo):
    browser.get(f"{demo.url}/chiffres.html")
    assert len(browser.find_elements(By.CSS_SELECTOR, "svg[role=img]")) == 4
    assert browser.find_elements(By.CSS_SELECTOR, "script") == []
    figures = browser.find_elements(By.CSS_SELECTOR, ".figures strong")
    assert int(figures[0].text) == DEMO_PUBLISHED
    assert errors(browser) == []
    screenshot(browser, "chiffres-cles")


HOSTILE = {
    **VALID_ANSWERS,
    "coll_nom": 'Ville "><img src=x onerror="window.__pwned=1">',
    "nom_projet": "<script>window.__pwned=2</script> Projet piégé",
    "usage_description": "<img src=x onerror=window.__pwned=3> description",
    "url_infos": "javascript:window.__pwned=4",
    "image_url": "javascript:window.__pwned=5",
}


LONG_WORD = "Intercommunalité" * 9  # one word of 144 letters: a title that must wrap


@pytest.fixture(scope="module")
def hostile_site(
    tmp_path_factory: pytest.TempPathFactory, demo_form_data: dict[str, Any]
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """The demo with a contributor's hostile values and one with a very long word, served."""
    images, _ = image_host()
    extra = [
        tally_submission("hostile1", HOSTILE, submitted_at="2026-11-20T10:00:00.000Z"),
        tally_submission(
            "longword1",
            {**VALID_ANSWERS, "nom_projet": LONG_WORD},
            submitted_at="2026-11-20T11:00:00.000Z",
        ),
    ]
    folder, rows = build_site(tmp_path_factory.mktemp("hostile"), demo_form_data, images.url, extra)
    host = static_host(folder)
    try:
        yield host.url, rows
    finally:
        host.stop()
        images.stop()


def test_a_contributors_script_stays_text_in_the_browser(browser, hostile_site):
    url, rows = hostile_site
    browser.get(f"{url}/index.html")
    wait_for(lambda: browser.execute_script("return window.__bibiaReady === true"), "list")
    browser.find_element(By.ID, "q").send_keys("piégé")
    settle(browser, 1)
    card = browser.find_element(By.CSS_SELECTOR, "#cartes h3 a")
    assert card.text == HOSTILE["nom_projet"]
    ActionChains(browser).move_to_element_with_offset(card, -20, -10).click().perform()
    wait_for(lambda: "/projets/" in browser.current_url, "the project page")
    assert browser.find_element(By.TAG_NAME, "h1").text == HOSTILE["nom_projet"]
    browser.get(f"{url}/carte.html")
    wait_for(lambda: browser.find_element(By.ID, "carte").get_attribute("data-placed"), "map")
    assert browser.execute_script("return window.__pwned === undefined")
    assert browser.find_elements(By.CSS_SELECTOR, "a[href^='javascript']") == []
    assert len(rows) == DEMO_PUBLISHED + 2


@pytest.mark.parametrize("width", [1280, 375], ids=["desktop", "phone"])
def test_a_very_long_word_in_a_title_wraps_inside_the_page(browser, hostile_site, width):
    url, rows = hostile_site
    row = next(r for r in rows if r["nom_projet"] == LONG_WORD)
    browser.set_window_size(width, 900)
    try:
        browser.get(f"{url}/projets/{row['projet_id']}.html")
        title = browser.find_element(By.TAG_NAME, "h1")
        assert title.text.replace("\n", "") == LONG_WORD
        fits = browser.execute_script(
            "const h = arguments[0]; const page = document.documentElement;"
            "return [h.getBoundingClientRect().right, page.clientWidth, page.scrollWidth,"
            " h.getBoundingClientRect().height];",
            title,
        )
        right, visible, scrolled, height = fits
        assert right <= visible and scrolled <= visible, fits  # no sideways scrolling
        assert height > 60, fits  # on several lines
    finally:
        browser.set_window_size(1280, 1000)
