"""Builtin components: ordinary component functions, found by :py:mod:`torchx.specs.finder`.

``utils.*`` (echo, touch, sh, python, binary, copy, booth) and ``dist.*`` (ddp, torchrun,
spmd). Run ``torchx builtins`` to list them and ``torchx run <name> --help`` for their options.
"""

IMAGE = "ghcr.io/pytorch/torchx:latest"
"""Default image of the builtins (ignored by local_cwd, which runs in the current directory)."""

SCRIPT_METADATA = "torchx.script"
"""Role metadata naming the script file a role runs (``--script``): schedulers whose image is
the local directory (local_cwd, slurm) refuse a job whose script is not there."""
