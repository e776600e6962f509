"""Scheduler registry: builtin name -> module (imported on first use), merged with plugins.

Plugins (:py:mod:`torchx.plugins`: the ``torchx_plugins.schedulers`` namespace package and the
``torchx.schedulers`` entry points) are factories ``(session_name, **kwargs) -> Scheduler``;
they come first, and one with a builtin's name overrides it.
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
    "aws_batch": "torchx.schedulers.aws_batch_scheduler",
    "aws_sagemaker": "torchx.schedulers.aws_sagemaker_scheduler",
    "kubernetes": "torchx.schedulers.kubernetes_scheduler",
    "kubernetes_mcad": "torchx.schedulers.kubernetes_mcad_scheduler",
    "lsf": "torchx.schedulers.lsf_scheduler",
    "gridengine": "torchx.schedulers.gridengine_scheduler",
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


def _plugins() -> dict[str, SchedulerFactory]:
    from torchx.plugins import PluginType, registry

    return registry().get(PluginType.SCHEDULER)


def get_scheduler_factories(skip_defaults: bool = False) -> dict[str, SchedulerFactory]:
    """Every scheduler name -> factory: plugins first, then the builtins they do not replace."""
    factories: dict[str, SchedulerFactory] = dict(_plugins())
    if not skip_defaults:
        for n, m in BUILTIN_SCHEDULER_MODULES.items():
            factories.setdefault(n, _lazy_factory(n, m))
    return factories


def get_scheduler_names() -> list[str]:
    """Names of every scheduler (no builtin scheduler module is imported)."""
    return sorted(set(BUILTIN_SCHEDULER_MODULES) | set(_plugins()))


def get_scheduler_factory(name: str) -> SchedulerFactory:
    """The factory for ``name``; UnknownSchedulerException suggesting close names otherwise."""
    plugin = _plugins().get(name)
    if plugin is not None:
        return plugin
    if name in BUILTIN_SCHEDULER_MODULES:
        return _lazy_factory(name, BUILTIN_SCHEDULER_MODULES[name])
    from torchx.plugins import PluginType, registry

    errors = registry().errors_for(PluginType.SCHEDULER, name)
    if errors:
        from torchx.specs.errors import TorchXError

        raise TorchXError(f"scheduler plugin `{name}` failed to register: {errors[0].error};"
                          f" fix or uninstall it ({errors[0].module})")
    raise UnknownSchedulerException(name, get_scheduler_names())


__all__ = [
    "BUILTIN_SCHEDULER_MODULES", "Scheduler", "SchedulerFactory", "get_default_scheduler_name",
    "get_scheduler_factories", "get_scheduler_factory", "get_scheduler_names",
]
