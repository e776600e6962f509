"""The Scheduler interface every backend implements, and the responses it returns.

A scheduler turns an AppDef into a native request (``_submit_dryrun``), submits it
(``schedule``), and answers ``describe``/``list``/``log_iter``/``cancel``/``delete`` for it.
"""

from __future__ import annotations

import abc
import enum
import re
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from torchx.specs.api import (
    NONE,
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    ResolvedCfg,
    Role,
    RoleStatus,
    StructuredOpts,
    runopts,
)

__all__ = [
    "DescribeAppResponse", "ListAppResponse", "Scheduler", "Stream", "StructuredOpts",
    "filter_regex", "split_lines",
]


class Stream(str, enum.Enum):
    """Which of a replica's log streams to read."""

    STDOUT = "stdout"
    STDERR = "stderr"
    COMBINED = "combined"


@dataclass
class DescribeAppResponse:
    """What a scheduler knows about one app."""

    app_id: str = NONE
    state: AppState = AppState.UNSUBMITTED
    num_restarts: int = -1
    msg: str = NONE
    structured_error_msg: str = NONE
    ui_url: str | None = None
    roles_statuses: list[RoleStatus] = field(default_factory=list)
    roles: list[Role] = field(default_factory=list)


@dataclass
class ListAppResponse:
    """One line of ``list``: an app's id, state and handle (and, where known, name and age)."""

    app_id: str
    state: AppState
    app_handle: str = NONE
    name: str = ""
    roles: list[Role] = field(default_factory=list)
    created: float | None = None
    """Submission time (seconds since the epoch) where the scheduler knows it."""


T = TypeVar("T")


