"""A one-line progress display for long runs, on a terminal only."""

from __future__ import annotations

import sys
from typing import TextIO

from bibia.tally.client import PAGE_LIMIT, Page


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._shown = False

    def page(self, page: Page, submissions: int) -> None:
        if not self.enabled:
            return
        total = page.total_completed
        pages = f"{page.number}/{-(-total // PAGE_LIMIT)}" if total else f"{page.number}"
        of = f" of {total:,}" if total else ""
        self.stream.write(f"\rTally: page {pages}, {submissions:,}{of} submissions read   ")
        self.stream.flush()
        self._shown = True

    def done(self) -> None:
        if self._shown:
            self.stream.write("\n")
            self.stream.flush()
            self._shown = False
