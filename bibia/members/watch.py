"""The membership file as it is now: read again whenever it changes on disk (a curator's
`bibia members revoke` takes effect at the next request), and failing closed: while the file
cannot be read, nobody is let in."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from schemas.errors import ConfigError
from transforms.membership import Access, Membership

log = logging.getLogger("bibia.members")


class MembershipWatch:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._membership: Membership | None = Membership.load(path)  # unreadable: exit 2
        self._problem: str | None = None

    def _stamp(self) -> tuple[int, int, int]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return (0, 0, 0)
        return (stat.st_ino, stat.st_mtime_ns, stat.st_size)

    def current(self) -> Membership | None:
        """The membership now (None: the file cannot be read: nobody is let in)."""
        stamp = self._stamp()
        with self._lock:
            if stamp != self._seen:
                try:
                    self._membership, self._problem = Membership.load(self.path), None
                except ConfigError as exc:
                    self._membership, self._problem = None, str(exc)
                    log.error("fichier des membres illisible, personne n'entre : %s", exc)
                self._seen = stamp
            return self._membership

    def access(self, email: str, siret: str | None) -> Access:
        membership = self.current()
        if membership is None:
            return Access(False, False, "la liste des membres est illisible pour le moment")
        return membership.access(email, siret)

    def contact(self) -> str | None:
        membership = self.current()
        return membership.contact if membership is not None else None
