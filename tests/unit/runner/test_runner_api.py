"""Runner behaviour against an in-memory scheduler: copying, env injection, options, handles."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from torchx.runner import Runner, get_runner
from torchx.schedulers.api import DescribeAppResponse, ListAppResponse, Scheduler
from torchx.specs import (
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    InvalidRunConfigException,
    MalformedAppHandleException,
    Role,
    TorchXError,
    UnknownAppException,
    UnknownSchedulerException,
    Workspace,
    runopts,
)


class FakeScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Keeps apps in a dict; each describe() advances a RUNNING app toward SUCCEEDED."""

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__("fake", session_name)
        self.kwargs = kwargs
        self.apps: dict[str, AppDryRunInfo[Any]] = {}
        self.states: dict[str, AppState] = {}
        self.polls_left: dict[str, int] = {}
        self.cancelled: list[str] = []
        self.closed = False
        self.seen_cfg: dict[str, CfgVal] = {}

    def _run_opts(self) -> runopts:
        opts = runopts()
        opts.add("queue", str, "the queue", default="default")
        opts.add("priority", int, "priority", default=0)
        return opts

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[Any]:
        self.seen_cfg = dict(cfg)
        return AppDryRunInfo({"app": app, "cfg": dict(cfg)}, repr)

    def schedule(self, dryrun_info: AppDryRunInfo[Any]) -> str:
        app_id = f"app{len(self.apps)}"
        self.apps[app_id] = dryrun_info
        self.states[app_id] = AppState.RUNNING
        return app_id

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        if app_id not in self.states:
            return None
        if self.states[app_id] == AppState.RUNNING:
            self.polls_left[app_id] = self.polls_left.get(app_id, 3) - 1
            if self.polls_left[app_id] <= 0:
                self.states[app_id] = AppState.SUCCEEDED
        return DescribeAppResponse(app_id=app_id, state=self.states[app_id],
                                   roles=self.apps[app_id].request["app"].roles)

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        return [ListAppResponse(app_id=a, state=s) for a, s in self.states.items()]

    def _cancel_existing(self, app_id: str) -> None:
        self.cancelled.append(app_id)
        self.states[app_id] = AppState.CANCELLED

    def close(self) -> None:
        self.closed = True


class HookedScheduler(FakeScheduler):
    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__(session_name, **kwargs)
        self.waits: list[float] = []

    def wait_for_change(self, app_id: str, timeout: float) -> None:
        self.waits.append(timeout)


class WorkspaceScheduler(FakeScheduler):
    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__(session_name, **kwargs)
        self.builds: list[tuple[list[str | None], bool]] = []

    def build_workspaces(self, roles: list[Role], cfg: Mapping[str, CfgVal],
                         dryrun: bool = False) -> None:
        self.builds.append(([str(r.workspace) if r.workspace else None for r in roles], dryrun))
        for r in roles:
            if r.workspace:
                r.image = f"built:{r.workspace}"


@pytest.fixture
def schedulers() -> dict[str, FakeScheduler]:
    return {}


@pytest.fixture
def runner(schedulers: dict[str, FakeScheduler], tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch) -> Runner:
    monkeypatch.chdir(tmp_path)  # no stray .torchxconfig
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TORCHXCONFIG", raising=False)
    monkeypatch.delenv("TORCHX_TRACKERS", raising=False)

    def factory(cls: type[FakeScheduler]) -> Any:
        def make(session_name: str, **kwargs: Any) -> FakeScheduler:
            s = cls(session_name, **kwargs)
            schedulers[s.backend if cls is FakeScheduler else cls.__name__] = s
            return s
        return make

    return Runner("sess", {"fake": factory(FakeScheduler), "hooked": factory(HookedScheduler),
                           "ws": factory(WorkspaceScheduler)},
                  scheduler_params={"extra": 1})


def app() -> AppDef:
    return AppDef("job", [Role("trainer", image="img", entrypoint="python", args=["-V"],
                               env={"A": "1"}),
                          Role("ps", image="img", entrypoint="sleep", args=["1"])])


def test_run_never_mutates_the_callers_app(runner: Runner) -> None:
    a = app()
    before = copy.deepcopy(a)
    runner.run(a, scheduler="fake", parent_run_id="parent-1")
    assert a == before


def test_job_id_and_parent_run_id_are_injected_into_every_role(
        runner: Runner, schedulers: dict[str, FakeScheduler]) -> None:
    h = runner.run(app(), scheduler="fake", parent_run_id="parent-1")
    assert h == "fake://sess/app0"
    sent: AppDef = schedulers["fake"].apps["app0"].request["app"]
    for role in sent.roles:
        assert role.env["TORCHX_JOB_ID"] == "fake://sess/${app_id}"
        assert role.env["TORCHX_PARENT_RUN_ID"] == "parent-1"
    assert sent.roles[0].env["A"] == "1"
    stale = app()  # e.g. an AppDef from describe(): it carries the previous run's identity
    stale.roles[0].env.update(TORCHX_JOB_ID="fake://sess/old", TORCHX_PARENT_RUN_ID="old")
    info = runner.dryrun(stale, scheduler="fake", parent_run_id="parent-2")
    assert info.request["app"].roles[0].env["TORCHX_JOB_ID"] == "fake://sess/${app_id}"
    assert info.request["app"].roles[0].env["TORCHX_PARENT_RUN_ID"] == "parent-2"
    runner.run(app(), scheduler="fake")
    assert "TORCHX_PARENT_RUN_ID" not in schedulers["fake"].apps["app1"].request["app"].roles[0].env


