"""Shared fixtures: a real Tally emulator on loopback, real DuckDB files in tmp folders."""

from __future__ import annotations

import atexit
import copy
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import duckdb
import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID, DEMO_FORM_PATH
from bibia.demo.build import as_submission
from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.settings import Settings
from schemas.times import parse_iso
from tests import spawn

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

ROOT = Path(__file__).resolve().parents[1]
# Modules whose tests need no server, no browser and no run of the pipeline: the fast subset
# (`python3 run.py pytest -m fast`, under a minute), for a maintainer's every change.
FAST_MODULES = {
    "test_answers",
    "test_docs",
    "test_layers",
    "test_letters",
    "test_mapping",
    "test_membership",
    "test_normalise",
    "test_normalise_properties",
    "test_question_types",
    "test_taxonomy",
    "test_validation",
}


# The slowest modules, the slowest first (their wall time in a whole check, 0.11.1): the check's
# workers (pytest-xdist, a file each at a time, `--no-loadscope-reorder`) take them before the
# quick ones, so that no long file starts last.
SLOWEST_FIRST = (
    "test_orchestration",
    "test_senders",
    "test_hardening",
    "test_site_browser",
    "test_exports",
    "test_runs",
    "test_delivery",
    "test_tally_extraction",
    "test_batches",
    "test_site",
    "test_mail",
    "test_curation",
    "test_members_login",
    "test_webhook",
    "test_warehouse",
    "test_enrichment",
    "test_members_attacks",
    "test_normalise_properties",
    "test_layers",
    "test_validation",
    "test_status",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.stem in FAST_MODULES:
            item.add_marker(pytest.mark.fast)
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.stem, len(rank)))  # stable: within a module


# The demo form, as `bibia sync` sees it: completed submissions, projects published, and
# submissions in quarantine (held, plus one that a correction link has since released).
DEMO_COMPLETED = 52
DEMO_PUBLISHED = 39
DEMO_HELD = 6
DEMO_QUARANTINE_ROWS = 7


