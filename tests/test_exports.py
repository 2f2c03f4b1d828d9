"""The exports: access split by construction, determinism, atomicity, round trips."""

from __future__ import annotations

import csv
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from frictionless import validate

from bibia.demo.synthetic import synthetic_form
from bibia.pipeline import run_directly, run_job
from publish.export import StagedExport, stage_exports, stale
from schemas.project import PUBLIC, RESTRICTED, export_columns
from schemas.taxonomy import Taxonomy
from tests.conftest import (
    ROOT,
    VALID_ANSWERS,
    bibia_cli,
    demo_synced,
    make_settings,
    query,
    synced,
    tally_submission,
    with_restricted_answers,
)
from warehouse.db import connect

CONTRACT_PUBLIC = [
    "projet_id",
    "coll_nom",
    "nom_projet",
    "coll_siret",
    "coll_type",
    "projet_date",
    "projet_status",
    "status_abandon",
    "partenaires",
    "usage_description",
    "theme",
    "sous_theme",
    "audience_service",
    "url_infos",
    "image_url",
    "date",
    "latitude",
    "longitude",
]
CONTRACT_RESTRICTED = [
    *CONTRACT_PUBLIC,
    "projet_contact",
    "financement",
    "budget",
    "mise_en_oeuvre",
    "herbergement",
    "nom_algorithme",
    "algorithme_description",
    "algorithme_operations",
    "type_algorithme",
    "impact_environnement",
    "donnees_source",
    "donnees_acces",
    "url_ressources",
    "lien_correction",  # 0.2.0: the correction link (see the README's changelog)
]
RESTRICTED_ONLY = set(CONTRACT_RESTRICTED) - set(CONTRACT_PUBLIC)
EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
FILES = ("bibliotheque_ia.csv", "bibliotheque_ia.parquet", "datapackage.json")


def export_bytes(export_dir: Path) -> dict[str, bytes]:
    """What readers see: every published file, site and feed included (not a staging folder
    set aside)."""
    return {
        str(p.relative_to(export_dir)): p.read_bytes()
        for access in (PUBLIC, RESTRICTED)
        for p in sorted((export_dir / access).rglob("*"))
        if p.is_file()
    }


def test_column_lists_follow_the_contract():
    assert export_columns(PUBLIC) == CONTRACT_PUBLIC
    assert export_columns(RESTRICTED) == CONTRACT_RESTRICTED


