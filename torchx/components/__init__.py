"""Builtin components: ordinary component functions, found by :py:mod:`torchx.specs.finder`.

``utils.*`` (echo, touch, sh, python, binary, copy, booth, hydra) and ``dist.*`` (ddp, torchrun,
spmd). Run ``torchx builtins`` to list them and ``torchx run <name> --help`` for their options.
"""

from torchx import IMAGE as IMAGE  # default image of the builtins (local_cwd ignores it)

SCRIPT_METADATA = "torchx.script"
"""Role metadata naming the script file a role runs (``--script``): schedulers whose image is
the local directory (local_cwd, slurm) refuse a job whose script is not there."""
