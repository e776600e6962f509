"""Plugins: schedulers, named resources, trackers, event handlers and components from code.

Put a module in the namespace package ``torchx_plugins.<kind>`` (``schedulers``,
``named_resources``, ``tracker``, ``event_handlers``, ``components``) of any installed or
importable distribution and mark its functions with ``register``::

    # torchx_plugins/named_resources/my_cluster.py
    from torchx.plugins import register, powers_of_two_gpus
    from torchx.specs import Resource

    @register.named_resource(fractionals=powers_of_two_gpus)
    def my_gpu_host(fractional: float = 1.0) -> Resource:
        return Resource(cpu=int(96 * fractional), gpu=int(8 * fractional),
                        memMB=int(1_000_000 * fractional))

Entry points (``[project.entry-points."torchx.schedulers"]`` ...) keep working beside them and
win a name collision. ``registry()`` is what torchx consults; ``print(registry())`` lists what
it found and what it could not register.
"""

from __future__ import annotations

from torchx.plugins import resource_tags
from torchx.plugins._registration import (
    EIGHTH,
    HALF,
    QUARTER,
    SIXTEENTH,
    WHOLE,
    PluginType,
    halve_mem_down_to,
    powers_of_two_gpus,
    register,
)
from torchx.plugins._registry import PluginInfo, PluginRegistry, RegistrationError, registry

__all__ = [
    "EIGHTH", "HALF", "QUARTER", "SIXTEENTH", "WHOLE", "PluginInfo", "PluginRegistry",
    "PluginType", "RegistrationError", "halve_mem_down_to", "powers_of_two_gpus", "register",
    "registry", "resource_tags",
]
