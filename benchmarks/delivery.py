"""The deliveries at scale (issue 31): the first publication of a register of N submissions to
git over smart HTTP, then a run bringing 100 new ones.

    python3 run.py bench-delivery [--n 50000] [--profile realistic]

The form is served by the Tally emulator (`benchmarks/run.py`'s), the repositories by git's own
`http-backend` behind the loopback git host of the tests (a token required), all in this
process, on the same two cores as what it measures. Each run is `bibia -v sync` in a process of
its own; the figures are its `deliver` step's seconds (`-v`'s step timings), what git said it
sent, and the commit's files.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run import BIBIA, Profile, environment, forms, serve, step_seconds  # noqa: E402
from bibia.emulators.githost import GitHost  # noqa: E402

TOKEN = "ghp_benchmarkToken0123456789"


def run(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str, str]:
    started = time.monotonic()
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-2_000:])
    return time.monotonic() - started, done.stdout, done.stderr


def said(stdout: str, target: str) -> str:
    found = re.search(rf"livraison {target} : (.*)", stdout)
    return found.group(1) if found else "(nothing said)"


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
        (work / "host").mkdir()
        with GitHost(work / "host", TOKEN) as host:
            host.bare("site", "gh-pages")
            host.bare("feed", "main")
            delivery = {
                "BIBIA_PUBLISH_SITE_REPO": f"{host.url}/site.git",
                "BIBIA_PUBLISH_FEED_REPO": f"{host.url}/feed.git",
                "BIBIA_GIT_TOKEN": TOKEN,
            }
            for label, server, command in (
                ("first publication (sync --full, empty warehouse)", base, "sync"),
                ("100 new submissions", grown, "sync"),
                ("nothing new", grown, "sync"),
            ):
                env = {**environment(server.url, work), **delivery}
                wall, stdout, stderr = run([*BIBIA, "-v", command], env, work)
                steps = step_seconds(stderr)
                print(
                    f"{label}: run {wall:.1f} s, deliver step {steps.get('deliver', 0):.2f} s "
                    f"(site {steps.get('site', 0):.2f} s, publish {steps.get('publish', 0):.2f} s)"
                )
                for target in ("site", "feed"):
                    print(f"  {target}: {said(stdout, target)}")
                if label.startswith("100"):
                    changed = subprocess.run(
                        ["git", "-C", str(work / "host" / "site.git"), "diff", "--name-status",
                         "gh-pages~1", "gh-pages"],
                        capture_output=True, text=True,
                    ).stdout.splitlines()  # fmt: skip
                    kept = [line for line in changed if not line.startswith("A\tprojets/")]
                    print(f"  site, besides the new projects' pages: {', '.join(kept)}")
            site = subprocess.run(
                ["git", "-C", str(work / "host" / "site.git"), "count-objects", "-vH"],
                capture_output=True,
                text=True,
            ).stdout
            size = re.search(r"size-pack: (.*)", site)
            print(f"site repository: {size.group(1) if size else '?'} packed")
    base.stop()
    grown.stop()


if __name__ == "__main__":
    main()
