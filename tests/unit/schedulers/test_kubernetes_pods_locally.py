"""The pods of a `dist.ddp -j 2x1` app, run here as processes: each container's command and
env are expanded as the kubelet would (``kubelet_expand``), the downward-API/plugin values a
cluster provides are filled in, and the two "pods" must rendezvous through torchrun and
all-reduce. No cluster can run on these machines; what this checks is that the generated
commands (quoting, ``$$`` escaping, the rank-0 variable each mode names) really work.

Cluster DNS names cannot resolve here, so the one value that names another pod's host
(``TORCHX_RANK0_HOST`` / Volcano's ``VC_<ROLE0>_0_HOSTS``) is 127.0.0.1 instead.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.unit.schedulers.test_kubernetes_manifests import kubelet_expand
from torchx.schedulers import kubernetes_scheduler as k8s

TRAIN = """
import torch, torch.distributed as dist
dist.init_process_group("gloo")
t = torch.tensor([dist.get_rank() + 1.0])
dist.all_reduce(t)
print(f"rank {dist.get_rank()} of {dist.get_world_size()} sum {t.item():g}", flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pod_env(c: dict[str, Any], index: int, cluster: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for e in c["env"]:
        if "value" in e:
            env[e["name"]] = kubelet_expand(e["value"], env)
        else:  # the downward API: the Indexed Job's completion index
            assert "job-completion-index" in e["valueFrom"]["fieldRef"]["fieldPath"]
            env[e["name"]] = str(index)
    for k, v in cluster.items():  # a DNS name of another pod -> 127.0.0.1; "localhost" stays
        if k.startswith("VC_") or (k in env and env[k] != "localhost"):
            env[k] = v
    return env


@pytest.mark.parametrize("mode", ["volcano", "default-scheduler"])
def test_ddp_pods_rendezvous(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch")
    from torchx.components.dist import ddp

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    script = tmp_path / "train.py"
    script.write_text(TRAIN)
    app = ddp(script=str(script), j="2x1", rdzv_port=free_port())
    req = k8s.create_scheduler("t").submit_dryrun(
        app, {"scheduler_name": mode, "validate_spec": False}).request
    templates = list(k8s._templates(req.resources))
    containers = [t["spec"]["containers"][0] for t in templates]
    if mode != "volcano":  # one template, two completion indexes
        containers = containers * 2
    assert len(containers) == 2
    cluster = {"TORCHX_RANK0_HOST": "127.0.0.1", "VC_TRAIN_0_HOSTS": "127.0.0.1"}
    base = {"PATH": f"{os.path.dirname(sys.executable)}:/usr/bin:/bin", "HOME": str(tmp_path)}
    procs = []
    for i, c in enumerate(containers):
        env = pod_env(c, i, cluster)
        if mode == "volcano":  # rank 0 of a Volcano job finds itself as localhost
            assert (env["TORCHX_RANK0_HOST"] == "localhost") == (i == 0)
        argv = [kubelet_expand(a, env) for a in c["command"]]
        procs.append(subprocess.Popen(argv, env={**base, **env}, cwd=tmp_path,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=600)
        outs.append(out)
        assert p.returncode == 0, out[-3000:]
    text = "".join(outs)
    assert "rank 0 of 2 sum 3" in text and "rank 1 of 2 sum 3" in text, text[-3000:]
