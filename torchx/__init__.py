"""torchx: a universal job launcher for PyTorch.

Importing this package loads nothing but this module; subpackages load on use.
"""

__version__ = "0.1.0"
IMAGE = "ghcr.io/pytorch/torchx:latest"
"""Default image of the builtin components (``torchx.version.TORCHX_IMAGE``)."""
