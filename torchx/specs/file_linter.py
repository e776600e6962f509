"""Checks that a function is a valid component, and reads its Google-style docstring.

A component is a function whose every parameter is annotated with a supported type (str, int,
float, bool, ``Optional[X]`` / ``X | None``, ``list[X]``, ``dict[K, V]`` of those scalars, and
``*args: str``) and whose return annotation is :py:class:`torchx.specs.AppDef`.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torchx.specs.appdef import AppDef
from torchx.util.types import unwrap_optional as _unwrap_optional

SCALARS: tuple[type, ...] = (str, int, float, bool)
_SECTION_RE = re.compile(r"^(Args|Arguments|Parameters|Returns|Return|Raises|Yields|Examples?|Notes?|Usage|See Also|Attributes):\s*$")
_ARG_RE = re.compile(r"^\*{0,2}(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*(\([^)]*\))?\s*:\s*(?P<help>.*)$")


@dataclass
class Docstring:
    """A parsed docstring: the description (everything before the sections) and per-arg help."""

    description: str = ""
    args: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> Docstring:
    """Parse a Google-style docstring: free text, then ``Args:`` with ``name: help`` entries.

    Continuation lines of an argument (indented deeper than its name) join its help text.
    Other sections (``Returns:``, ``Raises:``...) are skipped.
    """
    if not doc:
        return Docstring()
    lines = inspect.cleandoc(doc).splitlines()
    description: list[str] = []
    args: dict[str, list[str]] = {}
    section: str | None = None
    current: str | None = None
    arg_indent = -1
    for raw in lines:
        line = raw.rstrip()
        stripped = line.strip()
        m = _SECTION_RE.match(stripped)
        if m and len(line) - len(line.lstrip()) == 0:
            section = m.group(1)
            current, arg_indent = None, -1
            continue
        if section is None:
            description.append(line)
            continue
        if section not in ("Args", "Arguments", "Parameters") or not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        am = _ARG_RE.match(stripped)
        if am and (arg_indent < 0 or indent <= arg_indent):
            arg_indent = indent
            current = am.group("name")
            args[current] = [am.group("help").strip()]
        elif current is not None:
            args[current].append(stripped)
    return Docstring(
        description="\n".join(description).strip(),
        args={k: " ".join(p for p in v if p) for k, v in args.items()},
    )


def type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """The resolved annotations of ``fn`` (string annotations evaluated); raw ones on failure."""
    try:
        return typing.get_type_hints(fn)
    except Exception:  # unresolvable names: report them through validate()
        return dict(getattr(fn, "__annotations__", {}))


def describe_type(hint: Any) -> str:
    """A short readable name: ``int``, ``list[str]``, ``dict[str, str]``, ``str | None``."""
    inner, optional = _unwrap_optional(hint)
    origin = typing.get_origin(inner)
    if origin in (list, dict):
        name = f"{origin.__name__}[{', '.join(describe_type(a) for a in typing.get_args(inner))}]"
    elif isinstance(inner, type):
        name = inner.__name__
    else:
        name = str(inner)
    return f"{name} | None" if optional else name


def is_supported(hint: Any) -> bool:
    """True for the parameter types a component may use."""
    inner, _ = _unwrap_optional(hint)
    if inner in SCALARS:
        return True
    origin, args = typing.get_origin(inner), typing.get_args(inner)
    if origin is list:
        return len(args) == 1 and args[0] in SCALARS
    if origin is dict:
        return len(args) == 2 and all(a in SCALARS for a in args)
    return False


def _is_appdef(hint: Any) -> bool:
    if hint is AppDef:
        return True
    return isinstance(hint, str) and hint.split(".")[-1] == "AppDef"


def validate(fn: Callable[..., Any]) -> list[str]:
    """Everything wrong with ``fn`` as a component, one fix-naming message each (empty if valid)."""
    if not callable(fn):
        return [f"`{fn!r}` is not a function"]
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        return [f"cannot read the signature of `{getattr(fn, '__name__', fn)}`: {e}"]
    name = getattr(fn, "__name__", repr(fn))
    try:
        hints = typing.get_type_hints(fn)
    except Exception as e:
        return [f"`{name}`: cannot resolve its type annotations ({type(e).__name__}: {e});"
                " import or define the names they use"]
    errors: list[str] = []
    for p in sig.parameters.values():
        if p.kind is p.VAR_KEYWORD:
            errors.append(f"`{name}`: `**{p.name}` is not supported; declare each option as a parameter")
            continue
        if p.kind is p.POSITIONAL_ONLY:
            errors.append(f"`{name}`: positional-only parameter `{p.name}` is not supported")
            continue
        if p.name not in hints:
            errors.append(
                f"`{name}`: parameter `{p.name}` has no type annotation; annotate it, e.g. `{p.name}: str`"
            )
            continue
        hint = hints[p.name]
        if p.kind is p.VAR_POSITIONAL:
            if hint is not str:
                errors.append(f"`{name}`: `*{p.name}` must be annotated `str`, not `{describe_type(hint)}`")
        elif not is_supported(hint):
            errors.append(
                f"`{name}`: parameter `{p.name}` has unsupported type `{describe_type(hint)}`; use str,"
                " int, float, bool, list[str], dict[str, str] or Optional of those"
            )
    if "return" not in hints:
        errors.append(f"`{name}`: missing return annotation; declare `-> AppDef`")
    elif not _is_appdef(hints["return"]):
        errors.append(
            f"`{name}`: returns `{describe_type(hints['return'])}`, must be annotated `-> AppDef`"
        )
    return errors
