"""Delivery where people read the register, against real parts on loopback: bare git
repositories (`file://`, and served over smart HTTP by git's own `http-backend`, a token
required: bibia/emulators/githost.py), a second clone that commits in between, a pre-receive
hook that refuses, a server that is down; data.gouv.fr as an emulator written from udata's API.
A delivery that fails never fails the run: the target waits, with its reason, for the next."""

from __future__ import annotations

import base64
import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from bibia.emulators.datagouv import DataGouvEmulator, PortalFault
from bibia.emulators.githost import GitHost
from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.pipeline import run_job
from bibia.settings import Settings
from schemas.project import RESTRICTED
from tests.conftest import (
    DEMO_PUBLISHED,
    VALID_ANSWERS,
    bibia_cli,
    make_settings,
    query,
    start_emulator,
    tally_submission,
    with_restricted_answers,
)

TOKEN = "ghp_bibiaTestToken0123456789abcdefXYZ"
FEED_FILES = (
    "csv/processed_data.csv",
    "json/interconnectes_IA-schema.json",
    "json/interconnectes_IA-fields-custom-props.json",
    "json/interconnectes_IA-map_settings.json",
)


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout


def bare(path: Path, branch: str = "main") -> Path:
    git("init", "-q", "--bare", f"--initial-branch={branch}", str(path))
    return path


def current_site(path: Path) -> Path:
    """A bare repository standing for the current site's: files of its own, a `csv/` too."""
    bare(path)
    work = path.with_suffix(".work")
    git("clone", "-q", str(path), str(work))
    (work / "README.md").write_text("# Le site actuel\n", encoding="utf-8")
    (work / "csv").mkdir()
    (work / "csv" / "autre.csv").write_text("a;b\n1;2\n", encoding="utf-8")
    git("add", ".", cwd=work)
    git("-c", "user.name=A", "-c", "user.email=a@a.fr", "commit", "-qm", "avant", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return path


def commits(repo: Path, branch: str) -> list[str]:
    return git("-C", str(repo), "log", "--format=%H %s", branch).splitlines()


def tree(repo: Path, branch: str) -> set[str]:
    return set(git("-C", str(repo), "ls-tree", "-r", "--name-only", branch).splitlines())


def blob(repo: Path, branch: str, path: str) -> str:
    return git("-C", str(repo), "show", f"{branch}:{path}")


@pytest.fixture
def form(demo_form_data: dict[str, Any]) -> EmulatedForm:
    return EmulatedForm.from_json(copy.deepcopy(demo_form_data))


@pytest.fixture
def tally(form: EmulatedForm) -> Any:
    server = start_emulator(form)
    yield server
    server.stop()


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path]:
    return bare(tmp_path / "site.git", "gh-pages"), current_site(tmp_path / "feed.git")


def delivering(
    tmp_path: Path, tally: TallyEmulator, repos: tuple[Path, Path], **more: Any
) -> Settings:
    site, feed = repos
    return make_settings(
        tmp_path,
        tally.url,
        publish_site_repo=site.as_uri(),
        publish_feed_repo=feed.as_uri(),
        publish_backoff_seconds=0.01,
        **more,
    )


# -- the checks -----------------------------------------------------------------------
def test_a_sync_delivers_the_site_and_the_feed_and_a_second_one_adds_no_commit(
    tmp_path, tally, repos
):
    site, feed = repos
    settings = delivering(tmp_path, tally, repos)
    before = {p: blob(feed, "main", p) for p in ("README.md", "csv/autre.csv")}
    report = run_job(settings, "sync")
    assert report.status == "succeeded"
    files = tree(site, "gh-pages")
    assert {"index.html", ".nojekyll", "404.html", "carte.html"} <= files
    pages = {f for f in files if f.startswith("projets/")}
    assert len(pages) == DEMO_PUBLISHED
    assert not any("restricted" in f or f.endswith("quarantine.csv") for f in files)
    (commit,) = commits(site, "gh-pages")
    assert f"{DEMO_PUBLISHED} projets ajoutés" in commit and report.run_id in commit
    assert set(FEED_FILES) <= tree(feed, "main")
    assert {p: blob(feed, "main", p) for p in before} == before  # its own files untouched
    assert tree(feed, "main") == {*FEED_FILES, *before}
    assert len(commits(feed, "main")) == 2
    published = (settings.export_dir / "public" / "datami" / FEED_FILES[0]).read_text("utf-8")
    assert blob(feed, "main", FEED_FILES[0]) == published
    again = run_job(settings, "sync")
    assert again.status == "succeeded"
    assert len(commits(site, "gh-pages")) == 1 and len(commits(feed, "main")) == 2
    assert "Page introuvable" in blob(site, "gh-pages", "404.html")


