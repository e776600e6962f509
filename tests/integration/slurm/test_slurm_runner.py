"""The Runner examples of the spec (api_reference.rst, basics.rst) pointed at `slurm`, and a
real `dist.ddp -j 2x2` gloo training that rendezvouses across two Slurm nodes.

Deviations from the spec text, all forced by this CPU-only cluster: ``scheduler="slurm"``;
no ``--gpu`` / ``gpu.small`` (no GPUs here: ``cpu.small`` instead); a free ``--rdzv_port`` so a
concurrent local test on 29500 cannot collide.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchx.specs import AppState

REPO = Path(__file__).resolve().parents[3]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def workdir(slurm_env: Path, tmp_path: Path) -> Iterator[Path]:
    """The submit directory (cwd) holding train.py; jobs left behind are scancelled."""
    shutil.copy(REPO / "examples" / "train.py", tmp_path / "train.py")
    yield tmp_path
    ids = subprocess.run(["squeue", "-h", "--me", "-o", "%A %Z"], capture_output=True,
                         text=True).stdout.split("\n")
    mine = [line.split()[0] for line in ids if line.strip().endswith(str(tmp_path))]
    if mine:
        subprocess.run(["scancel", *mine], capture_output=True)


def test_ddp_2x2_trains_across_two_slurm_nodes(workdir: Path) -> None:
    from torchx.runner import get_runner

    with get_runner() as runner:
        app_handle = runner.run_component(
            "dist.ddp",
            ["--script", "train.py", "-j", "2x2", "--rdzv_port", str(_free_port())],
            scheduler="slurm",
            cfg={"partition": "debug", "time": "10"},
        )
        assert app_handle.startswith("slurm://")
        final_status = runner.wait(app_handle, wait_interval=1)
        assert final_status is not None
        if final_status.state != AppState.SUCCEEDED:
            logs = [ln for k in (0, 1) for ln in runner.log_lines(app_handle, "train", k=k)]
            pytest.fail(f"{final_status}\n{''.join(logs[-40:])}")
        final_status.raise_for_status()
        replicas = final_status.roles[0].replicas
        assert len({r.hostname for r in replicas}) == 2, replicas  # two Slurm nodes
        # c10d assigns node ranks, so either replica may hold global rank 0
        text = "".join(runner.log_lines(app_handle, role_name="train", k=0)) + "".join(
            runner.log_lines(app_handle, role_name="train", k=1))
        assert "done: trained on 4 processes" in text, text
        assert all(f"rank {r}/4" in text for r in range(4)), text


def test_runner_lifecycle_recipes(workdir: Path) -> None:
    """basics.rst 'Python API' and api_reference.rst 'Runner Lifecycle', on slurm."""
    import torchx.specs as specs
    from torchx.runner import get_runner
    from torchx.specs import resource

    (workdir / "my_train.py").write_text("import sys\nprint('training', sys.argv[1:])\n")
    app = specs.AppDef(
        name="train",
        roles=[
            specs.Role(
                name="trainer",
                image="my_image:latest",
                entrypoint="python",
                args=["-m", "my_train", "--epochs", "10"],
                resource=resource(h="cpu.small"),
                env={"CUDA_VISIBLE_DEVICES": "0"},
            )
        ],
    )
    with get_runner() as runner:
        app_handle = runner.run(app, scheduler="slurm")
        status = runner.wait(app_handle, wait_interval=1)
        print(status)
        assert status is not None and status.state == AppState.SUCCEEDED, status
        for line in runner.log_lines(app_handle, "trainer", k=0):
            print(line, end="")
        assert list(runner.log_lines(app_handle, role_name="trainer", k=0)) == [
            "training ['--epochs', '10']\n"
        ]
        assert any(a.app_handle == app_handle for a in runner.list("slurm"))

        # cancel and delete a job that would run for minutes
        app.roles[0].entrypoint, app.roles[0].args = "sleep", ["300"]
        app_handle = runner.run(app, scheduler="slurm", cfg={"partition": "debug"})
        status = runner.status(app_handle)  # poll current state
        assert status is not None and status.state in (AppState.PENDING, AppState.RUNNING)
        runner.cancel(app_handle)  # request cancellation (async)
        final = runner.wait(app_handle, wait_interval=1)
        assert final is not None and final.is_terminal() and final.state == AppState.CANCELLED
        with pytest.raises(specs.AppStatusError):
            final.raise_for_status()
        runner.delete(app_handle)  # remove from scheduler
