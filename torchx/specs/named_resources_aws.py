"""AWS instance types as named resources (``aws_<type>``). Table filled in by issue 2."""

from __future__ import annotations

from collections.abc import Callable

from torchx.specs.api import Resource

NAMED_RESOURCES: dict[str, Callable[[], Resource]] = {}
