"""Run options declared as a dataclass (:py:class:`StructuredOpts`); field docstrings are help."""

from __future__ import annotations

import dataclasses
import re
import sys
from collections.abc import Mapping
from typing import Any, TypeVar

from torchx.specs.options import CfgVal, ResolvedCfg, runopts
from torchx.util.types import unwrap_optional

__all__ = ["StructuredOpts"]


class StructuredOpts:
    """Run options declared as a dataclass; each field's docstring is its help text.

    ::

        @dataclass
        class SlurmOpts(StructuredOpts):
            partition: str | None = None
            \"\"\"The partition to submit to.\"\"\"
            mail_user: str | None = field(default=None, metadata={"key": "mail-user"})
            \"\"\"Where Slurm sends mail.\"\"\"

    A field without a default is required; ``metadata={"key": ...}`` names the option
    differently from the field (for names that are not identifiers).
    """

    @classmethod
    def _fields(cls) -> list[tuple[str, dataclasses.Field[Any], Any]]:
        """(option key, field, type hint) per field; computed once per class."""
        cached = _FIELDS_CACHE.get(cls)
        if cached is None:
            import typing

            hints = typing.get_type_hints(cls)
            cached = [(_opt_key(f), f, hints[f.name]) for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
            _FIELDS_CACHE[cls] = cached
        return cached

    @classmethod
    def as_runopts(cls) -> runopts:
        """The :py:class:`runopts` these fields declare (a fresh object; the parsing is cached)."""
        docs = _field_docs(cls)
        opts = runopts()
        for key, f, hint in cls._fields():
            typ, _ = unwrap_optional(hint)
            default: Any = None
            required = True
            if f.default is not dataclasses.MISSING:
                default, required = f.default, False
            elif f.default_factory is not dataclasses.MISSING:
                default, required = f.default_factory(), False
            if default is not None and isinstance(default, (list, dict)) and not default:
                default = None
            opts.add(key, typ, docs.get(f.name, ""), default=default, required=required,
                     aliases=list(f.metadata.get("aliases", [])))
        return opts

    @classmethod
    def from_cfg(cls: type[_S], cfg: Mapping[str, CfgVal]) -> _S:
        """An instance with values from ``cfg`` (checked, defaults filled in).

        A :py:class:`~torchx.specs.options.ResolvedCfg` (what schedulers are given) is not
        checked again; keys that are not fields (e.g. workspace options) are ignored.
        """
        resolved = cfg if isinstance(cfg, ResolvedCfg) else cls.as_runopts().resolve(cfg)
        kwargs: dict[str, Any] = {}
        for key, f, _ in cls._fields():
            val = resolved.get(key)
            if val is None and f.default_factory is not dataclasses.MISSING:
                val = f.default_factory()
            kwargs[f.name] = val
        return cls(**kwargs)


_S = TypeVar("_S", bound=StructuredOpts)
# Per-class results of reading type hints and field docstrings (source parsing costs ~10 ms).
_FIELDS_CACHE: dict[type, list[tuple[str, dataclasses.Field[Any], Any]]] = {}
_DOCS_CACHE: dict[type, dict[str, str]] = {}


def _opt_key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))



def _field_docs(cls: type) -> dict[str, str]:
    """Docstrings written under dataclass fields, read from the source once per class."""
    cached = _DOCS_CACHE.get(cls)
    if cached is None:
        cached = _DOCS_CACHE[cls] = _read_field_docs(cls)
    return cached


def _class_tree(klass: type) -> Any:
    """The ``ast.ClassDef`` of ``klass``, or None when its source is unavailable.

    A top-level class is cut out of its module's file by name (~1 ms); anything else (nested,
    ambiguous, unparsable cut) goes through ``inspect.getsource``, which parses the whole module.
    """
    import ast
    import inspect
    import linecache
    import textwrap

    filename = getattr(sys.modules.get(klass.__module__), "__file__", None)
    if filename and klass.__qualname__ == klass.__name__:
        lines = linecache.getlines(filename)
        header = re.compile(rf"class\s+{re.escape(klass.__name__)}\b")
        starts = [i for i, line in enumerate(lines) if header.match(line)]
        if len(starts) == 1:
            end = next((j for j in range(starts[0] + 1, len(lines))
                        if lines[j].strip() and not lines[j][0].isspace()), len(lines))
            try:
                tree = ast.parse("".join(lines[starts[0]:end]))
            except SyntaxError:
                tree = None
            if tree and isinstance(tree.body[0], ast.ClassDef) and tree.body[0].name == klass.__name__:
                return tree.body[0]
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
    except (OSError, TypeError, SyntaxError):
        return None
    return tree.body[0] if tree.body and isinstance(tree.body[0], ast.ClassDef) else None


def _read_field_docs(cls: type) -> dict[str, str]:
    """Docstrings written under dataclass fields, read from the source (empty if unavailable)."""
    import ast
    import inspect

    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass is object or klass is StructuredOpts:
            continue
        tree = _class_tree(klass)
        body = tree.body if tree is not None else []
        for stmt, nxt in zip(body, body[1:], strict=False):
            if (
                isinstance(stmt, ast.AnnAssign)
                and isinstance(stmt.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[stmt.target.id] = inspect.cleandoc(nxt.value.value)
    return docs


