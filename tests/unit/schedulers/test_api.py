"""The Scheduler base class contract and the scheduler registry (builtins + entry points)."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from torchx.schedulers import (
    BUILTIN_SCHEDULER_MODULES,
    get_default_scheduler_name,
    get_scheduler_factories,
    get_scheduler_factory,
    get_scheduler_names,
)
from torchx.schedulers.api import (
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    filter_regex,
    split_lines,
)
from torchx.specs import (
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    InvalidRunConfigException,
    Role,
    UnknownSchedulerException,
    runopts,
)
from torchx.util import entrypoints


class Tagged(Role):
    def pre_proc(self, scheduler: str, dryrun_info: AppDryRunInfo[Any]) -> AppDryRunInfo[Any]:
        dryrun_info.request["pre_proc"].append((self.name, scheduler))
        return dryrun_info


class Mini(Scheduler[Mapping[str, CfgVal]]):
    def __init__(self, state: AppState | None = AppState.RUNNING) -> None:
        super().__init__("mini", "sess")
        self.state = state
        self.calls: list[str] = []

    def _run_opts(self) -> runopts:
        opts = runopts()
        opts.add("queue", str, "queue", default="q0")
        opts.add("need", str, "required", required=True)
        return opts

    def workspace_opts(self) -> runopts:
        opts = runopts()
        opts.add("image_repo", str, "repo")
        return opts

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[Any]:
        return AppDryRunInfo({"cfg": dict(cfg), "pre_proc": []}, repr)

    def schedule(self, dryrun_info: AppDryRunInfo[Any]) -> str:
        return "id"

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        self.calls.append(f"describe {app_id}")
        return None if self.state is None else DescribeAppResponse(app_id, self.state)

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        return []

    def _cancel_existing(self, app_id: str) -> None:
        self.calls.append(f"cancel {app_id}")


def test_submit_dryrun_resolves_cfg_and_runs_pre_proc() -> None:
    s = Mini()
    app = AppDef("a", [Tagged("r1", "img"), Tagged("r2", "img")])
    info = s.submit_dryrun(app, {"need": "x"})
    assert info.request["cfg"] == {"queue": "q0", "need": "x", "image_repo": None}
    assert info.request["pre_proc"] == [("r1", "mini"), ("r2", "mini")]
    assert info.app is app and info.scheduler == "mini"
    assert info.cfg == {"queue": "q0", "need": "x", "image_repo": None}
    with pytest.raises(InvalidRunConfigException, match="required run option `need`"):
        s.submit_dryrun(app, {})
    with pytest.raises(InvalidRunConfigException, match="Did you mean `queue`"):
        s.submit_dryrun(app, {"need": "x", "queu": "y"})


def test_run_opts_include_workspace_opts() -> None:
    assert sorted(k for k, _ in Mini().run_opts()) == ["image_repo", "need", "queue"]


@pytest.mark.parametrize(
    ("state", "cancels"),
    [(AppState.RUNNING, True), (AppState.PENDING, True), (AppState.SUCCEEDED, False),
     (AppState.CANCELLED, False), (None, False)],
)
def test_cancel_only_touches_live_apps(state: AppState | None, cancels: bool) -> None:
    s = Mini(state)
    s.cancel("x")
    assert ("cancel x" in s.calls) is cancels


def test_delete_and_exists() -> None:
    s = Mini(AppState.SUCCEEDED)
    assert s.exists("x")
    s.delete("x")  # default _delete_existing cancels
    assert "cancel x" in s.calls
    gone = Mini(None)
    assert not gone.exists("x")
    gone.delete("x")
    assert "cancel x" not in gone.calls


def test_default_log_iter_names_the_backend() -> None:
    with pytest.raises(NotImplementedError, match="`mini` cannot fetch logs"):
        Mini().log_iter("x", "r")


def test_context_manager_closes() -> None:
    closed = []

    class Closing(Mini):
        def close(self) -> None:
            closed.append(True)

    with Closing():
        pass
    assert closed == [True]


def test_helpers() -> None:
    assert list(filter_regex(r"^b", ["a\n", "b1\n", "cb\n", "b2\n"])) == ["b1\n", "b2\n"]
    assert split_lines("a\nb\r\nc") == ["a\n", "b\r\n", "c"]
    assert Stream("stderr") is Stream.STDERR


# --------------------------------------------------------------------------- registry


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A distribution on sys.path whose entry points add `mine` and replace `local_cwd`."""
    dist = tmp_path / "fake_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[torchx.schedulers]\n"
        "mine = fake_plugin_mod:create\n"
        "local_cwd = fake_plugin_mod:create\n"
        "broken = fake_plugin_mod:missing\n"
    )
    (tmp_path / "fake_plugin_mod.py").write_text(
        "def create(session_name, **kwargs):\n    return ('plugin', session_name, kwargs)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    entrypoints.clear_cache()
    yield
    entrypoints.clear_cache()
    sys.modules.pop("fake_plugin_mod", None)


def test_builtins_are_lazy(monkeypatch: pytest.MonkeyPatch) -> None:
    entrypoints.clear_cache()
    monkeypatch.delitem(sys.modules, "torchx.schedulers.local_scheduler", raising=False)
    factory = get_scheduler_factories()["local_cwd"]
    assert "torchx.schedulers.local_scheduler" not in sys.modules
    sched = factory("sess")
    assert sched.backend == "local_cwd" and sched.session_name == "sess"
    assert get_default_scheduler_name() == "local_cwd"
    assert "local_cwd" in BUILTIN_SCHEDULER_MODULES


def test_plugins_add_and_override(plugin: None, caplog: pytest.LogCaptureFixture) -> None:
    names = get_scheduler_names()
    assert {"mine", "local_cwd", "broken"} <= set(names)
    assert get_scheduler_factory("mine")("s", a=1) == ("plugin", "s", {"a": 1})
    assert get_scheduler_factory("local_cwd")("s") == ("plugin", "s", {})
    factories = get_scheduler_factories()
    assert factories["mine"]("s") == ("plugin", "s", {})
    assert "broken" not in factories  # reported, skipped
    assert "broken" in caplog.text
    others = set(BUILTIN_SCHEDULER_MODULES) - {"local_cwd"}
    assert others <= set(factories)  # the builtins stay


def test_unknown_scheduler_suggests() -> None:
    entrypoints.clear_cache()
    with pytest.raises(UnknownSchedulerException, match="Did you mean `local_cwd`"):
        get_scheduler_factory("local-cwd")
