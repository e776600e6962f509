"""utils.hydra: a Hydra config as a component (real hydra-core; a real local_cwd run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchx.specs import AppState
from torchx.specs.builders import ComponentArgsError, materialize_appdef
from torchx.specs.finder import get_component

pytest.importorskip("hydra")

CONFIG = """\
app:
  _target_: torchx.specs.AppDef
  name: trainer
  metadata: {team: ml}
  roles:
    - _target_: torchx.specs.Role
      name: train
      image: local
      entrypoint: sh
      args: ["-c", "echo job=$0 rank0=$1", "${torchx.app_id:}", "${torchx.rank0_env:}"]
      resource:
        _target_: torchx.specs.resource
        h: cpu.small
"""


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / ".torchx").mkdir()
    (tmp_path / ".torchx" / "train.yaml").write_text(CONFIG)
    (tmp_path / ".torchx" / "noapp.yaml").write_text("x: 1\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TORCHX_HOME", str(tmp_path / "home"))
    return tmp_path


def _build(*argv: str):  # type: ignore[no-untyped-def]
    comp = get_component("utils.hydra")
    assert comp.validation_errors == []
    return materialize_appdef(comp.fn, list(argv))


def test_compose_and_instantiate(configs: Path) -> None:
    app = _build("-cn", "train", "+app.roles.0.num_replicas=2", "app.name=x")
    assert app.name == "x" and app.metadata == {"team": "ml"}
    role = app.roles[0]
    assert role.num_replicas == 2 and (role.resource.cpu, role.resource.memMB) == (1, 2048)
    assert role.args[2:] == ["${app_id}", "${rank0_env}"]  # torchx macros, filled at run time


@pytest.mark.parametrize("flags", [["-cn", "train", "-cd", ".torchx"],
                                   ["--config_name", "train", "--config_dir", ".torchx"]])
def test_short_and_long_flags(configs: Path, flags: list[str]) -> None:
    assert _build(*flags).name == "trainer"


def test_debug_prints_the_config(configs: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TORCHX_DEBUG", "1")
    _build("-cn", "train")
    assert "_target_: torchx.specs.AppDef" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["-cn", "train", "-cd", "nope"], "does not exist"),
    (["-cn", "noapp"], "has no `app` node"),
    (["-cn", "missing"], "utils.hydra:"),
    (["-cn", "train", "app.roles.0.num_replicas=2"], "append to your config use \\+"),
])
def test_errors_name_the_fix(configs: Path, argv: list[str], message: str) -> None:
    with pytest.raises(ComponentArgsError, match=message):
        _build(*argv)


def test_runs_on_local_cwd(configs: Path) -> None:
    from torchx.runner import get_runner

    with get_runner() as runner:
        handle = runner.run_component("utils.hydra", ["-cn", "train"], "local_cwd")
        status = runner.wait(handle, wait_interval=0.1)
        assert status is not None and status.state == AppState.SUCCEEDED
        app_id = handle.rsplit("/", 1)[1]
        out = "".join(runner.log_lines(handle, "train", 0)).strip()
    assert out == f"job={app_id} rank0=TORCHX_RANK0_HOST"