def assert_public_is_clean(export_dir: Path) -> None:
    public = export_dir / "public"
    assert sorted(p.name for p in public.iterdir()) == sorted([*FILES, "datami", "site"])
    with open(public / "bibliotheque_ia.csv", encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == CONTRACT_PUBLIC
    assert pq.read_schema(public / "bibliotheque_ia.parquet").names == CONTRACT_PUBLIC
    package = json.loads((public / "datapackage.json").read_text(encoding="utf-8"))
    for resource in package["resources"]:
        assert [f["name"] for f in resource["schema"]["fields"]] == CONTRACT_PUBLIC
    files = [p for p in public.rglob("*") if p.is_file()]
    assert len(files) > len(FILES) + 30  # the site's pages and the feed are looked at too
    for path in files:
        data = path.read_bytes()
        if path.suffix == ".parquet":  # look inside: every value, not the compressed bytes
            data = pd.read_parquet(path).to_json(force_ascii=False).encode()
        assert not EMAIL.search(data), path
        for name in RESTRICTED_ONLY:
            assert name.encode() not in data, (path, name)


def test_public_exports_carry_no_restricted_data_on_the_demo_form(settings):
    demo_synced(settings)
    assert_public_is_clean(settings.export_dir)
    restricted = pd.read_parquet(settings.export_dir / "restricted" / "bibliotheque_ia.parquet")
    assert restricted["projet_contact"].notna().sum() >= 3  # the split removed real e-mails


def test_public_exports_carry_no_restricted_data_when_every_field_is_filled(tmp_path):
    form = synthetic_form(300)
    with_restricted_answers(form, "Green Algorithms: 3 kg", "github.com/x/y")
    settings, report = synced(tmp_path, form)
    assert report.exported == 300
    restricted = pd.read_parquet(settings.export_dir / "restricted" / "bibliotheque_ia.parquet")
    assert restricted[sorted(RESTRICTED_ONLY)].notna().all().all()
    assert_public_is_clean(settings.export_dir)


def test_the_same_sync_gives_byte_identical_exports(tmp_path, emulator):
    first = make_settings(tmp_path / "a", emulator.url)
    second = make_settings(tmp_path / "b", emulator.url)
    run_job(first, "sync")
    run_job(second, "sync")
    assert export_bytes(first.export_dir) == export_bytes(second.export_dir)
    before = export_bytes(first.export_dir)
    run_job(first, "sync")  # nothing new
    run_job(first, "rebuild")
    assert export_bytes(first.export_dir) == before


def test_restricted_files_are_readable_by_their_owner_only(settings):
    demo_synced(settings)
    folder = settings.export_dir / "restricted"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for name in FILES:
        assert stat.S_IMODE((folder / name).stat().st_mode) == 0o600


@pytest.mark.parametrize(
    ("published", "changed", "whole"),
    [
        ([], ["public/a.csv", "public/site/index.html"], ["public"]),
        (
            ["public/a.csv"],
            ["public/a.csv", "public/site/p/1.html", "public/site/i.html"],
            ["public/site"],
        ),
        (
            ["public/site/p/1.html"],
            ["public/site/p/2.html", "public/site/x/3.html"],
            ["public/site/x"],
        ),
        (["public/a.csv"], ["public/a.csv"], []),
        (["public/a.csv", "restricted/b.csv"], ["restricted/site/p/1.html"], ["restricted/site"]),
    ],
)
def test_the_folders_published_whole_are_the_top_most_new_ones(tmp_path, published, changed, whole):
    for rel in published:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("published")
    staged = StagedExport(staging=tmp_path / ".staging", target=tmp_path, rows=0, changed=changed)
    assert staged.new_folders() == whole


def test_a_first_publication_gives_every_file_and_folder_the_mode_of_its_access(settings):
    demo_synced(settings)  # the folders are new: each is published whole
    public, restricted = settings.export_dir / PUBLIC, settings.export_dir / RESTRICTED
    for path in [public, *public.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o755 if path.is_dir() else 0o644), path
    for path in [restricted, *restricted.rglob("*")]:
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path
    assert not list(settings.export_dir.glob(".staging-*"))
    on_disk = {
        str(p.relative_to(settings.export_dir))
        for p in settings.export_dir.rglob("*")
        if p.is_file() and (not p.name.startswith(".") or p.name == ".nojekyll")
    }
    recorded = {path for (path,) in query(settings, "SELECT path FROM published_files")}
    assert recorded == on_disk and len(on_disk) > 100


@pytest.mark.parametrize("access", [PUBLIC, RESTRICTED])
def test_datapackage_is_a_valid_frictionless_package(settings, access):
    demo_synced(settings)
    folder = settings.export_dir / access
    report = validate(str(folder / "datapackage.json"))
    assert report.valid, report.flatten(["type", "note"])
    package = json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))
    csv_fields = {f["name"]: f for f in package["resources"][0]["schema"]["fields"]}
    assert csv_fields["theme"]["constraints"]["enum"][0] == "Transition écologique et énergétique"
    assert csv_fields["coll_nom"]["title"] == "Porteur" and csv_fields["coll_nom"]["description"]
    assert csv_fields["sous_theme"]["type"] == "list"


def test_parquet_keeps_lists_and_csv_joins_them(settings):
    demo_synced(settings)
    table = pq.read_table(settings.export_dir / "public" / "bibliotheque_ia.parquet")
    assert str(table.schema.field("audience_service").type) == "list<element: string>"
    frame = pd.read_csv(
        settings.export_dir / "public" / "bibliotheque_ia.csv", dtype=str, keep_default_na=False
    )
    parquet = table.to_pandas()
    for csv_cell, items in zip(frame["audience_service"], parquet["audience_service"], strict=True):
        assert csv_cell == ", ".join(items)


TRICKY = (
    'Ligne 1 avec "guillemets"; point-virgule, virgule\nLigne 2 🤖 émoji — tiret\r\n\tindentée\n'
) + "x" * 6_000


