"""What each command does, between the parsed arguments and the pipeline."""

from __future__ import annotations

import logging
import sys

from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID, DEMO_FORM_PATH
from bibia.errors import BibiaError
from bibia.pipeline import RunReport, run_job
from bibia.progress import Progress
from bibia.settings import Settings
from bibia.tally.emulator import TallyEmulator, load_form

log = logging.getLogger("bibia")


def summary(report: RunReport, settings: Settings) -> str:
    lines = [
        f"run {report.run_id} ({report.kind}) {report.status}: "
        f"{report.fetched} read, {report.new} new, {report.updated} updated, "
        f"{report.exported} projects exported, {report.quarantined} in quarantine",
        f"  warehouse: {settings.db_path}",
        f"  exports:   {settings.export_dir / 'public'} and {settings.export_dir / 'restricted'}",
    ]
    if report.quarantined:
        lines.append("  see `bibia status` for what sits in quarantine and why")
    return "\n".join(lines)


def _run(settings: Settings, kind: str) -> int:
    progress = Progress(enabled=settings.progress)
    try:
        report = run_job(settings, kind, on_page=progress.page)
    finally:
        progress.done()
    print(summary(report, settings))
    return 0


def sync(settings: Settings, full: bool = False) -> int:
    return _run(settings, "sync_full" if full else "sync")


def sync_demo(settings: Settings, full: bool = False) -> int:
    """The same sync, against the bundled demo form served by the emulator on loopback."""
    with TallyEmulator([load_form(str(DEMO_FORM_PATH))], api_key=DEMO_API_KEY) as emulator:
        demo = settings.with_(
            tally_api_url=emulator.url, tally_api_key=DEMO_API_KEY, tally_form_id=DEMO_FORM_ID
        )
        log.info("demo: Tally emulator on %s serving form %s", emulator.url, DEMO_FORM_ID)
        return _run(demo, "sync_full" if full else "sync")


def rebuild(settings: Settings) -> int:
    return _run(settings, "rebuild")


def serve(settings: Settings, cron: str | None, interval: float | None, full: bool) -> int:
    raise BibiaError("`bibia serve` is not available yet (issue 5)")


__all__ = ["rebuild", "serve", "sync", "sync_demo", "sys"]
