"""bibia at scale, side by side with what a user would pick instead (dlt's rest_api source).

    python3 run.py bench [--n 50000] [--small 5000]
        [--repeat 3] [--prefect] [--write docs/benchmarks.md]

A synthetic form of N valid submissions (realistic answers of every shape, 12 authorities) is
served by the Tally emulator on loopback, pacing off; the government APIs are emulated too.
Each measurement runs in a fresh process: wall time from process start to exit, peak resident
memory (ru_maxrss of that process), and for bibia the pipeline's own time as recorded in
`sync_runs`. Medians of --repeat runs.

  (a) fetch only: every page fetched and parsed, nothing else (the floor);
  (b) `bibia sync --full` on an empty warehouse;
  (c) `bibia sync` bringing 100 new submissions into a warehouse holding N;
  (d) `bibia rebuild` of that warehouse;
  (e) dlt's rest_api source loading the same submissions into DuckDB (extract and load only).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID  # noqa: E402
from bibia.demo.synthetic import more_submissions, synthetic_form  # noqa: E402
from bibia.enrichment.emulator import GovApisEmulator  # noqa: E402
from bibia.tally.emulator import EmulatedForm, TallyEmulator  # noqa: E402

FETCH_ONLY = """
import sys
from datetime import UTC, datetime
from bibia.extract import Window, extract_all
from bibia.settings import Settings
submissions = extract_all(Settings.from_env(), Window(None, datetime.now(UTC)))
assert len(submissions) == int(sys.argv[1]), len(submissions)
"""

DLT_LOAD = """
import os, sys
import dlt
from dlt.sources.rest_api import rest_api_source

source = rest_api_source({
    "client": {
        "base_url": os.environ["TALLY_API_URL"],
        "auth": {"type": "bearer", "token": os.environ["TALLY_API_KEY"]},
        "headers": {"tally-version": "2025-02-01"},
        "paginator": {"type": "page_number", "base_page": 1, "page_param": "page",
                      "total_path": None, "stop_after_empty_page": True},
    },
    "resources": [{
        "name": "submissions",
        "endpoint": {
            "path": f"forms/{os.environ['TALLY_FORM_ID']}/submissions",
            "params": {"limit": 500, "filter": "completed"},
            "data_selector": "submissions",
        },
        "primary_key": "id",
        "write_disposition": "merge",
    }],
})
pipeline = dlt.pipeline(
    pipeline_name="tally_bench", pipelines_dir=sys.argv[2],
    destination=dlt.destinations.duckdb(os.path.join(sys.argv[2], "dlt.duckdb")),
    dataset_name="tally",
)
info = pipeline.run(source)
info.raise_on_failed_jobs()
with pipeline.sql_client() as client:
    (count,), = client.execute_sql("SELECT count(*) FROM submissions")
