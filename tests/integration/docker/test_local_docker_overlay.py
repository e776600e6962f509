"""A role's ``docker``/``container`` overlay reaches the real container (real Docker Engine)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import torchx.specs as specs
from torchx.schedulers.docker_scheduler import DockerScheduler
from torchx.specs.overlays import set_overlay

BUSYBOX = "local/busybox:1"

pytestmark = pytest.mark.timeout(120)


def test_overlay_sets_container_options(sched: DockerScheduler, client: Any) -> None:
    role = specs.Role("r", image=BUSYBOX, entrypoint="sh", args=["-c", "pwd"], num_replicas=2)
    set_overlay(role, "docker", "container",
                {"working_dir": "/tmp", "labels": {"team": "r${replica_id}"}})
    app = specs.AppDef("ovl", roles=[role], metadata={"team": "ml"})
    info = sched.submit_dryrun(app, {})
    assert "# overlay (containers.create kwargs)" in repr(info)
    app_id = sched.schedule(info)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        desc = sched.describe(app_id)
        if desc is not None and desc.state.is_terminal():
            break
        time.sleep(0.1)
    assert desc is not None and desc.state == specs.AppState.SUCCEEDED
    assert "".join(sched.log_iter(app_id, "r", 0)).strip() == "/tmp"
    found = client.api.containers(
        all=True, filters={"label": f"torchx.pytorch.org/app-id={app_id}"})
    teams = sorted(c["Labels"]["team"] for c in found)
    assert teams == ["r0", "r1"]  # macros filled per replica, torchx labels kept
    assert (desc.name, desc.metadata) == ("ovl", {"team": "ml"})  # describe: as submitted
