"""The contract suite run against an in-memory scheduler that cannot execute anything: proof
that a backend without a real server here (a fake Kubernetes API server, LSF shims) can inherit
the suite, declare what it cannot do, and still be held to everything else.

This fake exists only to test the suite itself; it is not a stand-in for any real backend.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.contract import SchedulerContract
from torchx.schedulers.api import DescribeAppResponse, ListAppResponse, Scheduler, StructuredOpts
from torchx.specs import AppDef, AppDryRunInfo, AppState, CfgVal, runopts


@dataclass
class MemOpts(StructuredOpts):
    queue: str = "default"
    """Queue to submit to."""
    priority: int = 0
    """Higher runs first."""


@dataclass
class MemRequest:
    name: str
    queue: str
    commands: list[list[str]] = field(default_factory=list)

    def __repr__(self) -> str:
        lines = [f"# memory app {self.name!r} on queue {self.queue}"]
        lines += [" ".join(cmd) for cmd in self.commands]
        return "\n".join(lines) + "\n"


class MemScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Keeps submitted apps in a dict; nothing ever runs (they stay SUBMITTED until cancelled)."""

    _ids = itertools.count()

    def __init__(self, session_name: str) -> None:
        super().__init__("contract_memory", session_name)
        self.apps: dict[str, tuple[MemRequest, AppState]] = {}

    def _run_opts(self) -> runopts:
        return MemOpts.as_runopts()

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[MemRequest]:
        opts = MemOpts.from_cfg(cfg)
        cmds = [[r.entrypoint, *r.args] for r in app.roles for _ in range(r.num_replicas)]
        return AppDryRunInfo(MemRequest(app.name, opts.queue, cmds), repr)

    def schedule(self, dryrun_info: AppDryRunInfo[MemRequest]) -> str:
        app_id = f"mem-{next(self._ids)}"
        self.apps[app_id] = (dryrun_info.request, AppState.SUBMITTED)
        return app_id

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        if app_id not in self.apps:
            return None
        return DescribeAppResponse(app_id=app_id, state=self.apps[app_id][1])

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        return [ListAppResponse(app_id=a, state=s,
                                app_handle=f"{self.backend}://{self.session_name}/{a}")
                for a, (_, s) in self.apps.items()]

    def _cancel_existing(self, app_id: str) -> None:
        req, _ = self.apps[app_id]
        self.apps[app_id] = (req, AppState.CANCELLED)

    def _delete_existing(self, app_id: str) -> None:
        del self.apps[app_id]


class TestContractOnAMemoryScheduler(SchedulerContract):
    backend = "contract_memory"
    unknown_app_id = "mem-does-not-exist"
    poll = 0.01
    cannot = {
        "execute": "an in-memory fake: nothing runs",
        "logs": "an in-memory fake: nothing runs, so there is no output",
        "cli": "not registered: the CLI cannot find it",
    }

    def make_scheduler(self, session_name: str) -> Scheduler[Any]:
        return MemScheduler(session_name)

    def test_registered_under_its_name(self) -> None:
        """Not registered (it exists only to test the suite); the suite's own check is that
        `cannot` is well formed, which the inherited test does."""
        assert self.backend not in __import__("torchx.schedulers").schedulers.get_scheduler_names()


def test_declared_gaps_skip_with_the_reason() -> None:
    import pytest

    suite = TestContractOnAMemoryScheduler()
    with pytest.raises(pytest.skip.Exception, match=r"contract_memory declares it cannot `execute`"
                                                    r" \(.*\): an in-memory fake: nothing runs"):
        suite.needs("submit", "execute")
    suite.needs("submit", "list")  # declared able: no skip


def test_the_golden_dryrun_of_the_fake_is_its_repr() -> None:
    suite = TestContractOnAMemoryScheduler()
    info = MemScheduler("s").submit_dryrun(suite.golden_app(), {"priority": 3})
    assert isinstance(info.request, MemRequest) and info.cfg["priority"] == 3
    assert repr(info).startswith("# memory app 'contract-golden' on queue default\n")
