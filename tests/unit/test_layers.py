"""Imports run one way down the layers and never in a circle (every import, lazy ones too).

    cli  ->  runner  ->  schedulers, tracker  ->  workspace, components  ->  specs  ->  util

(``runtime`` and ``apps`` run inside jobs and may use specs and tracker.) A module may import its
own layer and those below; ``TYPE_CHECKING`` imports are not run and are not counted.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "torchx"

RANK = {
    "util": 0, "specs": 1, "components": 2, "workspace": 2, "tracker": 3, "schedulers": 3,
    "runtime": 4, "apps": 4, "runner": 5, "cli": 6, "__main__": 7,
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in PKG.rglob("*.py")}


def _is_type_checking(node: ast.If) -> bool:
    return (isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING") or (
        isinstance(node.test, ast.Attribute) and node.test.attr == "TYPE_CHECKING")


def _imports(path: Path, name: str, known: set[str]) -> set[str]:
    """The torchx modules ``name`` imports at run time (``from a import b`` counts a.b when b
    is a module)."""
    tree = ast.parse(path.read_text())
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("torchx"))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            if base.startswith("torchx"):
                for a in node.names:
                    sub = f"{base}.{a.name}"
                    out.add(sub if sub in known else base)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    out.discard(name)
    return out


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    known = set(mods)
    return {name: _imports(path, name, known) & known for name, path in mods.items()}


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_every_package_has_a_layer() -> None:
    unranked = sorted({layer for m in _modules() if (layer := _layer(m)) and layer not in RANK})
    assert unranked == [], f"give torchx/{unranked} a place in RANK (tests/unit/test_layers.py)"


def test_no_import_runs_back_up_the_layers() -> None:
    upward = []
    for mod, deps in _graph().items():
        layer = _layer(mod)
        if layer is None:
            continue
        for dep in deps:
            dep_layer = _layer(dep)
            if dep_layer is not None and RANK.get(dep_layer, 0) > RANK.get(layer, 99):
                upward.append(f"{mod} -> {dep}")
    assert upward == [], "imports running back up the layers:\n" + "\n".join(sorted(upward))


def test_no_import_cycle() -> None:
    graph = _graph()
    # a package's __init__ re-exporting its submodules is not a cycle with them
    edges = {m: {d for d in deps if not m.startswith(d + ".")} for m, deps in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strongconnect(v: str) -> None:  # Tarjan
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strongconnect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strongconnect(v)
    assert cycles == [], f"import cycles: {cycles}"


@pytest.mark.parametrize("module", ["torchx.runner.config", "torchx.tracker.api",
                                    "torchx.cli.cmd_completion"])
def test_the_loops_the_review_found_are_gone(module: str) -> None:
    graph = _graph()
    if module == "torchx.tracker.api":
        assert "torchx.runner.config" not in graph[module]
    elif module == "torchx.cli.cmd_completion":
        assert "torchx.cli.main" not in graph[module]
    else:
        assert "torchx.tracker.api" not in graph[module]


def test_no_package_module_over_700_lines() -> None:
    long = {str(p.relative_to(PKG.parent)): n for p in PKG.rglob("*.py")
            if (n := len(p.read_text().splitlines())) > 700}
    assert long == {}, f"split these modules along their seams: {long}"


def test_only_specs_touches_the_dryrun_info_underscore_names() -> None:
    """AppDryRunInfo's ``_app``/``_cfg``/``_scheduler`` stay for upstream plugins; our code reads
    ``.app``/``.cfg``/``.scheduler`` and sets them with ``attach()``."""
    found = []
    for path in PKG.rglob("*.py"):
        if path.parent.name == "specs":
            continue
        tree = ast.parse(path.read_text())
        called = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in ("_app", "_cfg", "_scheduler")
                    and id(node) not in called):
                found.append(f"{path.relative_to(PKG.parent)}:{node.lineno} .{node.attr}")
    assert found == [], found


@pytest.mark.parametrize("module", ["runner/api.py", "schedulers/api.py"])
def test_the_runner_finds_no_scheduler_hook_by_getattr(module: str) -> None:
    """Every hook the Runner calls is declared on Scheduler (with a default)."""
    tree = ast.parse((PKG / module).read_text())
    calls = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id in ("getattr", "hasattr")]
    assert calls == [], f"torchx/{module} looks hooks up by name at lines {calls}"
