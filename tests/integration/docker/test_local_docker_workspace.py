"""Docker workspaces and the Runner on local_docker: rebuild only on change, never stale,
``--dryrun`` without side effects, push to a registry, dist.ddp across two containers, and the
spec's Runner examples."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import torchx.specs as specs
from tests.backends import require
from torchx.specs import AppState

BUSYBOX = "local/busybox:1"
PYTORCH = "local/python-torch:2.13.0"
REGISTRY = "127.0.0.1:5050"
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

pytestmark = pytest.mark.timeout(180)


def cat_app(*files: str, image: str = BUSYBOX) -> specs.AppDef:
    return specs.AppDef("ws", roles=[specs.Role(
        "r", image=image, entrypoint="sh",
        args=["-c", " ; ".join(f"cat {f} 2>/dev/null || echo no {f}" for f in files)])])


def run_lines(runner: Any, app: specs.AppDef, workspace: str, cfg: dict[str, Any] | None = None
              ) -> list[str]:
    handle = runner.run(app, "local_docker", cfg or {}, workspace=workspace)
    status = runner.wait(handle, wait_interval=0.1)
    assert status is not None and status.state == AppState.SUCCEEDED, status
    return list(runner.log_lines(handle, "r", 0))


def snapshot(client: Any) -> tuple[Any, ...]:
    return (sorted(c["Id"] for c in client.api.containers(all=True)),
            sorted(i["Id"] for i in client.api.images(all=True)),
            sorted(n["Id"] for n in client.api.networks()))


def test_changed_workspace_shows_up_unchanged_is_not_rebuilt(
        runner: Any, client: Any, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "msg.txt").write_text("v1\n")
    (tmp_path / "secret.key").write_text("never shipped\n")
    (tmp_path / ".dockerignore").write_text("*.key\n")
    app = cat_app("msg.txt", "secret.key")
    assert run_lines(runner, app, str(tmp_path)) == ["v1\n", "no secret.key\n"]
    assert "building workspace image" in capfd.readouterr().err
    first = runner.dryrun(app, "local_docker", workspace=str(tmp_path)).app.roles[0].image

    assert run_lines(runner, app, str(tmp_path)) == ["v1\n", "no secret.key\n"]
    assert "building workspace image" not in capfd.readouterr().err  # unchanged: reused

    (tmp_path / "msg.txt").write_text("v2\n")
    assert run_lines(runner, app, str(tmp_path), {"quiet": True}) == ["v2\n", "no secret.key\n"]
    out = capfd.readouterr().err
    assert "building" not in out and "Step" not in out  # quiet
    second = runner.dryrun(app, "local_docker", workspace=str(tmp_path)).app.roles[0].image
    assert first != second and client.images.get(first).id != client.images.get(second).id


def test_one_file_change_builds_one_small_layer_and_deletion_rebuilds_fully(
        runner: Any, client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("TORCHX_CACHE_DIR", str(tmp_path / "cache"))
    proj = tmp_path / "proj"
    proj.mkdir()
    for name in ("a", "b", "c"):
        (proj / f"{name}.txt").write_text(f"{name}1\n")
    app = cat_app("a.txt", "b.txt", "c.txt")
    assert run_lines(runner, app, str(proj)) == ["a1\n", "b1\n", "c1\n"]
    full = runner.dryrun(app, "local_docker", workspace=str(proj)).app.roles[0].image
    capfd.readouterr()

    (proj / "b.txt").write_text("b2\n")
    assert run_lines(runner, app, str(proj)) == ["a1\n", "b2\n", "c1\n"]
    assert "(incremental: 1 of 3 entries changed)" in capfd.readouterr().err
    incr = runner.dryrun(app, "local_docker", workspace=str(proj)).app.roles[0].image
    layers = len(client.images.get(incr).history())
    assert layers == len(client.images.get(full).history()) + 1  # one small layer on top

    (proj / "c.txt").unlink()
    assert run_lines(runner, app, str(proj)) == ["a1\n", "b2\n", "no c.txt\n"]
    assert "incremental" not in capfd.readouterr().err  # a deletion flattens


def test_workspace_changed_after_dryrun_never_runs_stale(runner: Any, tmp_path: Path) -> None:
    (tmp_path / "msg.txt").write_text("at dryrun\n")
    info = runner.dryrun(cat_app("msg.txt"), "local_docker", workspace=str(tmp_path))
    planned = info.app.roles[0].image
    assert "build torchx-workspace:" in repr(info)
    (tmp_path / "msg.txt").write_text("at schedule\n")
    handle = runner.schedule(info)
    assert runner.wait(handle, wait_interval=0.1).state == AppState.SUCCEEDED
    assert list(runner.log_lines(handle, "r", 0)) == ["at schedule\n"]
    assert info.app.roles[0].image != planned


def test_dockerfile_torchx_is_used(runner: Any, tmp_path: Path) -> None:
    (tmp_path / "Dockerfile.torchx").write_text(
        "ARG IMAGE\nFROM $IMAGE\nENV FROM_DOCKERFILE=yes\nWORKDIR /app\nCOPY . .\n")
    (tmp_path / "f.txt").write_text("in app\n")
    app = specs.AppDef("ws", roles=[specs.Role(
        "r", image=BUSYBOX, entrypoint="sh", args=["-c", "echo $FROM_DOCKERFILE $(pwd); cat f.txt"])])
    assert run_lines(runner, app, str(tmp_path)) == ["yes /app\n", "in app\n"]


def test_dryrun_has_no_side_effects(runner: Any, client: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    app = cat_app("a.txt", image="local/not-pulled:1")
    before = snapshot(client)
    info = runner.dryrun(app, "local_docker", {"image_repo": f"{REGISTRY}/torchx-it"},
                         workspace=str(tmp_path))
    text = repr(info)
    assert snapshot(client) == before
    assert f"build {REGISTRY}/torchx-it:" in text and f"push to {REGISTRY}/torchx-it:" in text
    assert "`local/not-pulled:1` is not local: it would be pulled first" in text
    assert "docker run --detach" in text


def test_cli_dryrun_has_no_side_effects(client: Any, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a\n")
    before = snapshot(client)
    out = subprocess.run(
        [sys.executable, "-m", "torchx", "run", "--dryrun", "-s", "local_docker", "--workspace",
         str(tmp_path), "utils.echo", "--image", BUSYBOX, "--msg", "hi"],
        capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert snapshot(client) == before
    assert "# workspace: build torchx-workspace:" in out.stdout and "docker run" in out.stdout


def test_image_repo_builds_and_pushes(runner: Any, tmp_path: Path) -> None:
    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=5).close()
        reachable, why = True, ""
    except OSError as e:
        reachable, why = False, f"no registry at {REGISTRY} ({e}): run scripts/backends/docker.sh start"
    require("docker", reachable, why)
    (tmp_path / "m.txt").write_text(f"pushed {os.getpid()}\n")
    repo = f"{REGISTRY}/torchx-it/ws{os.getpid()}"
    assert run_lines(runner, cat_app("m.txt"), str(tmp_path), {"image_repo": repo, "quiet": True}
                     ) == [f"pushed {os.getpid()}\n"]
    name = f"torchx-it/ws{os.getpid()}"
    with urllib.request.urlopen(f"http://{REGISTRY}/v2/{name}/tags/list") as r:
        tags = json.load(r)["tags"]
    assert len(tags) == 1 and len(tags[0]) == 24
    # clean up: delete the pushed manifest from the test registry
    accept = "application/vnd.docker.distribution.manifest.v2+json"
    url = f"http://{REGISTRY}/v2/{name}/manifests/{tags[0]}"
    req = urllib.request.Request(url, method="HEAD", headers={"Accept": accept})
    with urllib.request.urlopen(req) as r:
        digest = r.headers["Docker-Content-Digest"]
    url = f"http://{REGISTRY}/v2/{name}/manifests/{digest}"
    urllib.request.urlopen(urllib.request.Request(url, method="DELETE")).close()


def test_push_failure_is_one_line_naming_the_fix(runner: Any, client: Any, tmp_path: Path
                                                ) -> None:
    (tmp_path / "m.txt").write_text("m\n")
    repo = f"127.0.0.1:1/torchx-it/ws{os.getpid()}"  # nothing listens on port 1
    try:
        with pytest.raises(specs.TorchXError) as e:
            runner.run(cat_app("m.txt"), "local_docker", {"image_repo": repo, "quiet": True},
                       workspace=str(tmp_path))
        msg = str(e.value)
        assert msg.startswith(f"pushing {repo}:") and "\n" not in msg
        assert f"check that `image_repo` `{repo}` names a registry" in msg
    finally:
        for img in client.images.list(name=repo):
            client.images.remove(img.id, force=True)


def test_missing_workspace_is_one_clear_error(runner: Any, tmp_path: Path) -> None:
    with pytest.raises(specs.TorchXError, match="workspace `.*nope` does not exist"):
        runner.run(cat_app("x"), "local_docker", workspace=str(tmp_path / "nope"))


def test_ddp_two_containers_rendezvous_and_train(runner: Any) -> None:
    handle = runner.run_component(
        "dist.ddp",
        ["--script", "train.py", "-j", "2x1", "--image", PYTORCH, "--cpu", "1", "--memMB", "1024",
         "--epochs", "2"],
        scheduler="local_docker",
        workspace=str(EXAMPLES),
    )
    status = runner.wait(handle, wait_interval=0.2)
    assert status.state == AppState.SUCCEEDED, status
    hosts = {r.hostname for r in status.roles[0].replicas}
    assert len(hosts) == 2
    rank0 = "".join(runner.log_lines(handle, "train", 0))
    rank1 = "".join(runner.log_lines(handle, "train", 1))
    assert "rank 0/2 (node 0) epoch 1" in rank0 and "done: trained on 2 processes" in rank0
    assert "rank 1/2 (node 1) epoch 1" in rank1


# ---- the Runner examples of spec/api_reference.rst, pointed at local_docker


def test_spec_runner_lifecycle_examples(runner: Any) -> None:
    from torchx.specs import macros

    app = specs.AppDef(name="train", roles=[specs.Role(
        name="trainer",
        image=PYTORCH,
        entrypoint="python",
        args=["-c", "import sys, os; print('job', sys.argv[1:], os.environ['IMG_ROOT'] == '')",
              "--job_id", macros.app_id, "--replica", macros.replica_id],
        env={"IMG_ROOT": macros.img_root},
        resource=specs.Resource(cpu=1, gpu=0, memMB=512),
    )])
    app_handle = runner.run(app, scheduler="local_docker", cfg={"quiet": True})
    status = runner.status(app_handle)
    assert status is not None and status.state in (AppState.PENDING, AppState.RUNNING,
                                                   AppState.SUCCEEDED)
    final_status = runner.wait(app_handle, wait_interval=10)
    assert final_status and final_status.is_terminal()
    final_status.raise_for_status()
    lines = list(runner.log_lines(app_handle, role_name="trainer", k=0))
    app_id = app_handle.rsplit("/", 1)[1]
    assert lines == [f"job ['--job_id', '{app_id}', '--replica', '0'] True\n"]
    assert any(a.app_handle == app_handle for a in runner.list("local_docker"))
    described = runner.describe(app_handle)
    assert described is not None and described.roles[0].image == PYTORCH

    sleeper = specs.AppDef(name="sleeper", roles=[specs.Role(
        name="trainer", image=BUSYBOX, entrypoint="sleep", args=["300"])])
    handle = runner.run(sleeper, scheduler="local_docker")
    runner.cancel(handle)   # request cancellation
    assert runner.wait(handle, wait_interval=0.1).state == AppState.CANCELLED
    runner.delete(handle)   # remove from scheduler
    assert runner.status(handle) is None


def test_spec_ddp_appdef_example(runner: Any) -> None:
    # "build the AppDef directly": python -m torch.distributed.run across two replicas
    app = specs.AppDef(name="ddp_train", roles=[specs.Role(
        name="trainer",
        image=PYTORCH,
        entrypoint="bash",
        args=["-c", "python -m torch.distributed.run --nnodes 2 --nproc_per_node 1"
                    " --rdzv_backend c10d --rdzv_endpoint $TORCHX_RANK0_HOST:29500"
                    " --rdzv_id $RDZV train.py --epochs 1"],
        env={"RDZV": specs.macros.app_id},
        num_replicas=2,
        resource=specs.Resource(cpu=1, gpu=0, memMB=1024),
    )])
    app_handle = runner.run(app, scheduler="local_docker", workspace=str(EXAMPLES))
    status = runner.wait(app_handle, wait_interval=0.2)
    assert status.state == AppState.SUCCEEDED, status
    assert "done: trained on 2 processes" in "".join(runner.log_lines(app_handle, "trainer", 0))
