"""The demo's delivery targets: two bare git repositories in `demo-output/depots/`, so that a
newcomer sees the commits a sync makes (`git -C demo-output/depots/site.git log gh-pages`).
`feed.git` stands for the association's current site: it already holds files of its own,
which a delivery leaves untouched."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlsplit

from bibia.settings import Settings

CURRENT_SITE = {
    "README.md": (
        "# Le site actuel des Interconnectés (démo)\n\nLe widget Datami lit `csv/` et `json/`.\n"
    ),
    "index.html": '<!doctype html><html lang="fr"><title>Site actuel</title><p>Démo</p></html>\n',
}


def folder_of(url: str | None) -> Path | None:
    address = urlsplit(url or "")
    return Path(unquote(address.path)) if address.scheme == "file" else None


def ensure(settings: Settings) -> None:
    """The demo's repositories, made once (a repository already there is left as it is)."""
    site = folder_of(settings.publish_site_repo)
    if site is not None and not site.exists():
        _git("init", "-q", "--bare", f"--initial-branch={settings.publish_site_branch}", str(site))
    feed = folder_of(settings.publish_feed_repo)
    if feed is not None and not feed.exists():
        branch = settings.publish_feed_branch
        _git("init", "-q", "--bare", f"--initial-branch={branch}", str(feed))
        with tempfile.TemporaryDirectory() as work:
            _git("clone", "-q", str(feed), work)
            for name, text in CURRENT_SITE.items():
                (Path(work) / name).write_text(text, encoding="utf-8")
            _git("-C", work, "add", ".")
            _git(
                "-C", work, "-c", "user.name=Association (démo)",
                "-c", "user.email=contact@interconnectes.invalid",
                "commit", "-q", "-m", "Le site actuel, avant bibia",
            )  # fmt: skip
            _git("-C", work, "push", "-q", "origin", f"HEAD:{branch}")


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)