def test_tracker_env_is_passed_to_replicas(runner: Runner, schedulers: dict[str, FakeScheduler],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_TRACKERS", "fsspec")
    monkeypatch.setenv("TORCHX_TRACKER_FSSPEC_CONFIG", "/tmp/x")
    runner.run(app(), scheduler="fake")
    env = schedulers["fake"].apps["app0"].request["app"].roles[0].env
    assert env["TORCHX_TRACKERS"] == "fsspec"


def test_only_declared_options_reach_the_scheduler(
        runner: Runner, schedulers: dict[str, FakeScheduler], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCHX_QUEUE", "from-env")  # never forwarded blindly
    (tmp_path / ".torchxconfig").write_text("[fake]\nqueue = from-file\npriority = 5\n")
    runner.run(app(), scheduler="fake", cfg={"priority": 9})
    assert schedulers["fake"].seen_cfg == {"queue": "from-file", "priority": 9}
    with pytest.raises(InvalidRunConfigException, match="Did you mean `queue`"):
        runner.run(app(), scheduler="fake", cfg={"queeu": "x"})
    with pytest.raises(InvalidRunConfigException, match="priority"):
        runner.run(app(), scheduler="fake", cfg={"priority": "high"})


def test_scheduler_params_session_and_backends(runner: Runner,
                                               schedulers: dict[str, FakeScheduler]) -> None:
    assert runner.scheduler_backends() == ["fake", "hooked", "ws"]
    opts = runner.scheduler_run_opts("fake")
    assert "queue" in opts and "priority" in opts
    assert schedulers["fake"].kwargs == {"extra": 1}
    assert schedulers["fake"].session_name == "sess"


def test_status_wait_cancel_stop_describe_list(runner: Runner,
                                               schedulers: dict[str, FakeScheduler]) -> None:
    h = runner.run(app(), scheduler="fake")
    st = runner.status(h)
    assert st is not None and st.state == AppState.RUNNING
    final = runner.wait(h, wait_interval=0.01)
    assert final is not None and final.state == AppState.SUCCEEDED
    desc = runner.describe(h)
    assert desc is not None and [r.name for r in desc.roles] == ["trainer", "ps"]
    (listed,) = runner.list("fake")
    assert listed.app_handle == "fake://sess/app0"
    h2 = runner.run(app(), scheduler="fake")
    with pytest.warns(DeprecationWarning, match="cancel"):
        runner.stop(h2)
    assert schedulers["fake"].cancelled == ["app1"]
    runner.cancel(h)  # finished: no-op
    assert schedulers["fake"].cancelled == ["app1"]


def test_wait_uses_the_scheduler_hook_instead_of_sleeping(
        runner: Runner, schedulers: dict[str, FakeScheduler],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """No clock involved: sleeping at all fails the test at once, however loaded the machine."""
    h = runner.run(app(), scheduler="hooked")

    def no_sleep(seconds: float) -> None:
        raise AssertionError(f"wait() slept {seconds} s instead of calling the scheduler's hook")

    monkeypatch.setattr("torchx.schedulers.api.time.sleep", no_sleep)
    final = runner.wait(h, wait_interval=3600)
    assert final is not None and final.state == AppState.SUCCEEDED
    waits = schedulers["HookedScheduler"].waits  # type: ignore[attr-defined]
    assert waits and set(waits) == {3600}  # the hook got the caller's interval as its timeout


def test_wait_without_a_hook_polls_every_wait_interval(
        runner: Runner, monkeypatch: pytest.MonkeyPatch) -> None:
    slept: list[float] = []
    monkeypatch.setattr("torchx.schedulers.api.time.sleep", slept.append)
    final = runner.wait(runner.run(app(), scheduler="fake"), wait_interval=7)
    assert final is not None and final.state == AppState.SUCCEEDED
    assert slept and set(slept) == {7}


def test_handles(runner: Runner) -> None:
    h = runner.run(app(), scheduler="fake")
    other_session = h.replace("://sess/", "://elsewhere/")
    assert runner.status(other_session) is not None
    with pytest.raises(MalformedAppHandleException):
        runner.status("app0")
    with pytest.raises(UnknownSchedulerException, match="Did you mean `fake`"):
        runner.status("faek://sess/app0")
    assert runner.status("fake://sess/nope") is None
    assert runner.wait("fake://sess/nope") is None
    assert runner.describe("fake://sess/nope") is None
    with pytest.raises(UnknownAppException):
        runner.log_lines("fake://sess/nope", "trainer")
    with pytest.raises(UnknownSchedulerException, match="Did you mean `fake`"):
        runner.run(app(), scheduler="faker")


def test_workspace_is_applied_and_built_in_dryrun_then_schedule(
        runner: Runner, schedulers: dict[str, FakeScheduler]) -> None:
    a = app()
    a.roles[1].workspace = Workspace({"/own": ""})
    info = runner.dryrun(a, scheduler="ws", workspace="/proj")
    ws = schedulers["WorkspaceScheduler"]
    # dryrun: the workspace goes to roles without one, images are set, nothing is built
    assert ws.builds == [(["/proj", "/own"], True)]  # type: ignore[attr-defined]
    sent = info.request["app"].roles
    assert [r.image for r in sent] == ["built:/proj", "built:/own"]
    assert a.roles[0].workspace is None and a.roles[0].image == "img"  # caller's app untouched
    # schedule: built for real, once, from the roles dryrun resolved
    runner.schedule(info)
    assert ws.builds == [(["/proj", "/own"], True),  # type: ignore[attr-defined]
                         (["/proj", "/own"], False)]
    # a scheduler without build_workspaces ignores the argument
    plain = runner.dryrun(app(), scheduler="fake", workspace="/proj")
    assert [r.workspace for r in plain.request["app"].roles] == [None, None]


def test_close_and_context_manager(schedulers: dict[str, FakeScheduler]) -> None:
    with Runner("s", {"fake": FakeScheduler}) as r:
        r.run(app(), scheduler="fake")
        sched = r._scheduler("fake")
    assert sched.closed


def test_bad_apps_and_dryrun_info(runner: Runner) -> None:
    with pytest.raises(TorchXError, match="no roles"):
        runner.dryrun(AppDef("empty"), scheduler="fake")
    with pytest.raises(TorchXError, match="dryrun"):
        runner.schedule(AppDryRunInfo({}, repr))


def test_run_component_with_defaults_and_dict_args(
        schedulers: dict[str, FakeScheduler], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    r = Runner("s", {"fake": FakeScheduler},
               component_defaults={"utils.echo": {"msg": "from-defaults"}})
    info = r.dryrun_component("utils.echo", [], scheduler="fake")
    assert "from-defaults" in info.request["app"].roles[0].args
    info = r.dryrun_component("utils.echo", {"msg": "from-dict"}, scheduler="fake")
    assert "from-dict" in info.request["app"].roles[0].args
    h = r.run_component("utils.echo", ["--msg", "hi"], scheduler="fake")
    assert h.startswith("fake://s/")


def test_get_runner_knows_the_builtin_schedulers() -> None:
    with get_runner() as r:
        assert "local_cwd" in r.scheduler_backends()
        assert "log_dir" in r.scheduler_run_opts("local_cwd")


class SpyScheduler(WorkspaceScheduler):
    """Records the cfg mapping every hook of one run receives."""

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__(session_name, **kwargs)
        self.cfgs: list[tuple[str, Mapping[str, CfgVal]]] = []

    def _pre_build_validate(self, app: AppDef, scheduler: str, cfg: Mapping[str, CfgVal]) -> None:
        self.cfgs.append(("pre_build_validate", cfg))

    def _validate(self, app: AppDef, scheduler: str, cfg: Mapping[str, CfgVal]) -> None:
        self.cfgs.append(("validate", cfg))

    def build_workspaces(self, roles: list[Role], cfg: Mapping[str, CfgVal],
                         dryrun: bool = False) -> None:
        self.cfgs.append((f"build_workspaces(dryrun={dryrun})", cfg))
        super().build_workspaces(roles, cfg, dryrun)

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[Any]:
        self.cfgs.append(("_submit_dryrun", cfg))
        return super()._submit_dryrun(app, cfg)

    def schedule(self, dryrun_info: AppDryRunInfo[Any]) -> str:
        self.cfgs.append(("schedule", dryrun_info.cfg))
        return super().schedule(dryrun_info)


def test_cfg_is_resolved_once_and_every_hook_sees_that_mapping(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TORCHXCONFIG", raising=False)
    (tmp_path / ".torchxconfig").write_text("[spy]\npriority = 3\n")
    spy: list[SpyScheduler] = []
    with Runner("s", {"spy": lambda session, **kw: spy.append(SpyScheduler(session)) or spy[-1]}
                ) as r:
        info = r.dryrun(app(), scheduler="spy", cfg={"queue": "q"}, workspace="/proj")
        r.schedule(info)
    hooks = [name for name, _ in spy[0].cfgs]
    assert hooks == ["pre_build_validate", "build_workspaces(dryrun=True)", "validate",
                     "_submit_dryrun", "build_workspaces(dryrun=False)", "schedule"]
    first = spy[0].cfgs[0][1]
    assert all(cfg is first for _, cfg in spy[0].cfgs), "a hook got a different mapping"
    assert dict(first) == {"queue": "q", "priority": 3}  # resolved: file value typed, defaults in
    assert info.cfg is first and info.scheduler == "spy" and info.app is not None
