"""Scheduler registry: builtin name -> module (imported on first use), merged with plugins.

Plugins in the ``torchx.schedulers`` entry-point group are factories
``(session_name, **kwargs) -> Scheduler``; one with a builtin's name overrides it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from torchx.schedulers.api import Scheduler
from torchx.specs.api import UnknownSchedulerException

SchedulerFactory = Callable[..., Scheduler[Any]]

BUILTIN_SCHEDULER_MODULES: dict[str, str] = {
    "local_cwd": "torchx.schedulers.local_scheduler",
    "slurm": "torchx.schedulers.slurm_scheduler",
    "local_docker": "torchx.schedulers.docker_scheduler",
    "ray": "torchx.schedulers.ray_scheduler",
}
"""Builtin schedulers: name -> module exposing ``create_scheduler(session_name, **kwargs)``."""

DEFAULT_SCHEDULER = "local_cwd"


def get_default_scheduler_name() -> str:
    return DEFAULT_SCHEDULER


def _lazy_factory(name: str, module: str) -> SchedulerFactory:
    def factory(session_name: str, **kwargs: Any) -> Scheduler[Any]:
        mod = importlib.import_module(module)
        return mod.create_scheduler(session_name, **kwargs)  # type: ignore[no-any-return]

    factory.__name__ = f"create_{name}_scheduler"
    return factory


def get_scheduler_factories(skip_defaults: bool = False) -> dict[str, SchedulerFactory]:
    """Every scheduler name -> factory: the builtins, then plugins (which override)."""
    from torchx.util.entrypoints import load_group

    factories: dict[str, SchedulerFactory] = {}
    if not skip_defaults:
        factories.update({n: _lazy_factory(n, m) for n, m in BUILTIN_SCHEDULER_MODULES.items()})
    factories.update(load_group("torchx.schedulers"))
    return factories


def get_scheduler_names() -> list[str]:
    """Names of every scheduler, without importing any scheduler module."""
    from torchx.util.entrypoints import entry_points

    return sorted(set(BUILTIN_SCHEDULER_MODULES) | set(entry_points("torchx.schedulers")))


def get_scheduler_factory(name: str) -> SchedulerFactory:
    """The factory for ``name``; UnknownSchedulerException suggesting close names otherwise."""
    from torchx.util.entrypoints import load

    plugin = load("torchx.schedulers", name)
    if plugin is not None:
        return plugin  # type: ignore[no-any-return]
    if name in BUILTIN_SCHEDULER_MODULES:
        return _lazy_factory(name, BUILTIN_SCHEDULER_MODULES[name])
    raise UnknownSchedulerException(name, get_scheduler_names())


__all__ = [
    "BUILTIN_SCHEDULER_MODULES", "Scheduler", "SchedulerFactory", "get_default_scheduler_name",
    "get_scheduler_factories", "get_scheduler_factory", "get_scheduler_names",
]
