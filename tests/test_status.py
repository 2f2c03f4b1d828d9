"""`bibia status`: what a curator reads."""

from __future__ import annotations

import subprocess
import sys

from bibia.pipeline import run_job
from tests.conftest import DEMO_COMPLETED, DEMO_HELD, ROOT, cli_env


def status(settings) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bibia.cli", "status"],
        cwd=ROOT,
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_lists_runs_quarantine_with_reasons_and_export_freshness(settings):
    run_job(settings, "sync")
    done = status(settings)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "réussie  sync" in text
    assert f"lues {DEMO_COMPLETED}, nouvelles {DEMO_COMPLETED}" in text
    assert f"En quarantaine : {DEMO_HELD} soumission(s) retenue(s)" in text
    assert "Clermont Auvergne Métropole — Suivi de la canopée urbaine" in text
    assert "contact : nature-en-ville@clermontmetropole.eu" in text
    assert "« Environnement » : valeur inconnue du vocabulaire theme" in text
    assert "SIRET invalide : la clé de contrôle ne correspond pas" in text
    assert "lien de correction : https://tally.so/r/bibiaD?ref=S00vLT&" in text
    assert "public   écrits le" in text and "réservé  écrits le" in text


def test_status_before_any_run_says_so(settings):
    done = status(settings)
    assert done.returncode == 1
    assert (
        done.stderr.strip() == f"bibia: no warehouse at {settings.db_path} yet: run "
        "`bibia sync` first"
    )
