"""``register``: decorators marking a function in a ``torchx_plugins.<kind>`` module as a plugin.

Marking only: the registry finds marked functions when it scans the namespace packages
(:py:mod:`torchx.plugins._registry`). ``register.named_resource`` also adds the fractional and
alias variants to the module (as attributes and in its ``NAMED_RESOURCES`` dict), so a module
works the same imported directly or through ``TORCHX_CUSTOM_NAMED_RESOURCES``.
"""

from __future__ import annotations

import enum
import functools
import sys
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

WHOLE = 1.0
HALF = 0.5
QUARTER = 0.25
EIGHTH = 0.125
SIXTEENTH = 0.0625

Fractionals = Mapping[float, str] | Callable[[Any], Mapping[float, str]]
"""``{fraction: name suffix}``, or a function of the whole Resource returning one."""


class PluginType(str, enum.Enum):
    """The kinds of plugins; each value is the kind's entry-point group."""

    SCHEDULER = "torchx.schedulers"
    NAMED_RESOURCE = "torchx.named_resources"
    TRACKER = "torchx.tracker"
    EVENT_HANDLER = "torchx.event_handlers"
    COMPONENT = "torchx.components"
    """Ours: component functions in ``torchx_plugins.components`` (the entry-point group keeps
    its own module-alias meaning, handled by :py:mod:`torchx.specs.finder`)."""

    @property
    def namespace(self) -> str:
        """The namespace package scanned for this kind: ``torchx_plugins.<kind>``."""
        return "torchx_plugins." + self.value.split(".", 1)[1]


def _mark(plugin_type: PluginType, name: str | None) -> Callable[[F], F]:
    def decorate(fn: F) -> F:
        fn._plugin_type = plugin_type  # type: ignore[attr-defined]
        fn._plugin_name = name or fn.__name__  # type: ignore[attr-defined]
        return fn

    return decorate


def powers_of_two_gpus(whole: Any) -> dict[float, str]:
    """Fractions of a host by GPU count, for a Resource (or a GPU count) with 2**k GPUs:
    8 GPUs -> ``{1.0: "8", 0.5: "4", 0.25: "2", 0.125: "1"}``."""
    gpus = int(getattr(whole, "gpu", whole))
    if gpus < 1 or gpus & (gpus - 1):
        raise ValueError(f"powers_of_two_gpus needs a power-of-two GPU count, got {gpus}")
    out: dict[float, str] = {}
    n = gpus
    while n >= 1:
        out[n / gpus] = str(n)
        n //= 2
    return out


def halve_mem_down_to(minGiB: int) -> Callable[[Any], dict[float, str]]:
    """Fractions of a host by memory: halve it while it stays ``>= minGiB``; suffixes are the
    GiB of each fraction (a 64 GiB host, ``minGiB=16`` -> ``{1.0: "64", 0.5: "32", 0.25: "16"}``)."""

    def fractions(whole: Any) -> dict[float, str]:
        gib = int(whole.memMB) // 1024
        out: dict[float, str] = {}
        f = 1.0
        while gib * f >= minGiB and f >= SIXTEENTH:
            out[f] = str(int(gib * f))
            f /= 2
        return out

    return fractions


def _variant(base: Callable[..., Any], name: str, fraction: float | None) -> Callable[[], Any]:
    """A zero-argument factory: ``base`` (at ``fraction``), tagged with ``name``."""

    @functools.wraps(base)
    def factory() -> Any:
        res = base() if fraction is None else base(fractional=fraction)
        res.tags.setdefault("torchx/named_resources.name", name)
        if fraction is not None:
            res.tags["torchx/named_resources.is_fractional"] = fraction != 1.0
        return res

    factory.__name__ = name.replace(".", "_").replace("-", "_")
    factory.__qualname__ = factory.__name__
    factory.__wrapped__ = base
    factory._plugin_type = PluginType.NAMED_RESOURCE  # type: ignore[attr-defined]
    factory._plugin_name = name  # type: ignore[attr-defined]
    return factory


class register:
    """Decorators for plugins in the ``torchx_plugins.<kind>`` namespace packages::

        # torchx_plugins/schedulers/my_sched.py
        from torchx.plugins import register

        @register.scheduler(name="my_sched")
        def create_scheduler(session_name: str, **kwargs): ...
    """

    @staticmethod
    def scheduler(name: str | None = None) -> Callable[[F], F]:
        """A scheduler factory ``(session_name, **kwargs) -> Scheduler``."""
        return _mark(PluginType.SCHEDULER, name)

    @staticmethod
    def tracker(name: str | None = None) -> Callable[[F], F]:
        """A tracker factory ``(config: str | None) -> TrackerBase``."""
        return _mark(PluginType.TRACKER, name)

    @staticmethod
    def event_handler(name: str | None = None) -> Callable[[F], F]:
        """An event handler factory ``() -> logging.Handler`` (the name is the destination)."""
        return _mark(PluginType.EVENT_HANDLER, name)

    @staticmethod
    def component(name: str | None = None) -> Callable[[F], F]:
        """A component (a typed function returning an AppDef), listed by ``torchx builtins``."""
        return _mark(PluginType.COMPONENT, name)

    @staticmethod
    def named_resource(
        name: str | None = None,
        aliases: list[str] | None = None,
        fractionals: Fractionals | None = None,
    ) -> Callable[[F], F]:
        """A named resource factory ``(fractional: float = 1.0) -> Resource``.

        ``aliases`` are other names for it; ``fractionals`` (``{0.5: "4"}`` or e.g.
        :py:func:`powers_of_two_gpus`) add ``<name>_<suffix>`` variants, each made by calling
        the factory with ``fractional=<fraction>``.
        """

        def decorate(fn: F) -> F:
            base = name or fn.__name__
            table = fractionals(fn()) if callable(fractionals) else (fractionals or {})
            wanted = [(base, None), *((a, None) for a in aliases or []),
                      *((f"{base}_{suffix}", f) for f, suffix in table.items())]
            variants: dict[str, Callable[[], Any]] = {}
            for vname, fraction in wanted:
                if vname in variants:
                    raise ValueError(f"named resource `{vname}` is registered twice ({fn.__name__})")
                variants[vname] = _variant(fn, vname, fraction)
            module = sys.modules.get(fn.__module__)
            if module is not None:
                registered = module.__dict__.setdefault("NAMED_RESOURCES", {})
                for vname, factory in variants.items():
                    if vname in registered:
                        raise ValueError(
                            f"named resource `{vname}` is registered twice in {module.__name__}"
                        )
                    registered[vname] = factory
                    if vname == base:
                        continue
                    attr = factory.__name__
                    if attr in module.__dict__:
                        raise AttributeError(
                            f"{module.__name__} already has `{attr}`; rename the named resource"
                            f" `{vname}` or its aliases/fractionals"
                        )
                    factory.__module__ = module.__name__
                    setattr(module, attr, factory)
            fn._plugin_type = PluginType.NAMED_RESOURCE  # type: ignore[attr-defined]
            fn._plugin_name = base  # type: ignore[attr-defined]
            fn._plugin_variants = variants  # type: ignore[attr-defined]
            return fn

        return decorate
