"""`.torchxconfig`: typed run options, precedence, sections, unknown keys, bad values, dump."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from torchx.runner import config
from torchx.specs import runopts


def _opts() -> runopts:
    o = runopts()
    o.add("log_dir", str, "where logs go")
    o.add("n", int, "a count", default=1)
    o.add("ratio", float, "a ratio", default=0.5)
    o.add("flag", bool, "a flag", default=False)
    o.add("tags", list[str], "some tags")
    o.add("labels", dict[str, str], "labels")
    o.add("queue", str, "a queue", required=True)
    return o


def _write(d: Path, text: str) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    p = d / ".torchxconfig"
    p.write_text(text)
    return p


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TORCHXCONFIG", raising=False)


def test_values_are_converted_to_declared_types(tmp_path: Path) -> None:
    _write(tmp_path, "[sched]\nlog_dir = /l\nn = 3\nratio = 2\nflag = yes\ntags = a,b\n"
                     "labels = x:1;y:2\nqueue = q\n")
    cfg: dict = {}
    config.apply("sched", cfg, dirs=[str(tmp_path)], opts=_opts())
    assert cfg == {"log_dir": "/l", "n": 3, "ratio": 2.0, "flag": True, "tags": ["a", "b"],
                   "labels": {"x": "1", "y": "2"}, "queue": "q"}


def test_command_line_beats_cwd_beats_home(tmp_path: Path) -> None:
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    _write(cwd, "[sched]\nn = 2\n")
    _write(home, "[sched]\nn = 9\nlog_dir = /home-logs\n")
    cfg: dict = {"queue": "cli"}
    config.apply("sched", cfg, dirs=[str(cwd), str(home)], opts=_opts())
    assert cfg == {"queue": "cli", "n": 2, "log_dir": "/home-logs"}
    cfg = {"n": 7}
    config.apply("sched", cfg, dirs=[str(cwd), str(home)], opts=_opts())
    assert cfg["n"] == 7


def test_torchxconfig_env_is_the_only_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    _write(cwd, "[sched]\nn = 2\nlog_dir = /cwd\n")
    only = tmp_path / "only.ini"
    only.write_text("[sched]\nn = 5\n")
    monkeypatch.setenv("TORCHXCONFIG", str(only))
    cfg: dict = {}
    config.apply("sched", cfg, dirs=[str(cwd)], opts=_opts())
    assert cfg == {"n": 5}


def test_default_dirs_are_cwd_then_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    _write(home, "[sched]\nn = 1\nlog_dir = /h\n")
    _write(cwd, "[sched]\nn = 4\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    cfg: dict = {}
    config.apply("sched", cfg, opts=_opts())
    assert cfg == {"n": 4, "log_dir": "/h"}


def test_unknown_key_warns_naming_valid_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path, "[sched]\nlogdir = /x\n")
    cfg: dict = {}
    with caplog.at_level(logging.WARNING):
        config.apply("sched", cfg, dirs=[str(tmp_path)], opts=_opts())
    assert cfg == {}
    assert "unknown run option `logdir`" in caplog.text and "`log_dir`" in caplog.text


def test_unknown_sections_warn_naming_valid_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(tmp_path, "[localcwd]\nlog_dir = /x\n[cli:runn]\n[local_cwd]\n[cli:run]\n"
                     "[component:utils.echo]\n[tracker:fsspec]\n[torchx:tracker]\n")
    with caplog.at_level(logging.WARNING):
        config.warn_unknown_sections(["local_cwd", "slurm"], dirs=[str(tmp_path)])
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2, warned
    assert "unknown section [localcwd]. Did you mean `local_cwd`" in warned[0]
    assert "unknown section [cli:runn]. Did you mean `cli:run`" in warned[1]


def test_bad_value_names_the_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "[sched]\nn = three\n")
    with pytest.raises(config.ConfigError, match=f"`{p}` \\[sched\\]: run option `n` must be"):
        config.apply("sched", {}, dirs=[str(tmp_path)], opts=_opts())


@pytest.mark.parametrize(("text", "message"), [
    ("no section header\n", "line 1: File contains no section headers; fix the INI syntax"),
    ("[a]\nx = 1\nx = 2\n", "line 3: option 'x' in section 'a' already exists; fix the INI syntax"),
    ("[a]\n[a]\n", "line 2: section 'a' already exists; fix the INI syntax"),
])
def test_bad_syntax_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    """One line, naming the file and the line, without configparser's doubled punctuation."""
    p = _write(tmp_path, text)
    with pytest.raises(config.ConfigError) as err:
        config.get_configs("cli", "run", dirs=[str(tmp_path)])
    assert str(err.value) == f"cannot parse `{p}` {message}"


def test_missing_torchxconfig_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TORCHXCONFIG", str(tmp_path / "nope"))
    with pytest.raises(config.ConfigError, match="not a file"):
        config.find_configs()


def test_sections_for_cli_components_and_trackers(tmp_path: Path) -> None:
    cwd, home = tmp_path / "cwd", tmp_path / "home"
    _write(cwd, "[cli:run]\nscheduler = slurm\n[component:dist.ddp]\nj = 2x2\n"
                "[torchx:tracker]\nfsspec =\n[tracker:fsspec]\nconfig = /t\n")
    _write(home, "[cli:run]\nscheduler = local_cwd\ncomponent = utils.echo\n"
                 "[component:dist.ddp]\nj = 1x1\nscript = t.py\n")
    dirs = [str(cwd), str(home)]
    assert config.get_configs("cli", "run", dirs) == {"scheduler": "slurm", "component": "utils.echo"}
    assert config.get_config("cli", "run", "workspace", dirs) is None
    assert config.load_sections("component", dirs) == {"dist.ddp": {"j": "2x2", "script": "t.py"}}
    assert config.get_configs("torchx", "tracker", dirs) == {"fsspec": ""}
    assert config.load_sections("tracker", dirs) == {"fsspec": {"config": "/t"}}


def test_load_reads_an_open_file() -> None:
    cfg: dict = {}
    config.load("sched", io.StringIO("[sched]\nn = 8\n"), cfg, opts=_opts())
    assert cfg == {"n": 8}


def test_dump_writes_a_file_apply_reads_back(tmp_path: Path) -> None:
    buf = io.StringIO()
    config.dump(buf, ["local_cwd"])
    text = buf.getvalue()
    assert "[local_cwd]" in text and "# log_dir =" in text and "[cli:run]" in text
    _write(tmp_path, text.replace("# prepend_cwd = false", "prepend_cwd = true"))
    cfg: dict = {}
    config.apply("local_cwd", cfg, dirs=[str(tmp_path)])
    assert cfg == {"prepend_cwd": True}


def test_dump_required_only_writes_the_options_to_fill_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_scheduler_opts", lambda name: _opts())
    full, required = io.StringIO(), io.StringIO()
    config.dump(full, ["sched"])
    config.dump(required, ["sched"], required_only=True)
    assert "queue =\n" in full.getvalue() and "# n = 1\n" in full.getvalue()
    lines = [ln for ln in required.getvalue().splitlines() if ln and not ln.startswith("# torchx")]
    assert lines == ["[cli:run]", "scheduler = local_cwd", "[sched]", "# a queue (str)", "queue ="]
