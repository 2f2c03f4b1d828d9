"""`bibia status`: what a curator reads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from bibia.pipeline import run_job
from tests import spawn
from tests.conftest import (
    DEMO_COMPLETED,
    DEMO_HELD,
    DEMO_PUBLISHED,
    ROOT,
    bibia_cli,
    cli_env,
    demo_synced,
)


def status(settings) -> subprocess.CompletedProcess[str]:
    return bibia_cli(settings, "status", timeout=60)


def test_status_lists_runs_quarantine_with_reasons_and_export_freshness(settings):
    demo_synced(settings)
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
    assert done.returncode == 2  # as `bibia curate` says it: a setting to fix, not a failure
    assert (
        done.stderr.strip() == f"bibia: pas d'entrepôt à {settings.db_path} : lancer d'abord "
        "`bibia sync`"
    )


HEAVY = ("pandas", "pandera", "prefect")
IMPORTED = """
import runpy, sys
sys.argv = ["bibia", *{args!r}]
try:
    runpy.run_module("bibia.cli", run_name="__main__")
except SystemExit:
    pass
print(sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r})), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["status"]], ids=["help", "status"])
def test_help_and_status_start_without_pandas_pandera_or_prefect(settings, args):
    demo_synced(settings)
    done = subprocess.run(
        [sys.executable, "-c", IMPORTED.format(args=args, heavy=HEAVY)],
        cwd=ROOT,
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stderr.strip().splitlines()[-1] == "[]"


def test_status_lists_the_most_recent_held_and_says_where_the_rest_is(settings):
    demo_synced(settings)
    done = bibia_cli(settings, "status", "--held", "1", timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"En quarantaine : {DEMO_HELD} soumission(s) retenue(s), les 1 plus récentes" in (
        done.stdout
    )
    assert done.stdout.count("lien de correction") == 1
    assert "quarantine.csv" in done.stdout


def test_bibia_sql_prints_a_table_refuses_in_one_line_and_never_holds_the_warehouse(settings):
    demo_synced(settings)
    done = bibia_cli(settings, "sql", "SELECT count(*) AS projets FROM projects")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == ["projets", "-------", f"{DEMO_PUBLISHED:<7}"]
    as_csv = spawn.run(
        [sys.executable, "-m", "bibia.cli", "sql", "--csv", "-"],
        input="SELECT theme FROM projects ORDER BY theme LIMIT 1",
        env=cli_env(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert as_csv.stdout.splitlines() == ["theme", "Administration et organisation interne"]
    wrong = bibia_cli(settings, "sql", "SELEC 1")
    assert wrong.returncode == 2
    assert wrong.stderr.strip().startswith("bibia: requête refusée par DuckDB : Parser Error")
    again = bibia_cli(settings, "sync", BIBIA_READER_WAIT_SECONDS="0")  # nothing left open
    assert again.returncode == 0, again.stderr


def test_status_details_shows_warnings_withdrawn_projects_and_replaced_holds(settings):
    demo_synced(settings)
    ((projet_id, name),) = [
        tuple(row)
        for row in __import__("tests.conftest", fromlist=["query"]).query(
            settings, "SELECT projet_id, nom_projet FROM projects ORDER BY projet_id LIMIT 1"
        )
    ]
    done = bibia_cli(settings, "curate", "withdraw", projet_id, "--reason", "doublon signalé")
    assert done.returncode == 0, done.stderr
    run_job(settings, "sync")
    plain = bibia_cli(settings, "status").stdout
    assert "`bibia status --details`" in plain and "SELECT" not in plain
    text = bibia_cli(settings, "status", "--details").stdout
    withdrawn = text.split("Projets retirés par les curateurs\n", 1)[1].splitlines()[0]
    assert projet_id in withdrawn and name in withdrawn and "doublon signalé" in withdrawn
    warnings = text.split("Avertissements (publiés quand même", 1)[1].split("\n\n", 1)[0]
    assert "valeur conservée" in warnings
    replaced = text.split("remplacées par une version plus récente\n", 1)[1].splitlines()[0]
    assert "remplacée par" in replaced