def test_tricky_text_round_trips_through_parquet_and_csv(tmp_path):
    form = synthetic_form(0)
    form["submissions"] = [
        tally_submission(
            "tricky1",
            {
                **VALID_ANSWERS,
                "usage_description": TRICKY,
                "nom_projet": '=HYPERLINK("http://x")',
                "partenaires": "+33 1 23 45 67 89",
            },
        ),
        tally_submission(
            "tricky2", {**VALID_ANSWERS, "nom_projet": "@Projet", "partenaires": "-Pôle TES"}
        ),
    ]
    settings, _report = synced(tmp_path, form)
    expected_text = TRICKY.replace("\r\n", "\n").strip()  # long text: CRLF -> LF, trimmed
    parquet = pd.read_parquet(settings.export_dir / "public" / "bibliotheque_ia.parquet")
    parquet = parquet.set_index("nom_projet")
    assert parquet.loc['=HYPERLINK("http://x")', "usage_description"] == expected_text
    assert parquet.loc['=HYPERLINK("http://x")', "partenaires"] == "+33 1 23 45 67 89"
    frame = pd.read_csv(
        settings.export_dir / "public" / "bibliotheque_ia.csv", dtype=str, keep_default_na=False
    ).set_index("nom_projet")
    assert set(frame.index) == {'\'=HYPERLINK("http://x")', "'@Projet"}  # neutralised
    row = frame.loc['\'=HYPERLINK("http://x")']
    assert row["usage_description"] == expected_text
    assert row["partenaires"] == "'+33 1 23 45 67 89"
    assert frame.loc["'@Projet", "partenaires"] == "'-Pôle TES"
    assert row["latitude"] == ""  # numbers are never prefixed (negative longitudes!)


def _fail_at(target: str):
    def step(name, fn, *args, **kwargs):
        if name == target:
            raise OSError(f"disk full while running {name}")
        return run_directly(name, fn, *args, **kwargs)

    return step


def _grow(emulator) -> None:
    form = emulator.forms["bibiaD"]
    emulator.add_submissions(
        "bibiaD",
        [
            tally_submission(
                "grown1",
                {**VALID_ANSWERS, "nom_projet": "Projet ajouté"},
                "2026-11-20T10:00:00.000Z",
            )
        ],
    )
    assert form.submissions[-1]["id"] == "grown1"


