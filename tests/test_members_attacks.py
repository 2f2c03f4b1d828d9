"""The members' space under attack, each attack a test: forged or replayed `state`, a wrong
`nonce`, a wrong audience, an expired id_token, `alg: none`, a userinfo unsigned or signed by
another key, a tampered cookie, `next=//elsewhere`, `..` and `%2e%2e` paths, a huge cookie.
A forging provider on loopback (tests/openid.py) signs what each test asks; the space runs on
uvicorn with the demo's published exports. (A replayed code, against the real provider:
tests/test_members_login.py.)"""

from __future__ import annotations

import html
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bibia.members.cookies import SESSION, Signer
from bibia.settings import Settings
from schemas.files import write_atomically
from tests.openid import (
    Forger,
    forging_provider,
    login,
    members_settings,
    published_demo,
    served,
)
from tests.web import free_port

MEMBER = {
    "email": "agent@membre.fr",
    "given_name": "Ada",
    "usual_name": "Lovelace",
    "uid": "42",
    "siret": "21990000100017",
    "idp_id": "idp",
}
MEMBERSHIP = """contact: contact@interconnectes.example
changes:
- {change_id: m1, action: add, target: '219900001', by: test, at: '2026-01-01T00:00:00Z',
   reason: membre}
"""


@pytest.fixture(scope="module")
def published(tmp_path_factory: pytest.TempPathFactory, demo_form_data: dict[str, Any]) -> Settings:
    folder = tmp_path_factory.mktemp("members")
    settings = published_demo(folder, demo_form_data, members_path=folder / "members.yaml")
    write_atomically(settings.members_path, MEMBERSHIP)
    return settings


@pytest.fixture
def forger() -> Iterator[Forger]:
    with forging_provider(dict(MEMBER)) as forger:
        yield forger


@pytest.fixture
def space(published: Settings, forger: Forger, tmp_path: Path) -> Iterator[str]:
    settings = members_settings(
        published,
        f"{forger.issuer}/.well-known/openid-configuration",
        free_port(),
        members_journal_path=tmp_path / "journal.sqlite",
    )
    with served(settings) as base:
        yield base


def refused(answer: httpx.Response, status: int, words: str) -> None:
    """A French page of the members' space, with this status, saying this: no traceback."""
    assert answer.status_code == status, answer.text[:300]
    assert '<html lang="fr">' in answer.text
    assert words in html.unescape(answer.text)
    assert "Traceback" not in answer.text
    assert "membres-barre" not in answer.text  # nothing of the edition


def test_the_happy_path_through_the_forger_serves_the_page(space):
    with httpx.Client() as client:
        answer = login(client, space)
        assert answer.status_code == 200
        assert answer.url.path == "/site/"
        assert "membres-barre" in answer.text


def test_a_forged_state_is_refused(space):
    with httpx.Client() as client:
        begun = client.get(f"{space}/connexion", params={"next": "/site/"})
        at_provider = client.get(begun.headers["location"])
        back = httpx.URL(at_provider.headers["location"])
        forged = back.copy_set_param("state", "x" * 43)
        refused(client.get(forged), 400, "pas été commencée ici")
        assert SESSION not in client.cookies


def test_a_replayed_state_is_refused_even_with_its_cookie(space):
    with httpx.Client() as client:
        begun = client.get(f"{space}/connexion", params={"next": "/site/"})
        login_cookie = begun.cookies.get("login")
        back = client.get(client.get(begun.headers["location"]).headers["location"])
        assert back.status_code == 303 and back.headers["location"] == "/site/"
        client.cookies.clear()
        client.cookies.set("login", login_cookie, path="/connexion")
        replayed = client.get(back.request.url)
        refused(replayed, 400, "déjà servi")
        assert SESSION not in replayed.cookies


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"nonce": "n" * 43}, "nonce différent"),
        ({"aud": "un-autre-service"}, "destiné à un autre service"),
        ({"exp": int(time.time()) - 3_600, "iat": int(time.time()) - 7_200}, "jeton expiré"),
        ({"iss": "http://127.0.0.1:1"}, "émis par un autre fournisseur"),
        ({"acr": "eidas0"}, "niveau d'authentification insuffisant"),
    ],
    ids=["wrong nonce", "wrong audience", "expired", "another issuer", "weaker acr"],
)
def test_an_id_token_that_does_not_hold_is_refused(space, forger, change, words):
    forger.id_token = change
    with httpx.Client() as client:
        refused(login(client, space), 403, words)
        assert SESSION not in client.cookies


def test_an_unsigned_id_token_alg_none_is_refused(space, forger):
    forger.id_alg = "none"
    with httpx.Client() as client:
        refused(login(client, space), 403, "signature refusée")


def test_an_id_token_signed_by_a_key_the_provider_does_not_publish_is_refused(space, forger):
    forger.id_alg = "other-key"
    with httpx.Client() as client:
        refused(login(client, space), 403, "signature refusée")


@pytest.mark.parametrize(
    ("kind", "words"),
    [("json", "pas un jeton signé"), ("other-key", "signature refusée")],
    ids=["userinfo as plain JSON", "userinfo re-signed by another key"],
)
def test_a_userinfo_that_is_not_signed_by_the_provider_is_refused(space, forger, kind, words):
    forger.userinfo_as = kind
    with httpx.Client() as client:
        refused(login(client, space), 403, words)


