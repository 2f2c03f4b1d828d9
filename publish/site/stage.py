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

from publish.export import StagedExport, every_input, stale
from publish.site import datami
from publish.site.build import DOWNLOADS, PROJECTS, SITE, Listing, SiteSettings, editions
from schemas.datapackage import EXPORT_NAME
from schemas.project import PUBLIC, RESTRICTED
from schemas.taxonomy import Taxonomy

# What the site and the feed make, relative to the exports' folder (`bibia site`'s scope).
SCOPE = (f"{PUBLIC}/{SITE}/", f"{RESTRICTED}/{SITE}/", f"{PUBLIC}/{datami.FOLDER}/")
DATA_FILES = (f"{EXPORT_NAME}.csv", f"{EXPORT_NAME}.parquet", "datapackage.json")


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
