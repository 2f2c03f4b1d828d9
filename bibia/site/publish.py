"""The site's editions and the Datami feed, staged beside the exports they are made from.

A sync stages them with its exports, from the staged Parquet files, and they are published with
them (same staging folder, same comparison with what is published, same renames after the
commit): readers never see a site of another version than the files. `bibia site` stages them
alone, from the published exports. A project's page whose row did not change is not rendered
again: `published_files.made_from` tells what each page was made from.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb

from bibia.settings import Settings
from bibia.site import datami
from bibia.site.build import DOWNLOADS, PROJECTS, SITE, Listing, SiteSettings, editions
from schemas.datapackage import EXPORT_NAME
from schemas.project import PUBLIC, RESTRICTED
from schemas.taxonomy import Taxonomy
from warehouse.export import StagedExport, every_input, stale

# What the site and the feed make, relative to the exports' folder (`bibia site`'s scope).
SCOPE = (f"{PUBLIC}/{SITE}/", f"{RESTRICTED}/{SITE}/", f"{PUBLIC}/{datami.FOLDER}/")
DATA_FILES = (f"{EXPORT_NAME}.csv", f"{EXPORT_NAME}.parquet", "datapackage.json")


def site_settings(settings: Settings) -> SiteSettings:
    return SiteSettings(tiles=settings.site_tiles, attribution=settings.site_attribution)


def stage_site(
    staged: StagedExport,
    source: Path,
    taxonomy: Taxonomy,
    settings: SiteSettings,
    con: duckdb.DuckDBPyConnection,
    everything: bool = False,
) -> int:
    """Stage both editions and the feed from the exports in `source` (the staging folder in a
    sync, the published exports otherwise); return the number of project pages rendered
    (`everything`: all of them)."""

    def to_make(access: str, inputs: str) -> dict[str, str]:
        prefix = f"{access}/{SITE}/"
        staged.made_in.append((inputs, prefix))  # every page listed is made or kept
        if everything:
            return every_input(con, inputs)
        return stale(con, staged.target, prefix, inputs)

    rendered = 0
    public = source / PUBLIC / f"{EXPORT_NAME}.parquet"
    listing = Listing.of(con, public, taxonomy)
    feed = staged.staging / PUBLIC / datami.FOLDER  # first: read for its digest meanwhile
    datami.write_feed(feed, taxonomy, listing.feed(), listing.joiner, listing.by_column())
    staged.hash_soon([f"{PUBLIC}/{datami.FOLDER}/{datami.DATA}"])
    for edition, page in editions(source, taxonomy, settings, listing, to_make):
        rel = f"{edition.access}/{SITE}/{page.path}"
        copies = [f"{access}/{SITE}/{page.path}" for access in page.also]
        staged.write(rel, page.content, page.made_from, copies)
        rendered += page.made_from is not None and page.path.startswith(PROJECTS)
    for access in (PUBLIC, RESTRICTED):
        folder = staged.staging / access / SITE / DOWNLOADS
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        for name in DATA_FILES:  # the downloads, in the site: it can be served as it is
            linked(source / access / name, folder / name)
    return rendered


def linked(source: Path, target: Path) -> None:
    """`target`, the same file as `source`: a hard link (the same bytes, written once), or a
    copy where the file system has none."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
        target.chmod(source.stat().st_mode & 0o777)


def publish_site(settings: Settings, everything: bool = False) -> tuple[int, int]:
    """`bibia site`: render both editions and the feed again from the published exports (after
    a change of the site's settings, say), and publish what changed; return the number of files
    rewritten and of project pages rendered. `everything`: render every project's page, even
    those published from the same inputs."""
    from schemas.errors import ConfigError
    from schemas.times import now_utc
    from warehouse.db import connect, owner_only, writer_lock

    export_dir = settings.export_dir
    if not (export_dir / RESTRICTED / f"{EXPORT_NAME}.parquet").exists():
        raise ConfigError(f"no exports in {export_dir} yet: run `bibia sync` first")
    taxonomy = Taxonomy.load(settings.taxonomy_path)
    with owner_only(), writer_lock(settings.db_path, settings.lock_timeout_seconds):
        con = connect(settings.db_path)
        started = now_utc()
        run_id = "site-" + started.strftime("%Y%m%dT%H%M%S")
        staged = StagedExport(
            staging=export_dir / f".staging-{run_id}",
            target=export_dir,
            rows=0,
            scope=SCOPE,
            con=con,
        )
        try:
            con.execute("BEGIN TRANSACTION")
            rendered = stage_site(
                staged, export_dir, taxonomy, site_settings(settings), con, everything
            )
            staged.record(con, run_id, started)
            staged.check_writable()
            con.execute("COMMIT")
            staged.publish()
        except BaseException:
            staged.discard()
            con.close()
            raise
        con.close()
    return len(staged.changed) + len(staged.removed), rendered