def test_a_userinfo_about_someone_else_is_refused(space, forger):
    forger.userinfo = {"sub": "sub-2"}
    with httpx.Client() as client:
        refused(login(client, space), 403, "pas la même personne")


def test_a_tampered_session_cookie_is_no_session(space):
    with httpx.Client() as client:
        assert login(client, space).status_code == 200
        cookie = client.cookies.get(SESSION)
        body, mac = cookie.split(".")
        payload = Signer("t" * 40).read(SESSION, cookie)
        assert payload is not None and payload["email"] == MEMBER["email"]
        for tampered in (
            f"{body[:-2]}AA.{mac}",  # the values changed
            f"{body}.{mac[:-2]}AA",  # the signature changed
            Signer("another secret of forty characters......").sign(SESSION, payload, 3_600),
            Signer("t" * 40).sign("login", payload, 3_600),  # a login cookie as a session
            Signer("t" * 40).sign(SESSION, payload, -10),  # ended
        ):
            client.cookies.clear()
            client.cookies.set(SESSION, tampered)
            answer = client.get(f"{space}/site/")
            assert answer.status_code == 303, tampered
            assert answer.headers["location"].startswith("/connexion?next=")


@pytest.mark.parametrize(
    "asked",
    ["//elsewhere.example/x", "https://elsewhere.example/", "/\\elsewhere.example", "javascript:x"],
)
def test_a_return_address_elsewhere_comes_back_home(space, asked):
    with httpx.Client() as client:
        begun = client.get(f"{space}/connexion", params={"next": asked})
        back = client.get(client.get(begun.headers["location"]).headers["location"])
        assert back.status_code == 303
        assert back.headers["location"] == "/"


@pytest.mark.parametrize(
    "path",
    [
        "/../restricted/site/index.html",
        "/site/../../warehouse/bibia.duckdb",
        "/site/%2e%2e/%2e%2e/warehouse/bibia.duckdb",
        "/site/%2E%2E%2F%2E%2E%2Fwarehouse%2Fbibia.duckdb",
        "/site/..%2f..%2fwarehouse/bibia.duckdb",
        "/%2e%2e/%2e%2e/curation/decisions.yaml",
        "/site/%00index.html",
        "/site/..\\..\\warehouse\\bibia.duckdb",
    ],
)
def test_no_path_outside_the_edition_can_be_read(space, path):
    with httpx.Client() as client:
        assert login(client, space).status_code == 200
        raw = httpx.URL(space).copy_with(raw_path=path.encode())
        answer = client.get(raw)
        assert answer.status_code in (400, 404), (path, answer.status_code)
        assert b"DUCK" not in answer.content and b"decisions" not in answer.content


def test_a_link_leading_out_of_the_edition_is_not_followed(space, published):
    outside = published.db_path.parent / "secret.txt"
    outside.write_text("secret", encoding="utf-8")
    link = published.export_dir / "restricted" / "site" / "lien.txt"
    link.symlink_to(outside)
    try:
        with httpx.Client() as client:
            assert login(client, space).status_code == 200
            answer = client.get(f"{space}/site/lien.txt")
            assert answer.status_code == 404
            assert "secret" not in answer.text
    finally:
        link.unlink()


def test_a_huge_cookie_is_refused_and_the_server_serves_on(space):
    port = int(httpx.URL(space).port or 0)
    with httpx.Client() as client:
        client.cookies.set(SESSION, "a" * 6_000)
        big = client.get(f"{space}/site/")
        assert big.status_code == 303  # too long to be ours: no session
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /site/ HTTP/1.1\r\nHost: x\r\nCookie: s=" + b"a" * 100_000 + b"\r\n\r\n")
        first = sock.recv(100)
    assert first.startswith(b"HTTP/1.1 431")  # refused at the door
    with httpx.Client() as client:
        assert login(client, space).status_code == 200  # and it serves on


def test_every_answer_carries_the_protective_headers(space):
    with httpx.Client() as client:
        answers = [
            client.get(f"{space}/site/"),  # a redirect to the login
            client.get(f"{space}/deconnexion/retour", params={"state": "x"}),  # a refusal
            login(client, space),  # a page
            client.get(f"{space}/nulle-part.html"),  # not found
            client.get(f"{space}/bibliotheque_ia.csv"),  # a download
        ]
    for answer in answers:
        headers = answer.headers
        assert "default-src 'self'" in headers["content-security-policy"], answer.url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert "noindex" in headers["x-robots-tag"]
        assert "no-store" in headers["cache-control"]


def test_the_session_cookie_is_httponly_lax_bounded_and_renewed_at_each_login(space):
    with httpx.Client() as client:
        first = client.get(f"{space}/connexion", params={"next": "/site/"})
        first = client.get(client.get(first.headers["location"]).headers["location"])
        header = first.headers["set-cookie"]
        session_header = next(
            h for h in first.headers.get_list("set-cookie") if h.startswith(SESSION)
        )
        assert "HttpOnly" in session_header and "SameSite=lax" in session_header
        assert "Max-Age=43200" in session_header  # 12 hours
        assert "Secure" not in session_header  # on loopback only
        assert header
        one = client.cookies.get(SESSION)
        login(client, space)
        two = client.cookies.get(SESSION)
    signer = Signer("t" * 40)
    assert signer.read(SESSION, one)["sid"] != signer.read(SESSION, two)["sid"]
