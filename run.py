#!/usr/bin/env python3
"""Run anything in bibia's locked environment, on a machine that only has Python 3.11+.

    python3 run.py bibia sync --demo     # the pipeline on the bundled demo form
    python3 run.py check                 # every check: ruff, mypy, pytest (Chromium installed
                                         # first when missing, as root: the browser tests)
    python3 run.py bench [options]       # benchmarks/run.py, with its own dependencies (dlt)
    python3 run.py bench-hugo EXPORTS    # benchmarks/hugo.py: the site beside Hugo's
    python3 run.py bench-members         # benchmarks/members.py: 200 logged-in clients
    python3 run.py bench-delivery        # benchmarks/delivery.py: git pushes at 50,000
    python3 run.py bench-site            # benchmarks/site_browser.py: the site in Chromium
    python3 run.py bench-mail            # benchmarks/mail.py: the outbox at 50,000
    python3 run.py <command...>          # any command inside the environment

The first call installs uv (from PyPI, pinned) into .tools/, then uv installs the exact
versions of uv.lock into .venv/. Standard library only.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import venv
from pathlib import Path

UV_VERSION = "0.13.9"
ROOT = Path(__file__).resolve().parent
TOOLS = ROOT / ".tools"
SYNCED = ROOT / ".venv" / ".run-py-synced"  # touched after each install that went through
BENCHMARKS = {
    "bench": "benchmarks.run",
    "bench-hugo": "benchmarks.hugo",
    "bench-members": "benchmarks.members",
    "bench-delivery": "benchmarks.delivery",
    "bench-site": "benchmarks.site_browser",
    "bench-mail": "benchmarks.mail",
}  # with the bench group
CHECKS = (
    ["ruff", "check", "."],
    ["ruff", "format", "--check", "."],
    ["python", "-m", "bibia.emulators.openid", "install"],  # the OpenID provider's npm packages
)
# mypy runs beside the tests: one core for some 40 s, while the tests leave a part of the two
# idle (waiting on a server, a browser, a subprocess); its output is said after theirs
BESIDE_TESTS = ["mypy"]
# three workers on two cores (a test often waits on a server, a browser or a subprocess: two
# left a core idle, 389 s; but each worker collects and imports everything and starts its own
# forking parent, browser and demo sync: four spent 65 s more CPU, 383 s, where three took
# 341 s), a test file each at a time (its module fixtures made once), the slowest files first
# (tests/conftest.py's order: xdist would otherwise take the files with the most tests first,
# and the Prefect tests, started last, ran alone for two minutes at the end); the slowest tests
# said at the end
TESTS = [
    "pytest",
    "-q",
    "-n",
    "3",
    "--dist",
    "loadfile",
    "--no-loadscope-reorder",
    "--durations=15",
]


def _uv() -> Path:
    binary = TOOLS / ("Scripts/uv.exe" if os.name == "nt" else "bin/uv")
    if binary.exists():
        return binary
    print(f"run.py : installation de uv {UV_VERSION} dans {TOOLS} (une fois)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(TOOLS)
    python = TOOLS / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            f"uv=={UV_VERSION}",
        ],
        check=True,
    )
    return binary


def _browser() -> int:
    """The browser tests drive Debian's Chromium: installed here when missing, as root."""
    if (shutil.which("chromium") or shutil.which("chromium-browser")) and shutil.which(
        "chromedriver"
    ):
        return 0
    if os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get"):
        print(
            "run.py : installation de Chromium et de son pilote (paquets Debian, une fois)",
            file=sys.stderr,
        )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"],
        ):
            done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL)
            if done.returncode:
                print(f"run.py : `{shlex.join(command)}` a échoué", file=sys.stderr)
                return done.returncode
        return 0
    print(
        "run.py : les tests dans le navigateur ont besoin de Chromium : l'installer avec "
        "`sudo apt-get install chromium chromium-driver` (Debian, Ubuntu), puis relancer",
        file=sys.stderr,
    )
    return 2


def _needs_install() -> bool:
    """Whether `uv sync` has work to do: no environment yet, or a lock file newer than it."""
    lock = ROOT / "uv.lock"
    return not SYNCED.exists() or (lock.exists() and lock.stat().st_mtime > SYNCED.stat().st_mtime)


def main(argv: list[str]) -> int:
    if sys.version_info < (3, 11):  # noqa: UP036 - this file runs before any check
        print("bibia demande Python 3.11 ou plus récent", file=sys.stderr)
        return 2
    if not argv:
        print(__doc__)
        return 2
    env = {
        **os.environ,
        "UV_PYTHON": os.environ.get("UV_PYTHON", sys.executable),
        "UV_PYTHON_DOWNLOADS": "never",
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    uv = str(_uv())
    groups = ["--group", "bench"] if argv[0] in BENCHMARKS else []
    if _needs_install():
        print(
            "run.py : installation de l'environnement verrouillé (uv.lock) dans .venv/ : une "
            "minute environ la première fois, quelques secondes quand uv.lock change",
            file=sys.stderr,
            flush=True,
        )
    sync = subprocess.run([uv, "sync", "--frozen", "--quiet", *groups], cwd=ROOT, env=env)
    if sync.returncode:
        return sync.returncode
    SYNCED.touch()
    if argv[0] in BENCHMARKS:
        argv = ["python", "-m", BENCHMARKS[argv[0]], *argv[1:]]
    if argv == ["check"] and (missing := _browser()):
        return missing
    if argv != ["check"]:
        return subprocess.run([uv, "run", "--frozen", "--no-sync", *argv], env=env).returncode
    return _check(uv, env)


def _check(uv: str, env: dict[str, str]) -> int:
    """Every check: the quick ones in turn, then the tests with mypy beside them."""
    run = [uv, "run", "--frozen", "--no-sync"]
    for command in CHECKS:
        print(f"run.py : {shlex.join(command)}", file=sys.stderr, flush=True)
        done = subprocess.run([*run, *command], env=env)
        if done.returncode:
            return done.returncode
    print(f"run.py : {shlex.join(BESIDE_TESTS)} (pendant les tests)", file=sys.stderr, flush=True)
    beside = subprocess.Popen(
        [*run, *BESIDE_TESTS], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    print(f"run.py : {shlex.join(TESTS)}", file=sys.stderr, flush=True)
    tests = subprocess.run([*run, *TESTS], env=env)
    said, _ = beside.communicate()
    print(f"run.py : {shlex.join(BESIDE_TESTS)} :\n{said.rstrip()}", file=sys.stderr, flush=True)
    return beside.returncode or tests.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
