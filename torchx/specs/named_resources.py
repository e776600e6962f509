"""Named resources: name -> Resource factory, from the builtin tables, plugins and a custom module.

Where a name is defined in several places the later wins (upstream's order, then ours):
the generic table, the AWS table, the ``NAMED_RESOURCES`` dict of the module named by
``TORCHX_CUSTOM_NAMED_RESOURCES``, plugins (:py:mod:`torchx.plugins`: the
``torchx_plugins.named_resources`` namespace package and the ``torchx.named_resources`` entry
points), then run-time registrations in ``_named_resource_factories``. ``NULL`` and ``MISSING``
name :py:data:`NULL_RESOURCE`. A name is matched exactly, else ignoring case (several matches:
``KeyError``). Every Resource returned is tagged with the name it was registered under.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Iterator, Mapping

from torchx.specs.appdef import NULL_RESOURCE, Resource
from torchx.specs.capabilities import RESOURCE_NAME_TAG
from torchx.specs.errors import UserKeyError
from torchx.util.suggest import suggest as _suggest

Factory = Callable[[], Resource]

_named_resource_factories: dict[str, Factory] = {}
"""Run-time registrations: name -> factory (they win over every other source)."""


def _null() -> Resource:
    return copy.deepcopy(NULL_RESOURCE)


SPECIAL: dict[str, Factory] = {"NULL": _null, "MISSING": _null}
"""``NULL`` and ``MISSING`` name the "no resource given" resource (:py:data:`NULL_RESOURCE`)."""
MISSING_RESOURCE: Resource = NULL_RESOURCE
"""What ``named_resources["MISSING"]`` equals: the unset resource."""


def _builtin_tables() -> dict[str, Factory]:
    from torchx.specs import named_resources_aws, named_resources_generic

    return {**named_resources_generic.NAMED_RESOURCES, **named_resources_aws.NAMED_RESOURCES}


def _custom_module() -> dict[str, Factory]:
    """The TORCHX_CUSTOM_NAMED_RESOURCES module's table (UserKeyError naming the fix)."""
    module_name = os.environ.get("TORCHX_CUSTOM_NAMED_RESOURCES")
    if not module_name:
        return {}
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
    return dict(table)


def _plugins() -> dict[str, Factory]:
    from torchx.plugins import PluginType, registry

    return registry().get(PluginType.NAMED_RESOURCE)


def _merged() -> tuple[dict[str, Factory], UserKeyError | None]:
    """Every name -> factory, later sources winning; a broken custom module is returned as the
    error to raise only when a name is not found (the builtins never need it)."""
    merged = _builtin_tables()
    error: UserKeyError | None = None
    try:
        merged.update(_custom_module())
    except UserKeyError as e:
        error = e
    merged.update(_plugins())
    merged.update(_named_resource_factories)
    merged.update(SPECIAL)
    return merged, error


def all_factories() -> dict[str, Factory]:
    """Every known name -> factory (tables, the custom module, plugins, registrations)."""
    return _merged()[0]


def _find(name: str, table: Mapping[str, Factory]) -> tuple[str, Factory] | None:
    """(registered name, factory) for ``name``: exact, else the one match ignoring case."""
    if name in table:
        return name, table[name]
    lower = name.lower()
    matches = [key for key in table if key.lower() == lower]
    if len(matches) > 1:
        raise UserKeyError(
            f"`{name}` matches more than one registered named resource, ignoring case:"
            f" {sorted(matches)}; use the exact name"
        )
    return (matches[0], table[matches[0]]) if matches else None


def get_named_resource(name: str) -> Resource:
    """The Resource called ``name``; KeyError suggesting close names when there is none."""
    table, error = _merged()
    found = _find(name, table)
    if found is None:
        if error is not None:
            raise error
        from torchx.plugins import PluginType, registry

        failed = registry().errors_for(PluginType.NAMED_RESOURCE, name)
        if failed:
            raise UserKeyError(f"named resource plugin `{name}` failed to register:"
                               f" {failed[0].error}; fix or uninstall it ({failed[0].module})")
        raise UserKeyError(
            f"unknown named resource `{name}`" + _suggest(name, list(table), "named resources")
        )
    key, factory = found
    res = factory()
    if not isinstance(res, Resource):
        raise TypeError(f"named resource `{name}` factory returned {type(res).__name__}, not Resource")
    if key not in SPECIAL:
        res.tags.setdefault(RESOURCE_NAME_TAG, key)
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
