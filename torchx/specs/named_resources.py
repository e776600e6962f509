"""Named resources: name -> Resource factory, from the builtin tables, plugins and a custom module.

Lookup order for a name (case-insensitive): ``_named_resource_factories`` (the builtin tables
plus anything registered at run time), then the ``torchx.named_resources`` entry points, then
the ``NAMED_RESOURCES`` dict of the module named by ``TORCHX_CUSTOM_NAMED_RESOURCES``.
Entry points and the custom module are read only when a name is not found in the tables.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

from torchx.specs.appdef import Resource
from torchx.specs.errors import UserKeyError
from torchx.util.suggest import suggest as _suggest

Factory = Callable[[], Resource]

_named_resource_factories: dict[str, Factory] = {}
"""Name -> factory: the builtin tables plus run-time registrations (which win over builtins)."""


def _builtin_tables() -> dict[str, Factory]:
    """``_named_resource_factories`` with the builtin tables filled in where a name is absent."""
    from torchx.specs import named_resources_aws, named_resources_generic

    for table in (named_resources_generic.NAMED_RESOURCES, named_resources_aws.NAMED_RESOURCES):
        for name, factory in table.items():
            _named_resource_factories.setdefault(name, factory)
    return _named_resource_factories


def _plugin_factories() -> dict[str, Factory]:
    """Entry points, then the TORCHX_CUSTOM_NAMED_RESOURCES module (read on every call)."""
    from torchx.util.entrypoints import load_group

    found: dict[str, Factory] = dict(load_group("torchx.named_resources"))
    module_name = os.environ.get("TORCHX_CUSTOM_NAMED_RESOURCES")
    if module_name:
        import importlib

        try:
            module = importlib.import_module(module_name)
        except ImportError as e:
            raise UserKeyError(
                f"TORCHX_CUSTOM_NAMED_RESOURCES names `{module_name}`, which does not import"
                f" ({e}); make it importable (on PYTHONPATH) or unset the variable"
            ) from None
        table = getattr(module, "NAMED_RESOURCES", None)
        if not isinstance(table, Mapping):
            raise UserKeyError(
                f"module `{module_name}` (TORCHX_CUSTOM_NAMED_RESOURCES) has no NAMED_RESOURCES"
                " dict of name -> factory"
            )
        found.update(table)
    return found


def all_factories() -> dict[str, Factory]:
    """Every known name -> factory (tables, plugins and the custom module)."""
    merged = dict(_plugin_factories())
    merged.update(_builtin_tables())
    return merged


def _find(name: str, table: Mapping[str, Factory]) -> Factory | None:
    if name in table:
        return table[name]
    lower = name.lower()
    for key, factory in table.items():
        if key.lower() == lower:
            return factory
    return None


def get_named_resource(name: str) -> Resource:
    """The Resource called ``name``; KeyError suggesting close names when there is none."""
    factory = _find(name, _builtin_tables())
    if factory is None:
        plugins = _plugin_factories()
        factory = _find(name, plugins)
        if factory is None:
            known = list(_builtin_tables()) + list(plugins)
            raise UserKeyError(
                f"unknown named resource `{name}`" + _suggest(name, known, "named resources")
            )
    res = factory()
    if not isinstance(res, Resource):
        raise TypeError(f"named resource `{name}` factory returned {type(res).__name__}, not Resource")
    return res


class NamedResources(Mapping[str, Resource]):
    """A read-only mapping view: ``named_resources["gpu.small"]``."""

    def __getitem__(self, name: str) -> Resource:
        return get_named_resource(name)

    def __iter__(self) -> Iterator[str]:
        return iter(all_factories())

    def __len__(self) -> int:
        return len(all_factories())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        try:
            get_named_resource(name)
        except KeyError:
            return False
        return True