@pytest.fixture(scope="session")
def demo_form_data() -> dict[str, Any]:
    with open(DEMO_FORM_PATH, encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


@pytest.fixture
def demo_form(demo_form_data: dict[str, Any]) -> EmulatedForm:
    return EmulatedForm.from_json(copy.deepcopy(demo_form_data))


def start_emulator(*forms: EmulatedForm, **options: Any) -> TallyEmulator:
    return TallyEmulator(list(forms), api_key=DEMO_API_KEY, **options).start()


@pytest.fixture
def emulator(demo_form: EmulatedForm) -> Iterator[TallyEmulator]:
    server = start_emulator(demo_form)
    yield server
    server.stop()


def make_settings(tmp_path: Path, url: str, **changes: Any) -> Settings:
    base = Settings(
        tally_api_key=DEMO_API_KEY,
        tally_form_id=DEMO_FORM_ID,
        tally_api_url=url,
        tally_max_requests_per_minute=0,
        tally_backoff_seconds=0.01,
        tally_timeout_seconds=5,
        db_path=tmp_path / "warehouse" / "bibia.duckdb",
        export_dir=tmp_path / "exports",
        decisions_path=tmp_path / "curation" / "decisions.yaml",
        enrichment_enabled=False,  # tests of enrichment turn it on, against the emulator
        enrichment_requests_per_second=0,
        enrichment_backoff_seconds=0.01,
    )
    return base.with_(**changes)


@pytest.fixture
def settings(tmp_path: Path, emulator: TallyEmulator) -> Settings:
    return make_settings(tmp_path, emulator.url)


def query(settings: Settings, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def table_snapshot(settings: Settings, table: str) -> list[tuple[Any, ...]]:
    return query(settings, f"SELECT * FROM {table} ORDER BY ALL")


def synced(tmp_path: Path, form: dict[str, Any], **changes: Any) -> tuple[Settings, Any]:
    """One `sync` of `form` (Tally's shapes), served by the emulator for as long as it takes:
    the settings it ran with (`changes` on top) and its report."""
    from bibia.pipeline import run_job

    server = start_emulator(EmulatedForm.from_json(form))
    try:
        settings = make_settings(tmp_path, server.url, **changes)
        return settings, run_job(settings, "sync")
    finally:
        server.stop()


_DEMO_SYNCED: dict[str, Path] = {}  # this test process's first sync of the demo, made once


def demo_synced(settings: Settings) -> None:
    """What `run_job(settings, "sync")` leaves after a first sync of the demo form, served
    unchanged: the warehouse and exports of one such run made once per test process, copied
    into `settings`' folders (a run costs about a second of CPU, and some 90 tests begin with
    this one). Settings other than the folders and the emulator's address (a run with other
    settings would make another state) run the sync itself."""
    own = {"db_path", "export_dir", "decisions_path", "tally_api_url"}
    base = make_settings(settings.db_path.parents[1], settings.tally_api_url)
    other = [f.name for f in fields(base) if getattr(settings, f.name) != getattr(base, f.name)]
    already = (settings.db_path.parent, settings.export_dir, settings.decisions_path)
    if set(other) - own or any(path.exists() for path in already):
        from bibia.pipeline import run_job

        run_job(settings, "sync")
        return
    if "root" not in _DEMO_SYNCED:
        root = Path(tempfile.mkdtemp(prefix="bibia-demo-synced-"))
        with open(DEMO_FORM_PATH, encoding="utf-8") as handle:
            synced(root, json.load(handle))
        atexit.register(shutil.rmtree, root, ignore_errors=True)
        _DEMO_SYNCED["root"] = root
    made = make_settings(_DEMO_SYNCED["root"], "")
    copied: dict[tuple[int, int], str] = {}  # a file linked twice (the members' download) stays so

    def copy(source: str, target: str) -> str:
        found = os.stat(source)
        if found.st_nlink > 1:
            if (found.st_dev, found.st_ino) in copied:
                os.link(copied[found.st_dev, found.st_ino], target)
                return target
            copied[found.st_dev, found.st_ino] = target
        return str(shutil.copy2(source, target))

    for source, target in (
        (made.db_path.parent, settings.db_path.parent),
        (made.export_dir, settings.export_dir),
    ):
        shutil.copytree(source, target, symlinks=True, copy_function=copy)


def with_restricted_answers(form: dict[str, Any], impact: str, resources: str) -> dict[str, Any]:
    """`form` with two optional restricted questions answered by every submission too (an
    environmental impact, a link to resources)."""
    for sub in form["submissions"]:
        sub["responses"] += [
            {"id": f"{sub['id']}-i", "questionId": "qE8n1V", "answer": impact},
            {"id": f"{sub['id']}-r", "questionId": "qR1e9S", "answer": resources},
        ]
    return form


def cli_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment a `bibia` process needs to run with these settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALLY_", "BIBIA_"))}
    env.update(
        TALLY_API_KEY=settings.tally_api_key or "",
        TALLY_FORM_ID=settings.tally_form_id or "",
        TALLY_API_URL=settings.tally_api_url,
        TALLY_MAX_REQUESTS_PER_MINUTE="0",
        BIBIA_DB=str(settings.db_path),
        BIBIA_EXPORT_DIR=str(settings.export_dir),
        BIBIA_DECISIONS=str(settings.decisions_path),
        BIBIA_ENRICHMENT="on" if settings.enrichment_enabled else "off",
        RECHERCHE_ENTREPRISES_URL=settings.recherche_entreprises_url,
        GEO_API_URL=settings.geo_api_url,
        BAN_API_URL=settings.ban_api_url,
        DO_NOT_TRACK="1",
    )
    env.update(extra)
    return env


VALID_ANSWERS: dict[str, Any] = {
    "coll_nom": "Rennes Métropole",
    "nom_projet": "Pilotage des stations d'épuration",
    "coll_siret": "24350013900015",
    "coll_type": "Métropole",
    "projet_date": "09/2021",
    "projet_status": "En déploiement",
    "usage_description": "Pilotage de l'aération.",
    "theme": "Transition écologique et énergétique",
    "sous_theme": ["Gestion de l'eau"],
    "audience_service": ["Agent"],
    "image_url": "https://exemple.fr/logo.png",
    "mise_en_oeuvre": "Marché public",
    "herbergement": "Cloud chez un tiers",
    "nom_algorithme": "Purecontrol",
    "type_algorithme": ["Machine learning"],
    "donnees_source": ["Open data"],
    "donnees_acces": ["Par API"],
}


def tally_submission(
    sid: str,
    answers: dict[str, Any],
    submitted_at: str = "2026-01-05T10:00:00.000Z",
    hidden: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A submission on the demo form's questions, answering field by field (None: unanswered);
    `hidden`: the hidden fields its link filled (`ref` for a correction link)."""
    return as_submission(
        sid,
        parse_iso(submitted_at),
        answers,
        respondent="r-" + sid,
        response_id=lambda qid: f"{sid}-{qid}",
        hidden=hidden,
    )


def bibia_cli(
    settings: Settings,
    *args: str,
    timeout: float = 120,
    fresh_interpreter: bool = False,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`bibia ARGS` in a process of its own, with these settings (and `env` on top): forked
    from a parent that imported bibia already (`tests/spawn.py`), or, for what is about the
    interpreter's start itself (what it imports), `python -m bibia.cli` as it is typed."""
    command = [sys.executable, "-m", "bibia.cli", *args]
    start = subprocess.run if fresh_interpreter else spawn.run
    return start(
        command,
        cwd=ROOT,
        env=cli_env(settings, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# -- a real browser ---------------------------------------------------------------------------
CHROMIUM = ("chromium", "chromium-browser")


def chromium() -> tuple[str, str]:
    browser = next((found for name in CHROMIUM if (found := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if not browser or not driver:
        pytest.fail(
            "the browser tests need Chromium and its driver: `python3 run.py check` installs "
            "them as root, or `sudo apt-get install chromium chromium-driver`"
        )
    return browser, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    binary, driver_path = chromium()
    options = Options()
    profile = tmp_path_factory.mktemp("chromium")
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={profile}",
        # every name but loopback resolves to nothing: a test that tried the internet fails
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    ):
        options.add_argument(argument)
    options.binary_location = binary
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def screenshot(driver: WebDriver, name: str) -> None:
    folder = os.environ.get("BIBIA_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))
