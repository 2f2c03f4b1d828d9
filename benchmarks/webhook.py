"""How fast `bibia webhook` answers Tally, under load, on this machine.

    python3 run.py python -m benchmarks.webhook [--events 1000] [--clients 10]

Starts `bibia webhook` in a process of its own (as in production, with its run trigger off:
a very long debounce), then sends `--events` signed `FORM_RESPONSE` events of the demo form
(about 19 KB each) from `--clients` threads at once, each with its own keep-alive connection,
a tenth of them sent twice (Tally's retries). Prints the latency of each answer (p50, p90,
p99, max), the throughput, and checks that every event is answered 200 and kept exactly once.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bibia.demo import DEMO_FORM_PATH  # noqa: E402
from bibia.emulators.tally import load_form, webhook_event  # noqa: E402
from bibia.webhook import signature  # noqa: E402

SECRET = "benchmark-secret"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000)
    parser.add_argument("--clients", type=int, default=10)
    args = parser.parse_args()
    form = load_form(str(DEMO_FORM_PATH))
    bodies = []
    for i in range(args.events):
        sent = dict(form.submissions[i % len(form.submissions)], id=f"bench-{i:05d}")
        bodies.append(json.dumps(webhook_event(form, sent, f"evt-bench-{i:05d}")).encode())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    work = Path(tempfile.mkdtemp(prefix="bibia-webhook-"))
    env = {
        **os.environ,
        "TALLY_WEBHOOK_SECRET": SECRET,
        "BIBIA_WEBHOOK_PORT": str(port),
        "BIBIA_WEBHOOK_SPOOL": str(work / "spool"),
        "BIBIA_WEBHOOK_DEBOUNCE_SECONDS": "600",  # the receiver alone is measured
        "BIBIA_DB": str(work / "bibia.duckdb"),
    }
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bibia", "webhook"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the receiver did not start") from None
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/tally/webhook"
        latencies: list[float] = []
        statuses: list[int] = []
        lock = threading.Lock()

        def client(number: int) -> None:
            session = requests.Session()
            mine = bodies[number :: args.clients]
            replays = mine[::10]
            for body in [*mine, *replays]:
                headers = {
                    "Content-Type": "application/json",
                    "Tally-Signature": signature(SECRET, body),
                }
                started = time.perf_counter()
                answer = session.post(url, data=body, headers=headers, timeout=10)
                took = time.perf_counter() - started
                with lock:
                    latencies.append(took)
                    statuses.append(answer.status_code)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
    kept = len(list((work / "spool" / "pending").glob("*.json")))
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(
        f"{len(ms)} requests ({args.events} events, {len(ms) - args.events} replays) from "
        f"{args.clients} clients in {wall:.2f} s: {len(ms) / wall:.0f} requests/s"
    )
    print(f"latency ms: p50 {q[49]:.1f}, p90 {q[89]:.1f}, p99 {q[98]:.1f}, max {ms[-1]:.1f}")
    print(f"answers: {sorted(set(statuses))}; events kept in the spool: {kept}")
    print(f"event size: {statistics.mean(len(b) for b in bodies) / 1024:.1f} KiB on average")
    if set(statuses) != {200} or kept != args.events:
        raise SystemExit("FAILED: every event must be answered 200 and kept once")


if __name__ == "__main__":
    main()