def test_a_withdrawal_adds_one_commit_removing_its_page_and_its_feed_line(tmp_path, tally, repos):
    site, feed = repos
    settings = delivering(tmp_path, tally, repos)
    run_job(settings, "sync")
    public = settings.export_dir / "public" / "bibliotheque_ia.parquet"
    row = pq.read_table(public).to_pylist()[0]
    done = bibia_cli(settings, "curate", "withdraw", row["projet_id"], "--reason", "doublon")
    assert done.returncode == 0, done.stderr
    assert run_job(settings, "sync").status == "succeeded"
    site_log, feed_log = commits(site, "gh-pages"), commits(feed, "main")
    assert len(site_log) == 2 and len(feed_log) == 3
    assert "1 projet retiré" in site_log[0]
    assert f"projets/{row['projet_id']}.html" not in tree(site, "gh-pages")
    changed = git("-C", str(feed), "diff", "--name-only", "main~1", "main").split()
    assert "csv/processed_data.csv" in changed and "README.md" not in changed
    assert row["nom_projet"] not in blob(feed, "main", "csv/processed_data.csv")
    assert row["nom_projet"] in blob(feed, "main~1", "csv/processed_data.csv")


def test_nothing_restricted_ever_reaches_a_repository(tmp_path, demo_form_data, repos):
    data = with_restricted_answers(
        copy.deepcopy(demo_form_data), "Impact-réservé-ZQ81", "https://réservé.example/ZQ82"
    )
    server = start_emulator(EmulatedForm.from_json(data))
    try:
        settings = delivering(tmp_path, server, repos)
        run_job(settings, "sync")
    finally:
        server.stop()
    restricted = pq.read_table(settings.export_dir / RESTRICTED / "bibliotheque_ia.parquet")
    planted = {"Impact-réservé-ZQ81", "https://réservé.example/ZQ82"}
    planted |= {r["projet_contact"] for r in restricted.to_pylist() if r["projet_contact"]}
    planted |= set(re.findall(r"[\w.+-]+@[\w-]+\.[\w.]+", quarantine_text(settings)))
    assert len(planted) > 5
    for repo in repos:
        history = everything_in(repo)
        assert [value for value in planted if value in history] == []


def quarantine_text(settings: Settings) -> str:
    return (settings.export_dir / RESTRICTED / "quarantine.csv").read_text(encoding="utf-8")


def everything_in(repo: Path) -> str:
    """Every object of the repository's whole history, as text."""
    listed = git("-C", str(repo), "rev-list", "--objects", "--all").splitlines()
    objects = [line.split(" ", 1)[0] for line in listed]
    found = [
        subprocess.run(
            ["git", "-C", str(repo), "cat-file", "-p", o], capture_output=True, check=True
        ).stdout.decode("utf-8", "replace")
        for o in objects
    ]
    assert len(found) > 10  # commits, trees and files: something was read
    return "\n".join(found)


# -- what a push meets ------------------------------------------------------------------------
@pytest.fixture
def host(tmp_path: Path) -> Any:
    root = tmp_path / "host"
    root.mkdir()
    with GitHost(root, TOKEN) as served:
        served.bare("site", "gh-pages")
        yield served


def over_http(tmp_path: Path, tally: TallyEmulator, host: GitHost, **more: Any) -> Settings:
    return make_settings(
        tmp_path,
        tally.url,
        publish_site_repo=f"{host.url}/site.git",
        git_token=TOKEN,
        publish_backoff_seconds=0.01,
        **more,
    )


def behind(settings: Settings, target: str = "site") -> tuple[bool, str | None]:
    (row,) = query(settings, "SELECT behind, reason FROM deliveries WHERE target = ?", [target])
    return row[0], row[1]


def test_over_https_with_a_token_the_site_is_pushed(tmp_path, tally, host):
    settings = over_http(tmp_path, tally, host)
    report = run_job(settings, "sync")
    assert report.deliveries[0].startswith("site : commit ")
    assert "index.html" in tree(host.root / "site.git", "gh-pages")
    assert behind(settings) == (False, None)


def test_refused_credentials_leave_the_site_behind_then_the_next_run_delivers(
    tmp_path, tally, host
):
    settings = over_http(tmp_path, tally, host).with_(git_token="not-the-token")
    report = run_job(settings, "sync")
    assert report.status == "succeeded"  # the run itself went through
    late, reason = behind(settings)
    assert late and "Authentication failed" in (reason or "")
    assert host.refused >= 1 and host.pushes == 0
    status = bibia_cli(settings, "status").stdout
    assert "EN RETARD" in status and "la prochaine exécution réessaie" in status
    fixed = settings.with_(git_token=TOKEN)
    again = run_job(fixed, "sync")  # nothing new, but the site is behind: delivered now
    assert again.deliveries[0].startswith("site : commit ")
    assert behind(fixed) == (False, None)
    assert len(commits(host.root / "site.git", "gh-pages")) == 1


