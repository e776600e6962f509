"""The scheduler contract: what every torchx scheduler promises, as one inheritable test suite.

A backend's tests are one class inheriting :py:class:`SchedulerContract` (pytest collects it when
its name starts with ``Test``) that fills in the hooks below and adds only its own specifics::

    class TestSlurmContract(SchedulerContract):
        backend = "slurm"
        unknown_app_id = "999999999"
        cannot = {"log_since_until": "Slurm log files carry no timestamps"}

        def require_backend(self) -> None:
            require("slurm", *cluster_up())

See ``tests/contract/README.md`` for every hook. The model is fsspec's abstract test suite:
the base class holds the tests, a subclass only says how to reach its backend and what it
cannot do (each such capability with a reason; its tests then skip saying so).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, ClassVar

import pytest

from torchx import specs
from torchx.schedulers.api import Scheduler, Stream
from torchx.specs import AppState, CfgVal

REPO = Path(__file__).resolve().parents[2]
GOLDEN_ROOT = REPO / "tests" / "golden"

CAPABILITIES: dict[str, str] = {
    "submit": "schedule() accepts an app and describe/list/cancel see it",
    "execute": "submitted apps really run (exit codes, output)",
    "list": "list() shows submitted apps",
    "logs": "log_iter() returns a replica's output",
    "log_streams": "log_iter(streams=STDOUT|STDERR) separates the two streams",
    "log_since_until": "log_iter(since=, until=) filters by time",
    "log_tail": "log_iter(should_tail=True) follows a running app until it ends",
    "delete_forgets": "after delete(), describe() returns None",
    "cli": "the `torchx` CLI can reach the backend in a subprocess (no injected client)",
}
"""Everything a backend may declare it cannot do (``cannot = {name: reason}``)."""

AWKWARD_ARGS: list[str] = [
    "plain",
    "two words",
    "it's",
    'say "hi"',
    "$(echo pwned)",
    "`echo pwned`",
    "$HOME ${HOME} $1 $",
    "line one\nline two",
    "tab\there",
    "unicode: héllo ✓ 日本",
    "EOF",
    "'EOF'",
    "%j %% %n",
    "a;b&&c|d>e<f",
    "back\\slash \\n",
    "--flag=x y",
    "#not a comment",
    "",
    "*",
]
"""Argument strings that break naive quoting: each must reach the process unchanged.
(``$$`` is left out on purpose: it is the macro escape for ``$``, see ``specs.macros``.)"""

_PRINT_ARGS = 'for a in "$@"; do printf "<%s>\\n" "$a"; done'


class SchedulerContract:
    """Base class of every scheduler's contract tests. Fill in the hooks; inherit the tests."""

    pytestmark: ClassVar[list[pytest.MarkDecorator]] = [pytest.mark.timeout(600)]

    # ------------------------------------------------------------------ hooks: attributes

    backend: ClassVar[str] = ""
    """The registry name (``torchx.schedulers.BUILTIN_SCHEDULER_MODULES`` key)."""
    session_name: ClassVar[str] = "contract"
    """Session name the scheduler is created with (handles are ``backend://session/id``)."""
    unknown_app_id: ClassVar[str] = "contract-no-such-app-0"
    """A well-formed app id the backend has never seen."""
    image: ClassVar[str] = "/tmp"
    """``Role.image`` of the trivial apps (a container image, or a directory for batch systems)."""
    shell: ClassVar[str] = "sh"
    """The POSIX shell entrypoint the trivial apps run as ``shell -c script``."""
    resource: ClassVar[specs.Resource] = specs.Resource(cpu=1, gpu=0, memMB=128)
    """Resource of each replica of the trivial apps."""
    timeout: ClassVar[float] = 120.0
    """Seconds an app may take to reach an expected state before the test fails."""
    poll: ClassVar[float] = 0.2
    """Seconds between describe() calls while waiting."""
    cannot: ClassVar[Mapping[str, str]] = {}
    """Capabilities (keys of ``CAPABILITIES``) this backend lacks -> why. Their tests skip."""

    # ------------------------------------------------------------------ hooks: methods

    def require_backend(self) -> None:
        """Skip (or fail under TORCHX_REQUIRE_BACKENDS) when the backend is absent:
        call ``tests.backends.require(name, ok, why)``. Default: nothing to require."""

    def prepare(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Per-test environment (a private TORCHX_HOME, a working directory, PATH...)."""

    def make_scheduler(self, session_name: str) -> Scheduler[Any]:
        """A fresh scheduler. Default: the registry's factory for :py:attr:`backend`."""
        from torchx.schedulers import get_scheduler_factory

        return get_scheduler_factory(self.backend)(session_name)

    def run_cfg(self) -> dict[str, CfgVal]:
        """Run options every app of the suite is submitted with."""
        return {}

    def role(self, name: str, script: str, num_replicas: int = 1) -> specs.Role:
        """A role running ``shell -c script`` on :py:attr:`image` with :py:attr:`resource`."""
        return specs.Role(name, image=self.image, entrypoint=self.shell, args=["-c", script],
                          num_replicas=num_replicas, resource=self.resource)

    def golden_app(self) -> specs.AppDef:
        """The app whose dryrun is pinned by :py:meth:`golden_path`."""
        role = self.role("trainer", "echo hello $0", num_replicas=2)
        role.args += [specs.macros.replica_id]
        role.env = {"GREETING": "it's $(not run)"}
        return specs.AppDef("contract-golden", [role, self.role("ps", "sleep 1")])

    def golden_path(self) -> Path:
        """Where the dryrun of :py:meth:`golden_app` is pinned (TORCHX_UPDATE_GOLDEN=1 rewrites)."""
        return GOLDEN_ROOT / self.backend / "contract_dryrun.txt"

    def normalize_dryrun(self, text: str, tmp_path: Path) -> str:
        """The dryrun text with what differs between runs (temp dirs, generated ids) replaced.
        Default: the test's temporary directory and the current directory."""
        return text.replace(str(tmp_path), "<tmp>").replace(os.getcwd(), "<cwd>")

    def backend_snapshot(self, sched: Scheduler[Any]) -> object:
        """What a dryrun must not change. Default: the app ids list() returns (nothing when the
        backend declared it cannot list)."""
        if "list" in self.cannot:
            return []
        return sorted(a.app_id for a in sched.list())

    def submit(self, sched: Scheduler[Any], app: specs.AppDef,
               cfg: Mapping[str, CfgVal] | None = None) -> str:
        """Submit ``app``; returns its id. Default: submit_dryrun + build_workspaces + schedule."""
        info = sched.submit_dryrun(app, {**self.run_cfg(), **(cfg or {})})
        if sched.builds_workspaces():
            assert info.app is not None
            sched.build_workspaces(info.app.roles, info.cfg, dryrun=False)
        app_id = sched.schedule(info)
        self._submitted.append(app_id)
        return app_id

    def cleanup(self, sched: Scheduler[Any], app_ids: list[str]) -> None:
        """Remove what the test submitted. Default: cancel, then delete, each app."""
        for app_id in app_ids:
            try:
                sched.cancel(app_id)
                sched.delete(app_id)
            except Exception as e:  # teardown must go on for the others
                print(f"cleanup of {app_id} failed: {e}", file=sys.stderr)

    # ------------------------------------------------------------------ fixtures and helpers

    _submitted: list[str]

    @pytest.fixture
    def sched(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Scheduler[Any]]:
        """The scheduler under test; what a test submitted is cleaned up after it."""
        assert self.backend, f"{type(self).__name__} must set `backend`"
        self.require_backend()
        self.prepare(tmp_path, monkeypatch)
        self._submitted = []
        s = self.make_scheduler(self.session_name)
        yield s
        self.cleanup(s, self._submitted)
        s.close()

    def needs(self, *capabilities: str) -> None:
        """Skip the calling test (saying why) when the backend declared it cannot do one."""
        for cap in capabilities:
            assert cap in CAPABILITIES, f"unknown capability `{cap}`"
            if cap in self.cannot:
                pytest.skip(f"{self.backend} declares it cannot `{cap}` ({CAPABILITIES[cap]}):"
                            f" {self.cannot[cap]}")

    def app(self, script: str, name: str = "contract", num_replicas: int = 1) -> specs.AppDef:
        return specs.AppDef(name, [self.role("r", script, num_replicas)])

    def wait(self, sched: Scheduler[Any], app_id: str, states: set[AppState] | None = None,
             timeout: float | None = None) -> Any:
        """Poll describe() until the app is terminal (or in one of ``states``)."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            desc = sched.describe(app_id)
            assert desc is not None, f"{self.backend}: app {app_id} vanished"
            if desc.state.is_terminal() or (states and desc.state in states):
                return desc
            assert time.monotonic() < deadline, (
                f"{self.backend}: app {app_id} still {desc.state.name} after"
                f" {timeout or self.timeout:g} s: {desc.msg}")
            sched.wait_for_change(app_id, self.poll)

    def run_to_end(self, sched: Scheduler[Any], script: str, **kw: Any) -> tuple[str, Any]:
        app_id = self.submit(sched, self.app(script, **kw))
        return app_id, self.wait(sched, app_id)

    def logs(self, sched: Scheduler[Any], app_id: str, **kw: Any) -> list[str]:
        return list(sched.log_iter(app_id, "r", 0, **kw))

    # ------------------------------------------------------------------ the contract

    def test_declared_capabilities_are_known_and_explained(self) -> None:
        assert self.backend, f"{type(self).__name__} must set `backend`"
        unknown = sorted(set(self.cannot) - set(CAPABILITIES))
        assert not unknown, f"unknown capabilities {unknown}; known: {sorted(CAPABILITIES)}"
        assert all(reason.strip() for reason in self.cannot.values()), "each needs a reason"

    def test_registered_under_its_name(self) -> None:
        from torchx.schedulers import BUILTIN_SCHEDULER_MODULES, get_scheduler_names

        assert self.backend in get_scheduler_names()
        module = BUILTIN_SCHEDULER_MODULES.get(self.backend)
        if module is not None:
            import importlib

            assert callable(importlib.import_module(module).create_scheduler)

    def test_dryrun_has_no_side_effects_and_matches_golden(self, sched: Scheduler[Any],
                                                           tmp_path: Path) -> None:
        app = self.golden_app()
        before_app = repr(app)
        snapshot = self.backend_snapshot(sched)
        info = sched.submit_dryrun(app, self.run_cfg())
        assert repr(app) == before_app, "submit_dryrun modified the AppDef it was given"
        assert self.backend_snapshot(sched) == snapshot, "submit_dryrun changed the backend"
        assert info.app is app and info.scheduler == sched.backend
        assert dict(info.cfg) == dict(sched.run_opts().resolve(self.run_cfg()))
        text = self.normalize_dryrun(repr(info), tmp_path)
        assert text.strip(), "the dryrun prints nothing"
        path = self.golden_path()
        if os.environ.get("TORCHX_UPDATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"missing golden file {path}: run with TORCHX_UPDATE_GOLDEN=1"
        assert text == path.read_text(), f"dryrun differs from {path} (TORCHX_UPDATE_GOLDEN=1)"

    def test_unknown_run_option_gets_a_suggestion(self, sched: Scheduler[Any]) -> None:
        names = [k for k, _ in sched.run_opts()]
        assert names, f"{self.backend} declares no run options"
        target = max(names, key=len)
        typo = target[:-1] + ("x" if target[-1] != "x" else "y")
        with pytest.raises(specs.InvalidRunConfigException) as e:
            sched.submit_dryrun(self.app("true"), {**self.run_cfg(), typo: "1"})
        msg = str(e.value)
        assert f"`{typo}`" in msg and f"Did you mean `{target}`" in msg, msg
        assert "\n" not in msg

    def test_run_option_of_the_wrong_type_is_one_line(self, sched: Scheduler[Any]) -> None:
        opts = dict(sched.run_opts())
        name = next((k for k, o in opts.items() if o.opt_type in (str, int, float)), None)
        if name is None:
            pytest.skip(f"{self.backend} has no scalar run option")
        with pytest.raises(specs.InvalidRunConfigException) as e:
            sched.submit_dryrun(self.app("true"), {**self.run_cfg(), name: {"not": "scalar"}})
        assert name in str(e.value) and "\n" not in str(e.value)

    def test_unknown_app_is_none_and_cancel_delete_are_noops(self, sched: Scheduler[Any]) -> None:
        assert sched.describe(self.unknown_app_id) is None
        assert sched.exists(self.unknown_app_id) is False
        assert sched.describe_many([self.unknown_app_id]) == {self.unknown_app_id: None}
        sched.cancel(self.unknown_app_id)
        sched.delete(self.unknown_app_id)

    def test_logs_of_an_unknown_app_raise_one_line(self, sched: Scheduler[Any]) -> None:
        self.needs("logs")
        with pytest.raises(specs.TorchXError) as e:
            list(sched.log_iter(self.unknown_app_id, "r", 0))
        assert "\n" not in str(e.value)

    def test_close_twice_and_context_manager(self) -> None:
        self.require_backend()
        s = self.make_scheduler(self.session_name)
        s.close()
        s.close()
        with self.make_scheduler(self.session_name) as s2:
            assert s2.backend == s.backend
        s2.close()

    def test_submitted_app_is_described_and_listed(self, sched: Scheduler[Any]) -> None:
        self.needs("submit", "list")
        app_id = self.submit(sched, self.app("sleep 2", name="listed"))
        desc = sched.describe(app_id)
        assert desc is not None and desc.app_id == app_id
        listed = {a.app_id: a for a in sched.list()}
        assert app_id in listed, f"{app_id} not in list(): {sorted(listed)}"
        entry = listed[app_id]
        assert isinstance(entry.state, AppState)
        assert entry.app_handle == f"{self.backend}://{self.session_name}/{app_id}"

    def test_exit_codes_become_states(self, sched: Scheduler[Any]) -> None:
        self.needs("submit", "execute")
        ok = self.submit(sched, self.app("echo fine", num_replicas=2))
        bad = self.submit(sched, self.app("exit 3"))
        assert self.wait(sched, ok).state == AppState.SUCCEEDED
        failed = self.wait(sched, bad)
        assert failed.state == AppState.FAILED
        assert "3" in failed.msg, f"the exit code is not in the message: {failed.msg!r}"

    def test_cancel_is_idempotent(self, sched: Scheduler[Any]) -> None:
        self.needs("submit")
        app_id = self.submit(sched, self.app("sleep 300", name="sleepy"))
        if "execute" not in self.cannot:
            self.wait(sched, app_id, {AppState.RUNNING})
        sched.cancel(app_id)
        sched.cancel(app_id)  # again while it stops
        desc = self.wait(sched, app_id)
        assert desc.state == AppState.CANCELLED, desc
        sched.cancel(app_id)  # and once it is over
        assert self.wait(sched, app_id).state == AppState.CANCELLED

    def test_delete(self, sched: Scheduler[Any]) -> None:
        self.needs("submit")
        app_id = self.submit(sched, self.app("sleep 300", name="deleted"))
        sched.delete(app_id)
        desc = sched.describe(app_id)
        if "delete_forgets" in self.cannot:
            assert desc is None or self.wait(sched, app_id).state.is_terminal()
        else:
            assert desc is None, f"{app_id} still described after delete(): {desc}"
        sched.delete(app_id)  # a no-op the second time

    def test_log_iter_streams_and_regex(self, sched: Scheduler[Any]) -> None:
        self.needs("submit", "execute", "logs")
        app_id, desc = self.run_to_end(sched, "echo out1; echo err1 >&2; echo out2")
        assert desc.state == AppState.SUCCEEDED, desc
        assert sorted(self.logs(sched, app_id)) == ["err1\n", "out1\n", "out2\n"]
        assert self.logs(sched, app_id, regex="^out") == ["out1\n", "out2\n"]
        assert self.logs(sched, app_id, regex="nothing matches") == []
        if "log_streams" not in self.cannot:
            assert self.logs(sched, app_id, streams=Stream.STDOUT) == ["out1\n", "out2\n"]
            assert self.logs(sched, app_id, streams=Stream.STDERR) == ["err1\n"]
            combined = self.logs(sched, app_id, streams=Stream.COMBINED)
            assert sorted(combined) == ["err1\n", "out1\n", "out2\n"]
        with pytest.raises(specs.TorchXError) as e:
            list(sched.log_iter(app_id, "r", 5))
        assert "\n" not in str(e.value)

    def test_log_iter_since_until(self, sched: Scheduler[Any]) -> None:
        self.needs("submit", "execute", "logs", "log_since_until")
        app_id, desc = self.run_to_end(sched, "echo one; echo two")
        assert desc.state == AppState.SUCCEEDED, desc
        now = datetime.now(timezone.utc)
        assert self.logs(sched, app_id, since=now - timedelta(hours=1)) == ["one\n", "two\n"]
        assert self.logs(sched, app_id, until=now + timedelta(hours=1)) == ["one\n", "two\n"]
        assert self.logs(sched, app_id, since=now + timedelta(hours=1)) == []
        assert self.logs(sched, app_id, until=now - timedelta(hours=1)) == []

    def test_log_iter_tail_follows_until_the_end(self, sched: Scheduler[Any]) -> None:
        self.needs("submit", "execute", "logs", "log_tail")
        app_id = self.submit(sched, self.app("echo first; sleep 2; echo last"))
        seen = list(sched.log_iter(app_id, "r", 0, should_tail=True, regex="first|last"))
        assert seen == ["first\n", "last\n"]
        assert self.wait(sched, app_id).state == AppState.SUCCEEDED

    def test_awkward_arguments_arrive_unchanged(self, sched: Scheduler[Any]) -> None:
        self.needs("submit", "execute", "logs")
        role = self.role("r", _PRINT_ARGS)
        role.args += ["sh", *AWKWARD_ARGS]  # $0, then the awkward ones as $1...
        role.env = {"AWKWARD_ENV": "it's $(x) `y` \"z\""}
        role.args[1] += '; printf "<%s>\\n" "$AWKWARD_ENV"'
        app_id = self.submit(sched, specs.AppDef("awkward", [role]))
        desc = self.wait(sched, app_id)
        assert desc.state == AppState.SUCCEEDED, desc
        streams = None if "log_streams" in self.cannot else Stream.STDOUT
        got = "".join(self.logs(sched, app_id, streams=streams))
        want = "".join(f"<{a}>\n" for a in [*AWKWARD_ARGS, "it's $(x) `y` \"z\""])
        assert got == want

    def test_bad_input_through_the_cli_is_one_line(self, tmp_path: Path) -> None:
        self.needs("cli")
        self.require_backend()
        env = {**os.environ, "TORCHX_HOME": str(tmp_path / "home"), "TORCHXCONFIG": ""}
        env.pop("TORCHXCONFIG")
        p = subprocess.run(
            [sys.executable, "-m", "torchx.cli.main", "run", "--scheduler", self.backend,
             "--scheduler_args", "no_such_option_xyz=1", "utils.echo"],
            capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
        )
        assert p.returncode == 2, p.stderr
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and "no_such_option_xyz" in lines[0], p.stderr
        assert re.match(r"torchx: error: ", lines[0])
