"""The batches of one run on their way to the warehouse: each landed batch is sent to be
derived (map, normalise, validate: in a worker process when more batches follow), then
enriched and loaded in the order it came. `Derivation` owns that state; only its own methods
change it."""

from __future__ import annotations

from bibia.context import RunInputs
from bibia.landing import plan
from bibia.runtime import give_back_memory
from bibia.steps import Step, StepName
from bibia.worker import Pending, Worker
from schemas.records import RawRow
from transforms.derive import DerivedTables, Rules
from warehouse.load import HeldSince, clear_derived, insert_derived


class Derivation:
    """Derive -> enrich -> load, batch after batch, one batch ahead in the worker."""

    def __init__(self, step: Step, inputs: RunInputs) -> None:
        self._step = step
        self._inputs = inputs
        self._worker = Worker()
        self._rules: Rules | None = None
        self._waiting: tuple[Pending, list[str] | None] | None = None
        self._since: HeldSince = {}  # a rebuild: the quarantine as it was before it cleared all
        self.derived = 0  # submissions derived in this run
        self.corrected: set[str] = set()  # ...of those, the ones a curator corrected

    @property
    def rules(self) -> Rules | None:
        """What the form's batches are derived with (None: not planned yet)."""
        return self._rules

    def plan(self, form_id: str, say: bool = False) -> None:
        """Plan from the form's snapshots: every batch queued after this is derived so (`say`:
        what did not match goes to the run's notes)."""
        self._rules = plan(self._inputs, form_id, say)

    def clear_all(self) -> None:
        """A rebuild: every derived row cleared; what was held, and since when, remembered."""
        self._since = clear_derived(self._inputs.con, None)

    def queue(self, rows: list[RawRow], touched: list[str] | None, more: bool) -> None:
        """Send a landed batch to be derived, then finish the batch before it, derived
        meanwhile. `touched`: the submissions whose derived rows the batch replaces (None: all
        were cleared before a rebuild); `more`: whether more batches follow (then the worker
        derives)."""
        pending = None
        rows = list({row.submission_id: row for row in rows}.values())  # edited mid-walk: last
        if rows:
            assert self._rules is not None, "a batch queued before the form was planned"
            self.derived += len(rows)
            corrected = self._rules.corrections
            self.corrected.update(r.submission_id for r in rows if r.submission_id in corrected)
            pending = self._worker.submit(rows, self._rules, more_to_come=more)
        self.drain()
        if pending is not None:
            self._waiting = (pending, touched)

    def drain(self) -> None:
        """derive -> enrich -> load the batch waiting, if any. Its submissions' older derived
        rows are cleared just before the load, so that of two batches touching the same
        submission (edited while the run paged), the later one wins."""
        if self._waiting is None:
            return
        pending, touched = self._waiting
        self._waiting = None
        step, inputs = self._step, self._inputs
        derived = step(StepName.DERIVE, _derived, pending)
        since = self._since if touched is None else clear_derived(inputs.con, touched)
        derived = step(StepName.ENRICH, _enrich, inputs, derived)
        step(StepName.LOAD, _load, inputs, derived, since)
        del derived
        give_back_memory()

    def close(self) -> None:
        """The worker stopped (its memory back); nothing more can be queued."""
        self._worker.close()


def _derived(pending: Pending) -> DerivedTables:
    """Map, normalise and validate (or wait for the worker doing it)."""
    return pending.result()


def _enrich(inputs: RunInputs, derived: DerivedTables) -> DerivedTables:
    return inputs.enricher.apply(derived)


def _load(inputs: RunInputs, derived: DerivedTables, since: HeldSince) -> None:
    report = inputs.report
    insert_derived(inputs.con, derived, since, report.run_id, report.started_at)
