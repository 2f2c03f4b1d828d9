"""The demo's publication, byte for byte: a change that means to leave behaviour alone (a
refactoring) leaves every exported file, page and feed line as recorded.

A change that means to alter what is published records the new bytes on purpose:
`python3 run.py python -m tests.test_demo_bytes` rewrites `tests/data/demo_files.json`, and
its diff shows which files the change altered."""

from __future__ import annotations

import copy
import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from bibia.demo import DEMO_FORM_PATH
from bibia.emulators.tally import EmulatedForm
from bibia.pipeline import run_job
from tests.conftest import make_settings, start_emulator

RECORDED = Path(__file__).with_name("data") / "demo_files.json"


def demo_publication(folder: Path) -> dict[str, Any]:
    """The demo synced into `folder`: the run's counts and each published file's sha256."""
    data = json.loads(Path(DEMO_FORM_PATH).read_text(encoding="utf-8"))
    server = start_emulator(EmulatedForm.from_json(copy.deepcopy(data)))
    try:
        settings = make_settings(folder, server.url)
        report = run_job(settings, "sync")
    finally:
        server.stop()
    files = {
        path.relative_to(settings.export_dir).as_posix(): hashlib.sha256(
            path.read_bytes()
        ).hexdigest()
        for path in sorted(settings.export_dir.rglob("*"))
        if path.is_file()
    }
    counts = {"fetched": report.fetched, "exported": report.exported}
    return {**counts, "quarantined": report.quarantined, "files": files}


def test_the_demos_publication_is_the_one_recorded(tmp_path):
    recorded = json.loads(RECORDED.read_text(encoding="utf-8"))
    made = demo_publication(tmp_path)
    assert {k: v for k, v in made.items() if k != "files"} == {
        k: v for k, v in recorded.items() if k != "files"
    }
    changed = sorted(
        name
        for name in set(made["files"]) | set(recorded["files"])
        if made["files"].get(name) != recorded["files"].get(name)
    )
    assert changed == [], f"files that differ from tests/data/demo_files.json: {changed}"


if __name__ == "__main__":  # record the demo's publication as it is now
    with tempfile.TemporaryDirectory() as work:
        made = demo_publication(Path(work))
    RECORDED.write_text(json.dumps(made, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{RECORDED}: {len(made['files'])} files", file=sys.stderr)
