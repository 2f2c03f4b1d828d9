"""The floor of the whole files a run writes: a plain DuckDB COPY of the same rows to the same
formats (issue 28's yardstick for the exports and the feed).

    python3 run.py python -m benchmarks.whole_files WAREHOUSE [--repeat 3]

On a copy of a warehouse a `bibia sync` made: `restricted_projects` and `public_projects`, each
to CSV and to Parquet (zstd), and the public rows once more to CSV (the feed's size), into a
temporary folder, with DuckDB's default memory limit (80 % of the machine's): with the 96 MB
a run gives its export, a plain COPY of the sorted views runs out of memory at 50,000 (bibia's
export sorts a bucket of ids at a time). bibia's own figure is the `export` step of a run
that brings 100 new submissions (`run.py bench`, (c)).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import duckdb

COPIES = (
    ("restricted_projects", "restricted.csv", "(FORMAT csv, HEADER)"),
    ("restricted_projects", "restricted.parquet", "(FORMAT parquet, COMPRESSION zstd)"),
    ("public_projects", "public.csv", "(FORMAT csv, HEADER)"),
    ("public_projects", "public.parquet", "(FORMAT parquet, COMPRESSION zstd)"),
    ("public_projects", "feed.csv", "(FORMAT csv, HEADER)"),
)


def copy_once(db: Path, out: Path) -> float:
    con = duckdb.connect(str(db), read_only=True)
    try:
        started = time.perf_counter()
        for view, name, options in COPIES:
            con.execute(f"COPY (SELECT * FROM {view}) TO '{out / name}' {options}")
        return time.perf_counter() - started
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("warehouse", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        db = Path(work) / "copy.duckdb"
        shutil.copyfile(args.warehouse, db)
        out = Path(work) / "out"
        out.mkdir()
        runs = [copy_once(db, out) for _ in range(args.repeat)]
        rows = (
            duckdb.connect(str(db), read_only=True)
            .execute("SELECT count(*) FROM public_projects")
            .fetchall()[0][0]
        )
        size = sum(p.stat().st_size for p in out.iterdir())
    print(
        f"plain DuckDB COPY of {rows:,} projects to the exports' and the feed's formats "
        f"({size / 2**20:.0f} MiB): {statistics.median(runs):.2f} s (median of {args.repeat}: "
        f"{', '.join(f'{s:.2f}' for s in runs)})"
    )


if __name__ == "__main__":
    main()
