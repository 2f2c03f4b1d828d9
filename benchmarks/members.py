"""The members' space under load: N logged-in clients reading pages at once on loopback,
beside the same pages served as plain static files (Starlette's StaticFiles on the same
uvicorn, no login, no journal), issue 30's yardstick.

    python3 run.py bench-members [--clients 200] [--seconds 20] [--exports FOLDER]

The demo is published into a temporary folder (or `--exports` names a `restricted/` export's
parent), a real OpenID provider (node-oidc-provider) gets one account per client, each client
logs in through it (the provider's form, as a browser would), then every client reads pages
of the members' edition in a loop for `--seconds`: the list, the key figures, the map, the
data page and project pages, at random. The figures: requests per second, p50 and p99 latency,
errors (any answer but 200). Each server runs in a process of its own; the load comes from one
process of asyncio clients (httpx), on the same two cores: its own cost bounds what is
measured, and is the same for both servers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import random
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from bibia.demo import DEMO_FORM_PATH
from bibia.demo.members import DEMO_SIREN, DEMO_SIRET
from bibia.emulators.openid import Client, OpenIdProvider
from bibia.emulators.tally import EmulatedForm, TallyEmulator
from bibia.pipeline import run_job
from bibia.settings import Settings

CLIENT_ID, CLIENT_SECRET = "bibia-bench", "b" * 40
STATIC_APP = """
import sys
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
app = Starlette(routes=[Mount("/", StaticFiles(directory=sys.argv[1], html=True))])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", server_header=False)
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def publish_demo(folder: Path) -> Path:
    """The demo synced into `folder`; returns its exports' folder."""
    from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID

    data = json.loads(Path(DEMO_FORM_PATH).read_text(encoding="utf-8"))
    with TallyEmulator([EmulatedForm.from_json(copy.deepcopy(data))], DEMO_API_KEY) as tally:
        settings = Settings(
            tally_api_key=DEMO_API_KEY,
            tally_form_id=DEMO_FORM_ID,
            tally_api_url=tally.url,
            tally_max_requests_per_minute=0,
            db_path=folder / "bibia.duckdb",
            export_dir=folder / "exports",
            decisions_path=folder / "decisions.yaml",
            enrichment_enabled=False,
        )
        run_job(settings, "sync")
    return settings.export_dir


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=1)
            return
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer")


@contextlib.contextmanager
def process(args: list[str], env: dict[str, str] | None = None) -> Iterator[None]:
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        yield
    finally:
        child.terminate()
        child.wait(20)


def pages(root: Path) -> list[str]:
    site = root / "restricted" / "site"
    projects = sorted(p.name for p in (site / "projets").glob("*.html"))
    fixed = ["index.html", "chiffres.html", "carte.html", "donnees.html"]
    return [f"/site/{p}" for p in fixed] + [f"/site/projets/{p}" for p in projects]


def login(client: httpx.Client, base: str, account: str) -> None:
    answer = client.get(f"{base}/connexion", params={"next": "/site/"})
    answer = client.get(answer.headers["location"], follow_redirects=True)
    action = re.search(r'action="([^"]+)"', answer.text)
    assert action is not None
    answer = client.post(answer.url.join(action.group(1)), data={"login": account})
    while answer.status_code in (302, 303):
        answer = client.get(answer.url.join(answer.headers["location"]))
    if answer.status_code != 200:
        raise SystemExit(f"login of {account} failed: {answer.status_code}")


