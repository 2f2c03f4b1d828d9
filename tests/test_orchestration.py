"""Orchestration: a real Prefect server started here; a served schedule and the run a webhook
event asks for, failed and delivering flow runs as Prefect's API and UI show them, prefect.yaml's
deployments. (Runs without Prefect, two at once, progress: tests/test_runs.py.)"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from selenium.webdriver.common.by import By

from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.settings import Settings
from tests.conftest import (
    DEMO_PUBLISHED,
    ROOT,
    bibia_cli,
    cli_env,
    demo_synced,
    make_settings,
    query,
    screenshot,
    start_emulator,
)
from tests.mailserver import PASSWORD as MAIL_PASSWORD
from tests.mailserver import MailServer
from tests.web import free_port

BIBIA = [sys.executable, "-m", "bibia.cli"]


def ctrl_c_heard() -> None:
    """In a child before it runs: SIGINT as a terminal gives it. A test process may ignore
    SIGINT (an ignored signal stays ignored across `exec`), and Python then never raises
    KeyboardInterrupt: `bibia serve` would not hear the Ctrl-C the test sends it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_serving(args: list[str], cwd: Path, env: dict[str, str], log: Any) -> subprocess.Popen:
    """`bibia serve ARGS` in a session of its own (stopped with its children by `stop_group`),
    its output into `log`."""
    return subprocess.Popen(
        [*BIBIA, "serve", *args],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=ctrl_c_heard,
    )


def stop_group(proc: subprocess.Popen, sig: int, timeout: float) -> None:
    """Signal a process started with start_new_session, then kill it if it lingers."""
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)


