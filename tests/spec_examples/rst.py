"""Read code blocks out of the spec's .rst files, so tests run the examples exactly as written."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEFAULT_SPEC = REPO.parent / "shared" / "spec"
"""Where the spec pages live: ``shared/spec`` beside the repository (they are TorchX's own
documentation, so the repository does not carry a copy)."""
ENV_SPEC_DIR = "TORCHX_SPEC_DIR"
"""Overrides :py:data:`DEFAULT_SPEC`."""
ENV_REQUIRE_SPEC = "TORCHX_REQUIRE_SPEC"
"""When ``1`` (``scripts/test`` sets it), missing spec pages fail the tests instead of skipping."""


def spec_dir() -> Path:
    """The spec pages' directory; skips the calling test when absent (fails when required)."""
    env = os.environ.get(ENV_SPEC_DIR)
    path = Path(env) if env else DEFAULT_SPEC
    if not path.is_dir():
        why = (f"the spec pages are not at {path}: put TorchX's spec beside the repository"
               f" (../shared/spec) or set ${ENV_SPEC_DIR}")
        if os.environ.get(ENV_REQUIRE_SPEC) == "1":
            pytest.fail(f"{why} (${ENV_REQUIRE_SPEC}=1)")
        pytest.skip(why)
    return path


@dataclass
class Block:
    directive: str  # code-block, testcode, testsetup, doctest
    group: str  # the directive's argument (language or doctest group)
    code: str
    hidden: bool


def blocks(name: str) -> list[Block]:
    """Every code block of ``spec/<name>`` in order."""
    lines = (spec_dir() / name).read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith(".. ") and "::" in stripped:
            directive, _, arg = stripped[3:].partition("::")
            directive = directive.strip()
            if directive in ("code-block", "testcode", "testsetup", "doctest", "testoutput"):
                indent = len(line) - len(line.lstrip())
                i += 1
                hidden = False
                while i < len(lines) and lines[i].strip().startswith(":"):
                    hidden = hidden or lines[i].strip() == ":hide:"
                    i += 1
                body: list[str] = []
                while i < len(lines) and (
                    not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > indent
                ):
                    body.append(lines[i])
                    i += 1
                code = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
                out.append(Block(directive, arg.strip(), code, hidden))
                continue
        i += 1
    return out


def find(name: str, marker: str, directive: str | None = None) -> Block:
    """The one block of ``spec/<name>`` containing ``marker``."""
    found = [b for b in blocks(name) if marker in b.code and (directive is None or b.directive == directive)]
    assert len(found) == 1, f"{len(found)} blocks of {name} contain {marker!r}"
    return found[0]