assert count == int(sys.argv[1]), count
"""


@dataclass
class Measure:
    wall: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    pipeline: list[float] = field(default_factory=list)

    def median(self, values: list[float]) -> float | None:
        return statistics.median(values) if values else None


def _status_kib(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as handle:
            children = [int(c) for c in handle.read().split()]
    except (OSError, ValueError):
        return found
    for child in children:
        found += [child, *_descendants(child)]
    return found


def tree_rss_mib(pid: int) -> float:
    """Resident memory of the process and its children (bibia's worker process) right now;
    for the process itself, its peak so far (VmHWM). Not ru_maxrss: Linux carries it across
    exec, so a child forked from this process, which holds the synthetic forms, would inherit
    this process's size."""
    own = _status_kib(pid, "VmHWM:")
    return (own + sum(_status_kib(c, "VmRSS:") for c in _descendants(pid))) / 1024


def run_child(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB, the process and its children) of one child process,
    read every 20 ms."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_rss_mib(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            errors.seek(0)
            error = errors.read().decode("utf-8", "replace")
            raise SystemExit(f"{' '.join(args[:4])} failed:\n{error[-3000:]}")
    return wall, peak


def pipeline_seconds(db: Path) -> float:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        ((seconds,),) = con.execute(
            "SELECT epoch(ended_at) - epoch(started_at) FROM sync_runs "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchall()
    finally:
        con.close()
    return float(seconds)


def environment(tally_url: str, gov: GovApisEmulator, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALLY_", "BIBIA_"))}
    env.pop("PREFECT_API_URL", None)
    env.update(
        TALLY_API_URL=tally_url,
        TALLY_API_KEY=DEMO_API_KEY,
        TALLY_FORM_ID=DEMO_FORM_ID,
        TALLY_MAX_REQUESTS_PER_MINUTE="0",
        BIBIA_DB=str(work / "bibia.duckdb"),
        BIBIA_EXPORT_DIR=str(work / "exports"),
        ENRICHMENT_REQUESTS_PER_SECOND="0",
        RECHERCHE_ENTREPRISES_URL=gov.urls["recherche_entreprises_url"],
        GEO_API_URL=gov.urls["geo_api_url"],
        BAN_API_URL=gov.urls["ban_api_url"],
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(ROOT),
    )
    return env


BIBIA = [sys.executable, "-m", "bibia.cli"]


def measure_size(
    n: int, repeat: int, with_dlt: bool, prefect: str | None = None
) -> dict[str, Measure]:
    form = synthetic_form(n)
    later = more_submissions(form, 100)
    base = TallyEmulator([EmulatedForm.from_json(form)], api_key=DEMO_API_KEY).start()
    grown_form = dict(form, submissions=form["submissions"] + later)
    grown = TallyEmulator([EmulatedForm.from_json(grown_form)], api_key=DEMO_API_KEY).start()
    gov = GovApisEmulator().start()
    for server in (base, grown):  # index the forms now, as Tally has its own indexed already
        for emulated in server.forms.values():
            server.newest_first(emulated)
    results = {k: Measure() for k in ("a", "b", "p", "c", "d", "e")}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            for i in range(repeat):
                work = tmp_path / f"run{i}"
                work.mkdir()
                env = environment(base.url, gov, work)

                def measure(
                    key: str, args: list[str], env: dict[str, str], cwd: Path, bibia_db: bool = True
                ) -> None:
                    wall, rss = run_child(args, env, cwd)
                    results[key].wall.append(wall)
                    results[key].rss_mib.append(rss)
                    if bibia_db:
                        results[key].pipeline.append(pipeline_seconds(cwd / "bibia.duckdb"))

                measure("a", [sys.executable, "-c", FETCH_ONLY, str(n)], env, work, False)
                measure("b", [*BIBIA, "sync", "--full"], env, work)
                if prefect:
                    flow_work = tmp_path / f"flow{i}"
                    flow_work.mkdir()
                    env_p = {**environment(base.url, gov, flow_work), "PREFECT_API_URL": prefect}
                    measure("p", [*BIBIA, "sync", "--full"], env_p, flow_work)
                    shutil.rmtree(flow_work)
                incremental = tmp_path / f"inc{i}"
                shutil.copytree(work, incremental)
                env_c = environment(grown.url, gov, incremental)
                measure("c", [*BIBIA, "sync"], env_c, incremental)
                measure("d", [*BIBIA, "rebuild"], env_c, incremental)
                if with_dlt:
                    dlt_dir = tmp_path / f"dlt{i}"
                    dlt_dir.mkdir()
                    env_e = {**env, "RUNTIME__LOG_LEVEL": "WARNING", "DLT_DATA_DIR": str(dlt_dir)}
                    measure(
                        "e",
                        [sys.executable, "-c", DLT_LOAD, str(n), str(dlt_dir)],
                        env_e,
                        dlt_dir,
                        False,
                    )
                shutil.rmtree(work)
                shutil.rmtree(incremental)
    finally:
        base.stop()
        grown.stop()
        gov.stop()
    return results


LABELS = {
    "a": "(a) fetch only (the floor)",
    "b": "(b) `bibia sync --full`, empty warehouse",
    "p": "(b) as a Prefect flow, tracked by a running server",
    "c": "(c) `bibia sync`, 100 new into N",
    "d": "(d) `bibia rebuild`",
    "e": "(e) dlt `rest_api` -> DuckDB",
}


def fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(n: int, results: dict[str, Measure]) -> list[str]:
    lines = [
        f"N = {n:,} submissions",
        "",
        "| measurement | wall (s) | pipeline (s) | peak RSS (MiB) | runs (wall s) |",
        "|---|---:|---:|---:|---|",
    ]
    for key, label in LABELS.items():
        m = results[key]
        if not m.wall:
            continue
        lines.append(
            f"| {label} | {fmt(m.median(m.wall))} | {fmt(m.median(m.pipeline))} | "
            f"{fmt(m.median(m.rss_mib), 0)} | {', '.join(fmt(w) for w in m.wall)} |"
        )
    return lines


def versions() -> str:
    names = ["duckdb", "pandas", "pandera", "pyarrow", "prefect", "requests", "dlt"]
    found: list[int] = []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--small", type=int, default=5_000, help="the size to compare growth")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument("--write", type=Path, help="write the report to this Markdown file")
    parser.add_argument(
        "--prefect",
        metavar="URL",
        help="also run (b) as a flow tracked by the Prefect server at this PREFECT_API_URL",
    )
    args = parser.parse_args()
    with_dlt = not args.no_dlt
    if with_dlt:
        try:
            import dlt  # noqa: F401
        except ImportError:
            raise SystemExit(
                "dlt is a benchmark-only dependency: run with `python3 run.py bench`"
            ) from None
    report: list[str] = []
    big = measure_size(args.n, args.repeat, with_dlt, args.prefect)
    small = measure_size(args.small, args.repeat, with_dlt=False) if args.small else None
    report += table(args.n, big)
    if small:
        report += ["", *table(args.small, small)]
    a, b, e = (big[k].median(big[k].wall) for k in ("a", "b", "e"))
    assert a and b
    report += ["", "Ratios at N:", f"- (b) / (a) = {b / a:.2f} (target: within 2)"]
    p = big["p"].median(big["p"].wall)
    if p:
        report.append(f"- Prefect, tracking the run: {p - b:+.1f} s of wall time over (b)")
    if e:
        report.append(f"- (e) / (b) = {e / b:.1f} (target: at least 10)")
    if small:
        c_big, c_small = big["c"].median(big["c"].pipeline), small["c"].median(small["c"].pipeline)
        b_big, b_small = big["b"].median(big["b"].pipeline), small["b"].median(small["b"].pipeline)
        report += [
            f"- (c) pipeline time at {args.small:,} -> {args.n:,}: {c_small:.2f} s -> "
            f"{c_big:.2f} s (target: under 5 s, flat)",
            f"- (b) pipeline time at {args.small:,} -> {args.n:,}: {b_small:.1f} s -> "
            f"{b_big:.1f} s ({b_big / b_small:.1f}x for {args.n / args.small:.0f}x the data)",
        ]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    report += ["", f"Machine: {machine}", f"Versions: {versions()}"]
    text = "\n".join(report)
    print(text)
    if args.write:
        args.write.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
