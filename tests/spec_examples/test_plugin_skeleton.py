"""The scheduler and workspace plugin skeletons of api_reference.rst, exactly as written, work
against our Scheduler: the Runner drives them through dryrun, run, status, list and cancel, and
the workspace mixin's hook builds the workspace at submit time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.spec_examples.rst import find
from torchx import specs
from torchx.runner import Runner


def _skeleton(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The two skeletons written to a module file and imported, as a plugin package would be."""
    import importlib
    import sys

    code = (find("api_reference.rst", "class MyScheduler(Scheduler").code + "\n\n"
            + find("api_reference.rst", "class MyWorkspaceMixin(WorkspaceMixin").code)
    (tmp_path / "my_scheduler_plugin.py").write_text(code)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_scheduler_plugin", raising=False)
    return vars(importlib.import_module("my_scheduler_plugin"))


@pytest.fixture
def clean_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .torchxconfig
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TORCHXCONFIG", raising=False)
    monkeypatch.delenv("TORCHX_TRACKERS", raising=False)


def _app() -> specs.AppDef:
    return specs.AppDef("hello", [specs.Role("r", image="img", entrypoint="echo", args=["hi"])])


def test_scheduler_skeleton_runs_through_the_runner(clean_cwd: None, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    ns = _skeleton(tmp_path, monkeypatch)
    with Runner("plug", {"my_backend": ns["create_scheduler"]}) as runner:
        assert "cluster" in runner.scheduler_run_opts("my_backend")
        info = runner.dryrun(_app(), "my_backend", cfg={"cluster": "c1"})
        assert info.request == ns["MyRequest"]("hello", ["echo", "hi"])
        assert dict(info.cfg) == {"cluster": "c1"} and info.scheduler == "my_backend"
        with pytest.raises(specs.InvalidRunConfigException, match="Did you mean `cluster`"):
            runner.dryrun(_app(), "my_backend", cfg={"clustr": "c1"})
        handle = runner.schedule(info)
        assert handle == "my_backend://plug/job-id-123"
        status = runner.status(handle)
        assert status is not None and status.state == specs.AppState.UNSUBMITTED
        assert runner.list("my_backend") == []
        runner.cancel(handle)
        with pytest.raises(NotImplementedError, match="cannot fetch logs"):
            list(runner.log_lines(handle, "r"))


def test_workspace_mixin_skeleton_builds_at_submit(clean_cwd: None, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ns = _skeleton(tmp_path, monkeypatch)
    built: list[Any] = []

    class WsScheduler(ns["MyWorkspaceMixin"], ns["MyScheduler"]):  # type: ignore[misc]
        def schedule(self, dryrun_info: specs.AppDryRunInfo[Any]) -> str:
            assert dryrun_info.app is not None
            built.append(dict(dryrun_info.app.roles[0].env))
            return "job-ws"

    with Runner("plug", {"my_backend": lambda session, **kw: WsScheduler(session)}) as runner:
        opts = runner.scheduler_run_opts("my_backend")
        assert "artifact_store" in opts and "cluster" in opts
        with pytest.raises(specs.InvalidRunConfigException, match="artifact_store"):
            runner.dryrun(_app(), "my_backend", workspace=str(tmp_path))
        handle = runner.run(_app(), "my_backend", cfg={"artifact_store": "s3://b"},
                            workspace=str(tmp_path))
    assert handle == "my_backend://plug/job-ws"
    assert built[0]["WORKSPACE_URL"] == "s3://b/r"
