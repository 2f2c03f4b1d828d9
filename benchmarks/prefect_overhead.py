"""What Prefect costs a one-off `bibia sync --demo`, on this machine.

    python3 run.py python -m benchmarks.prefect_overhead [--server URL]

Three ways to run the same sync of the demo form, each in a fresh process, each timed from the
process start to its end (median of --repeat runs):
- direct: what `bibia sync` does when no Prefect server is configured;
- temporary server: the same steps as a Prefect flow with no PREFECT_API_URL, where Prefect
  starts a temporary API server for the run (what a naive `bibia sync` would cost);
- server: the flow, tracked by an already running Prefect server (--server).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import sys, time
from pathlib import Path
from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID, DEMO_FORM_PATH
from bibia.pipeline import run_job
from bibia.settings import Settings
from bibia.emulators.tally import TallyEmulator, load_form

mode, out = sys.argv[1], Path(sys.argv[2])
with TallyEmulator([load_form(str(DEMO_FORM_PATH))], api_key=DEMO_API_KEY) as emulator:
    settings = Settings.from_env().with_(
        tally_api_url=emulator.url, tally_api_key=DEMO_API_KEY, tally_form_id=DEMO_FORM_ID,
        tally_max_requests_per_minute=0, db_path=out / "bibia.duckdb", export_dir=out / "exports")
    if mode == "direct":
        run_job(settings, "sync")
    else:
        from flows.sync import FlowContext, run_flow_in_process
        run_flow_in_process("sync", FlowContext(settings))
"""


def once(mode: str, server: str | None) -> float:
    env = {
        **os.environ,
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    }
    env.pop("PREFECT_API_URL", None)
    if mode == "server" and server:
        env["PREFECT_API_URL"] = server
    with tempfile.TemporaryDirectory() as out:
        if mode == "temporary server":
            env["PREFECT_HOME"] = str(Path(out) / "prefect-home")  # a cold start, as in CI
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", CHILD, mode.split()[0], out],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--server", help="PREFECT_API_URL of a running Prefect server")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    modes = ["direct", "temporary server"] + (["server"] if args.server else [])
    print("| how `bibia sync --demo` runs | median wall time (s) | runs |")
    print("|---|---:|---:|")
    for mode in modes:
        times = [once(mode, args.server) for _ in range(args.repeat)]
        print(
            f"| {mode} | {statistics.median(times):.1f} | {', '.join(f'{t:.1f}' for t in times)} |"
        )


if __name__ == "__main__":
    main()
