"""The CLI's pure parts: command/level detection, the error boundary's exit codes and one-line
messages, log identifiers, times, ages, tables, whole-line printing and completion."""

from __future__ import annotations

import argparse
import io
import threading
import time
from datetime import datetime, timedelta

import pytest

from torchx.cli.cmd_completion import _split, candidates
from torchx.cli.cmd_log import LinePrinter, parse_log_identifier
from torchx.cli.common import UsageError, age, parse_time, table
from torchx.cli.main import _command_name, _log_level, _report, run_cli
from torchx.specs.api import (
    AppState,
    AppStatus,
    AppStatusError,
    InvalidRunConfigException,
    MalformedAppHandleException,
    TorchXError,
    UnknownAppException,
    UnknownSchedulerException,
)


@pytest.mark.parametrize(("argv", "name", "level"), [
    (["run", "-s", "x"], "run", "INFO"),
    (["--log_level", "debug", "status", "h"], "status", "DEBUG"),
    (["--log_level=WARNING", "list"], "list", "WARNING"),
    (["--help"], None, "INFO"),
    ([], None, "INFO"),
])
def test_command_name_and_level(argv: list[str], name: str | None, level: str) -> None:
    assert _command_name(argv) == name
    assert _log_level(argv) == level


@pytest.mark.parametrize(("exc", "code", "line"), [
    (UnknownAppException("local_cwd://s/a"), 1, "unknown app `local_cwd://s/a`"),
    (AppStatusError(AppStatus(AppState.FAILED, msg="boom")), 1, "FAILED: boom"),
    (MalformedAppHandleException("x"), 2, "malformed app handle `x`"),
    (UnknownSchedulerException("slurmm", ["slurm"]), 2, "Did you mean `slurm`?"),
    (InvalidRunConfigException("bad\n  option"), 2, "bad; option"),
    (UsageError("say what"), 2, "say what"),
    (KeyError("unknown named resource `gpu`"), 2, "unknown named resource `gpu`"),
    (ValueError("not a number"), 2, "not a number"),
    (TorchXError("backend down"), 1, "backend down"),
    (OSError(28, "No space left on device"), 1, "No space left"),
    (RuntimeError("bug"), 1, "internal error: RuntimeError: bug"),
    (KeyError("roles"), 1, "internal error: KeyError: 'roles' (rerun with `torchx --log_level DEBUG"),
])
def test_error_boundary(exc: BaseException, code: int, line: str,
                        capsys: pytest.CaptureFixture[str]) -> None:
    assert _report(exc, debug=False) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and line in err and "'" + line not in err


def test_unknown_command_suggests(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        run_cli(["statsu"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "torchx: error: unknown command `statsu`. Did you mean `status`? (see `torchx --help`)\n"
    )


@pytest.mark.parametrize(("ident", "parsed"), [
    ("local_cwd://torchx/app-1", ("local_cwd://torchx/app-1", None, None)),
    ("local_cwd://torchx/app-1/trainer", ("local_cwd://torchx/app-1", "trainer", None)),
    ("slurm://s/123/trainer/0,2", ("slurm://s/123", "trainer", [0, 2])),
    ("kubernetes:///app/r/1", ("kubernetes:///app", "r", [1])),
])
def test_log_identifier(ident: str, parsed: tuple[str, str | None, list[int] | None]) -> None:
    assert parse_log_identifier(ident) == parsed


@pytest.mark.parametrize("ident", ["app-1", "local_cwd://s/a/r/0/extra", "local_cwd://s/a//0"])
def test_malformed_log_identifier(ident: str) -> None:
    with pytest.raises(MalformedAppHandleException):
        parse_log_identifier(ident)
    with pytest.raises(UsageError, match="must be numbers"):
        parse_log_identifier("local_cwd://s/a/r/x")


def test_parse_time() -> None:
    assert abs(parse_time("90s") - (datetime.now() - timedelta(seconds=90))) < timedelta(seconds=5)
    assert abs(parse_time("2h") - (datetime.now() - timedelta(hours=2))) < timedelta(seconds=5)
    assert parse_time("2024-05-01T10:00:00") == datetime(2024, 5, 1, 10)
    with pytest.raises(argparse.ArgumentTypeError, match="not a time"):
        parse_time("yesterday")


@pytest.mark.parametrize(("secs", "text"), [(0, "0s"), (59, "59s"), (61, "1m"), (7300, "2h"),
                                            (3 * 86400 + 5, "3d"), (-5, "0s")])
def test_age(secs: float, text: str) -> None:
    assert age(1000.0, now=1000.0 + secs) == text
    assert age(None) == "-"


def test_table() -> None:
    assert table([["a", "long value"], ["bbb", "x"]], ["K", "V"]) == (
        "K    V\na    long value\nbbb  x"
    )


class _ChunkedStream(io.StringIO):
    """A stream that writes in small pieces and yields the GIL between them, as a pipe may."""

    def write(self, s: str) -> int:
        for i in range(0, len(s), 500):
            super().write(s[i:i + 500])
            time.sleep(0)
        return len(s)


def test_line_printer_never_splits_lines() -> None:
    out = _ChunkedStream()
    printer = LinePrinter(out)

    def writer(k: int) -> None:
        for i in range(60):
            printer.write(f"r/{k}", f"{k}:{i}:" + "y" * 3000 + ("\n" if i % 2 else ""))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = out.getvalue().splitlines()
    assert len(lines) == 480
    for line in lines:
        prefix, body = line.split(" ", 1)
        k, i, ys = body.split(":")
        assert prefix == f"r/{k}" and ys == "y" * 3000


def test_completion_split() -> None:
    assert _split("torchx run ") == (["torchx", "run"], "")
    assert _split("torchx ru") == (["torchx"], "ru")
    assert _split("torchx run --msg 'a b") == (["torchx", "run", "--msg"], "a b")  # open quote
    assert _split('torchx run --msg "x') == (["torchx", "run", "--msg"], "x")
    assert _split("") == ([], "")


def test_completion_candidates() -> None:
    assert "run" in candidates([], "") and "__complete" not in candidates([], "")
    assert candidates([], "--") == ["--help", "--version", "--log_level"]
    assert "local_cwd" in candidates(["run", "-s"], "")
    assert "utils.echo" in candidates(["run", "-s", "local_cwd"], "utils")
    assert "--msg" in candidates(["run", "utils.echo"], "--")
    assert "--num_replicas" in candidates(["run", "--dryrun", "utils.echo", "--msg", "x"], "--n")
    assert candidates(["log", "--streams"], "") == ["stdout", "stderr", "combined"]
    assert candidates(["completion"], "") == ["bash", "zsh"]
    assert "utils.echo" in candidates(["builtins", "--print"], "")
    assert candidates(["nosuch"], "") == []


@pytest.mark.parametrize(("msg", "line"), [
    ("FAILED: exit code 4 (sh[0] exit code 4)", "job h FAILED: exit code 4 (sh[0] exit code 4) (see `torchx log h`)"),
    ("replica sh[0] failed (exit code 3)", "job h FAILED: replica sh[0] failed (exit code 3) (see `torchx log h`)"),
    ("FAILED", "job h FAILED (see `torchx log h`)"),
    (None, "job h FAILED (see `torchx log h`)"),
])
def test_failure_line_does_not_repeat_the_state(msg: str | None, line: str) -> None:
    from torchx.cli.cmd_run import failure_line

    assert failure_line("h", "FAILED", msg) == line
