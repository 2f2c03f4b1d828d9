"""A run as a command, without Prefect: two at once (the second stops cleanly, or waits when
asked), a failed step's one line with the previous exports kept, the progress shown on a
terminal only. (Apart from tests/test_orchestration.py, whose Prefect server holds one test
worker for minutes: these run beside it.)"""

from __future__ import annotations

import os
import pty
import select
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from bibia.demo.synthetic import synthetic_form
from bibia.emulators.tally import EmulatedForm
from bibia.pipeline import run_job
from tests import spawn
from tests.conftest import (
    DEMO_COMPLETED,
    DEMO_PUBLISHED,
    ROOT,
    bibia_cli,
    cli_env,
    make_settings,
    query,
    start_emulator,
)
from tests.test_orchestration import BIBIA, files_of


def test_a_failed_export_without_prefect_exits_1_with_one_line(settings):
    run_job(settings, "sync")
    before = files_of(settings.export_dir / "restricted")
    done = bibia_cli(settings, "sync", "--full", BIBIA_FAILPOINT="export")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "bibia: l'étape export échoue exprès (BIBIA_FAILPOINT=export)"
    ]
    after = files_of(settings.export_dir / "restricted")
    assert after == before


@pytest.fixture
def slow_emulator(demo_form):
    server = start_emulator(demo_form, delay_seconds=3.0)
    yield server
    server.stop()


def _two_syncs(settings, **env: str) -> list[subprocess.CompletedProcess[str]]:
    procs = [
        spawn.Process(
            [*BIBIA, "sync"],
            cwd=ROOT,
            env=cli_env(settings, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        out.append(subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr))
    return out


def test_two_syncs_at_once_one_runs_the_other_stops_cleanly(tmp_path, slow_emulator):
    settings = make_settings(tmp_path, slow_emulator.url)
    results = _two_syncs(settings)
    assert sorted(r.returncode for r in results) == [0, 1]
    loser = next(r for r in results if r.returncode == 1)
    (line,) = loser.stderr.strip().splitlines()
    assert line.startswith("bibia: une autre exécution de bibia utilise")
    assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(DEMO_COMPLETED,)]
    assert query(settings, "SELECT status FROM sync_runs") == [("succeeded",)]
    assert (
        len(pd.read_parquet(settings.export_dir / "public" / "bibliotheque_ia.parquet"))
        == DEMO_PUBLISHED
    )


def test_two_syncs_at_once_the_second_waits_when_asked(tmp_path, slow_emulator):
    settings = make_settings(tmp_path, slow_emulator.url)
    results = _two_syncs(settings, BIBIA_LOCK_TIMEOUT_SECONDS="60")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    assert query(settings, "SELECT count(*) FROM raw_tally_submissions") == [(DEMO_COMPLETED,)]
    runs = query(settings, "SELECT status, new FROM sync_runs ORDER BY started_at")
    assert runs == [("succeeded", DEMO_COMPLETED), ("succeeded", 0)]


def _read_all(fd: int, proc: subprocess.Popen) -> str:
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                data = os.read(fd, 4096)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    return b"".join(chunks).decode("utf-8", "replace")


def test_progress_shows_on_a_terminal_and_stays_silent_otherwise(tmp_path):
    server = start_emulator(EmulatedForm.from_json(synthetic_form(1_200)))
    try:
        settings = make_settings(tmp_path / "tty", server.url)
        main, child = pty.openpty()
        proc = spawn.Process(
            [*BIBIA, "sync"],
            cwd=ROOT,
            env=cli_env(settings),
            stdin=child,
            stdout=child,
            stderr=child,
        )
        os.close(child)
        shown = _read_all(main, proc)
        proc.wait(timeout=60)
        os.close(main)
        assert proc.returncode == 0, shown
        assert "page 3/3, 1,200 of 1,200 submissions read" in shown

        quiet = make_settings(Path(tmp_path / "pipe"), server.url)
        done = bibia_cli(quiet, "sync", timeout=60)
        assert done.returncode == 0
        assert "page" not in done.stderr and "\r" not in done.stderr + done.stdout
    finally:
        server.stop()
