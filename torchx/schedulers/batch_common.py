"""What the batch schedulers (slurm, lsf, gridengine) share, so none of them copies another.

* **The subprocess seam** (:py:class:`CommandRunner`): every call to the batch system's client
  commands goes through one object with a timeout; a missing command names the package that
  provides it; a failure is one line carrying the command's own words.
* **Quoting generated scripts**: :py:func:`sh_quote` for shell words (with placeholders that
  become variable references), :py:func:`directive_value` for ``#SBATCH``/``#BSUB``/``#$``
  values, :py:func:`heredoc` for showing a script fed on stdin.
* **Log files on a shared filesystem**: :py:func:`stream_paths` (which files a stream means),
  :py:func:`log_lines` (read or follow them, with regex and coarse since/until) and
  :py:func:`app_ended` (when to stop following).

Standard library only; nothing here talks to a particular batch system.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from torchx.schedulers.api import Stream, filter_regex
from torchx.specs.errors import InvalidRunConfigException, TorchXError

if TYPE_CHECKING:
    from torchx.schedulers.api import Scheduler

__all__ = [
    "BatchCommandError", "CommandRunner", "DEFAULT_LOG_EXTS", "app_ended", "directive_value",
    "follow_lines",
    "heredoc", "log_lines", "one_line", "read_lines", "sh_quote", "stream_paths",
]

# --------------------------------------------------------------------------- subprocess seam


class BatchCommandError(TorchXError):
    """A batch-system command failed, hung or is missing; the message is one line."""

    def __init__(self, msg: str, detail: str = "") -> None:
        super().__init__(msg)
        self.detail = detail or msg
        """The command's own words (stderr, as one line), without torchx's framing."""


def one_line(text: str) -> str:
    """``text`` with its non-empty lines stripped and joined by ``; ``."""
    return "; ".join(ln.strip() for ln in text.splitlines() if ln.strip())


@dataclass
class CommandRunner:
    """Runs one batch system's client commands: ``runner(["squeue", "--json"]) -> stdout``.

    ``packages`` maps each command to the Debian/Ubuntu package that installs it; a missing
    command's error names it, then ``elsewhere`` (how to get it on other systems).
    """

    system: str
    """The batch system's name in messages (``"Slurm"``)."""
    packages: Mapping[str, str] = field(default_factory=dict)
    """Command -> Debian/Ubuntu package providing it (``{"sbatch": "slurm-client"}``)."""
    elsewhere: str = "or add the client tools to PATH"
    """What to do instead of apt-get (a login node, the vendor's installer...)."""
    unresponsive: str = "check that the batch system's daemons are up and retry"
    """What to do when a command hangs past the timeout."""
    error: type[BatchCommandError] = BatchCommandError
    """The exception raised (a backend's own subclass)."""
    timeout: float = 120.0
    """Seconds a command may take before it counts as failed."""

    def missing(self, command: str) -> BatchCommandError:
        """The error for a command that is not on PATH."""
        pkg = self.packages.get(os.path.basename(command))
        install = f"install it (Debian/Ubuntu: `apt-get install {pkg}`), " if pkg else ""
        return self.error(f"{self.system} command `{command}` not found on PATH: {install}"
                          f"{self.elsewhere}")

    def __call__(self, cmd: list[str], input: str | None = None,
                 timeout: float | None = None) -> str:
        """Run ``cmd`` (stdin ``input``); its stdout, or :py:attr:`error` as one line."""
        limit = self.timeout if timeout is None else timeout
        shown = " ".join(cmd[:2])
        try:
            p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=limit)
        except subprocess.TimeoutExpired:
            raise self.error(
                f"`{shown}` gave no answer within {limit:g} s: {self.unresponsive}") from None
        except FileNotFoundError:
            raise self.missing(cmd[0]) from None
        except PermissionError as e:
            raise self.error(f"cannot run `{cmd[0]}`: {e.strerror}") from None
        if p.returncode != 0:
            err = one_line(p.stderr) or one_line(p.stdout) or f"exit code {p.returncode}"
            raise self.error(f"`{shown}` failed: {err}", err)
        return p.stdout


# --------------------------------------------------------------------------- quoting


def sh_quote(s: str, placeholders: Mapping[str, str] | None = None) -> str:
    """``s`` as one POSIX shell word. Each placeholder key found in ``s`` becomes its value
    *outside* the quotes (e.g. ``{"\\0app_id\\0": '"$TORCHX_APP_ID"'}``), so it expands when the
    script runs while everything else stays literal."""
    if not placeholders:
        return shlex.quote(s)
    keys = sorted(placeholders, key=len, reverse=True)
    parts = re.split("(" + "|".join(re.escape(k) for k in keys) + ")", s)
    out = "".join(placeholders[p] if p in placeholders else shlex.quote(p) if p else ""
                  for p in parts)
    return out or "''"


