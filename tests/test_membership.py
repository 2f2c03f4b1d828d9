"""Who is let in, as data (tables of literal examples, one behaviour each), the signed cookies,
the return addresses and paths the members' space accepts, and the journal's retention."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bibia.members.app import _file_of, local_path
from bibia.members.cookies import LOGIN, SESSION, Signer
from bibia.members.journal import Journal
from schemas.errors import ConfigError
from transforms.membership import Membership

FILE = """contact: contact@interconnectes.example
changes:
- {change_id: a1, action: add, target: '219900001', name: Commune A, by: c, at: '2026-01-01T00:00:00Z', reason: r}
- {change_id: a2, action: add, target: '21880000100011', by: c, at: '2026-01-01T00:00:00Z', reason: r}
- {change_id: a3, action: add, target: '217700001', by: c, at: '2026-01-01T00:00:00Z', reason: r}
- {change_id: a4, action: remove, target: '217700001', by: c, at: '2026-02-01T00:00:00Z', reason: fin}
- {change_id: p1, action: grant, target: elue@ailleurs.fr, by: c, at: '2026-01-01T00:00:00Z', reason: r}
- {change_id: p2, action: grant, target: cur@asso.fr, curator: true, by: c, at: '2026-01-01T00:00:00Z', reason: r}
- {change_id: p3, action: revoke, target: parti@commune-a.fr, by: c, at: '2026-03-04T00:00:00Z', reason: départ}
- {change_id: p4, action: revoke, target: revenu@commune-a.fr, by: c, at: '2026-01-01T00:00:00Z', reason: r}
- {change_id: p5, action: grant, target: revenu@commune-a.fr, by: c, at: '2026-02-01T00:00:00Z', reason: r}
"""  # noqa: E501 - one change a line, as curators read them


@pytest.fixture
def membership(tmp_path: Path) -> Membership:
    path = tmp_path / "members.yaml"
    path.write_text(FILE, encoding="utf-8")
    return Membership.load(path)


@pytest.mark.parametrize(
    ("email", "siret", "allowed", "curator", "why"),
    [
        ("x@commune-a.fr", "21990000100017", True, False, "membre au titre de Commune A (SIREN"),
        ("x@commune-a.fr", "21990000199999", True, False, "SIREN 219900001"),  # any establishment
        ("x@b.fr", "21880000100011", True, False, "SIRET 21880000100011"),  # this one only
        ("x@b.fr", "21880000200019", False, False, "non membre"),  # another of the same SIREN
        ("x@c.fr", "21770000100015", False, False, "non membre"),  # removed
        ("elue@ailleurs.fr", "11111111111111", True, False, "accès accordé"),
        ("ELUE@Ailleurs.fr", None, True, False, "accès accordé"),  # the e-mail in any case
        ("cur@asso.fr", None, True, True, "curateur"),
        ("parti@commune-a.fr", "21990000100017", False, False, "accès retiré le 04/03/2026"),
        ("revenu@commune-a.fr", "21990000100017", True, False, "accès accordé"),  # granted again
        ("x@d.fr", None, False, False, "non membre"),  # no SIRET given
        ("x@d.fr", "2199000010001", False, False, "non membre"),  # 13 digits
        ("x@d.fr", "219900001", False, False, "non membre"),  # a SIREN is no SIRET
    ],
)
def test_who_is_let_in(membership, email, siret, allowed, curator, why):
    access = membership.access(email, siret)
    assert (access.allowed, access.curator) == (allowed, curator)
    assert why in access.why


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("changes: [{change_id: a, action: adopt, target: x, by: c, at: x, reason: r}]", "action"),
        ("changes: [{change_id: a, action: add, target: '123', by: c, at: x, reason: r}]", "SIREN"),
        ("changes: [{change_id: a, action: grant, target: x, by: c, at: x, reason: r}]", "adresse"),
        ("changes: [{change_id: a, action: add, target: '219900001', by: c, reason: r}]", "`at`"),
        ("changes: [{action: add, target: '219900001', by: c, at: x, reason: r}]", "change_id"),
        ("changes: {a: 1}", "list"),
        ("contact: [1]", "contact"),
        ("a: &x 1\nb: *x", "ancres"),
    ],
)
def test_a_membership_file_that_cannot_hold_is_one_line(tmp_path, text, words):
    path = tmp_path / "members.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=words):
        Membership.load(path)


def test_the_file_written_back_reads_the_same(membership, tmp_path):
    path = tmp_path / "again.yaml"
    path.write_text(membership.text(), encoding="utf-8")
    assert Membership.load(path) == membership
    assert membership.text().startswith("# Qui peut lire")


@pytest.mark.parametrize(
    ("asked", "kept"),
    [
        ("/site/projets/p.html", "/site/projets/p.html"),
        ("/site/?page=2", "/site/?page=2"),
        ("//elsewhere.example", "/"),
        ("/\\elsewhere.example", "/"),
        ("https://elsewhere.example/", "/"),
        ("javascript:alert(1)", "/"),
        ("/site/\r\nSet-Cookie: x", "/"),
        ("", "/"),
        (None, "/"),
    ],
)
def test_a_return_address_is_a_local_path(asked, kept):
    assert local_path(asked) == kept


def test_paths_are_read_inside_the_edition_only(tmp_path):
    root = tmp_path / "restricted"
    (root / "site" / "projets").mkdir(parents=True)
    (root / "site" / "index.html").write_text("i", encoding="utf-8")
    (root / "site" / "projets" / "p.html").write_text("p", encoding="utf-8")
    (root / "site" / ".cache").write_text("c", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("o", encoding="utf-8")
    (root / "site" / "out.txt").symlink_to(tmp_path / "outside.txt")
    table = {
        "site/": "site/index.html",
        "site": "site/index.html",
        "site/projets/p.html": "site/projets/p.html",
        "site//projets///p.html": "site/projets/p.html",
        "site/../site/index.html": None,
        "../outside.txt": None,
        "site/out.txt": None,  # a link leading out
        "site/.cache": None,  # hidden
        "site/nothing.html": None,
        "site/projets": None,  # a folder without index.html
    }
    for path, expected in table.items():
        found, relative = _file_of(root, path)
        assert (relative if found else None) == expected, path


def test_a_signed_value_is_read_back_only_whole_of_its_kind_and_in_time():
    signer = Signer("s" * 40)
    value = signer.sign(SESSION, {"email": "a@b.fr"}, 60)
    assert signer.read(SESSION, value)["email"] == "a@b.fr"
    assert signer.read(LOGIN, value) is None
    assert Signer("t" * 40).read(SESSION, value) is None
    assert signer.read(SESSION, value + "A") is None
    assert signer.read(SESSION, signer.sign(SESSION, {"email": "a@b.fr"}, -1)) is None
    assert signer.read(SESSION, signer.sign(SESSION, {"x": "y" * 5_000}, 60)) is None  # too long
    assert signer.read(SESSION, None) is None and signer.read(SESSION, "a.b.c") is None


def test_the_journal_forgets_what_is_older_than_its_days(tmp_path):
    path = tmp_path / "journal.sqlite"
    journal = Journal(path, keep_days=90)
    journal.read("a@b.fr", "21990000100017", "site/index.html", 200)
    journal.request("c@d.fr", "C", "D", "21880000200019")
    journal.close()
    with sqlite3.connect(path) as con:  # as if written 91 days ago
        con.execute("UPDATE reads SET read_at = '2000-01-01T00:00:00Z'")
        con.execute("UPDATE requests SET last_at = '2000-01-01T00:00:00Z'")
    reopened = Journal(path, keep_days=90)
    assert reopened.reads() == [] and reopened.requests() == []
    reopened.read("a@b.fr", None, "site/index.html", 200)
    assert [r.path for r in reopened.reads()] == ["site/index.html"]
    reopened.close()
    assert path.stat().st_mode & 0o077 == 0  # owner-only