async def load(
    base: str, cookies: list[dict[str, str]], paths: list[str], seconds: float
) -> tuple[list[float], int, float]:
    """Every client reads pages at random for `seconds`: latencies (s), errors, elapsed."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    end = time.monotonic() + seconds

    async def one(jar: dict[str, str], seed: int) -> None:
        nonlocal errors
        chooser = random.Random(seed)
        async with httpx.AsyncClient(base_url=base, cookies=jar, limits=limits) as client:
            while time.monotonic() < end:
                started = time.perf_counter()
                try:
                    answer = await client.get(chooser.choice(paths), timeout=30)
                    await answer.aread()
                    ok = answer.status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started)
                errors += not ok

    started = time.monotonic()
    await asyncio.gather(*(one(jar, i) for i, jar in enumerate(cookies)))
    return latencies, errors, time.monotonic() - started


def figures(name: str, latencies: list[float], errors: int, elapsed: float) -> str:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1_000
    p99 = ordered[int(len(ordered) * 0.99) - 1] * 1_000
    return (
        f"{name}: {len(ordered)} requests in {elapsed:.1f} s = "
        f"{len(ordered) / elapsed:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, errors {errors}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--exports", type=Path, help="an exports folder (default: the demo)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        exports = args.exports or publish_demo(folder / "demo")
        paths = pages(exports)
        members = folder / "members.yaml"
        members.write_text(
            "changes:\n- {change_id: b1, action: add, target: '" + DEMO_SIREN + "', by: bench, "
            "at: '2026-01-01T00:00:00Z', reason: bench}\n",
            encoding="utf-8",
        )
        port, static_port = free_port(), free_port()
        base = f"http://127.0.0.1:{port}"
        accounts = {
            f"membre{i}@demo-commune.fr": {
                "email": f"membre{i}@demo-commune.fr",
                "given_name": "Membre",
                "usual_name": str(i),
                "uid": str(i),
                "siret": DEMO_SIRET,
                "idp_id": "bench",
            }
            for i in range(args.clients)
        }
        client = Client(
            CLIENT_ID, CLIENT_SECRET, [f"{base}/connexion/retour"], [f"{base}/deconnexion/retour"]
        )
        with OpenIdProvider([client], accounts) as provider:
            env = {
                **os.environ,
                "BIBIA_EXPORT_DIR": str(exports),
                "BIBIA_DB": str(folder / "bibia.duckdb"),
                "BIBIA_MEMBERS": str(members),
                "BIBIA_MEMBERS_JOURNAL": str(folder / "journal.sqlite"),
                "BIBIA_MEMBERS_PORT": str(port),
                "BIBIA_MEMBERS_URL": base,
                "BIBIA_SESSION_SECRET": "s" * 40,
                "PROCONNECT_DISCOVERY_URL": provider.discovery_url,
                "PROCONNECT_CLIENT_ID": CLIENT_ID,
                "PROCONNECT_CLIENT_SECRET": CLIENT_SECRET,
            }
            server = [sys.executable, "-m", "bibia.cli", "members", "serve"]
            static = [
                sys.executable,
                "-c",
                STATIC_APP,
                str(exports / "restricted"),
                str(static_port),
            ]
            with process(server, env), process(static):
                wait_for(f"{base}/_membres/membres.css")
                wait_for(f"http://127.0.0.1:{static_port}/site/index.html")
                started = time.monotonic()
                jars = []
                for account in accounts:
                    with httpx.Client() as browser:
                        login(browser, base, account)
                        jars.append({"session": browser.cookies["session"]})
                took = time.monotonic() - started
                print(f"{args.clients} logins through the provider in {took:.1f} s")
                print(
                    f"{len(paths)} pages of the members' edition, {args.clients} clients, "
                    f"{args.seconds:g} s each"
                )
                got = asyncio.run(load(base, jars, paths, args.seconds))
                print(figures("members' space (login, membership, journal)", *got))
                anonymous = [{} for _ in jars]
                got = asyncio.run(
                    load(f"http://127.0.0.1:{static_port}", anonymous, paths, args.seconds)
                )
                print(figures("static files (StaticFiles, same uvicorn)", *got))
                with sqlite3.connect(folder / "journal.sqlite") as journal:
                    reads = journal.execute("SELECT count(*) FROM reads").fetchall()[0][0]
                print(f"journal: {reads} reads recorded")
    return 0


if __name__ == "__main__":
    sys.exit(main())
