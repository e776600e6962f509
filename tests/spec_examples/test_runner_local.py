"""The spec's Runner examples that target local_cwd, run exactly as written there.

Each runs in a temporary working directory with a private TORCHX_HOME; the module the
examples launch (``python -m my_train``) is provided there as a tiny script.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.backends import require
from tests.spec_examples.rst import find
from torchx.runner import get_runner
from torchx.specs import AppDef, AppState, Role


@pytest.fixture
def cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    require("local_cwd", sys.platform.startswith("linux"), "local_cwd needs Linux /proc")
    monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("TORCHXCONFIG", raising=False)
    monkeypatch.setenv("PATH", f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_train.py").write_text("import sys\nprint('training', sys.argv[1:])\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("my_component", None)
    with get_runner() as r:
        for app in r.list("local_cwd"):
            r.cancel(app.app_handle)


def _exec(code: str, ns: dict[str, Any] | None = None) -> dict[str, Any]:
    ns = {} if ns is None else ns
    exec(compile(code, "<spec example>", "exec"), ns)
    return ns


def test_create_a_runner(cwd: Path) -> None:
    ns = _exec(find("api_reference.rst", "# As a context manager (recommended").code)
    assert ns["runner"]._schedulers == {}  # closed


def test_single_node_training_recipe(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ns = _exec(find("api_reference.rst", "status = runner.wait(app_handle, wait_interval=1)").code)
    assert ns["status"].state == AppState.SUCCEEDED
    assert "SUCCEEDED" in capsys.readouterr().out
    with get_runner() as r:
        lines = list(r.log_lines(ns["app_handle"], "trainer"))
    assert lines == ["training ['--epochs', '10']\n"]


def test_custom_component_recipe(cwd: Path) -> None:
    code = find("api_reference.rst", "# my_component.py").code
    component_file = code.split("# Launch it:")[0]
    (cwd / "my_component.py").write_text(component_file)
    ns = _exec(code)
    with get_runner() as r:
        handles = [a.app_handle for a in r.list("local_cwd")]
        assert len(handles) == 2 and ns["app_handle"] in handles  # run_component, then run
        for handle in handles:
            final = r.wait(handle)
            assert final is not None and final.state == AppState.SUCCEEDED, final
            assert list(r.log_lines(handle, "trainer")) == ["training []\n"]


def test_monitor_logs_cancel_delete_blocks(cwd: Path, capsys: pytest.CaptureFixture[str]) -> None:
    app = AppDef("job", [Role("trainer", image="", entrypoint="python", args=["-m", "my_train"])])
    with get_runner() as runner:
        app_handle = runner.run(app, scheduler="local_cwd")
        ns: dict[str, Any] = {"runner": runner, "app_handle": app_handle}
        _exec(find("api_reference.rst", "# Poll status").code, ns)
        assert ns["final_status"].state == AppState.SUCCEEDED
        _exec(find("api_reference.rst", "# Get log lines for replica 0").code, ns)
        assert "training []\n" in capsys.readouterr().out
        _exec(find("api_reference.rst", "runner.cancel(app_handle)   # request").code, ns)
        assert runner.status(app_handle) is None  # deleted