def test_a_server_that_is_down_leaves_the_site_behind_without_failing_the_run(
    tmp_path, tally, host
):
    settings = over_http(tmp_path, tally, host).with_(
        publish_site_repo="http://127.0.0.1:9/site.git"  # nothing listens there
    )
    report = run_job(settings, "sync")
    assert report.status == "succeeded"
    late, reason = behind(settings)
    assert late and "Failed to connect" in (reason or "")
    assert report.exported == DEMO_PUBLISHED  # published on disk all the same


def test_when_someone_else_committed_meanwhile_the_commit_is_made_again_on_top(
    tmp_path, tally, host
):
    repo = host.root / "site.git"
    other = tmp_path / "other"

    def someone_commits() -> None:
        git("clone", "-q", str(repo), str(other))
        git("checkout", "-q", "-b", "gh-pages", cwd=other)
        (other / "CNAME").write_text("ia.interconnectes.example\n", encoding="utf-8")
        git("add", "CNAME", cwd=other)
        git("-c", "user.name=B", "-c", "user.email=b@b.fr", "commit", "-qm", "domaine", cwd=other)
        git("push", "-q", "origin", "gh-pages", cwd=other)

    host.before_push = someone_commits
    settings = over_http(tmp_path, tally, host)
    report = run_job(settings, "sync")
    assert report.deliveries[0].startswith("site : commit "), report.deliveries
    log = commits(repo, "gh-pages")
    assert [line.split(" ", 1)[1] for line in log][1] == "domaine"  # theirs kept, below ours
    assert {"CNAME", "index.html"} <= tree(repo, "gh-pages")  # nothing of theirs lost
    assert host.pushes == 2  # refused once (moved on), then on top: never forced