class Scheduler(abc.ABC, Generic[T]):
    """A backend that runs apps. ``T`` is the type of the run config it accepts.

    Every hook the Runner calls is declared here with a default, so a plugin overrides only
    what its backend does differently. Upstream TorchX's override points keep their names and
    signatures: ``_submit_dryrun``, ``schedule``, ``describe``, ``list``, ``_cancel_existing``,
    ``log_iter``, ``_validate``, ``_pre_build_validate``, ``run_opts``/``_run_opts`` (and
    ``WorkspaceMixin.caching_build_workspace_and_update_role``). The order of a run:

    1. ``resolve_cfg(cfg)`` -- once; the same :py:class:`~torchx.specs.ResolvedCfg` reaches 2-5
    2. ``_pre_build_validate(app, scheduler, cfg)``
    3. ``build_workspaces(roles, cfg, dryrun=True)`` when ``builds_workspaces()``
    4. ``_validate(app, scheduler, cfg)``, then ``submit_dryrun(app, cfg)`` -> ``_submit_dryrun``
    5. at submit: ``build_workspaces(roles, info.cfg, dryrun=False)``, then ``schedule(info)``
    """

    def __init__(self, backend: str, session_name: str) -> None:
        self.backend = backend
        self.session_name = session_name

    def close(self) -> None:
        """Release connections; never stops apps. Safe to call twice."""

    def __enter__(self) -> Scheduler[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- run options

    def run_opts(self) -> runopts:
        """The run options this scheduler (and its workspace, if any) accepts."""
        opts = self._run_opts()
        opts.update(self.workspace_opts())
        return opts

    def _run_opts(self) -> runopts:
        """The scheduler's own run options (override this, not :py:meth:`run_opts`)."""
        return runopts()

    def workspace_opts(self) -> runopts:
        """Run options of the workspace this scheduler builds (none by default)."""
        return runopts()

    def resolve_cfg(self, cfg: Mapping[str, CfgVal] | None,
                    opts: runopts | None = None) -> ResolvedCfg:
        """``cfg`` checked against :py:meth:`run_opts` (or ``opts``, a table the caller already
        built from it): defaults, types, aliases, unknown keys (with a suggestion). A ResolvedCfg
        is returned as it is."""
        if isinstance(cfg, ResolvedCfg):
            return cfg
        table = opts if opts is not None else self.run_opts()
        return table.resolve(dict(cfg) if isinstance(cfg, Mapping) else {})

    # ---- submitting

    def submit_dryrun(self, app: AppDef, cfg: T) -> AppDryRunInfo[Any]:
        """The native request for ``app`` with ``cfg`` resolved; no side effects."""
        resolved = self.resolve_cfg(cfg)  # type: ignore[arg-type]
        info = self._submit_dryrun(app, resolved)  # type: ignore[arg-type]
        for role in app.roles:
            info = role.pre_proc(self.backend, info)
        return info.attach(app=app, cfg=resolved, scheduler=self.backend)

    @abc.abstractmethod
    def _submit_dryrun(self, app: AppDef, cfg: T) -> AppDryRunInfo[Any]:
        """Translate ``app`` into this backend's request (``cfg`` is resolved)."""

    @abc.abstractmethod
    def schedule(self, dryrun_info: AppDryRunInfo[Any]) -> str:
        """Submit the request; return the app id."""

    def _validate(self, app: AppDef, scheduler: str, cfg: T) -> None:
        """Reject an app this scheduler cannot run (called before submitting)."""

    def _pre_build_validate(self, app: AppDef, scheduler: str, cfg: T) -> None:
        """Reject an app before any workspace is built."""

    # ---- workspaces

    def builds_workspaces(self) -> bool:
        """Whether this scheduler ships ``role.workspace``: the Runner then sets the run's
        workspace on each role and calls :py:meth:`build_workspaces`. By default: whether
        the class overrides :py:meth:`build_workspaces`."""
        return type(self).build_workspaces is not Scheduler.build_workspaces

    def build_workspaces(self, roles: list[Role], cfg: Mapping[str, CfgVal], dryrun: bool) -> None:
        """Dryrun (decide images, no side effects) or build the roles' workspaces.
        A no-op by default; :py:class:`~torchx.workspace.WorkspaceMixin` implements it."""

    # ---- waiting

    def wait_for_change(self, app_id: str, timeout: float) -> None:
        """Return when the app's state may have changed, or after ``timeout`` seconds.

        The default sleeps ``timeout``; backends that can notice a change (a state file, an
        event stream) return as soon as it happens, so ``Runner.wait`` ends promptly.
        """
        time.sleep(timeout)

    # ---- managing

    @abc.abstractmethod
    def describe(self, app_id: str) -> DescribeAppResponse | None:
        """What the backend knows of ``app_id``; None when it does not exist."""

    def describe_many(self, app_ids: list[str]) -> dict[str, DescribeAppResponse | None]:
        """Describe several apps; backends override this to batch their queries."""
        return {app_id: self.describe(app_id) for app_id in app_ids}

    @abc.abstractmethod
    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        """The apps this scheduler can see for this user."""

    def exists(self, app_id: str) -> bool:
        return self.describe(app_id) is not None

    def cancel(self, app_id: str) -> None:
        """Stop the app; a no-op for an app that is unknown or already finished."""
        desc = self.describe(app_id)
        if desc is not None and not desc.state.is_terminal():
            self._cancel_existing(app_id)

    @abc.abstractmethod
    def _cancel_existing(self, app_id: str) -> None:
        """Stop an app that exists."""

    def delete(self, app_id: str) -> None:
        """Stop the app if running and remove it from the backend."""
        if self.exists(app_id):
            self._delete_existing(app_id)

    def _delete_existing(self, app_id: str) -> None:
        self._cancel_existing(app_id)

    def log_iter(
        self,
        app_id: str,
        role_name: str,
        k: int = 0,
        regex: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        should_tail: bool = False,
        streams: Stream | None = None,
    ) -> Iterable[str]:
        """Lines (each ending in a newline) of replica ``k`` of ``role_name``."""
        raise NotImplementedError(
            f"scheduler `{self.backend}` cannot fetch logs; use the backend's own log tools"
        )


def filter_regex(regex: str, lines: Iterable[str]) -> Iterator[str]:
    """The lines that match ``regex`` (searched anywhere in the line)."""
    pattern = re.compile(regex)
    return (line for line in lines if pattern.search(line))


def split_lines(text: str) -> list[str]:
    """``text`` split into lines that keep their newline."""
    return text.splitlines(keepends=True)
