"""The helpers batch schedulers share: the command seam, script quoting, shared-filesystem logs."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torchx.schedulers import batch_common as bc
from torchx.schedulers.api import Stream
from torchx.specs import InvalidRunConfigException, TorchXError

# --------------------------------------------------------------------------- command seam


def _fake(tmp_path: Path, name: str, body: str) -> None:
    p = tmp_path / name
    p.write_text("#!/bin/sh\n" + body)
    p.chmod(0o755)


def test_runner_returns_stdout_and_passes_stdin(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(tmp_path, "qsub", "cat; echo done\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert bc.CommandRunner("Grid Engine")(["qsub"], input="script\n") == "script\ndone\n"


def test_missing_command_names_the_package(tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    run = bc.CommandRunner("LSF", {"bsub": "lsf-client"}, elsewhere="or use a login node")
    with pytest.raises(bc.BatchCommandError) as e:
        run(["bsub", "-V"])
    assert str(e.value) == ("LSF command `bsub` not found on PATH: install it (Debian/Ubuntu:"
                            " `apt-get install lsf-client`), or use a login node")
    with pytest.raises(bc.BatchCommandError, match=r"^LSF command `bjobs` not found on PATH: or"):
        run(["bjobs"])  # no package known: only the alternative


def test_failure_is_one_line_with_the_commands_words(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    class QError(bc.BatchCommandError):
        pass

    _fake(tmp_path, "qdel", "echo 'qdel: denied' >&2; echo >&2; echo '  for 7 ' >&2; exit 2\n")
    _fake(tmp_path, "qstat", "exit 5\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    run = bc.CommandRunner("Grid Engine", error=QError)
    with pytest.raises(QError) as e:
        run(["qdel", "7", "extra"])
    assert str(e.value) == "`qdel 7` failed: qdel: denied; for 7"
    assert e.value.detail == "qdel: denied; for 7" and isinstance(e.value, TorchXError)
    with pytest.raises(QError, match="`qstat` failed: exit code 5"):
        run(["qstat"])


def test_a_hung_command_times_out(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake(tmp_path, "bjobs", "exec sleep 30\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    run = bc.CommandRunner("LSF", unresponsive="is mbatchd up?", timeout=60)
    with pytest.raises(bc.BatchCommandError, match=r"^`bjobs -w` gave no answer within 0.3 s:"
                                                   r" is mbatchd up\?$"):
        run(["bjobs", "-w"], timeout=0.3)


# --------------------------------------------------------------------------- quoting

_words = st.text(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
                 max_size=30)


@settings(max_examples=60, deadline=None)
@given(st.lists(_words, min_size=1, max_size=4))
def test_sh_quote_round_trips_through_bash(words: list[str]) -> None:
    marker = "\x01id\x01"
    script = "printf '<%s>\\n' " + " ".join(bc.sh_quote(w, {marker: '"$ID"'}) for w in words)
    out = subprocess.run(["bash", "-c", script], capture_output=True, env={"ID": "42"},
                         timeout=30, check=True)
    assert out.stdout.decode() == "".join(f"<{w}>\n" for w in words)


def test_sh_quote_placeholders_expand_outside_quotes() -> None:
    q = bc.sh_quote("run-\x00id\x00-x'y", {"\x00id\x00": '"$APP"'})
    assert q == "run-\"$APP\"'-x'\"'\"'y'"
    out = subprocess.run(["bash", "-c", f"printf %s {q}"], capture_output=True, text=True,
                         env={"APP": "7"}, timeout=30)
    assert out.stdout == "run-7-x'y"
    assert bc.sh_quote("") == "''" and bc.sh_quote("", {"a": "b"}) == "''"


@settings(max_examples=60, deadline=None)
@given(_words.filter(lambda s: "\n" not in s and "\r" not in s))
def test_directive_value_reads_back_as_sbatch_does(val: str) -> None:
    """sbatch/bsub read a directive like a shell word in double quotes with \\ escapes."""
    got = bc.directive_value("comment", val)
    if got.startswith('"'):
        inner = got[1:-1]
        unescaped, i = [], 0
        while i < len(inner):
            if inner[i] == "\\":
                i += 1
            unescaped.append(inner[i])
            i += 1
        assert "".join(unescaped) == val
    else:
        assert got == val and not any(c.isspace() for c in val)


def test_directive_value_rejects_newlines_naming_the_directive() -> None:
    with pytest.raises(InvalidRunConfigException, match=r"an #BSUB option is one line"):
        bc.directive_value("job name", "a\nb", "#BSUB")


def test_heredoc_picks_a_delimiter_the_script_does_not_contain() -> None:
    text = bc.heredoc(["qsub"], "echo TORCHX_EOF\n")
    assert text == "qsub <<'TORCHX_EOF_'\necho TORCHX_EOF\nTORCHX_EOF_\n"
    out = subprocess.run(["bash", "-c", text.replace("qsub", "cat", 1)], capture_output=True,
                         text=True, timeout=30)
    assert out.stdout == "echo TORCHX_EOF\n"


# --------------------------------------------------------------------------- logs


def test_stream_paths() -> None:
    assert bc.stream_paths("/l/x", None) == ["/l/x.out", "/l/x.err"]
    assert bc.stream_paths("/l/x", Stream.COMBINED) == ["/l/x.out", "/l/x.err"]
    assert bc.stream_paths("/l/x", Stream.STDERR) == ["/l/x.err"]
    assert bc.stream_paths("/l/x", Stream.STDOUT, {Stream.STDOUT: ".o", Stream.STDERR: ".e"}) \
        == ["/l/x.o"]


def test_log_lines_read_regex_and_since(tmp_path: Path) -> None:
    out, err = tmp_path / "r.out", tmp_path / "r.err"
    out.write_text("a1\nb2\nlast without newline")
    err.write_text("e1\n")
    paths = [str(out), str(err), str(tmp_path / "missing")]
    assert list(bc.log_lines(paths)) == ["a1\n", "b2\n", "last without newline\n", "e1\n"]
    assert list(bc.log_lines(paths, regex="[0-9]$")) == ["a1\n", "b2\n", "e1\n"]
    future = datetime.now(timezone.utc) + timedelta(hours=1)
    assert list(bc.log_lines(paths, since=future)) == []
    old = time.time() - 7200
    os.utime(err, (old, old))
    past = datetime.now(timezone.utc) - timedelta(hours=1)
    assert list(bc.log_lines(paths, since=past)) == ["a1\n", "b2\n", "last without newline\n"]


def test_log_lines_follow_until_done(tmp_path: Path) -> None:
    path = tmp_path / "r.out"
    finished = threading.Event()

    def writer() -> None:
        with open(path, "w") as f:
            for i in range(3):
                f.write(f"line {i}\n")
                f.flush()
                time.sleep(0.2)
            f.write("partial")
        finished.set()

    t = threading.Thread(target=writer)
    t.start()
    got = list(bc.log_lines([str(path)], should_tail=True, done=finished.is_set, poll=0.05))
    t.join()
    assert got == ["line 0\n", "line 1\n", "line 2\n", "partial\n"]


def test_log_lines_follow_stops_after_until(tmp_path: Path) -> None:
    path = tmp_path / "r.out"
    path.write_text("old\n")
    until = datetime.now(timezone.utc) - timedelta(seconds=1)
    got = list(bc.log_lines([str(path)], until=until, should_tail=True, done=lambda: False,
                            poll=0.01))
    assert got == ["old\n"]  # never done, but until has passed: it drains and returns
