"""The warehouse: migrations, DDL against the pandera contracts, history, analyst views."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow
import pytest

from bibia.pipeline import run_job
from schemas.errors import BibiaError
from schemas.project import export_columns
from schemas.records import RawRow
from schemas.tables import TABLES, duckdb_type
from tests.conftest import ROOT, bibia_cli, demo_synced, query
from warehouse import db, raw
from warehouse.migrate import MIGRATIONS_DIR, migrate

SICOVAL = "Détection des fuites d'eau par IA"


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "w.duckdb"))
    migrate(connection)
    yield connection
    connection.close()


@pytest.mark.parametrize("table", list(TABLES))
def test_table_columns_match_their_pandera_contract(con, table):
    model = TABLES[table].to_schema()
    expected = [
        (name, duckdb_type(col.metadata["kind"]), "NO" if col.metadata["required"] else "YES")
        for name, col in model.columns.items()
    ]
    actual = con.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    assert actual == expected


@pytest.mark.parametrize(
    ("view", "access"), [("public_projects", "public"), ("restricted_projects", "restricted")]
)
def test_export_views_have_exactly_the_export_columns(con, view, access):
    actual = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
            "ORDER BY ordinal_position",
            [view],
        ).fetchall()
    ]
    assert actual == export_columns(access)


def test_migrations_are_recorded_and_applied_once(con):
    names = [
        r[0] for r in con.execute("SELECT name FROM schema_migrations ORDER BY version").fetchall()
    ]
    assert names == sorted(p.name for p in MIGRATIONS_DIR.glob("*.sql"))
    assert migrate(con) == []


def test_an_edited_migration_is_refused(con, tmp_path: Path):
    edited = tmp_path / "migrations"
    edited.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (edited / path.name).write_text(path.read_text() + "\n-- edited\n")
    with pytest.raises(BibiaError, match="modifiée après avoir été appliquée"):
        migrate(con, edited)


def test_a_new_migration_is_applied_on_an_existing_warehouse(con, tmp_path: Path):
    more = tmp_path / "migrations"
    more.mkdir()
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (more / path.name).write_text(path.read_text())
    (more / "999_note.sql").write_text("CREATE TABLE curator_notes (note VARCHAR);")
    assert migrate(con, more) == ["999_note.sql"]
    assert con.execute("SELECT count(*) FROM curator_notes").fetchall() == [(0,)]


def test_a_resubmitted_project_is_two_versions_and_one_project(settings):
    demo_synced(settings)
    versions = query(
        settings,
        "SELECT projet_id, projet_status, submitted_at FROM "
        "project_versions WHERE nom_projet = ? ORDER BY submitted_at",
        [SICOVAL],
    )
    assert len(versions) == 2 and versions[0][0] == versions[1][0]
    assert query(
        settings, "SELECT projet_status FROM projects WHERE nom_projet = ?", [SICOVAL]
    ) == [("En déploiement",)]  # the latest version's value


def test_projet_ids_are_stable_across_runs_and_rebuilds(settings):
    demo_synced(settings)
    first = query(settings, "SELECT submission_id, projet_id FROM project_versions ORDER BY 1")
    run_job(settings, "sync_full")
    run_job(settings, "rebuild")
    assert (
        query(settings, "SELECT submission_id, projet_id FROM project_versions ORDER BY 1") == first
    )


def test_the_same_project_sent_twice_is_one_project(settings):
    demo_synced(settings)
    rows = query(
        settings,
        "SELECT count(*), count(DISTINCT projet_id) FROM project_versions "
        "WHERE coll_nom = 'Rennes Métropole' AND nom_projet LIKE 'Pilotage%'",
    )
    assert rows == [(2, 1)]


def test_an_edited_submission_replaces_its_version(settings, emulator):
    demo_synced(settings)
    form = emulator.forms["bibiaD"]
    edited = next(s for s in form.submissions if s["isCompleted"])
    sid = edited["id"]
    for response in edited["responses"]:
        if response["questionId"] == "qB3m9Z":  # the project's name
            response["answer" if "answer" in response else "value"] = "Nouveau nom"
    emulator.add_submissions("bibiaD", [edited])
    run_job(settings, "sync_full")
    assert query(
        settings, "SELECT nom_projet FROM project_versions WHERE submission_id = ?", [sid]
    ) == [("Nouveau nom",)]


def test_analyst_views_count_every_project(settings):
    demo_synced(settings)
    ((projects,),) = query(settings, "SELECT count(*) FROM projects")
    for view in (
        "stats_by_theme",
        "stats_by_maturity",
        "stats_by_coll_groupe",
        "stats_by_coll_type",
        "stats_by_start_year",
    ):
        assert query(settings, f"SELECT sum(projects) FROM {view}") == [(projects,)], view
    themes = dict(query(settings, "SELECT theme, projects FROM stats_by_theme"))
    assert len(themes) == 6 and themes["Mobilités"] >= 3
    groups = dict(query(settings, "SELECT coll_groupe, projects FROM stats_by_coll_groupe"))
    assert set(groups) <= {"Commune", "EPCI", "Département", "Région", "Syndicat", "Opérateur"}
    subs = query(
        settings,
        "SELECT theme, sous_theme FROM stats_by_sous_theme WHERE sous_theme = 'Gestion de l''eau'",
    )
    assert subs == [("Transition écologique et énergétique", "Gestion de l'eau")]


def test_the_readmes_example_queries_run(settings):
    """Each query of the README answers rows on the demo with one curator's correction."""
    demo_synced(settings)
    sid = query(settings, "SELECT submission_id FROM projects ORDER BY 1 LIMIT 1")[0][0]
    done = bibia_cli(settings, "curate", "correct", sid, "nom_projet", "Autre nom", "--reason", "x")
    assert done.returncode == 0, done.stderr
    run_job(settings, "sync")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split("## For analysts", 1)[1].split("\n## ", 1)[0]
    queries = re.findall(r"```sql\n(.*?)```", block, flags=re.S)
    assert len(queries) >= 4
    con = duckdb.connect(str(settings.db_path), read_only=True)
    try:
        for sql in queries:
            for statement in filter(str.strip, sql.split(";")):
                assert con.execute(statement).fetchall(), statement  # the demo answers each
    finally:
        con.close()


