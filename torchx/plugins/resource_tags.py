"""Keys of ``Resource.tags`` that torchx sets on named resources."""

from __future__ import annotations

from torchx.specs.capabilities import IS_FRACTIONAL_TAG, RESOURCE_NAME_TAG

RESOURCE_NAME = RESOURCE_NAME_TAG
"""``"torchx/named_resources.name"``: the name the Resource was looked up by."""
IS_FRACTIONAL = IS_FRACTIONAL_TAG
"""``"torchx/named_resources.is_fractional"``: a fraction of a host (``<name>_<suffix>``)."""
