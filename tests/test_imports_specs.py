"""`import torchx` and `import torchx.specs` load only the standard library (and no asyncio,
importlib.metadata or yaml): the startup cost every command pays."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
before = set(sys.modules)
import {module}
print(json.dumps(sorted(set(sys.modules) - before)))
"""
_FORBIDDEN = ("asyncio", "importlib.metadata", "yaml", "fsspec", "torch", "docstring_parser")


def _new_modules(module: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", _PROBE.format(module=module)],
        check=True, capture_output=True, text=True, timeout=60,
    )
    return list(json.loads(out.stdout))


def _baseline() -> set[str]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", "import json, sys; print(json.dumps(sorted(sys.modules)))"],
        check=True, capture_output=True, text=True, timeout=60,
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "module",
    ["torchx", "torchx.specs", "torchx.specs.overlays", "torchx.specs.named_resources_aws",
     "torchx.settings", "torchx.plugins"],
)
def test_loads_only_stdlib(module: str) -> None:
    baseline = _baseline()
    loaded = [m for m in _new_modules(module) if m not in baseline]
    third_party = [
        m for m in loaded
        if m.split(".")[0] not in sys.stdlib_module_names and m.split(".")[0] != "torchx"
        and not m.startswith("_")
    ]
    assert third_party == [], f"`import {module}` loaded non-stdlib modules: {third_party}"
    forbidden = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in _FORBIDDEN)]
    assert forbidden == [], f"`import {module}` loaded {forbidden}"


def test_specs_does_not_load_component_machinery() -> None:
    loaded = _new_modules("torchx.specs")
    heavy = [m for m in loaded if m in ("argparse", "torchx.specs.finder", "torchx.specs.builders",
                                        "torchx.components", "torchx.util.entrypoints")]
    assert heavy == [], heavy