def test_records_that_cross_layers_have_their_tables_columns():
    from dataclasses import fields

    from schemas.records import Authority, Issue
    from schemas.tables import columns_of

    assert [f.name for f in fields(Authority)] == columns_of("authorities")
    assert ["run_id", *Issue.__annotations__] == columns_of("validation_issues")


@pytest.mark.parametrize("table", list(TABLES))
def test_each_columns_annotation_says_what_its_kind_says(table):
    """The type a contract annotates and the kind it names agree (kinds: schemas/kinds.py)."""
    from schemas.kinds import KINDS

    expected = {
        "float64": "float64",
        "Int64": "int64",
        "boolean": "bool",
        "datetime64[us]": "datetime64[ns]",
    }
    for name, col in TABLES[table].to_schema().columns.items():
        of = KINDS[col.metadata["kind"]]
        annotated = str(col.dtype)
        if of.pandas == "str":
            assert annotated in {"str", "string[pyarrow]"}, (name, annotated)
        elif of.pandas == "object":
            assert annotated == "object" and of.csv == "list", (name, annotated)
        else:
            assert annotated == expected[of.pandas], (name, annotated)


@pytest.mark.parametrize("part_keys", [1_000, 7, 1], ids=["one part", "some parts", "a key each"])
def test_a_join_in_parts_finds_what_it_finds_in_one_piece(con, monkeypatch, part_keys):
    monkeypatch.setattr(db, "PART_KEYS", part_keys)
    con.execute("CREATE TABLE kept AS SELECT 'p' || range AS path FROM range(40)")
    incoming = pyarrow.table({"path": [f"p{n}" for n in range(0, 60, 3)]})
    found = db.in_parts(
        con,
        "SELECT path FROM kept WHERE hash(path) % {k} = {b} AND path NOT IN "
        "(SELECT path FROM incoming WHERE hash(path) % {k} = {b})",
        40,
        rows=incoming,
    )
    assert sorted(path for (path,) in found) == sorted(f"p{n}" for n in range(40) if n % 3 != 0)


def _landing_row(sid: str, content: str) -> RawRow:
    payload = f'{{"id":"{sid}","x":"{content}"}}'
    return RawRow(
        sid,
        datetime(2025, 3, 1, 9, 0),
        payload,
        hashlib.sha256(payload.encode()).hexdigest(),
    )


def _stored(con: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return con.execute(
        "SELECT submission_id, content_hash, deleted_at IS NULL, polled_at IS NULL "
        "FROM raw_tally_submissions ORDER BY submission_id"
    ).fetchall()


@pytest.mark.parametrize(
    ("case", "path", "batch", "new", "changed"),
    [
        ("the same content again", raw.API, [("same", "a")], [], []),
        ("an edit", raw.API, [("edited", "b2")], [], ["edited"]),
        ("one marked deleted comes back", raw.API, [("deleted", "c")], [], ["deleted"]),
        ("polling meets what the webhook brought", raw.API, [("hooked", "d")], [], []),
        ("a new one, twice in the batch", raw.API, [("new", "e"), ("new", "e")], ["new"], []),
        ("the webhook never rewrites", raw.WEBHOOK, [("edited", "b3"), ("new", "e")], ["new"], []),
    ],
)
def test_a_walk_that_reads_only_its_batches_lands_them_as_one_that_read_every_submission(
    tmp_path, case, path, batch, new, changed
):
    """An incremental sync reads what is stored of the submissions each batch brings, not the
    form's every submission (50,000 rows at each run): the same decisions either way."""
    outcomes = []
    for whole in (True, False):
        con = duckdb.connect(str(tmp_path / f"{whole}.duckdb"))
        migrate(con)
        now = datetime(2025, 3, 2)
        before = raw.Known(con, "form")
        stored = [("same", "a"), ("edited", "b"), ("deleted", "c"), ("other", "z")]
        raw.land_submissions(con, "form", [_landing_row(*r) for r in stored], "r1", now, before)
        raw.land_submissions(
            con, "form", [_landing_row("hooked", "d")], "r1", now, before, raw.WEBHOOK
        )
        con.execute(
            "UPDATE raw_tally_submissions SET deleted_at = ? WHERE submission_id = 'deleted'", [now]
        )
        known = raw.Known(con, "form", whole=whole)
        rows = [_landing_row(*r) for r in batch]
        landed = raw.land_submissions(con, "form", rows, "r2", now, known, path)
        outcomes.append((landed.new_ids, landed.changed_ids, known.seen, _stored(con)))
        if not whole:  # what it read: the batch's submissions, not the form's five
            assert set(known.values) == {sid for sid, _ in batch}, case
        con.close()
    assert outcomes[0] == outcomes[1], case
    assert (outcomes[1][0], outcomes[1][1]) == (new, changed), case