def sh_quote_one_line(s: str) -> str:
    """``s`` as one bash word on one physical line: :py:func:`sh_quote`, or bash's ``$'...'``
    when ``s`` holds a control character. Grid Engine (``#$``) and LSF (``#BSUB``) read a
    directive line *anywhere* in a script, so a quoted newline could otherwise start one."""
    if not re.search(r"[\x00-\x1f\x7f]", s):
        return sh_quote(s)
    body = "".join(
        "\\\\" if c == "\\" else "\\'" if c == "'" else
        f"\\x{ord(c):02x}" if ord(c) < 0x20 or ord(c) == 0x7F else c
        for c in s
    )
    return f"$'{body}'"


def directive_value(name: str, val: str, directive: str = "#SBATCH") -> str:
    """A ``#SBATCH``-style directive value as the batch system reads it back: double-quoted
    when needed, ``\\`` and ``"`` backslash-escaped; newlines and NULs are rejected (a directive
    is one line)."""
    if "\n" in val or "\r" in val or "\x00" in val:
        raise InvalidRunConfigException(
            f"`{name}` value {val!r} cannot contain newlines (an {directive} option is one line):"
            " put it on one line"
        )
    if not re.search(r"\s|[#\\$`'\"]", val):
        return val
    return '"' + val.replace("\\", "\\\\").replace('"', '\\"') + '"'


def heredoc(cmd: list[str], script: str, delimiter: str = "TORCHX_EOF") -> str:
    """``cmd <<'DELIM'`` + ``script`` + ``DELIM``: how a script fed on stdin is shown in a
    dryrun. The delimiter is lengthened until no line of the script equals it."""
    lines = set(script.splitlines())
    while delimiter in lines or delimiter in script:
        delimiter += "_"
    body = script if script.endswith("\n") else script + "\n"
    return f"{' '.join(cmd)} <<'{delimiter}'\n{body}{delimiter}\n"


# --------------------------------------------------------------------------- log files

DEFAULT_LOG_EXTS: Mapping[Stream, str] = {Stream.STDOUT: ".out", Stream.STDERR: ".err"}
"""Suffix of each stream's file next to a replica's log stem."""


def stream_paths(stem: str, streams: Stream | None,
                 exts: Mapping[Stream, str] = DEFAULT_LOG_EXTS) -> list[str]:
    """The files a stream means: one for STDOUT/STDERR, both (stdout first) for COMBINED/None."""
    stream = Stream(streams) if streams is not None else Stream.COMBINED
    if stream == Stream.COMBINED:
        return [stem + exts[Stream.STDOUT], stem + exts[Stream.STDERR]]
    return [stem + exts[stream]]


def read_lines(paths: Iterable[str]) -> Iterator[str]:
    """Every line of each existing file in turn (each ending in a newline)."""
    for p in paths:
        if os.path.exists(p):
            with open(p, errors="replace") as f:
                for line in f:
                    yield line if line.endswith("\n") else line + "\n"


def follow_lines(paths: list[str], done: Callable[[], bool], poll: float = 0.2,
                 check_every: float = 1.0) -> Iterator[str]:
    """Follow ``paths`` (which may not exist yet), yielding whole lines as they appear, until
    ``done()`` (asked at most every ``check_every`` s), then drain what is left."""
    pos = dict.fromkeys(paths, 0)
    partial = dict.fromkeys(paths, b"")
    next_check, finished = 0.0, False
    while True:
        for p in paths:
            if os.path.exists(p):
                with open(p, "rb") as f:
                    f.seek(pos[p])
                    chunk = f.read()
                    pos[p] += len(chunk)
                *whole, partial[p] = (partial[p] + chunk).split(b"\n")
                yield from (line.decode(errors="replace") + "\n" for line in whole)
        if finished:
            yield from (partial[p].decode(errors="replace") + "\n" for p in paths if partial[p])
            return
        if time.monotonic() >= next_check:
            finished, next_check = done(), time.monotonic() + check_every
        if not finished:
            time.sleep(poll)


def log_lines(
    paths: list[str],
    regex: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    should_tail: bool = False,
    done: Callable[[], bool] | None = None,
    poll: float = 0.2,
) -> Iterable[str]:
    """The lines of a replica's log files, read once or followed (``should_tail``) until
    ``done()``; ``regex`` keeps matching lines.

    Batch logs carry no timestamps, so time filters work per file: with ``since``, a file last
    written before it yields nothing; with ``until`` and ``should_tail``, following stops once
    ``until`` has passed. Within a file, lines are not filtered by time.
    """
    if since is not None:
        cutoff = since.timestamp()
        paths = [p for p in paths if not os.path.exists(p) or os.path.getmtime(p) >= cutoff]
        if not paths:
            return iter(())
    if should_tail:
        finished = done or (lambda: True)
        if until is not None:
            end = until.timestamp()
            stop: Callable[[], bool] = lambda: time.time() > end or finished()  # noqa: E731
        else:
            stop = finished
        lines: Iterable[str] = follow_lines(paths, stop, poll)
    else:
        lines = read_lines(paths)
    return filter_regex(regex, lines) if regex else lines


def app_ended(sched: Scheduler[Any], app_id: str) -> Callable[[], bool]:
    """``done`` for :py:func:`log_lines`: true once ``sched`` no longer knows the app or it
    reached a terminal state (asked afresh at each call)."""

    def done() -> bool:
        d = sched.describe(app_id)
        return d is None or d.state.is_terminal()

    return done
