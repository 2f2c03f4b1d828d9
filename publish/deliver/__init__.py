"""Delivery to the places people read the register: git repositories (the site on GitHub
Pages, the current site's feed) and the open data portal (data.gouv.fr)."""

from __future__ import annotations

from dataclasses import dataclass

from publish.export import StagedExport
from publish.site.build import PROJECTS, SITE
from schemas.project import PUBLIC


@dataclass(frozen=True)
class ProjectChanges:
    """What a publication changed for readers, in projects: pages added, updated, removed."""

    added: int
    updated: int
    withdrawn: int


def project_changes(staged: StagedExport) -> ProjectChanges:
    """Counted from the public projects' pages a staged publication renames into place or
    removes (before it is published: a page not in place yet is a project added)."""
    pages = f"{PUBLIC}/{SITE}/{PROJECTS}"
    changed = [rel for rel in staged.changed if rel.startswith(pages)]
    added = sum(not (staged.target / rel).exists() for rel in changed)
    withdrawn = sum(rel.startswith(pages) for rel in staged.removed)
    return ProjectChanges(added, len(changed) - added, withdrawn)