def test_a_hook_that_refuses_leaves_the_site_behind_and_bibia_publish_delivers_later(
    tmp_path, tally, host
):
    hook = host.root / "site.git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'dépôt gelé pour maintenance' >&2\nexit 1\n")
    hook.chmod(0o755)
    settings = over_http(tmp_path, tally, host)
    report = run_job(settings, "sync")
    assert report.status == "succeeded"
    late, reason = behind(settings)
    assert late and "pre-receive hook declined" in (reason or "")
    assert host.pushes == 1  # a refusal is not tried again within the run
    hook.unlink()
    done = bibia_cli(
        settings,
        "publish",
        BIBIA_GIT_TOKEN=TOKEN,
        BIBIA_PUBLISH_SITE_REPO=settings.publish_site_repo or "",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "site (" in done.stdout and "commit " in done.stdout
    assert behind(settings) == (False, None)


def test_the_token_is_found_nowhere(tmp_path, tally, host):
    settings = over_http(tmp_path, tally, host, publish_feed_repo=f"{host.url}/absent.git")
    env = {"BIBIA_PUBLISH_SITE_REPO": settings.publish_site_repo or ""}
    env |= {"BIBIA_PUBLISH_FEED_REPO": f"{host.url}/absent.git", "BIBIA_GIT_TOKEN": TOKEN}
    first = bibia_cli(settings, "-v", "sync", **env)
    assert first.returncode == 0, first.stderr
    second = bibia_cli(settings, "publish", **env)  # the feed's repository does not exist
    assert second.returncode == 1
    status = bibia_cli(settings, "status", **env)
    said = "".join(r.stdout + r.stderr for r in (first, second, status))
    assert "EN RETARD" in status.stdout
    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    secrets = (TOKEN, basic, TOKEN[4:20])
    assert not any(s in said for s in secrets)
    for path in tmp_path.rglob("*"):  # warehouse, exports, clones and their .git/config
        if path.is_file() and not path.is_symlink():
            content = path.read_bytes()
            assert not any(s.encode() in content for s in secrets), path


# -- data.gouv.fr --------------------------------------------------------------------------------
@pytest.fixture
def portal() -> Any:
    with DataGouvEmulator() as served:
        yield served


def to_portal(tmp_path: Path, tally: TallyEmulator, portal: DataGouvEmulator, key: str) -> Settings:
    dataset = portal.dataset("Bibliothèque d'IA territoriales", "cle-de-l-organisation")
    return make_settings(
        tmp_path,
        tally.url,
        datagouv_api_url=portal.api_url,
        datagouv_api_key=key,
        datagouv_dataset=dataset.dataset_id,
        publish_backoff_seconds=0.01,
        publish_timeout_seconds=2,
    )


def test_the_open_data_replaces_the_datasets_resources_keeping_their_ids(tmp_path, tally, portal):
    settings = to_portal(tmp_path, tally, portal, "cle-de-l-organisation")
    report = run_job(settings, "sync")
    assert report.deliveries[0].startswith("datagouv : 4 ressource(s) remplacée(s) (4 créée(s))")
    (dataset,) = portal.datasets.values()
    first = {r["title"]: r["id"] for r in dataset.resources}
    assert len(first) == 4
    csv = next(r for r in dataset.resources if r["format"] == "csv")
    schema = next(r for r in dataset.resources if r["title"].startswith("Schéma"))
    assert csv["schema"] == {"url": f"{portal.url}/fr/datasets/r/{schema['id']}"}
    tally.add_submissions("bibiaD", [tally_submission("s-new", VALID_ANSWERS)])
    again = run_job(settings, "sync_full")  # the emulator's new one is dated before the last
    assert "(0 créée(s))" in again.deliveries[0]
    assert {r["title"]: r["id"] for r in dataset.resources} == first  # the same ids
    uploaded = portal.files[csv["url"].removeprefix(portal.url)].decode()
    assert "Pilotage des stations" in uploaded  # the new project is in the replaced file
    assert uploaded == (settings.export_dir / "public" / "bibliotheque_ia.csv").read_text("utf-8")


def test_a_refused_key_leaves_the_open_data_behind(tmp_path, tally, portal):
    settings = to_portal(tmp_path, tally, portal, "une-autre-cle")
    assert run_job(settings, "sync").status == "succeeded"
    late, reason = behind(settings, "datagouv")
    assert late and "HTTP 403" in (reason or "")
    assert "une-autre-cle" not in (reason or "")


def test_server_errors_and_a_slow_portal_are_tried_again_within_the_run(tmp_path, tally, portal):
    settings = to_portal(tmp_path, tally, portal, "cle-de-l-organisation")
    portal.faults.extend([PortalFault(status=503), PortalFault(delay_seconds=3)])
    report = run_job(settings, "sync")
    assert report.deliveries[0].startswith("datagouv : 4 ressource(s)"), report.deliveries
    assert behind(settings, "datagouv") == (False, None)
    portal.faults.extend([PortalFault(status=500)] * 3)
    tally.add_submissions("bibiaD", [tally_submission("s-new", VALID_ANSWERS)])
    run_job(settings, "sync_full")
    late, reason = behind(settings, "datagouv")
    assert late and "HTTP 500" in (reason or "")


def test_the_stable_address_of_a_resource_leads_to_its_latest_file(tmp_path, tally, portal):
    import httpx

    settings = to_portal(tmp_path, tally, portal, "cle-de-l-organisation")
    run_job(settings, "sync")
    (row,) = query(
        settings, "SELECT resource_id FROM datagouv_resources WHERE file_name LIKE '%.csv'"
    )
    answer = httpx.get(f"{portal.api_url}/datasets/r/{row[0]}", follow_redirects=True)
    assert answer.status_code == 200
    assert answer.text.startswith('"projet_id"')


def test_two_deliveries_to_one_target_at_once_never_race(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from publish.deliver.git import Author, GitTarget, deliver

    repo = bare(tmp_path / "site.git", "gh-pages")
    target = GitTarget("site", repo.as_uri(), "gh-pages", mirror=True)
    sources = []
    for i in range(2):
        folder = tmp_path / f"source{i}"
        folder.mkdir()
        (folder / "index.html").write_text(f"version {i}", encoding="utf-8")
        sources.append({"index.html": folder / "index.html"})
    with ThreadPoolExecutor(2) as pool:
        done = list(
            pool.map(
                lambda files: deliver(
                    target, files, "m", Author("b", "b@b.fr"), tmp_path / "clone", None
                ),
                sources,
            )
        )
    assert all(d.commit for d in done), done  # one after the other, in the same clone
    assert len(commits(repo, "gh-pages")) == 2


def test_a_file_changed_within_one_clock_tick_is_delivered(tmp_path):
    """Same size, same modification time, other bytes: still a change, delivery after
    delivery (seen in CI: a size-and-time check, ours and then git's own index, which trusts
    them to the second, took two such files for one)."""
    import os

    from publish.deliver.git import Author, GitTarget, deliver

    repo = bare(tmp_path / "site.git", "gh-pages")
    target = GitTarget("site", repo.as_uri(), "gh-pages", mirror=True)
    page = tmp_path / "source" / "index.html"
    page.parent.mkdir()
    page.write_text("version 0", encoding="utf-8")
    when = page.stat().st_mtime_ns
    for version in range(6):
        page.write_text(f"version {version}", encoding="utf-8")
        os.utime(page, ns=(when, when))
        done = deliver(
            target, {"index.html": page}, "m", Author("b", "b@b.fr"), tmp_path / "c", None
        )
        assert done.commit, version
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", "gh-pages:index.html"],
            capture_output=True,
            text=True,
        )
        assert shown.stdout == f"version {version}"
