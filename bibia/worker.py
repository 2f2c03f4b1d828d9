"""The worker process that derives batches beside the main one.

Mapping, normalising and validating are pure Python, bound to one core by the GIL. A run of
more than one batch derives in one worker process: meanwhile the main process lands the next
batch, fetches pages and loads the previous batch. A run of one batch derives in place, where
it is asked for: a worker costs about a second to start (it imports pandas and pandera).

What crosses to the worker is the payloads' JSON text (pickling text is ten times cheaper than
pickling the parsed payloads); what comes back is Arrow tables (`DerivedTables`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Protocol

from bibia.runtime import give_back_memory, prepare_process
from schemas.errors import BibiaError
from schemas.records import RawRow
from transforms.derive import DerivedTables, Rules, derive_tables


class Pending(Protocol):
    """A batch on its way: `result()` waits for it (or, in place, derives it)."""

    def result(self) -> DerivedTables: ...


@dataclass
class InPlace:
    rows: list[RawRow]
    rules: Rules

    def result(self) -> DerivedTables:
        return derive_tables(self.rows, self.rules)


@dataclass
class InWorker:
    future: Future[DerivedTables]

    def result(self) -> DerivedTables:
        try:
            return self.future.result()
        except BrokenProcessPool:
            raise BibiaError(
                "the process deriving the submissions stopped unexpectedly (out of memory?)"
            ) from None


def _start_worker(parent: int) -> None:
    """The worker's first act: a watch that ends it as soon as its parent is gone (killed, even
    with SIGKILL: nothing else would stop a worker waiting for work that never comes)."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="bibia-parent-watch", daemon=True).start()
    prepare_process()


WATCH_SECONDS = 0.5


def _derive_in_worker(rows: list[RawRow], rules: Rules) -> DerivedTables:
    try:
        return derive_tables(rows, rules)
    finally:
        give_back_memory()  # the batch's transient peak, back to the system


class Worker:
    """The process that derives batches beside the main one. It starts when a run turns out to
    have more than one batch; until then, batches are derived in place. `close()` stops it."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def submit(
        self,
        rows: list[RawRow],
        rules: Rules,
        *,
        more_to_come: bool,
    ) -> Pending:
        """Derive `rows`: in the worker once the run has shown it has more than one batch
        (`more_to_come`), in place otherwise."""
        if more_to_come and self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(os.getpid(),),
            )
        if self._pool is None:
            return InPlace(rows, rules)
        try:
            return InWorker(self._pool.submit(_derive_in_worker, rows, rules))
        except BrokenProcessPool:
            raise BibiaError("the process deriving the submissions stopped unexpectedly") from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
