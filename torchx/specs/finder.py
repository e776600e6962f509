"""Finding components: the builtins, ``torchx.components`` entry-point groups, files and modules.

Names resolve as:

- ``utils.echo``: a discovered component. Without ``torchx.components`` entry points these are
  the builtins in :py:mod:`torchx.components`; with entry points, exactly the groups they name
  (``foo = my_project.bar`` exposes ``my_project.bar.baz.trainer`` as ``foo.baz.trainer``;
  aliases ``_``, ``_0``, ``_1``... add no prefix; ``torchx = torchx.components`` re-adds the
  builtins as ``torchx.*``). Subpackages without ``__init__.py`` are not searched.
- ``path/to/file.py:fn``: function ``fn`` of that file.
- ``pkg.module:fn``: function ``fn`` of an importable module.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import os
import pkgutil
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from torchx.specs.appdef import AppDef
from torchx.specs.errors import TorchXError
from torchx.specs.file_linter import parse_docstring, validate
from torchx.util.suggest import suggest as _suggest

log = logging.getLogger(__name__)

BUILTIN_MODULE = "torchx.components"
ENTRY_POINT_GROUP = "torchx.components"


class ComponentNotFoundException(TorchXError):
    """No component has this name (the message suggests the closest ones)."""

    exit_code = 2


class ComponentValidationException(TorchXError):
    """The component exists but is not a valid component (the message lists what to fix)."""

    exit_code = 2


@dataclass
class Component:
    """A discovered component function and what is wrong with it, if anything."""

    name: str
    description: str
    fn_name: str
    fn: Callable[..., AppDef]
    validation_errors: list[str] = field(default_factory=list)


def _make(name: str, fn: Callable[..., Any]) -> Component:
    return Component(
        name=name,
        description=parse_docstring(fn.__doc__).description,
        fn_name=fn.__name__,
        fn=fn,
        validation_errors=validate(fn),
    )


def _functions(module: ModuleType) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Public functions defined in ``module`` itself, in definition order."""
    for attr, obj in list(vars(module).items()):
        if (
            not attr.startswith("_")
            and inspect.isfunction(obj)
            and obj.__module__ == module.__name__
        ):
            yield attr, obj


def _import(modname: str) -> ModuleType | None:
    try:
        return importlib.import_module(modname)
    except Exception as e:  # a broken component module must not hide the others
        log.warning("skipping component module `%s`: %s: %s", modname, type(e).__name__, e)
        return None


def _walk(module: ModuleType) -> Iterator[ModuleType]:
    """``module`` and every submodule of its regular (``__init__.py``) subpackages."""
    yield module
    path = getattr(module, "__path__", None)
    if path is None:
        return
    # pkgutil lists only directories with an __init__.py as packages: namespace dirs are skipped
    for info in pkgutil.iter_modules(path, module.__name__ + "."):
        sub = _import(info.name)
        if sub is not None:
            yield from _walk(sub) if info.ispkg else iter([sub])


def _prefix(alias: str) -> str:
    return "" if re.fullmatch(r"_\d*", alias) else alias


def find_components(groups: Sequence[tuple[str, str]]) -> dict[str, Component]:
    """Components of the (alias, module) groups, named ``<alias>.<relative module>.<fn>``."""
    found: dict[str, Component] = {}
    for alias, modname in groups:
        root = _import(modname)
        if root is None:
            continue
        for module in _walk(root):
            rel = module.__name__[len(root.__name__) + 1:]
            for fn_name, fn in _functions(module):
                name = ".".join(p for p in (_prefix(alias), rel, fn_name) if p)
                found.setdefault(name, _make(name, fn))
    return found


def component_groups() -> list[tuple[str, str]]:
    """(alias, module) of each ``torchx.components`` entry point; the builtins if there are none."""
    from torchx.util.entrypoints import entry_points

    groups = [(name, ep.value.partition(":")[0].strip()) for name, ep in entry_points(ENTRY_POINT_GROUP).items()]
    return groups or [("", BUILTIN_MODULE)]


def get_components() -> dict[str, Component]:
    """Every discoverable component by name (valid or not: see ``validation_errors``)."""
    return find_components(component_groups())


def get_component(name: str) -> Component:
    """The valid component ``name`` (``utils.echo``, ``path/to/file.py:fn``, ``pkg.module:fn``).

    Raises ComponentNotFoundException (suggesting close names) or ComponentValidationException
    (listing what to fix).
    """
    if ":" in name:
        path, _, fn_name = name.rpartition(":")
        comp = _from_module(name, _load(path), fn_name, path)
    elif name.endswith(".py"):
        module = _load(name)
        fns = [f for f, _ in _functions(module)]
        raise ComponentNotFoundException(
            f"name the function in `{name}`: `{name}:FN`"
            + (f"; it defines {', '.join(f'`{name}:{f}`' for f in fns)}" if fns else "")
        )
    else:
        comps = get_components()
        if name not in comps:
            raise ComponentNotFoundException(
                f"unknown component `{name}`" + _suggest(name, list(comps), "components")
                + " (`torchx builtins` lists them; a file works too: `path/to/file.py:fn`)"
            )
        comp = comps[name]
    if comp.validation_errors:
        raise ComponentValidationException(
            f"component `{name}` is not valid: " + "; ".join(comp.validation_errors)
        )
    return comp


def _from_module(name: str, module: ModuleType, fn_name: str, path: str) -> Component:
    fn = getattr(module, fn_name, None)
    if not callable(fn):
        fns = [f for f, _ in _functions(module)]
        raise ComponentNotFoundException(
            f"`{path}` has no function `{fn_name}`" + _suggest(fn_name, fns, "functions")
            if fns else f"`{path}` has no function `{fn_name}` (it defines no public functions)"
        )
    return _make(name, fn)


def _load(path: str) -> ModuleType:
    """Load a ``.py`` file (by path) or import a module (by dotted name)."""
    if path.endswith(".py") or os.sep in path:
        return _load_file(path)
    try:
        return importlib.import_module(path)
    except ModuleNotFoundError as e:
        if e.name and path.startswith(e.name):
            raise ComponentNotFoundException(
                f"no module `{path}` (`{e.name}` is not importable): check the name or"
                " PYTHONPATH, or give a file: `path/to/file.py:fn`"
            ) from None
        raise ComponentValidationException(f"cannot import `{path}`: {e}") from e
    except Exception as e:
        raise ComponentValidationException(f"cannot import `{path}`: {type(e).__name__}: {e}") from e


def _load_file(path: str) -> ModuleType:
    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise ComponentNotFoundException(f"component file `{path}` does not exist (looked at {full})")
    modname = "torchx_component_file_" + re.sub(r"\W", "_", full)
    spec = importlib.util.spec_from_file_location(modname, full)
    if spec is None or spec.loader is None:
        raise ComponentNotFoundException(f"`{path}` is not a loadable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[modname] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        sys.modules.pop(modname, None)
        raise ComponentValidationException(f"cannot load `{path}`: {type(e).__name__}: {e}") from e
    return module
