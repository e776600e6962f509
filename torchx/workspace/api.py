"""Workspaces: ship a user's local directories with a role.

A scheduler mixes in :py:class:`WorkspaceMixin` (before ``Scheduler`` in its bases, so the
mixin's hooks override the Scheduler's defaults) and the Runner calls
:py:meth:`WorkspaceMixin.build_workspaces` twice: with ``dryrun=True`` in ``dryrun()`` (decide
the image each role will run and record what would be built, without side effects) and with
``dryrun=False`` in ``schedule()`` (build what is missing, push, and set ``role.image``).
"""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from torchx.specs.api import CfgVal, Role, TorchXError, Workspace, runopts

__all__ = ["Workspace", "WorkspaceBuild", "WorkspaceError", "WorkspaceMixin", "project_paths"]

T = TypeVar("T")


class WorkspaceError(TorchXError):
    """A workspace cannot be used (missing directory, failed build or push)."""


@dataclass
class WorkspaceBuild:
    """What a workspace build did, or (in a dryrun) would do, for one role."""

    role: str
    workspace: str
    base_image: str
    image: str
    """The image the role runs: content-keyed, so it names exactly these files."""
    build: bool
    """True when the image does not exist yet and must be built."""
    push: str | None = None
    """Where the image is (or would be) pushed; None without ``image_repo``."""
    note: str = ""

    def describe(self) -> str:
        """One line for ``--dryrun``."""
        verb = "build" if self.build else "reuse (unchanged workspace)"
        line = f"{verb} {self.image} = {self.base_image} + workspace {self.workspace}"
        if self.push:
            line += f"; push to {self.push}"
        if self.note:
            line += f" ({self.note})"
        return line


def project_paths(workspace: Workspace) -> list[tuple[str, str]]:
    """``(absolute local dir, path in job)`` per project; WorkspaceError if a dir is missing."""
    out: list[tuple[str, str]] = []
    for src, dst in workspace.projects.items():
        path = os.path.abspath(os.path.expanduser(src))
        if not os.path.isdir(path):
            what = "is not a directory" if os.path.exists(path) else "does not exist"
            raise WorkspaceError(
                f"workspace `{src}` {what} (resolved to {path}): pass an existing directory"
                " with `--workspace` (or set `workspace=` on the role)"
            )
        out.append((path, dst.strip("/")))
    return out


class WorkspaceMixin(abc.ABC, Generic[T]):
    """Adds workspace support to a scheduler: ``class S(MyMixin, Scheduler[Opts])``.

    ``T`` is the type of the build cache shared by the roles of one app. Subclasses implement
    :py:meth:`caching_build_workspace_and_update_role` and may override
    :py:meth:`dryrun_workspace_and_update_role` to show what a build would produce.
    """

    def workspace_opts(self) -> runopts:
        """Run options the workspace accepts (merged into the scheduler's)."""
        return runopts()

    def builds_workspaces(self) -> bool:
        """A scheduler with this mixin ships workspaces (see ``Scheduler.builds_workspaces``)."""
        return True

    @abc.abstractmethod
    def caching_build_workspace_and_update_role(
        self,
        role: Role,
        cfg: Mapping[str, CfgVal],
        build_cache: dict[object, object],
    ) -> None:
        """Build ``role.workspace`` into something the role can run and set ``role.image``.

        ``build_cache`` is shared by the roles of one app so identical workspaces build once.
        """

    def dryrun_workspace_and_update_role(
        self,
        role: Role,
        cfg: Mapping[str, CfgVal],
        build_cache: dict[object, object],
    ) -> WorkspaceBuild | None:
        """Decide what the role will run without building anything; None if unknowable."""
        return None

    def build_workspaces(self, roles: list[Role], cfg: Mapping[str, CfgVal], dryrun: bool) -> None:
        """Dryrun or build the workspace of every role that has one (see the module doc).

        Each dryrun's :py:class:`WorkspaceBuild` is kept in :py:meth:`workspace_builds` under
        the image it names, for the scheduler's dryrun output.
        """
        build_cache: dict[object, object] = {}
        for role in roles:
            if not role.workspace:
                continue
            if dryrun:
                plan = self.dryrun_workspace_and_update_role(role, cfg, build_cache)
                if plan is not None:
                    self.workspace_builds()[plan.image] = plan
            else:
                self.caching_build_workspace_and_update_role(role, cfg, build_cache)

    def workspace_builds(self) -> dict[str, WorkspaceBuild]:
        """Planned builds by resulting image (filled by ``build_workspaces(dryrun=True)``)."""
        builds: dict[str, WorkspaceBuild] | None = getattr(self, "_torchx_workspace_builds", None)
        if builds is None:
            builds = {}
            self._torchx_workspace_builds = builds
        return builds
