"""bibia at scale, side by side with what a user would pick instead (dlt's rest_api source).

    python3 run.py bench [--n 50000] [--big 200000] [--repeat 3] [--profile realistic]
        [--no-dlt] [--prefect URL] [--write docs/benchmarks.md]

A form of N submissions is served by the Tally emulator on loopback (in this process, on the
same two cores as what it measures), pacing off, enrichment off. Two profiles:
- `realistic` (default, `bibia.demo.realistic`): thousands of authorities, free texts that never
  repeat (descriptions up to 6,000 characters, multi-line partner lists), optional questions
  often unanswered, one submission in ten that cannot be published; knobs below;
- `synthetic` (`bibia.demo.synthetic`): short texts, 12 authorities, every answer valid.

Each measurement runs in a fresh process: wall time from process start to exit; peak memory of
the process tree (the process's own peak, VmHWM, plus what its children hold), read every 20 ms;
for bibia, the pipeline's own time as `sync_runs` records it, and its step timings (`-v`).

  (a) fetch only: every page fetched and parsed, then dropped (the floor);
  (b) `bibia sync --full` on an empty warehouse;
  (c) `bibia sync` bringing 100 new submissions into a warehouse holding N;
  (n) `bibia sync` that finds nothing new (and must rewrite no file);
  (d) `bibia rebuild` of that warehouse;
  (s) `bibia --help` and `bibia status`, each a new process;
  (e) dlt's rest_api source loading the same submissions into DuckDB (extract and load only);
  (m) with --big: the peak memory of (b) at that size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bibia.demo import DEMO_API_KEY, DEMO_FORM_ID  # noqa: E402
from bibia.demo.realistic import Profile, RealisticForm  # noqa: E402
from bibia.demo.synthetic import more_submissions, synthetic_form  # noqa: E402
from bibia.emulators.tally import EmulatedForm, TallyEmulator  # noqa: E402

FETCH_ONLY = """
import sys
from datetime import UTC, datetime
from bibia.settings import Settings
from bibia.tally.client import TallyClient
count = 0
with TallyClient(Settings.from_env()) as client:
    for page in client.iter_pages(end=datetime.now(UTC)):
        count += len(page.submissions)
assert count == int(sys.argv[1]), count
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

BIBIA = [sys.executable, "-m", "bibia.cli"]
STEPS = re.compile(r"seconds per step: (.*)")
CPU = re.compile(r"CPU seconds: this process ([\d.]+), the worker ([\d.]+)")


@dataclass
class Measure:
    wall: list[float] = field(default_factory=list)
    rss_mib: list[float] = field(default_factory=list)
    pipeline: list[float] = field(default_factory=list)
    steps: list[dict[str, float]] = field(default_factory=list)
    rewritten: list[int] = field(default_factory=list)  # export files whose bytes or mtime changed
    cpu: list[tuple[float, float]] = field(default_factory=list)  # (main, worker) CPU seconds

    @staticmethod
    def median(values: list[float]) -> float | None:
        return statistics.median(values) if values else None

    def step(self, name: str) -> float | None:
        return self.median([s[name] for s in self.steps if name in s])


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
    exec, so a child forked from this process, which holds the forms, would inherit its size."""
    own = _status_kib(pid, "VmHWM:")
    return (own + sum(_status_kib(c, "VmRSS:") for c in _descendants(pid))) / 1024


def run_child(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, peak memory (MiB, the process and its children, read every 20 ms) and
    stderr of one child process."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(args, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, tree_rss_mib(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - started
        errors.seek(0)
        text = errors.read().decode("utf-8", "replace")
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed:\n{text[-3000:]}")
    return wall, peak, text


def stored_bytes(db: Path, n: int) -> str:
    """What the warehouse stores per submission: the canonical payload, and the whole file."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        mean, largest = con.execute(
            "SELECT avg(strlen(payload::VARCHAR)), max(strlen(payload::VARCHAR)) "
            "FROM raw_tally_submissions"
        ).fetchall()[0]
    finally:
        con.close()
    return (
        f"stored at {n:,}: payload {mean / 1024:.2f} KiB a submission on average "
        f"({largest / 1024:.1f} KiB at most), warehouse file {db.stat().st_size / n / 1024:.2f} "
        "KiB a submission"
    )


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


