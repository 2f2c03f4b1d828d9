"""Where the raw payloads go: the alternatives, measured side by side.

    python3 run.py python -m benchmarks.raw_storage [--n 50000]

Lands N realistic payloads (canonical JSON, as a run lands them) in batches of 2,000 inside one
transaction, with DuckDB given 48 MB (as a run), then commits; each variant in a fresh process
and a fresh database. Reported: the seconds spent landing and committing, the bytes the process
wrote to disk (/proc/self/io), the size of what is left on disk.

  json-122880  a JSON column, DuckDB's default row groups (122,880 rows): bibia until 0.2
  varchar      the same with VARCHAR: what JSON validation costs
  blob-zstd    the payload compressed by the run (zstd) into a BLOB
  parquet      payloads in Parquet files beside the database, DuckDB holding their path
  json-16384   a JSON column, row groups of 16,384 rows (what bibia does now)
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ["json-122880", "varchar", "blob-zstd", "parquet", "json-16384"]

CHILD = r"""
import hashlib, json, os, sys, time
import duckdb, orjson, pyarrow as pa, pyarrow.parquet as pq
sys.path.insert(0, {root!r})
from bibia.demo.realistic import realistic_form

variant, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
payloads = [orjson.dumps(s, option=orjson.OPT_SORT_KEYS) for s in realistic_form(n)["submissions"]]

def written():
    fields = dict(line.split(": ") for line in open("/proc/self/io").read().splitlines())
    return int(fields["write_bytes"])

group = 16384 if variant == "json-16384" else 122880
con = duckdb.connect(":memory:", config={{"memory_limit": "48MB", "temp_directory": work + "/tmp"}})
con.execute(f"ATTACH '{{work}}/w.duckdb' AS w (ROW_GROUP_SIZE {{group}})")
con.execute("USE w")
kind = {{"varchar": "VARCHAR", "blob-zstd": "BLOB", "parquet": "VARCHAR"}}.get(variant, "JSON")
con.execute(
    f"CREATE TABLE raw (submission_id VARCHAR PRIMARY KEY, payload {{kind}}, "
    "content_hash VARCHAR)"
)
con.execute("CHECKPOINT")
before, land = written(), 0.0
con.execute("BEGIN")
for start in range(0, n, 2000):
    began = time.perf_counter()
    texts = payloads[start:start + 2000]
    ids = [f"s{{start + i}}" for i in range(len(texts))]
    digests = [hashlib.sha256(t).hexdigest() for t in texts]
    if variant == "blob-zstd":
        payload = pa.array([pa.compress(t, "zstd", asbytes=True) for t in texts], pa.binary())
    elif variant == "parquet":
        path = f"{{work}}/segment-{{start:07d}}.parquet"
        pq.write_table(pa.table({{"submission_id": ids, "payload": pa.array(texts, pa.binary())}}),
                       path, compression="zstd")
        payload = pa.array([path] * len(ids), pa.string())
    else:
        payload = pa.array(texts, pa.string())
    incoming = pa.table({{"submission_id": ids, "payload": payload, "content_hash": digests}})
    cast = "::JSON" if kind == "JSON" else ""
    con.execute(
        f"INSERT INTO raw SELECT submission_id, payload{{cast}}, content_hash FROM incoming"
    )
    land += time.perf_counter() - began
began = time.perf_counter()
con.execute("COMMIT")
commit = time.perf_counter() - began
con.close()
size = sum(os.path.getsize(os.path.join(work, f)) for f in os.listdir(work) if f != "tmp")
print(json.dumps({{"land": land, "commit": commit, "written": written() - before, "size": size}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=50_000)
    args = parser.parse_args()
    lines = [
        f"Raw payloads of {args.n:,} realistic submissions, landed in one transaction:",
        "",
        "| storage | land (s) | commit (s) | written (MiB) | on disk (MiB) |",
        "|---|---:|---:|---:|---:|",
    ]
    for variant in VARIANTS:
        work = Path(tempfile.mkdtemp(prefix=f"raw-{variant}-"))
        try:
            done = subprocess.run(
                [
                    sys.executable,
                    "-c",
                    CHILD.format(root=str(ROOT)),
                    variant,
                    str(args.n),
                    str(work),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
        finally:
            shutil.rmtree(work, ignore_errors=True)
        r = json.loads(done.stdout.strip().splitlines()[-1])
        lines.append(
            f"| {variant} | {r['land']:.2f} | {r['commit']:.2f} | {r['written'] / 2**20:.0f} | "
            f"{r['size'] / 2**20:.0f} |"
        )
        print(lines[-1], flush=True)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
