"""Keys of ``Resource.tags`` that torchx sets on named resources.

(The same strings as ``torchx.specs.capabilities.RESOURCE_NAME_TAG``/``IS_FRACTIONAL_TAG``;
written out so the plugins layer needs nothing above ``torchx.util``.)
"""

from __future__ import annotations

RESOURCE_NAME = "torchx/named_resources.name"
"""The name the Resource was looked up by."""
IS_FRACTIONAL = "torchx/named_resources.is_fractional"
"""True for a fraction of a host (``<name>_<suffix>``)."""
