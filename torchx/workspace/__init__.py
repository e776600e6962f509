"""Workspaces: ship local code with a job (directory copies or patched Docker images).

Standard library only at import; the Docker workspace imports the Docker SDK when it builds.
"""

from torchx.specs.api import Workspace
from torchx.workspace.api import WorkspaceBuild, WorkspaceError, WorkspaceMixin

__all__ = ["Workspace", "WorkspaceBuild", "WorkspaceError", "WorkspaceMixin"]
