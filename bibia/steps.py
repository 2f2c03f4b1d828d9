"""The steps of a run, by name, and the wrappers every step runs through.

`step(name, fn, *args)` decides how a step runs: directly (`run_directly`), or as a Prefect task
(`flows/`); the wrappers add a rehearsed failure (BIBIA_FAILPOINT), the run's time budget and
the timings `bibia -v` shows. A step's name is a `StepName`, spelt once, here.
"""

from __future__ import annotations

import os
import resource
import signal
import time
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

from schemas.errors import BibiaError

T = TypeVar("T")
Step = Callable[..., Any]


class StepName(StrEnum):
    """Every step of a run, in the order a sync meets them (what BIBIA_FAILPOINT may name)."""

    FETCH_FORM = "fetch_form"
    FETCH_QUESTIONS = "fetch_questions"
    FETCH_PAGE = "fetch_page"
    LAND = "land"
    DERIVE = "derive"
    ENRICH = "enrich"
    LOAD = "load"
    EXPORT = "export"
    SITE = "site"
    OUTBOX = "outbox"
    PUBLISH = "publish"
    DELIVER = "deliver"
    MAIL = "mail"


PER_BATCH = (StepName.LAND, StepName.DERIVE, StepName.ENRICH, StepName.LOAD)  # when new ones came


class RunKind(StrEnum):
    """What a run does: the kinds `sync_runs.kind` records."""

    SYNC = "sync"  # what Tally received since the last run
    SYNC_FULL = "sync_full"  # every submission again (edits, deletions)
    REBUILD = "rebuild"  # every table and file again from what is stored, no network


def run_directly(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return fn(*args, **kwargs)


def _fails(why: str) -> Callable[..., Any]:
    """A step's function that fails with `why`, whatever it is given."""

    def failing(*_args: Any, **_kwargs: Any) -> Any:
        raise BibiaError(why)

    return failing


def with_failpoint(step: Step, failpoint: str | None) -> Step:
    """`step`, except that the step named `failpoint` fails, or (`name:kill`) kills the process
    (BIBIA_FAILPOINT): a way to rehearse a failure or a crash in a real process, a served flow
    included."""
    if not failpoint:
        return step

    where, _, how = failpoint.partition(":")
    met = False

    def failing(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        nonlocal met
        met = met or name == where
        if name == where and how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)  # a crash, as a power cut or the OOM killer
        if name == where:
            why = f"l'étape {name} échoue exprès (BIBIA_FAILPOINT={failpoint})"
            return step(name, _fails(why), *args, **kwargs)  # inside the step: its task fails
        if name == StepName.EXPORT and where in PER_BATCH and not met and how != "kill":
            # a run with nothing new never lands, derives or loads: the rehearsal fails where
            # that step would have come, rather than not at all
            why = (
                f"l'étape {where} n'a pas eu lieu (rien de nouveau) ; elle échoue exprès à sa "
                f"place, avant l'export (BIBIA_FAILPOINT={failpoint})"
            )
            return step(name, _fails(why), *args, **kwargs)
        return step(name, fn, *args, **kwargs)

    return failing


def with_budget(step: Step, budget_seconds: float) -> Step:
    """`step`, except that no step starts once the run has spent `budget_seconds`
    (BIBIA_RUN_BUDGET_SECONDS): the run fails with one line, and changes nothing."""
    deadline = time.monotonic() + budget_seconds

    def bounded(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() > deadline:
            raise BibiaError(
                f"l'exécution a duré plus que BIBIA_RUN_BUDGET_SECONDS ({budget_seconds:g} s), "
                f"arrêtée avant son étape {name} : rien n'a changé"
            )
        return step(name, fn, *args, **kwargs)

    return bounded


def timed(step: Step, totals: dict[str, float], peaks: dict[str, int] | None = None) -> Step:
    """`step`, adding up the seconds spent in each step name, and noting this process's peak
    resident memory once each step ends (both shown by `bibia -v`)."""

    def measured(name: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return step(name, fn, *args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - started
            if peaks is not None:
                peaks[name] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024

    return measured
