"""The messages at scale (issue 33): a first run over a register of N submissions with mail
on, in the `log` mode (each message written as an `.eml` file: no server to wait for), then a
run bringing 100 new ones, then a run with nothing new.

    python3 run.py bench-mail [--n 50000] [--profile realistic]

The form is served by the Tally emulator (`benchmarks/run.py`'s) in this process; each run is
`bibia -v sync` in a process of its own, on the same two cores. The figures: the run's
seconds, its `outbox` step (the messages composed and written in the run's transaction) and
its `mail` step (the digest and the sending, at most five minutes' worth at
`BIBIA_MAIL_PER_MINUTE`), and the outbox by kind and state. (Not the peak memory: a child
process inherits its parent's, this benchmark's, which holds the whole form.)
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.delivery import run  # noqa: E402
from benchmarks.run import BIBIA, Profile, environment, forms, serve, step_seconds  # noqa: E402


def outbox(db: Path) -> str:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "SELECT kind, state, count(*) FROM outbox GROUP BY ALL ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    return ", ".join(f"{kind}/{state} {n}" for kind, state, n in rows) or "(empty)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000)
    parser.add_argument("--profile", choices=["realistic", "synthetic"], default="realistic")
    args = parser.parse_args()
    form, later = forms(args.profile, args.n, Profile())
    base = serve(form)
    grown = serve(dict(form, submissions=form["submissions"] + later))
    with tempfile.TemporaryDirectory() as temporary:
        work = Path(temporary)
        mail = {
            "BIBIA_MAIL": "log",
            "BIBIA_MAIL_FOLDER": str(work / "mail"),
            "BIBIA_MAIL_FROM": "Bibliothèque <bibliotheque@exemple.fr>",
            "BIBIA_CURATORS_EMAIL": "curateurs@exemple.fr",
            "BIBIA_SITE_URL": "https://bibliotheque.exemple.fr",
            "BIBIA_MAIL_OPTOUTS": str(work / "optouts.txt"),
        }
        for label, server in (
            ("first run (empty warehouse)", base),
            ("100 new submissions", grown),
            ("nothing new", grown),
        ):
            env = {**environment(server.url, work), **mail}
            wall, stdout, stderr = run([*BIBIA, "-v", "sync"], env, work)
            steps = step_seconds(stderr)
            said = re.search(r"messages : (.*)", stdout)
            print(
                f"{label}: run {wall:.1f} s, outbox step {steps.get('outbox', 0):.2f} s, "
                f"mail step {steps.get('mail', 0):.2f} s; messages: "
                f"{said.group(1) if said else '?'}"
            )
            print(f"  outbox: {outbox(work / 'bibia.duckdb')}")
        files = list((work / "mail").glob("*.eml"))
        print(f"{len(files)} .eml files, {sum(p.stat().st_size for p in files):,} bytes")
    base.stop()
    grown.stop()


if __name__ == "__main__":
    main()
