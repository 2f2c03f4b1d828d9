"""The `sync` and `rebuild` flows.

Each step of `bibia.pipeline.run_job` runs as a Prefect task: `fetch_form` and `fetch_page` (the
only ones that talk to Tally, so the only ones with task retries; the next page is fetched while
the current one is processed), then per page `land`, `derive`, `enrich` (best effort: its HTTP
client retries, then the run goes on from the cache) and `load`; `export`, `site` and `publish`
once each.
Every task is side-effecting, so none is cached and no result is persisted.

Flow parameters hold nothing secret: the settings come from the environment of the process that
runs the flow (`bibia serve`, a worker), or from the `bibia` command that started it.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.states import Failed, State
from prefect.utilities.annotations import quote

from bibia.extract import PageCallback
from bibia.pipeline import RunReport, run_job
from bibia.settings import Settings
from bibia.status import run_summary, summary
from schemas.errors import BibiaError

T = TypeVar("T")
EXTRACT_RETRY_DELAYS: list[float] = [30.0, 120.0]  # s, after the client's own retries
HTTP_STEPS = {"fetch_form", "fetch_page", "fetch_questions"}  # the only ones retried


@dataclass(frozen=True)
class FlowContext:
    """What a `bibia` command hands to a flow it runs in-process (never a flow parameter)."""

    settings: Settings
    on_page: PageCallback | None = None


CONTEXT: ContextVar[FlowContext | None] = ContextVar("bibia_flow_context", default=None)


def worth_retrying(_task: Any, _run: TaskRun, state: State) -> bool:
    """Retry an extraction that met a transient failure, not a wrong key or form."""
    error = state.result(raise_on_failure=False)
    if isinstance(error, BibiaError):
        return bool(getattr(error, "transient", False))
    return True


def one_line(fn: Callable[..., T]) -> Callable[..., T | State]:
    """`fn`, a bibia failure (a `BibiaError`: the line a person reads) returned as the task's
    or flow's Failed state, that line its message, instead of raised: Prefect then logs the
    line, not a Python traceback; whoever called the task or flow still gets the error itself
    (the state holds it). Anything else is a bug, raised as it is, with its traceback."""

    @functools.wraps(fn)
    def failing_in_one_line(*args: Any, **kwargs: Any) -> T | State:
        try:
            return fn(*args, **kwargs)
        except BibiaError as exc:
            return Failed(message=str(exc), data=exc)

    return failing_in_one_line


def run_as_task(name: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """The `step` of run_job: one Prefect task per step; retries on the HTTP one only."""
    fn = one_line(fn)  # a Failed state is the task's, not a value
    if name in HTTP_STEPS:
        step = task(
            name=name,
            cache_policy=NO_CACHE,
            persist_result=False,
            retries=len(EXTRACT_RETRY_DELAYS),
            retry_delay_seconds=EXTRACT_RETRY_DELAYS,
            retry_condition_fn=worth_retrying,
        )(fn)
    else:
        step = task(name=name, cache_policy=NO_CACHE, persist_result=False)(fn)
    # quote(): Prefect would otherwise walk every argument (a batch of submissions, the run's
    # context) looking for futures, on every call: seconds per task at 50,000 submissions
    out = step(*(quote(a) for a in args), **{k: quote(v) for k, v in kwargs.items()})
    if isinstance(out, State):  # the step failed in one line (`one_line`): its error, here
        out.result(raise_on_failure=True)
        raise BibiaError(out.message or f"l'étape {name} a échoué")
    return out


class WithoutEmptyTraceback(logging.Filter):
    """Prefect logs a task that ended in a Failed state it returned with `exc_info=True` and no
    exception: "NoneType: None" under the line. The line stays, the noise goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is not None and record.exc_info[0] is None:
            record.exc_info = None
        return True


logging.getLogger("prefect.task_runs").addFilter(WithoutEmptyTraceback())


class ToRunLogger(logging.Handler):
    """bibia's log lines (counts, quarantine, unmapped questions, enrichment), into the flow
    run's logs: the Prefect UI shows them with the run."""

    def __init__(self, run_logger: logging.LoggerAdapter[logging.Logger] | logging.Logger):
        super().__init__(logging.INFO)
        self.run_logger = run_logger

    def emit(self, record: logging.LogRecord) -> None:
        self.run_logger.log(record.levelno, "%s", record.getMessage())


def _run(kind: str) -> dict[str, Any] | State:
    context = CONTEXT.get() or FlowContext(Settings.from_env())
    settings = context.settings
    run_logger = get_run_logger()
    ours = logging.getLogger("bibia")
    forward = ToRunLogger(run_logger)
    ours.addHandler(forward)
    propagated, ours.propagate = ours.propagate, False  # shown once, as the run's line
    if ours.getEffectiveLevel() > logging.INFO:  # a served run: nobody set bibia's level
        ours.setLevel(logging.INFO)
    try:
        report: RunReport = run_job(settings, kind, step=run_as_task, on_page=context.on_page)
    except BibiaError as exc:
        create_markdown_artifact(
            key=ARTIFACT_KEY,
            markdown=run_summary(settings, None, str(exc)),
            description="Résumé de l'exécution bibia",
        )
        run_logger.error("%s", exc)
        return Failed(message=str(exc), data=exc)  # the line, without a traceback
    finally:
        ours.removeHandler(forward)
        ours.propagate = propagated
    run_logger.info("%s", summary(report, settings).splitlines()[0])
    create_markdown_artifact(
        key=ARTIFACT_KEY,
        markdown=run_summary(settings, report, None),
        description="Résumé de l'exécution bibia",
    )
    row = report.as_row()
    return {k: v for k, v in row.items() if k not in {"started_at", "ended_at"}}


ARTIFACT_KEY = "bibia-run-summary"  # the latest one per key is shown in the UI's Artifacts


@flow(
    name="bibia-sync", description="Pull new Tally submissions, normalise, validate, load, export."
)
def sync_flow(full: bool = False) -> dict[str, Any] | State:
    return _run("sync_full" if full else "sync")


@flow(name="bibia-rebuild", description="Re-derive every table and export from raw.")
def rebuild_flow() -> dict[str, Any] | State:
    return _run("rebuild")


def run_flow_in_process(kind: str, context: FlowContext) -> None:
    """Run a flow here, tracked by the Prefect server the environment points at."""
    token = CONTEXT.set(context)
    try:
        if kind == "rebuild":
            rebuild_flow()
        else:
            sync_flow(full=kind == "sync_full")
    finally:
        CONTEXT.reset(token)
