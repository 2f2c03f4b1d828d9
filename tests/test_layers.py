"""The layers import one way only: schemas <- transforms <- warehouse <- publish <- bibia <- flows.

Every module's imports are read from its source (the `import` statements, wherever they are,
a function's lazy ones included) and each edge between bibia's own modules is checked: it goes
down the layers, or stays in its layer without a circle. Nothing outside the tools (the demo,
the emulators) imports an emulator.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

LAYERS = ["schemas", "transforms", "warehouse", "publish", "bibia", "flows"]  # bottom first
TOOLS = ("bibia.demo", "bibia.emulators")  # the demo's and the tests' tools
# The one edge that goes up: the command that picks Prefect runs the flows.
ALLOWED_UP = {("bibia.commands", "flows.sync")}


def modules(root: Path = ROOT) -> dict[str, Path]:
    found = {}
    for layer in LAYERS:
        for path in sorted((root / layer).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The modules of ours that `path` (module `name`) imports."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        for target in targets:
            while target and target not in known:  # `from x import name`: the module x
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def layer(name: str) -> int:
    return LAYERS.index(name.split(".")[0])


def graph(root: Path = ROOT) -> dict[str, set[str]]:
    found = modules(root)
    return {name: imports(path, name, set(found)) for name, path in found.items()}


def violations(edges: dict[str, set[str]]) -> list[str]:
    out = []
    for source, targets in sorted(edges.items()):
        for target in sorted(targets):
            if layer(target) > layer(source) and (source, target) not in ALLOWED_UP:
                out.append(f"{source} -> {target}: goes up the layers")
            if target.startswith("bibia.emulators") and not source.startswith(TOOLS):
                out.append(f"{source} -> {target}: production code imports an emulator")
    out += [f"circle: {' -> '.join(c)}" for c in circles(edges)]
    return out


def circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles between modules (ignoring packages importing their own submodules)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt.startswith(node + "."):
                continue  # a package and its own modules
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)
    return found


def test_every_import_goes_down_the_layers_and_none_goes_in_a_circle():
    assert violations(graph()) == []


@pytest.mark.parametrize(
    ("source", "line", "found"),
    [
        ("schemas/kinds.py", "from transforms.normalise import text", "goes up the layers"),
        ("transforms/mapping.py", "from warehouse.db import connect", "goes up the layers"),
        ("warehouse/raw.py", "from bibia.settings import Settings", "goes up the layers"),
        ("warehouse/db.py", "from publish.export import StagedExport", "goes up the layers"),
        ("publish/export.py", "from bibia.settings import Settings", "goes up the layers"),
        ("publish/site/stage.py", "from bibia.context import RunInputs", "goes up the layers"),
        ("bibia/pipeline.py", "import flows.sync", "goes up the layers"),
        ("bibia/pipeline.py", "from bibia.emulators.tally import TallyEmulator", "emulator"),
        ("schemas/text.py", "from schemas.taxonomy import Taxonomy", "circle"),
    ],
)
def test_the_check_fails_on_an_upward_or_circular_import(tmp_path, source, line, found):
    """The same check on a copy of the tree with one import added, inside a function (where
    lazy imports hide)."""
    for layer_name in LAYERS:
        copied = tmp_path / layer_name
        for path in (ROOT / layer_name).rglob("*.py"):
            target = copied / path.relative_to(ROOT / layer_name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    path = tmp_path / source
    path.write_text(
        path.read_text(encoding="utf-8") + f"\n\ndef _added():\n    {line}\n", encoding="utf-8"
    )
    assert any(found in v for v in violations(graph(tmp_path)))


LONGEST_FUNCTION = 80  # lines, outside the demo's and the tests' tools
LONG_ALLOWED = ("bibia/demo/", "bibia/emulators/")


def long_functions(root: Path = ROOT) -> list[str]:
    """Functions of the layers longer than LONGEST_FUNCTION lines (the demo's and the
    emulators' aside: generators of data, not code a maintainer changes)."""
    out = []
    for layer_name in LAYERS:
        for path in sorted((root / layer_name).rglob("*.py")):
            where = path.relative_to(root).as_posix()
            if where.startswith(LONG_ALLOWED):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = (node.end_lineno or node.lineno) - node.lineno + 1
                    if lines > LONGEST_FUNCTION:
                        out.append(f"{where}:{node.lineno} {node.name} ({lines} lines)")
    return out


def test_no_function_is_longer_than_a_screen():
    assert long_functions() == []


def test_the_length_check_finds_a_long_function(tmp_path):
    (tmp_path / "bibia").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(LONGEST_FUNCTION))
    (tmp_path / "bibia" / "long.py").write_text(f"def long():\n{body}\n", encoding="utf-8")
    assert long_functions(tmp_path) == [f"bibia/long.py:1 long ({LONGEST_FUNCTION + 1} lines)"]


def test_the_pipeline_stays_readable_in_one_sitting():
    lines = (ROOT / "bibia" / "pipeline.py").read_text(encoding="utf-8").count("\n")
    assert lines < 450
