"""The torchx version and the default image of the builtin components."""

from __future__ import annotations

from torchx import IMAGE, __version__

TORCHX_IMAGE = IMAGE
"""Default ``image`` of the builtin components (``local_cwd`` ignores it)."""

__all__ = ["TORCHX_IMAGE", "__version__"]
