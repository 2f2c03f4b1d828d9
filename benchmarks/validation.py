"""What validating a batch costs: `schema_failures` (the contract's checks, one column at a time,
as pandera runs each) beside pandera's lazy `validate` of the same frame, which finds the same
failures and writes a report of each failing column besides.

    python3 run.py python -m benchmarks.validation [--batch 1000] [--repeat 7]

Batches of the realistic form (one submission in ten unpublishable by default), built as a
run builds them; each measurement is the median of `--repeat`, the two alternating, in this
one process (CPU time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pandera.pandas as pa  # noqa: E402

from bibia.demo.realistic import Profile, realistic_form  # noqa: E402
from bibia.settings import DEFAULT_MAPPING, DEFAULT_TAXONOMY  # noqa: E402
from schemas.taxonomy import Taxonomy  # noqa: E402
from schemas.times import utc_naive  # noqa: E402
from transforms.derive import Rules, Submission, build_record  # noqa: E402
from transforms.mapping import FieldMapping, FormShape, plan_fields  # noqa: E402
from transforms.normalise import Normaliser  # noqa: E402
from transforms.validate import frame, schema_failures, validation_schema  # noqa: E402


def records(batch: int, invalid_share: float) -> list[dict[str, Any]]:
    form = realistic_form(batch, profile=Profile(invalid_share=invalid_share))
    shape = FormShape.from_snapshot(form["questions"], {"blocks": form.get("blocks", [])})
    taxonomy = Taxonomy.load(DEFAULT_TAXONOMY)
    rules = Rules(plan_fields(shape, FieldMapping.load(DEFAULT_MAPPING)), shape, taxonomy)
    normaliser = Normaliser(taxonomy)
    return [
        build_record(Submission(s["id"], utc_naive(s["submittedAt"]), s), rules, normaliser)[0]
        for s in form["submissions"]
    ]


def panderas_validate(data: Any, schema: pa.DataFrameSchema) -> int:
    try:
        schema.validate(data, lazy=True)
    except pa.errors.SchemaErrors as exc:
        return len(exc.failure_cases)
    return 0


def cpu(fn: Callable[[], Any]) -> float:
    started = time.process_time()
    fn()
    return time.process_time() - started


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args(argv)
    schema = validation_schema(Taxonomy.load(DEFAULT_TAXONOMY))
    print(f"batch of {args.batch}, median of {args.repeat} (CPU ms)")
    print("| unpublishable | failures | schema_failures | pandera's lazy validate |")
    print("|---:|---:|---:|---:|")
    for share in (0.0, 0.1, 0.3):
        data = frame(records(args.batch, share))
        found = schema_failures(data, schema)
        assert len(found) == panderas_validate(data, schema)  # the same failures
        ours, theirs = [], []
        for _ in range(2):  # warm: the first calls compile patterns, fill caches
            schema_failures(data, schema), panderas_validate(data, schema)
        for _ in range(args.repeat):
            ours.append(cpu(lambda d=data: schema_failures(d, schema)))
            theirs.append(cpu(lambda d=data: panderas_validate(d, schema)))
        print(
            f"| {share:.0%} | {len(found)} | {statistics.median(ours) * 1000:.1f} | "
            f"{statistics.median(theirs) * 1000:.1f} |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
