"""Names of the environment variables torchx reads and sets (the strings, nothing is read here).

``os.environ.get(settings.ENV_TORCHXCONFIG)`` instead of a spelled-out ``"TORCHXCONFIG"``.
"""

from __future__ import annotations

ENV_TORCHXCONFIG = "TORCHXCONFIG"
"""Path of the one ``.torchxconfig`` to read (instead of ``$HOME`` and ``$CWD``); empty = none."""
ENV_TORCHX_HOME = "TORCHX_HOME"
"""torchx's state directory (default ``~/.torchx``)."""
ENV_TORCHX_TRACKERS = "TORCHX_TRACKERS"
"""Comma-separated tracker names, set by the launcher for the job (overrides the config)."""
ENV_TORCHX_PARENT_RUN_ID = "TORCHX_PARENT_RUN_ID"
"""The run this job descends from (recorded as a tracker source)."""
ENV_TORCHX_JOB_ID = "TORCHX_JOB_ID"
"""The job's app handle, set in every replica."""
ENV_TORCHX_INTERNAL_SESSION_ID = "TORCHX_INTERNAL_SESSION_ID"
"""The launching process's session id (a uuid4), set in every replica."""
ENV_TORCHX_IMAGE = "TORCHX_IMAGE"
"""The image a replica runs, set by container schedulers."""
ENV_TORCHX_CONTEXT_NAME = "TORCHX_CONTEXT_NAME"
"""What launched the job (``cli_run`` for ``torchx run``)."""
ENV_TORCHX_CUSTOM_NAMED_RESOURCES = "TORCHX_CUSTOM_NAMED_RESOURCES"
"""A module whose ``NAMED_RESOURCES`` dict adds named resources."""
ENV_TORCHX_PLUGINS_SOURCE = "TORCHX_PLUGINS_SOURCE"
"""Where plugins are found: 0 none, 1 namespace packages, 2 entry points, 3 both (default)."""
ENV_TORCHX_RANK0_HOST = "TORCHX_RANK0_HOST"
"""Host of the role's replica 0, set in every replica by most schedulers."""

__all__ = [
    "ENV_TORCHXCONFIG", "ENV_TORCHX_CONTEXT_NAME", "ENV_TORCHX_CUSTOM_NAMED_RESOURCES",
    "ENV_TORCHX_HOME", "ENV_TORCHX_IMAGE", "ENV_TORCHX_INTERNAL_SESSION_ID",
    "ENV_TORCHX_JOB_ID", "ENV_TORCHX_PARENT_RUN_ID", "ENV_TORCHX_PLUGINS_SOURCE",
    "ENV_TORCHX_RANK0_HOST", "ENV_TORCHX_TRACKERS",
]
