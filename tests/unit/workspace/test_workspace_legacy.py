"""WorkspaceMixin as upstream plugins use it: ``build_workspaces(roles, cfg)`` without ``dryrun``,
a mixin with only the older ``build_workspace_and_update_role`` hook, and a scheduler that
overrides ``build_workspaces(roles, cfg)`` itself. The scheduler is an in-memory one (the point
is the hooks the Runner calls, not a backend)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.unit.runner.test_runner_api import FakeScheduler
from torchx.runner import Runner
from torchx.specs import AppDef, CfgVal, Role, Workspace
from torchx.workspace.api import WorkspaceMixin


class LegacyMixin(WorkspaceMixin[None]):
    """Implements only the older hook: gets one directory per role's workspace."""

    seen: list[tuple[str, list[str]]]

    def build_workspace_and_update_role(
        self, role: Role, workspace: str, cfg: Mapping[str, CfgVal]
    ) -> None:
        files = sorted(
            os.path.relpath(os.path.join(d, f), workspace)
            for d, _, fs in os.walk(workspace) for f in fs
        )
        self.seen.append((workspace, files))
        role.image = f"built-from:{len(files)}-files"


class LegacyScheduler(LegacyMixin, FakeScheduler):
    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__(session_name, **kwargs)
        self.seen = []


class TwoArgScheduler(FakeScheduler):
    """Overrides build_workspaces the way upstream's Scheduler declares it: (roles, cfg)."""

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__(session_name, **kwargs)
        self.calls = 0

    def build_workspaces(self, roles: list[Role], cfg: Mapping[str, CfgVal]) -> None:  # type: ignore[override]
        self.calls += 1
        for r in roles:
            r.image = "two-arg-built"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "proj" / "pkg").mkdir(parents=True)
    (tmp_path / "proj" / "main.py").write_text("print(1)\n")
    (tmp_path / "proj" / "pkg" / "mod.py").write_text("x = 1\n")
    (tmp_path / "data.txt").write_text("d\n")
    return tmp_path


def _runner(made: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Runner:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TORCHXCONFIG", raising=False)

    def factory(cls: type[FakeScheduler]) -> Any:
        def make(session_name: str, **kwargs: Any) -> FakeScheduler:
            made[cls.__name__] = s = cls(session_name, **kwargs)
            return s
        return make

    return Runner("s", {"legacy": factory(LegacyScheduler), "twoarg": factory(TwoArgScheduler)})


def _app() -> AppDef:
    return AppDef("a", roles=[Role("r", image="base", entrypoint="python")])


def test_mixin_with_only_the_legacy_hook_builds_single_project(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}
    runner = _runner(made, tmp_path, monkeypatch)
    info = runner.dryrun(_app(), "legacy", workspace=str(project / "proj"))
    sched = made["LegacyScheduler"]
    assert sched.seen == []  # dryrun builds nothing
    runner.schedule(info)
    assert sched.seen == [(str(project / "proj"), ["main.py", "pkg/mod.py"])]
    assert info.app is not None and info.app.roles[0].image == "built-from:2-files"


def test_legacy_hook_gets_mapped_projects_merged(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}
    runner = _runner(made, tmp_path, monkeypatch)
    role = Role("r", image="base", entrypoint="python", workspace=Workspace(
        {str(project / "proj"): "code", str(project / "data.txt"): "cfg/"}))
    runner.run(AppDef("a", roles=[role]), "legacy")
    (path, files), = made["LegacyScheduler"].seen
    assert files == ["cfg/data.txt", "code/main.py", "code/pkg/mod.py"]
    assert os.path.basename(path).startswith("torchx_workspace_")


def test_build_workspaces_without_dryrun_builds(project: Path) -> None:
    sched = LegacyScheduler("s")
    role = Role("r", image="base", workspace=Workspace({str(project / "proj"): ""}))
    sched.build_workspaces([role], {})
    assert role.image == "built-from:2-files"


def test_a_mixin_with_no_hook_says_which_to_implement(project: Path) -> None:
    class Bare(WorkspaceMixin[None]):
        pass

    role = Role("r", image="base", workspace=Workspace({str(project / "proj"): ""}))
    with pytest.raises(NotImplementedError, match="build_workspace_and_update_role"):
        Bare().build_workspaces([role], {})


def test_scheduler_overriding_build_workspaces_the_upstream_way(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: dict[str, Any] = {}
    runner = _runner(made, tmp_path, monkeypatch)
    info = runner.dryrun(_app(), "twoarg", workspace=str(project / "proj"))
    runner.schedule(info)
    assert made["TwoArgScheduler"].calls == 1  # once, at dryrun, as upstream builds
    assert info.app is not None and info.app.roles[0].image == "two-arg-built"
