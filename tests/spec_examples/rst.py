"""Read code blocks out of the spec's .rst files, so tests run the examples exactly as written."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "docs" / "spec"
"""The spec pages, kept in the repository so a clone alone can run these tests."""
UPSTREAM_SPEC = REPO.parent / "shared" / "spec"
"""Where the contract is maintained, beside the repository (when present)."""


@dataclass
class Block:
    directive: str  # code-block, testcode, testsetup, doctest
    group: str  # the directive's argument (language or doctest group)
    code: str
    hidden: bool


def blocks(name: str) -> list[Block]:
    """Every code block of ``spec/<name>`` in order."""
    lines = (SPEC / name).read_text().splitlines()
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