def step_seconds(stderr: str) -> dict[str, float]:
    found = STEPS.search(stderr)
    if not found:
        return {}
    pairs = (item.rsplit(" ", 1) for item in found.group(1).split(", "))
    return {name: float(value) for name, value in pairs}


def export_stamps(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in folder.rglob("*")
        if p.is_file()
    }


def checkout(rev: str, into: Path) -> Path:
    """The files of bibia at `rev` (a commit of this repository), to measure side by side."""
    tree = into / f"bibia-{rev}"
    tree.mkdir(parents=True)
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def environment(tally_url: str, work: Path, code: Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALLY_", "BIBIA_"))}
    env.pop("PREFECT_API_URL", None)
    env.update(
        TALLY_API_URL=tally_url,
        TALLY_API_KEY=DEMO_API_KEY,
        TALLY_FORM_ID=DEMO_FORM_ID,
        TALLY_MAX_REQUESTS_PER_MINUTE="0",
        BIBIA_DB=str(work / "bibia.duckdb"),
        BIBIA_EXPORT_DIR=str(work / "exports"),
        BIBIA_DECISIONS=str(work / "decisions.yaml"),
        BIBIA_ENRICHMENT="off",
        DO_NOT_TRACK="1",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PYTHONPATH=str(code),  # which bibia runs: this tree, or one checked out
    )
    return env


def forms(profile: str, n: int, knobs: Profile) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The form of N submissions and 100 later ones."""
    if profile == "synthetic":
        form = synthetic_form(n)
        return form, more_submissions(form, 100)
    generator = RealisticForm(knobs)
    form = generator.form(n)
    return form, generator.more(form, 100)


def serve(form: dict[str, Any]) -> TallyEmulator:
    server = TallyEmulator([EmulatedForm.from_json(form)], api_key=DEMO_API_KEY).start()
    for emulated in server.forms.values():  # indexed now, as Tally has its own already
        server.newest_first(emulated)
    return server


def measure_size(
    n: int,
    repeat: int,
    profile: str,
    knobs: Profile,
    with_dlt: bool,
    runs: Path,
    prefect: str | None = None,
    full: bool = True,
    compare: dict[str, Path] | None = None,
) -> dict[str, Measure]:
    """Every measurement at N (`full`: else (b) only), each in its own folder under `runs`,
    which the caller removes when every measurement is made: on a file system without a journal
    (ext4 as here), files created in the minutes after many were deleted cost several times
    more (the kernel skips the inodes freed in the last one to five minutes), and deleting a
    run's 180,000 files just before the next measurement would charge that to it. `compare`:
    other trees of bibia (label -> folder) whose (b) and (c) are measured too, on the same
    server, in the same run, right after this tree's (b)."""
    form, later = forms(profile, n, knobs)
    base = serve(form)
    grown = serve(dict(form, submissions=form["submissions"] + later))
    del form, later
    results = {k: Measure() for k in ("a", "b", "p", "c", "n", "d", "w", "h", "s", "e")}
    for label in compare or {}:
        results[f"b@{label}"], results[f"c@{label}"] = Measure(), Measure()
    tmp_path = runs / f"{profile}-{n}"
    tmp_path.mkdir()
    try:
        for i in range(repeat):
            work = tmp_path / f"run{i}"
            work.mkdir()
            env = environment(base.url, work)

            def measure(
                key: str,
                args: list[str],
                env: dict[str, str],
                cwd: Path,
                bibia_db: bool = True,
            ) -> None:
                wall, rss, stderr = run_child(args, env, cwd)
                results[key].wall.append(wall)
                results[key].rss_mib.append(rss)
                results[key].steps.append(step_seconds(stderr))
                if found := CPU.search(stderr):
                    results[key].cpu.append((float(found[1]), float(found[2])))
                if bibia_db:
                    results[key].pipeline.append(pipeline_seconds(cwd / "bibia.duckdb"))

            if full:
                measure("a", [sys.executable, "-c", FETCH_ONLY, str(n)], env, work, False)
            measure("b", [*BIBIA, "-v", "sync", "--full"], env, work)
            print(stored_bytes(work / "bibia.duckdb", n), flush=True)
            if not full:
                continue
            for j, (label, code) in enumerate((compare or {}).items()):
                other = tmp_path / f"compare{j}-{i}"
                other.mkdir()
                env_o = environment(base.url, other, code)
                measure(f"b@{label}", [*BIBIA, "-v", "sync", "--full"], env_o, other)
                grown_o = tmp_path / f"compare{j}-inc{i}"  # (c) as this tree's: on a copy
                shutil.copytree(other, grown_o)
                os.sync()
                env_o = environment(grown.url, grown_o, code)
                measure(f"c@{label}", [*BIBIA, "-v", "sync"], env_o, grown_o)
            if prefect:
                flow_work = tmp_path / f"flow{i}"
                flow_work.mkdir()
                env_p = {**environment(base.url, flow_work), "PREFECT_API_URL": prefect}
                measure("p", [*BIBIA, "sync", "--full"], env_p, flow_work)
            incremental = tmp_path / f"inc{i}"
            shutil.copytree(work, incremental)
            os.sync()  # the copy's writes reach the disk now, not during (c)
            env_c = environment(grown.url, incremental)
            measure("c", [*BIBIA, "-v", "sync"], env_c, incremental)
            before = export_stamps(incremental / "exports")
            measure("n", [*BIBIA, "-v", "sync"], env_c, incremental)
            after = export_stamps(incremental / "exports")
            results["n"].rewritten.append(
                sum(1 for name, stamp in after.items() if before.get(name) != stamp)
                + len(set(before) - set(after))
            )
            measure("d", [*BIBIA, "-v", "rebuild"], env_c, incremental)
            measure("w", [*BIBIA, "site", "--all"], env_c, incremental, False)
            measure("h", [*BIBIA, "--help"], env_c, incremental, False)
            measure("s", [*BIBIA, "status"], env_c, incremental, False)
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
    finally:
        base.stop()
        grown.stop()
    return results


LABELS = {
    "a": "(a) fetch only: every page fetched and parsed (the floor)",
    "b": "(b) `bibia sync --full`, empty warehouse",
    "p": "(b) as a Prefect flow, tracked by a running server",
    "c": "(c) `bibia sync`, 100 new submissions into N",
    "n": "(n) `bibia sync`, nothing new",
    "d": "(d) `bibia rebuild`",
    "w": "(w) `bibia site --all`: every page of both editions rendered again",
    "h": "(s) `bibia --help`",
    "s": "(s) `bibia status`",
    "e": "(e) dlt `rest_api` -> DuckDB (extract and load only)",
}


def fmt(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def table(title: str, results: dict[str, Measure]) -> list[str]:
    lines = [
        title,
        "",
        "| measurement | wall (s) | pipeline (s) | commit (s) | peak memory (MiB) "
        "| runs (wall s) |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key, label in LABELS.items():
        m = results[key]
        if not m.wall:
            continue
        digits = 2 if key in {"h", "s", "n", "c"} else 1
        lines.append(
            f"| {label} | {fmt(m.median(m.wall), digits)} | {fmt(m.median(m.pipeline), 2)} | "
            f"{fmt(m.step('commit'), 2)} | {fmt(m.median(m.rss_mib), 0)} | "
            f"{', '.join(fmt(w, digits) for w in m.wall)} |"
        )
    return lines


def side_by_side(rev: str, profile: str, r: dict[str, Measure]) -> list[str]:
    """(b) and (c) of this tree and of bibia at `rev`, measured in the same run."""
    lines = [
        f"Side by side with bibia at {rev} (same server, same run):",
        "",
        "| profile | measurement | this tree | at " + rev[:9] + " |",
        "|---|---|---:|---:|",
    ]
    for key, what in (("b", "(b) full sync, wall s"), ("c", "(c) 100 new, pipeline s")):
        here, there = r[key], r[f"{key}@{rev}"]
        values = (here.wall, there.wall) if key == "b" else (here.pipeline, there.pipeline)
        lines.append(
            f"| {profile} | {what} | {fmt(Measure.median(values[0]), 2)} | "
            f"{fmt(Measure.median(values[1]), 2)} |"
        )
    lines.append(
        f"| {profile} | (b) peak memory, MiB | {fmt(here_peak(r, 'b'), 0)} | "
        f"{fmt(here_peak(r, f'b@{rev}'), 0)} |"
    )
    return lines


def here_peak(r: dict[str, Measure], key: str) -> float | None:
    return Measure.median(r[key].rss_mib)


def verdict(met: bool) -> str:
    return "**met**" if met else "**not met**"


def targets(
    n: int, big: int | None, r: dict[str, Measure], m: dict[str, Measure] | None
) -> list[str]:
    a, b = r["a"].median(r["a"].wall), r["b"].median(r["b"].wall)
    work = r["b"].median(r["b"].pipeline)
    commit = r["b"].step("commit")
    peak = r["b"].median(r["b"].rss_mib)
    c, nothing = r["c"].median(r["c"].pipeline), r["n"].median(r["n"].pipeline)
    rewritten = max(r["n"].rewritten) if r["n"].rewritten else None
    export, site = r["c"].step("export"), r["c"].step("site")
    rest = c - (export or 0) - (site or 0) if c is not None else None
    helped, status = r["h"].median(r["h"].wall), r["s"].median(r["s"].wall)
    e = r["e"].median(r["e"].wall)
    assert a and b and work
    cpu_main = statistics.median(c[0] for c in r["b"].cpu) if r["b"].cpu else 0.0
    cpu_worker = statistics.median(c[1] for c in r["b"].cpu) if r["b"].cpu else 0.0
    cores = os.cpu_count() or 1
    lines = [
        f"Targets (N = {n:,}):",
        f"- full sync work {work:.2f} s (wall {b:.2f} s) against the floor's {a:.2f} s: "
        f"{work / a:.2f} x (wall {b / a:.2f} x); target <= 1.3 x: {verdict(work / a <= 1.3)}. "
        f"The run spent {cpu_main:.1f} s of CPU in its main process and {cpu_worker:.1f} s in its "
        f"worker: on {cores} cores, at least {(cpu_main + cpu_worker) / cores:.1f} s of wall "
        f"time, the emulator's share aside",
        f"- commit {fmt(commit, 2)} s; target <= 1.5 s: "
        f"{verdict(bool(commit is not None and commit <= 1.5))}",
        f"- peak memory, worker included, {fmt(peak, 0)} MiB; target <= 512 MiB: "
        f"{verdict(bool(peak and peak <= 512))}",
        f"- 100 new into {n:,}: {fmt(c, 2)} s of pipeline work; target <= 1 s: "
        f"{verdict(bool(c is not None and c <= 1))}. Of it, the files made from every project "
        f"(the term allowed to grow): the exports {fmt(export, 2)} s, the site and the feed "
        f"{fmt(site, 2)} s; the rest {fmt(rest, 2)} s",
        f"- nothing new: {fmt(nothing, 2)} s, {rewritten} file(s) rewritten; target <= 0.3 s and "
        f"none: {verdict(bool(nothing is not None and nothing <= 0.3 and rewritten == 0))}",
        f"- `bibia --help` {fmt(helped, 2)} s, `bibia status` {fmt(status, 2)} s; targets <= 0.3 s "
        f"and <= 1 s: {verdict(bool(helped and status and helped <= 0.3 and status <= 1))}",
    ]
    if e:
        lines.append(
            f"- dlt {e:.1f} s, {e / b:.1f} x bibia's wall; target >= 10 x: {verdict(e / b >= 10)}"
        )
    if m is not None and big:
        peak_big = m["b"].median(m["b"].rss_mib)
        lines.append(
            f"- peak memory at {big:,}: {fmt(peak_big, 0)} MiB (full sync wall "
            f"{fmt(m['b'].median(m['b'].wall))} s); target <= 560 MiB: "
            f"{verdict(bool(peak_big and peak_big <= 560))}"
        )
    return lines


def versions() -> str:
    names = ["duckdb", "pandas", "pandera", "pyarrow", "prefect", "requests", "dlt"]
    found: list[str] = []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            found.append(f"{name} {metadata.version(name)}")
    return ", ".join(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument(
        "--big", type=int, default=200_000, help="size of the memory check (0: none)"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", choices=["realistic", "synthetic"], default="realistic")
    parser.add_argument(
        "--also",
        choices=["realistic", "synthetic", "none"],
        default="synthetic",
        help="a second profile, measured at N too",
    )
    parser.add_argument("--no-dlt", action="store_true")
    parser.add_argument(
        "--compare",
        metavar="REV",
        action="append",
        default=[],
        help="also measure (b) and (c) of bibia at this commit, side by side (repeatable)",
    )
    parser.add_argument("--write", type=Path, help="write the report to this Markdown file")
    parser.add_argument(
        "--prefect",
        metavar="URL",
        help="also run (b) as a flow tracked by the Prefect server at this URL",
    )
    defaults = Profile()
    for knob, value in vars(defaults).items():
        if isinstance(value, bool):
            parser.add_argument(
                f"--{knob.replace('_', '-')}",
                action=argparse.BooleanOptionalAction,
                default=value,
                help=f"realistic profile (default {value})",
            )
            continue
        parser.add_argument(
            f"--{knob.replace('_', '-')}",
            type=type(value),
            default=value,
            help=f"realistic profile (default {value})",
        )
    args = parser.parse_args()
    knobs = Profile(**{k: getattr(args, k) for k in vars(defaults)})
    with_dlt = not args.no_dlt
    if with_dlt:
        try:
            import dlt  # noqa: F401
        except ImportError:
            raise SystemExit(
                "dlt is a benchmark-only dependency: run `python3 run.py bench`"
            ) from None
    with tempfile.TemporaryDirectory() as trees, tempfile.TemporaryDirectory() as runs:
        compare = {rev: checkout(rev, Path(trees)) for rev in args.compare}
        main_results = measure_size(
            args.n,
            args.repeat,
            args.profile,
            knobs,
            with_dlt,
            Path(runs),
            args.prefect,
            compare=compare,
        )
        report = table(f"Profile {args.profile}, N = {args.n:,} submissions", main_results)
        second = None
        if args.also not in ("none", args.profile):
            second = measure_size(
                args.n, args.repeat, args.also, knobs, False, Path(runs), compare=compare
            )
            report += ["", *table(f"Profile {args.also}, N = {args.n:,} submissions", second)]
        for rev in args.compare:
            report += ["", *side_by_side(rev, args.profile, main_results)]
            if second is not None:
                report += side_by_side(rev, args.also, second)[2:]
        big = None
        if args.big:
            big = measure_size(args.big, 1, args.profile, knobs, False, Path(runs), full=False)
            report += ["", *table(f"Profile {args.profile}, N = {args.big:,} (memory)", big)]
    report += ["", *targets(args.n, args.big, main_results, big)]
    if second is not None:
        a, work = second["a"].median(second["a"].wall), second["b"].median(second["b"].pipeline)
        if a and work:
            report.append(
                f"- ({args.also}: full sync work {work:.2f} s, {work / a:.2f} x its floor)"
            )
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, {platform.system()} {platform.release()}"
    )
    report += [
        "",
        f"Profile knobs: {json.dumps(vars(knobs))}",
        f"Machine: {machine}",
        f"Versions: {versions()}",
    ]
    text = "\n".join(report)
    print(text)
    if args.write:
        args.write.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