def assert_exports_readable(export_dir: Path, rows: int) -> None:
    for access in (PUBLIC, RESTRICTED):
        folder = export_dir / access
        assert len(pd.read_parquet(folder / "bibliotheque_ia.parquet")) == rows
        assert len(pd.read_csv(folder / "bibliotheque_ia.csv")) == rows
        json.loads((folder / "datapackage.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "target",
    ["export", "site", "publish"],
    ids=["failing-in-the-export", "failing-in-the-site", "failing-after-the-commit"],
)
def test_a_failed_run_leaves_the_previous_exports_complete(settings, emulator, target):
    first = run_job(settings, "sync")
    before = export_bytes(settings.export_dir)
    _grow(emulator)
    with pytest.raises(OSError, match="disk full"):
        run_job(settings, "sync", step=_fail_at(target))
    assert export_bytes(settings.export_dir) == before
    assert_exports_readable(settings.export_dir, first.exported)
    ((status, error),) = query(
        settings, "SELECT status, error FROM sync_runs ORDER BY started_at DESC LIMIT 1"
    )
    assert status == "failed" and "disk full" in error
    committed = query(
        settings, "SELECT count(*) FROM raw_tally_submissions WHERE submission_id = 'grown1'"
    )
    assert committed == [(1 if target == "publish" else 0,)]
    after = run_job(settings, "sync_full")  # the next run catches up
    assert after.exported == first.exported + 1
    assert_exports_readable(settings.export_dir, first.exported + 1)


KILL_BETWEEN_COMMIT_AND_RENAME = """
import os, signal, sys
sys.path.insert(0, {root!r})
from bibia.pipeline import run_job, run_directly
from tests.conftest import make_settings
from pathlib import Path

def step(name, fn, *args, **kwargs):
    if name == "publish":
        os.kill(os.getpid(), signal.SIGKILL)
    return run_directly(name, fn, *args, **kwargs)

run_job(make_settings(Path({tmp!r}), {url!r}), "sync", step=step)
"""


def test_a_run_killed_between_the_commit_and_the_rename(settings, emulator, tmp_path):
    first = run_job(settings, "sync")
    before = export_bytes(settings.export_dir)
    _grow(emulator)
    script = KILL_BETWEEN_COMMIT_AND_RENAME.format(
        root=str(ROOT), tmp=str(tmp_path), url=emulator.url
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == -9
    assert export_bytes(settings.export_dir) == before
    assert_exports_readable(settings.export_dir, first.exported)
    assert any(settings.export_dir.glob(".staging-*"))  # what the killed run left aside
    after = run_job(settings, "sync_full")
    assert not any(settings.export_dir.glob(".staging-*"))
    assert_exports_readable(settings.export_dir, after.exported)


def file_stamps(export_dir: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the exports with its modification time (ns)."""
    return {
        str(p.relative_to(export_dir)): (p.read_bytes(), p.stat().st_mtime_ns)
        for p in sorted(export_dir.rglob("*"))
        if p.is_file()
    }


def test_a_sync_that_finds_nothing_new_rewrites_nothing_and_says_so(settings):
    demo_synced(settings)
    before = file_stamps(settings.export_dir)
    done = bibia_cli(settings, "sync")
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.strip().splitlines()
    assert "rien de nouveau" in line and "les exports restent tels quels" in line
    assert file_stamps(settings.export_dir) == before
    written = query(settings, "SELECT files_written FROM sync_runs ORDER BY started_at")
    assert written == [(len(before),), (0,)]  # every file (exports, site, feed); then none


def test_only_the_files_whose_bytes_change_are_rewritten(settings, emulator):
    demo_synced(settings)
    before = file_stamps(settings.export_dir)
    # a new version of a project that changes one restricted field only (its budget)
    ((sid,),) = query(
        settings, "SELECT submission_id FROM projects WHERE nom_projet = 'Callbot encombrants'"
    )
    form = emulator.forms["bibiaD"]
    edited = json.loads(json.dumps(next(s for s in form.submissions if s["id"] == sid)))
    budget_qid = "qB6u4D"
    for response in edited["responses"]:
        if response["questionId"] == budget_qid:
            response.pop("value", None)
            response["answer"] = "Moins de 50 k€"
    emulator.add_submissions("bibiaD", [edited])  # an edit in Tally keeps the id and the date
    report = run_job(settings, "sync_full")
    assert report.updated == 1
    after = file_stamps(settings.export_dir)
    assert set(after) == set(before)
    ((projet_id,),) = query(
        settings, "SELECT projet_id FROM projects WHERE submission_id = ?", [sid]
    )
    changed = {name for name in after if after[name] != before[name]}
    assert changed == {  # the restricted files, where they are copied, and the project's page
        "restricted/bibliotheque_ia.csv",
        "restricted/bibliotheque_ia.parquet",
        "restricted/site/donnees/bibliotheque_ia.csv",
        "restricted/site/donnees/bibliotheque_ia.parquet",
        f"restricted/site/projets/{projet_id}.html",
    }
    assert report.files_written == len(changed)


def test_a_publication_undone_after_the_commit_is_repaired_by_the_next_run(settings):
    demo_synced(settings)
    before = export_bytes(settings.export_dir)
    (settings.export_dir / "public" / "bibliotheque_ia.csv").unlink()
    (settings.export_dir / "restricted" / "bibliotheque_ia.parquet").write_bytes(b"broken")
    report = run_job(settings, "sync")  # nothing new in Tally: the files are noticed
    # three: the members' site offers the Parquet file as a download, the same file (a link)
    assert report.new == 0 and report.files_written == 3
    assert export_bytes(settings.export_dir) == before


def test_sorting_in_buckets_gives_the_same_bytes_as_in_one(tmp_path):
    settings, _report = synced(tmp_path, synthetic_form(2_300))
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    con = connect(settings.db_path)
    try:
        whole = stage_exports(con, tmp_path / "one", "r1", taxonomy, bucket_rows=10_000)
        buckets = stage_exports(con, tmp_path / "many", "r2", taxonomy, bucket_rows=97)
        files = [f"{a}/{n}" for a in (PUBLIC, RESTRICTED) for n in FILES]
        for name in files:
            assert (whole.staging / name).read_bytes() == (buckets.staging / name).read_bytes()
        assert not (buckets.staging / ".sort").exists()  # the buckets are gone
    finally:
        con.close()


@pytest.mark.parametrize(
    ("path", "recorded", "present", "made"),
    [
        ("page-1.html", "m1", True, {}),  # in place, from the same inputs: kept
        ("page-1.html", "m0", True, {"1": "m1"}),  # from other inputs
        ("page-1.html", "m1", False, {"1": "m1"}),  # deleted by hand
        ("projets/p-1.html", "m1", True, {}),  # in a folder of its own
        ("projets/p-1.html", "m1", False, {"1": "m1"}),
    ],
)
def test_a_page_is_made_again_only_when_its_inputs_changed_or_it_is_gone(
    tmp_path, path, recorded, present, made
):
    con = connect(tmp_path / "bibia.duckdb")
    top = tmp_path / "exports"
    page = top / "public" / "site" / path
    page.parent.mkdir(parents=True)
    if present:
        page.write_text("<p>page</p>")
    con.execute(
        "INSERT INTO published_files VALUES (?, 'sha', 11, 0, 'r1', now()::TIMESTAMP, ?)",
        [f"public/site/{path}", recorded],
    )
    con.execute("CREATE TABLE inputs AS SELECT '1' AS key, ? AS path, 'm1' AS made_from", [path])
    assert stale(con, top, "public/site/", "inputs") == made
