"""Typed capability keys, app metadata keys and the sentinels upstream's ``torchx.specs`` names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from torchx.specs.appdef import Resource

T = TypeVar("T")

NA = "<<NA>>"
"""A metadata value that does not apply (as opposed to unknown)."""
TORCHX_CONTEXT_NAME = "TORCHX_CONTEXT_NAME"
"""Environment variable naming what launched the job (``torchx run`` sets ``cli_run``)."""

RESOURCE_NAME_TAG = "torchx/named_resources.name"
"""``Resource.tags`` key: the named resource a Resource came from."""
IS_FRACTIONAL_TAG = "torchx/named_resources.is_fractional"
"""``Resource.tags`` key: True when the Resource is a fraction of a host."""


class app_metadata:
    """Keys of ``AppDef.metadata`` torchx reserves (defined; no builtin scheduler stamps them)."""

    CONTEXT = "torchx/context"
    VERSION = "torchx/version"
    SCHEDULER = "torchx/scheduler"
    ROLES_PREFIX = "torchx/roles."


def _matches(value: Any, tp: type) -> bool:
    if tp in (int, float) and isinstance(value, bool):
        return False  # True is an int to Python, not to a capability
    if tp is float and isinstance(value, int):
        return True
    return isinstance(value, tp)


@dataclass(frozen=True)
class CapabilityKey(Generic[T]):
    """A typed key of ``Resource.capabilities``: ``<namespace>.<name>`` holding a ``type``.

    ``GPU_TYPE = CapabilityKey("acme", "gpu_type", str)``; ``GPU_TYPE.set(res, "h100")``;
    ``GPU_TYPE.get(res)`` -> ``"h100"`` (``TypeError`` when the stored value has another type).
    """

    namespace: str
    name: str
    type: type[T]

    @property
    def key(self) -> str:
        return f"{self.namespace}.{self.name}"

    def set(self, resource: Resource, value: T) -> None:
        if not _matches(value, self.type):
            raise TypeError(
                f"capability `{self.key}` holds {self.type.__name__}, got"
                f" {type(value).__name__} {value!r}"
            )
        resource.capabilities[self.key] = value

    def get(self, resource: Resource, default: T | None = None) -> T | None:
        if self.key not in resource.capabilities:
            return default
        value = resource.capabilities[self.key]
        if not _matches(value, self.type):
            raise TypeError(
                f"capability `{self.key}` should hold {self.type.__name__}, but the resource has"
                f" {type(value).__name__} {value!r}"
            )
        return value  # type: ignore[no-any-return]


__all__ = [
    "IS_FRACTIONAL_TAG", "NA", "RESOURCE_NAME_TAG", "TORCHX_CONTEXT_NAME", "CapabilityKey",
    "app_metadata",
]
