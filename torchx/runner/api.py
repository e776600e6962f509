"""The Runner: dryrun -> schedule -> status/wait/logs/cancel/list, over any scheduler.

Handles are ``{scheduler}://{session_name}/{app_id}``; any session name is accepted, the
scheduler must be one this runner knows. ``status``, ``describe`` and ``wait`` of an app the
scheduler does not know return None (the CLI turns that into exit code 1); ``log_lines`` of
one raises :py:class:`~torchx.specs.UnknownAppException`; ``cancel`` of an unknown or finished
app is a no-op.
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from torchx.specs.api import (
    AppDef,
    AppDryRunInfo,
    AppHandle,
    AppStatus,
    CfgVal,
    UnknownAppException,
    UnknownSchedulerException,
    Workspace,
    macros,
    make_app_handle,
    parse_app_handle,
    runopts,
)

if TYPE_CHECKING:
    from torchx.schedulers.api import ListAppResponse, Scheduler, Stream

DEFAULT_SESSION = "torchx"

_Factory = Callable[..., "Scheduler[Any]"]
"""``(session_name, **kwargs) -> Scheduler``."""


class Runner:
    """Submits apps to schedulers and manages them by handle. Use as a context manager.

    ``scheduler_factories`` maps names to ``(session_name, **kwargs) -> Scheduler``; when None
    the registry (builtins + ``torchx.schedulers`` plugins) is consulted lazily per name.
    """

    def __init__(
        self,
        name: str,
        scheduler_factories: Mapping[str, _Factory] | None = None,
        component_defaults: dict[str, dict[str, str]] | None = None,
        scheduler_params: dict[str, object] | None = None,
    ) -> None:
        self._name = name
        self._factories = dict(scheduler_factories) if scheduler_factories is not None else None
        self._component_defaults = component_defaults or {}
        self._scheduler_params = dict(scheduler_params or {})
        self._schedulers: dict[str, Scheduler[Any]] = {}

    # ---- lifecycle

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close scheduler connections. Running apps keep running."""
        for sched in self._schedulers.values():
            sched.close()
        self._schedulers.clear()

    def scheduler_backends(self) -> list[str]:
        """Names of the schedulers this runner can use."""
        if self._factories is not None:
            return list(self._factories)
        from torchx.schedulers import get_scheduler_names

        return get_scheduler_names()

    def _scheduler(self, scheduler: str) -> Scheduler[Any]:
        sched = self._schedulers.get(scheduler)
        if sched is None:
            if self._factories is not None:
                factory = self._factories.get(scheduler)
                if factory is None:
                    raise UnknownSchedulerException(scheduler, list(self._factories))
            else:
                from torchx.schedulers import get_scheduler_factory

                factory = get_scheduler_factory(scheduler)
            sched = factory(self._name, **self._scheduler_params)
            self._schedulers[scheduler] = sched
        return sched

    def scheduler_run_opts(self, scheduler: str) -> runopts:
        """The run options ``scheduler`` accepts."""
        return self._scheduler(scheduler).run_opts()

    # ---- submitting

    def run(
        self,
        app: AppDef,
        scheduler: str = "local_cwd",
        cfg: Mapping[str, CfgVal] | None = None,
        workspace: Workspace | str | None = None,
        parent_run_id: str | None = None,
    ) -> AppHandle:
        """Submit ``app`` (never modified) and return its handle."""
        return self.schedule(self.dryrun(app, scheduler, cfg, workspace, parent_run_id))

    def run_component(
        self,
        component: str,
        component_args: list[str] | dict[str, Any],
        scheduler: str = "local_cwd",
        cfg: Mapping[str, CfgVal] | None = None,
        workspace: Workspace | str | None = None,
        parent_run_id: str | None = None,
    ) -> AppHandle:
        """Build the app from component ``component`` with ``component_args`` and submit it."""
        info = self.dryrun_component(component, component_args, scheduler, cfg, workspace,
                                     parent_run_id)
        return self.schedule(info)

    def dryrun_component(
        self,
        component: str,
        component_args: list[str] | dict[str, Any],
        scheduler: str = "local_cwd",
        cfg: Mapping[str, CfgVal] | None = None,
        workspace: Workspace | str | None = None,
        parent_run_id: str | None = None,
    ) -> AppDryRunInfo[Any]:
        """What ``run_component`` would submit, without submitting it."""
        from torchx.specs.builders import materialize_appdef
        from torchx.specs.finder import get_component

        comp = get_component(component)
        app = materialize_appdef(comp.fn, component_args, self._component_defaults.get(component),
                                 prog=f"torchx run {component}")
        return self.dryrun(app, scheduler, cfg, workspace, parent_run_id)

    def dryrun(
        self,
        app: AppDef,
        scheduler: str = "local_cwd",
        cfg: Mapping[str, CfgVal] | None = None,
        workspace: Workspace | str | None = None,
        parent_run_id: str | None = None,
    ) -> AppDryRunInfo[Any]:
        """The scheduler's request for ``app`` with ``cfg``; nothing is submitted."""
        if not app.roles:
            from torchx.specs.api import TorchXError

            raise TorchXError(f"app `{app.name}` has no roles; add at least one Role")
        sched = self._scheduler(scheduler)
        app = copy.deepcopy(app)
        merged: dict[str, CfgVal] = dict(cfg or {})
        from torchx.runner import config

        opts = sched.run_opts()
        config.apply(scheduler, merged, opts=opts)
        resolved = sched.resolve_cfg(merged, opts)  # once: this mapping reaches every hook below
        # the role's own env may override tracker settings, never this run's identity (an
        # AppDef from describe() carries the previous run's)
        ids = {"TORCHX_JOB_ID": make_app_handle(scheduler, self._name, macros.app_id)}
        if parent_run_id:
            ids["TORCHX_PARENT_RUN_ID"] = parent_run_id
        tracker_env = _tracker_env()
        for role in app.roles:
            role.env = {**tracker_env, **role.env, **ids}
        builds = sched.builds_workspaces()
        if builds:
            ws = Workspace.from_str(workspace) if isinstance(workspace, str) else workspace
            if ws is not None:
                for role in app.roles:
                    if role.workspace is None:
                        role.workspace = copy.deepcopy(ws)
        sched._pre_build_validate(app, scheduler, resolved)
        if builds:
            sched.build_workspaces(app.roles, resolved, dryrun=True)
        sched._validate(app, scheduler, resolved)
        info: AppDryRunInfo[Any] = sched.submit_dryrun(app, resolved)
        # the name it is registered under, used in handles
        return info.attach(app=info.app or app, cfg=resolved, scheduler=scheduler)

    def schedule(self, dryrun_info: AppDryRunInfo[Any]) -> AppHandle:
        """Submit a request made by :py:meth:`dryrun`; returns the app's handle."""
        scheduler = dryrun_info.scheduler
        if scheduler is None or dryrun_info.app is None:
            from torchx.specs.api import TorchXError

            raise TorchXError("schedule() needs the AppDryRunInfo that dryrun() returned")
        sched = self._scheduler(scheduler)
        if sched.builds_workspaces():
            sched.build_workspaces(dryrun_info.app.roles, dryrun_info.cfg, dryrun=False)
        app_id = sched.schedule(dryrun_info)
        return make_app_handle(scheduler, self._name, app_id)

    # ---- managing

    def _resolve(self, app_handle: AppHandle) -> tuple[Scheduler[Any], str, str]:
        """(scheduler, scheduler name, app id) of a handle."""
        scheduler, _, app_id = parse_app_handle(app_handle)
        return self._scheduler(scheduler), scheduler, app_id

    def status(self, app_handle: AppHandle) -> AppStatus | None:
        """The app's current status; None when the scheduler does not know it."""
        sched, _, app_id = self._resolve(app_handle)
        desc = sched.describe(app_id)
        if desc is None:
            return None
        return AppStatus(
            state=desc.state,
            num_restarts=desc.num_restarts,
            msg=desc.msg,
            structured_error_msg=desc.structured_error_msg,
            ui_url=desc.ui_url,
            roles=desc.roles_statuses,
        )

    def wait(self, app_handle: AppHandle, wait_interval: float = 10) -> AppStatus | None:
        """Block until the app is terminal; its final status (None if unknown).

        Between checks it calls the scheduler's ``wait_for_change(app_id, wait_interval)``:
        schedulers that notice a change return at once, the default sleeps ``wait_interval``.
        """
        sched, _, app_id = self._resolve(app_handle)
        while True:
            status = self.status(app_handle)
            if status is None or status.is_terminal():
                return status
            sched.wait_for_change(app_id, wait_interval)

    def cancel(self, app_handle: AppHandle) -> None:
        """Request the app stop (asynchronous); a no-op when it is unknown or finished."""
        sched, _, app_id = self._resolve(app_handle)
        sched.cancel(app_id)

    def stop(self, app_handle: AppHandle) -> None:
        """Deprecated: use :py:meth:`cancel`."""
        warnings.warn("Runner.stop() is deprecated; use Runner.cancel()", DeprecationWarning,
                      stacklevel=2)
        self.cancel(app_handle)

    def delete(self, app_handle: AppHandle) -> None:
        """Stop the app if running and remove it from the scheduler."""
        sched, _, app_id = self._resolve(app_handle)
        sched.delete(app_id)

    def describe(self, app_handle: AppHandle) -> AppDef | None:
        """The app as the scheduler knows it (roles may be partial); None when unknown."""
        sched, _, app_id = self._resolve(app_handle)
        desc = sched.describe(app_id)
        if desc is None:
            return None
        return AppDef(name=app_id, roles=desc.roles)

    def list(
        self, scheduler: str, cfg: Mapping[str, CfgVal] | None = None
    ) -> list[ListAppResponse]:
        """The apps ``scheduler`` knows for this user (``ListAppResponse`` each)."""
        sched = self._scheduler(scheduler)
        apps = sched.list(cfg)
        from torchx.specs.api import NONE

        for app in apps:
            if not app.app_handle or app.app_handle == NONE:
                app.app_handle = make_app_handle(scheduler, self._name, app.app_id)
        return apps

    def log_lines(
        self,
        app_handle: AppHandle,
        role_name: str,
        k: int = 0,
        regex: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        should_tail: bool = False,
        streams: Stream | None = None,
    ) -> Iterable[str]:
        """Lines (each ending in a newline) of replica ``k`` of ``role_name``."""
        sched, _, app_id = self._resolve(app_handle)
        if not sched.exists(app_id):
            raise UnknownAppException(app_handle)
        return sched.log_iter(
            app_id, role_name, k, regex, since, until, should_tail, streams=streams
        )

    def __repr__(self) -> str:
        return f"Runner(name={self._name!r}, schedulers={list(self._schedulers)})"


def _tracker_env() -> dict[str, str]:
    try:
        from torchx.tracker.api import tracker_env
    except ImportError:
        return {}
    return dict(tracker_env())


def get_runner(
    name: str | None = None,
    component_defaults: dict[str, dict[str, str]] | None = None,
    **scheduler_params: Any,
) -> Runner:
    """A Runner over every registered scheduler (session ``name``, default ``torchx``)."""
    return Runner(name or DEFAULT_SESSION, None, component_defaults, scheduler_params)
