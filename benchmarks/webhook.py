"""How fast `bibia webhook` answers Tally under load, and how soon an event is public.

    python3 run.py python -m benchmarks.webhook [--events 1000] [--clients 10]

1. Load: `bibia webhook` in a process of its own (its run trigger off: a very long debounce)
   receives `--events` signed `FORM_RESPONSE` events of the demo form (about 19 KB each) from
   `--clients` threads at once, each with its own keep-alive connection, a tenth of them sent
   twice (Tally's retries), while `bibia sync --full` runs again and again on the same
   warehouse and spool (against the demo form served by the emulator, slowed down to keep the
   warehouse busy): those syncs land events as they come. Prints the latency of each answer
   (p50, p90, p99, max) and the throughput, and checks that every event is answered 200, kept
   once, and landed at most once.
2. Latency: on the demo, from one event sent to the public export holding its project, with
   the receiver's trigger on (its default debounce, a local `bibia sync`).
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

from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID, DEMO_FORM_PATH  # noqa: E402
from bibia.emulators.tally import TallyEmulator, load_form, webhook_event  # noqa: E402
from bibia.webhook import signature  # noqa: E402

SECRET = "benchmark-secret"


def sync_environment(tally_url: str, work: Path) -> dict[str, str]:
    """What a `bibia sync` of the demo form served at `tally_url` needs, its files in `work`."""
    return {
        "TALLY_API_URL": tally_url,
        "TALLY_API_KEY": DEMO_API_KEY,
        "TALLY_FORM_ID": DEMO_FORM_ID,
        "TALLY_MAX_REQUESTS_PER_MINUTE": "0",
        "BIBIA_DB": str(work / "bibia.duckdb"),
        "BIBIA_EXPORT_DIR": str(work / "exports"),
        "BIBIA_DECISIONS": str(work / "decisions.yaml"),
        "BIBIA_ENRICHMENT": "off",
    }


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
    syncing = threading.Event()
    syncs: list[int] = []
    slow = TallyEmulator([form], api_key=DEMO_API_KEY, delay_seconds=0.3).start()
    sync_env = {
        **env,
        **sync_environment(slow.url, work),
        "BIBIA_LOCK_TIMEOUT_SECONDS": "60",
    }

    def sync_again_and_again() -> None:
        while not syncing.is_set():
            done = subprocess.run(
                [sys.executable, "-m", "bibia", "sync", "--full"],
                cwd=ROOT,
                env=sync_env,
                capture_output=True,
                text=True,
            )
            syncs.append(done.returncode)

    syncer = threading.Thread(target=sync_again_and_again)
    syncer.start()
    time.sleep(2)  # a sync holds the warehouse when the events come
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
        syncing.set()
        syncer.join()
    last = subprocess.run(  # the events the syncs have not landed yet
        [sys.executable, "-m", "bibia", "sync"], cwd=ROOT, env=sync_env, capture_output=True
    )
    slow.stop()
    spool = work / "spool"
    kept = len(
        {p.name for folder in ("pending", "landed") for p in (spool / folder).glob("*.json")}
    )
    import duckdb

    con = duckdb.connect(str(work / "bibia.duckdb"), read_only=True)
    landed, distinct = con.execute(
        "SELECT count(*), count(DISTINCT submission_id) FROM raw_tally_submissions "
        "WHERE submission_id LIKE 'bench-%'"
    ).fetchall()[0]
    con.close()
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    print(
        f"{len(ms)} requests ({args.events} events, {len(ms) - args.events} replays) from "
        f"{args.clients} clients in {wall:.2f} s: {len(ms) / wall:.0f} requests/s"
    )
    print(f"latency ms: p50 {q[49]:.1f}, p90 {q[89]:.1f}, p99 {q[98]:.1f}, max {ms[-1]:.1f}")
    print(f"answers: {sorted(set(statuses))}; events kept in the spool: {kept}")
    print(f"event size: {statistics.mean(len(b) for b in bodies) / 1024:.1f} KiB on average")
    print(
        f"meanwhile {len(syncs)} full syncs on the same warehouse (exit codes "
        f"{sorted(set(syncs))}); landed: {landed} raw rows, {distinct} distinct submissions"
    )
    ok = set(statuses) == {200} and kept == args.events and last.returncode == 0
    if not ok or landed != distinct or landed != args.events:
        raise SystemExit("FAILED: every event answered 200, kept once, landed once")
    latency()


def latency() -> None:
    """On the demo: one event, until the public export holds its project."""
    import csv

    form = load_form(str(DEMO_FORM_PATH))
    work = Path(tempfile.mkdtemp(prefix="bibia-webhook-latency-"))
    with TallyEmulator([form], api_key=DEMO_API_KEY) as tally:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        env = {
            **os.environ,
            **sync_environment(tally.url, work),
            "TALLY_WEBHOOK_SECRET": SECRET,
            "BIBIA_WEBHOOK_PORT": str(port),
        }
        subprocess.run(
            [sys.executable, "-m", "bibia", "sync"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        receiver = subprocess.Popen(
            [sys.executable, "-m", "bibia", "webhook"], cwd=ROOT, env=env, stderr=subprocess.DEVNULL
        )
        try:
            time.sleep(3)
            sent = dict(form.submissions[0], id="latency-1", submittedAt="2026-11-27T12:00:00.000Z")
            sent["responses"] = [
                {**r, "answer": "Projet de la mesure"} if r["questionId"] == "qB3m9Z" else r
                for r in sent["responses"]
            ]
            body = json.dumps(webhook_event(form, sent, "evt-latency")).encode()
            headers = {
                "Content-Type": "application/json",
                "Tally-Signature": signature(SECRET, body),
            }
            public = work / "exports" / "public" / "bibliotheque_ia.csv"
            started = time.perf_counter()
            requests.post(
                f"http://127.0.0.1:{port}/tally/webhook", data=body, headers=headers, timeout=10
            ).raise_for_status()
            answered = time.perf_counter() - started
            while True:
                with open(public, encoding="utf-8") as handle:
                    if any(
                        r["nom_projet"] == "Projet de la mesure" for r in csv.DictReader(handle)
                    ):
                        break
                if time.perf_counter() - started > 120:
                    raise SystemExit("FAILED: the project never reached the export")
                time.sleep(0.05)
            took = time.perf_counter() - started
        finally:
            receiver.terminate()
            receiver.wait(timeout=10)
    print(
        f"latency on the demo: answered in {answered * 1000:.1f} ms, in the public export "
        f"{took:.1f} s after the event (debounce 2 s, then a local `bibia sync`)"
    )


if __name__ == "__main__":
    main()