def wait_for(check, timeout: float, what: str, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


UNUSED_SERVICES = (
    "CANCELLATION_CLEANUP",
    "CLEANUP_RECONCILER",
    "DB_VACUUM",
    "EVENT_LOGGER",
    "FOREMAN",
    "LATE_RUNS",
    "PAUSE_EXPIRATIONS",
    "REPOSSESSOR",
    "TRIGGERS",
)


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory) -> Iterator[dict[str, str]]:
    """`prefect server start` on a free loopback port, with its own PREFECT_HOME."""
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true",  # the run page is looked at in a browser
        "PREFECT_UI_API_URL": f"http://127.0.0.1:{port}/api",
        # the services these tests never meet (cancellations, late runs, workers' health,
        # automations...) stay off; the scheduler and the task-run recorder serve
        **{f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false" for name in UNUSED_SERVICES},
    }
    env.pop("PREFECT_API_URL", None)
    log = open(home / "server.log", "w")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "prefect",
            "server",
            "start",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{port}/api"

    def healthy() -> bool:
        if server.poll() is not None:
            raise AssertionError((home / "server.log").read_text()[-2000:])
        try:
            return requests.get(f"{api}/health", timeout=2).ok
        except requests.RequestException:
            return False

    try:
        wait_for(healthy, 180, "the Prefect server")
        yield {
            "PREFECT_API_URL": api,
            "PREFECT_HOME": str(home),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    finally:
        stop_group(server, signal.SIGTERM, 30)
        log.close()


def flow_runs(api: str, flow_name: str, state: str) -> list[dict]:
    """Runs of the flow in that state, the latest first (a served deployment also schedules
    many runs ahead: they are SCHEDULED)."""
    body = {
        "flows": {"name": {"any_": [flow_name]}},
        "flow_runs": {"state": {"type": {"any_": [state]}}},
        "sort": "START_TIME_DESC",
        "limit": 20,
    }
    response = requests.post(f"{api}/flow_runs/filter", json=body, timeout=10)
    response.raise_for_status()
    runs: list[dict] = response.json()
    return runs


@dataclass(frozen=True)
class Serving:
    """`bibia serve` started for the module: its settings, folder, process and log."""

    settings: Settings
    folder: Path
    process: subprocess.Popen
    log: Path

    def deployment_runs(self, api: str) -> list[dict]:
        """The served deployment's completed runs (the process still serving)."""
        if self.process.poll() is not None:
            raise AssertionError(self.log.read_text())
        return [r for r in flow_runs(api, "bibia-sync", "COMPLETED") if r["deployment_id"]]


@pytest.fixture(scope="module")
def served(prefect_server, demo_form_data, tmp_path_factory) -> Iterator[Serving]:
    """`bibia serve --interval 3600` (its first run now, the next in an hour), reading a webhook
    spool: the schedule's run and the run a webhook event asks for are tested on one process."""
    folder = tmp_path_factory.mktemp("served")
    with demo_emulator(demo_form_data) as emulator:
        settings = make_settings(folder, emulator.url)
        env = cli_env(settings, BIBIA_WEBHOOK_SPOOL=str(folder / "spool"), **prefect_server)
        log_path = folder / "serve.log"
        with open(log_path, "w") as log:
            serve = start_serving(["--interval", "3600"], folder, env, log)
            try:
                yield Serving(settings, folder, serve, log_path)
            finally:
                stop_group(serve, signal.SIGINT, 60)


@pytest.mark.prefect_server
def test_a_served_schedule_runs_sync_and_produces_the_exports(served, prefect_server):
    api = prefect_server["PREFECT_API_URL"]
    runs = wait_for(lambda: served.deployment_runs(api), 240, "a scheduled run", every=2)
    assert runs[0]["parameters"] == {"full": False}  # nothing secret in the parameters
    public = pd.read_csv(served.settings.export_dir / "public" / "bibliotheque_ia.csv")
    assert len(public) == DEMO_PUBLISHED
    statuses = {s for (s,) in query(served.settings, "SELECT status FROM sync_runs")}
    assert "succeeded" in statuses


def files_of(folder: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def post(api: str, path: str, body: dict) -> list[dict]:
    response = requests.post(f"{api}{path}", json=body, timeout=10)
    response.raise_for_status()
    found: list[dict] = response.json()
    return found


def latest_adhoc_run(api: str, state: str) -> dict:
    return next(r for r in flow_runs(api, "bibia-sync", state) if not r["deployment_id"])


@dataclass(frozen=True)
class FlowRun:
    """A `bibia sync` run as a flow run of the module's Prefect server: what the command said,
    the run as Prefect's API tells it, the exports' files before it."""

    settings: Settings
    done: subprocess.CompletedProcess[str]
    api: str
    run: dict[str, Any]
    before: dict[Path, bytes]


def demo_emulator(data: dict[str, Any]) -> TallyEmulator:
    """The demo form served by a Tally emulator, started; `with` stops it (module fixtures
    cannot take the function-scoped `emulator`)."""
    return start_emulator(EmulatedForm.from_json(copy.deepcopy(data)))


FAILED_LINE = "l'étape export échoue exprès (BIBIA_FAILPOINT=export)"


@pytest.fixture(scope="module")
def failed_run(prefect_server, demo_form_data, tmp_path_factory) -> FlowRun:
    """After a first sync, `bibia sync --full` under Prefect failing at its export step: what
    Prefect, the warehouse and the exports say of it is tested on this one run."""
    with demo_emulator(demo_form_data) as emulator:
        settings = make_settings(tmp_path_factory.mktemp("failed-run"), emulator.url)
        demo_synced(settings)
        before = files_of(settings.export_dir / "public")
        done = bibia_cli(
            settings, "sync", "--full", timeout=180, BIBIA_FAILPOINT="export", **prefect_server
        )
    api = prefect_server["PREFECT_API_URL"]
    return FlowRun(settings, done, api, latest_adhoc_run(api, "FAILED"), before)


@pytest.mark.prefect_server
def test_a_failed_run_is_failed_in_prefect_and_in_sync_runs(failed_run):
    assert failed_run.done.returncode == 1
    assert failed_run.done.stderr.strip().splitlines() == [f"bibia: {FAILED_LINE}"]
    failed = flow_runs(failed_run.api, "bibia-sync", "FAILED")
    assert [r["parameters"] for r in failed if not r["deployment_id"]] == [{"full": True}]
    ((status, error),) = query(
        failed_run.settings, "SELECT status, error FROM sync_runs ORDER BY started_at DESC LIMIT 1"
    )
    assert status == "failed" and "BIBIA_FAILPOINT" in error
    after = files_of(failed_run.settings.export_dir / "public")
    assert after == failed_run.before


def test_serve_without_a_prefect_server_is_a_configuration_error(settings):
    done = bibia_cli(settings, "serve", "--interval", "60", timeout=60)
    assert done.returncode == 2
    assert "PREFECT_API_URL" in done.stderr and "Traceback" not in done.stderr


def test_prefect_yaml_deploys_the_real_flows():
    import importlib

    import yaml
    from prefect import Flow

    spec = yaml.safe_load((ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert {d["name"] for d in spec["deployments"]} == {"hourly", "weekly-full", "rebuild"}
    for deployment in spec["deployments"]:
        path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        target = getattr(module, name)
        assert isinstance(target, Flow)
        assert set(deployment.get("parameters", {})) <= set(target.parameters.properties)
        assert deployment["concurrency_limit"] == 1


# -- bibia, visible in Prefect ----------------------------------------------------------------
TOKEN = "ghp_never-seen-anywhere-" + "x" * 20


@pytest.fixture(scope="module")
def delivered_run(prefect_server, demo_form_data, tmp_path_factory) -> FlowRun:
    """`bibia sync` under Prefect, delivering the site to a git repository (with a token) and
    sending its mail (with a password): the API's view and the UI's are tested on this run."""
    tmp_path = tmp_path_factory.mktemp("delivered-run")
    site = tmp_path / "site.git"
    subprocess.run(["git", "init", "-q", "--bare", str(site)], check=True)
    delivery = {"BIBIA_PUBLISH_SITE_REPO": site.as_uri(), "BIBIA_GIT_TOKEN": TOKEN}
    with demo_emulator(demo_form_data) as emulator, MailServer(tmp_path / "tls") as smtp:
        settings = make_settings(tmp_path, emulator.url)
        mail = {**smtp.environment(), "BIBIA_MAIL_OPTOUTS": str(tmp_path / "optouts.txt")}
        done = bibia_cli(settings, "sync", timeout=180, **prefect_server, **delivery, **mail)
        assert done.returncode == 0, done.stderr
        assert smtp.received  # sent from the flow run's task
    api = prefect_server["PREFECT_API_URL"]
    return FlowRun(settings, done, api, latest_adhoc_run(api, "COMPLETED"), {})


@pytest.mark.prefect_server
def test_a_flow_run_shows_bibias_log_lines_and_a_summary_artifact(delivered_run):
    api, run = delivered_run.api, delivered_run.run
    tasks = post(api, "/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    assert any(t["name"].startswith("deliver") for t in tasks)  # delivery: its own task
    assert any(t["name"].startswith("outbox") for t in tasks)
    assert any(t["name"].startswith("mail") for t in tasks)
    logs = post(api, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}})
    messages = [entry["message"] for entry in logs]
    summary = [m for m in messages if m.startswith("exécution ")]
    assert summary and f"{DEMO_PUBLISHED} projets exportés" in summary[0]
    artifacts = post(
        api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
    )
    (artifact,) = [a for a in artifacts if a["key"] == "bibia-run-summary"]
    assert "## Retenues, et pourquoi" in artifact["data"]
    assert f"| {DEMO_PUBLISHED} |" in artifact["data"]  # the counts' table
    assert "SIRET invalide" in artifact["data"]  # what held a submission back, and why
    assert "## Livraisons" in artifact["data"] and "site : commit " in artifact["data"]
    assert "## Messages" in artifact["data"] and "message(s) envoyé(s)" in artifact["data"]
    done = delivered_run.done
    said = json.dumps([run, tasks, logs, artifacts]) + done.stdout + done.stderr
    assert TOKEN not in said  # not a parameter, a log line or an artifact
    assert MAIL_PASSWORD not in said


@pytest.mark.prefect_server
def test_a_failed_flow_run_says_why_in_its_artifact(failed_run):
    api, run = failed_run.api, failed_run.run
    artifacts = post(
        api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
    )
    (artifact,) = [a for a in artifacts if a["key"] == "bibia-run-summary"]
    assert "**Échec**" in artifact["data"] and "BIBIA_FAILPOINT=export" in artifact["data"]
    assert run["state"]["message"] == FAILED_LINE  # the run says why in one line
    tasks = post(api, "/task_runs/filter", {"flow_runs": {"id": {"any_": [run["id"]]}}})
    states = {t["name"].rsplit("-", 1)[0]: t["state"]["type"] for t in tasks}
    assert states["export"] == "FAILED" and states["land"] == "COMPLETED", states
    assert "site" not in states  # nothing runs after the step that failed
    (export,) = [t for t in tasks if t["name"].startswith("export")]
    assert export["state"]["message"] == FAILED_LINE
    logs = post(api, "/logs/filter", {"logs": {"flow_run_id": {"any_": [run["id"]]}}})
    assert not [e for e in logs if "Traceback" in e["message"]]  # a line, not a traceback
    assert any(e["message"] == FAILED_LINE for e in logs)


@pytest.mark.prefect_server
def test_serve_demo_serves_the_demo_without_a_key(prefect_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALLY_", "BIBIA_"))}
    env.update(prefect_server)
    log_path = tmp_path / "serve.log"
    log = open(log_path, "w")  # noqa: SIM115 - closed below
    serve = start_serving(["--demo", "--interval", "3600"], tmp_path, env, log)  # a run now
    public = tmp_path / "demo-output" / "exports" / "public" / "bibliotheque_ia.csv"
    try:

        def exported() -> bool:
            if serve.poll() is not None:
                raise AssertionError(log_path.read_text())
            return public.exists()

        wait_for(exported, 240, "a scheduled demo run to export", every=1)
    finally:
        stop_group(serve, signal.SIGINT, 60)
        log.close()
    assert len(pd.read_csv(public)) == DEMO_PUBLISHED


@pytest.mark.prefect_server
def test_prefect_yaml_refuses_to_deploy_without_bibia_home(prefect_server):
    api = prefect_server["PREFECT_API_URL"]
    env = {k: v for k, v in os.environ.items() if k != "BIBIA_HOME"}
    env.update(prefect_server)
    # the pool `prefect work-pool create bibia --type process` makes, asked of the API (one
    # Prefect command fewer to start)
    pool = {"name": "bibia", "type": "process"}
    requests.post(f"{api}/work_pools/", json=pool, timeout=10).raise_for_status()
    deploy = [sys.executable, "-m", "prefect", "--no-prompt", "deploy", "--all"]
    refused = subprocess.run(deploy, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0
    assert "set BIBIA_HOME" in refused.stdout + refused.stderr
    names = {"any_": ["hourly", "weekly-full", "rebuild"]}
    assert post(api, "/deployments/filter", {"deployments": {"name": names}}) == []
    done = subprocess.run(
        deploy,
        cwd=ROOT,
        env={**env, "BIBIA_HOME": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    deployed = post(api, "/deployments/filter", {"deployments": {"name": names}})
    assert {d["name"] for d in deployed} == {"hourly", "weekly-full", "rebuild"}
    pull = deployed[0]["pull_steps"][0]["prefect.deployments.steps.set_working_directory"]
    assert pull["directory"] == str(ROOT)


@pytest.mark.prefect_server
def test_the_prefect_ui_shows_bibias_lines_and_summary(delivered_run, browser):
    """In a real Chromium: the run's page lists bibia's lines, its artifact renders the summary.
    `BIBIA_SCREENSHOTS=docs/images` keeps the screenshots docs/operations.md shows."""
    api, run = delivered_run.api, delivered_run.run
    ui = api.removesuffix("/api")
    browser.set_window_size(1400, 1000)
    browser.get(f"{ui}/runs/flow-run/{run['id']}")
    text = lambda: browser.find_element(By.TAG_NAME, "body").text  # noqa: E731
    wait_for(lambda: "projets exportés" in text(), 90, "bibia's summary line in its logs")
    line = browser.find_element(  # the deepest element holding bibia's summary line
        By.XPATH,
        "//*[contains(., 'projets exportés') and not(*[contains(., 'projets exportés')])]",
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'end'})", line)
    time.sleep(0.5)  # the log list renders what scrolled into view
    screenshot(browser, "prefect-journal")
    artifacts = post(
        api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
    )
    (artifact,) = [a for a in artifacts if a["key"] == "bibia-run-summary"]
    browser.get(f"{ui}/artifacts/artifact/{artifact['id']}")
    wait_for(lambda: "Retenues, et pourquoi" in text(), 90, "the summary artifact")
    screenshot(browser, "prefect-resume")


@pytest.mark.prefect_server
def test_a_webhook_event_asks_prefect_for_a_deployment_run(served, prefect_server, demo_form):
    """With a Prefect server, the receiver asks for a run of the served deployment (which never
    runs twice at once) instead of running a sync itself."""
    from bibia.emulators.tally import webhook_event
    from tests.test_webhook import exported_names, new_submission, start_receiver, wait_until

    api = prefect_server["PREFECT_API_URL"]
    done = wait_for(lambda: served.deployment_runs(api), 240, "the schedule's run", every=2)
    receiver = start_receiver(served.settings, served.folder, **prefect_server)
    try:
        sent = new_submission("wh-prefect", "Projet publié par Prefect")
        assert receiver.send(webhook_event(demo_form, sent, "evt-prefect")).status_code == 200
        wait_until(
            lambda: "Projet publié par Prefect" in exported_names(served.settings),
            180,
            "the export",
        )
    finally:
        receiver.process.terminate()
        receiver.process.wait(timeout=10)
    asked = wait_for(
        lambda: len(served.deployment_runs(api)) > len(done), 60, "the run Prefect made"
    )
    assert asked  # the served deployment ran it: the receiver ran no sync of its own
