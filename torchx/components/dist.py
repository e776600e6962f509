"""Distributed builtin components: ``dist.ddp``, ``dist.torchrun`` and ``dist.spmd``.

Each runs ``python -m torch.distributed.run`` (torchrun) with the c10d rendezvous on every
node. One node rendezvouses on ``localhost:0`` (any free port); several nodes meet at the
rank-0 replica's host, read from the environment variable the scheduler names through
``macros.rank0_env``, on ``--rdzv_port`` when given, else on ``$TORCHX_RDZV_PORT`` when the
scheduler sets it (``local_cwd`` gives each job a free port there, so jobs on one machine do
not meet on the same port), else 29500. The command is run by ``bash -c`` so those variables
expand on the node; every user-supplied word is quoted.
"""

from __future__ import annotations

import shlex

import torchx.specs as specs
from torchx.components import IMAGE, SCRIPT_METADATA
from torchx.components.structured_arg import (
    StructuredJArgument,
    StructuredNameArgument,
    _run_name_from,
)

RDZV_PORT_ENV = "TORCHX_RDZV_PORT"
"""The node's rendezvous port when ``--rdzv_port`` is not given (a scheduler may set it)."""
DEFAULT_RDZV_PORT = 29500

_DEBUG_ENV = {
    "CUDA_LAUNCH_BLOCKING": "1",
    "NCCL_DEBUG": "INFO",
    "NCCL_DESYNC_DEBUG": "1",
    "TORCH_DISTRIBUTED_DEBUG": "DETAIL",
    "TORCH_SHOW_CPP_STACKTRACES": "1",
    "LOGLEVEL": "INFO",
}


def _torchrun_app(
    component: str,
    script_args: tuple[str, ...],
    script: str | None,
    m: str | None,
    image: str,
    name: str,
    h: str | None,
    cpu: int,
    gpu: int,
    memMB: int,
    j: str,
    env: dict[str, str] | None,
    max_retries: int,
    rdzv_port: int | None,
    rdzv_backend: str,
    rdzv_conf: str | None,
    mounts: list[str] | None,
    debug: bool,
    tee: int,
) -> specs.AppDef:
    from torchx.specs.builders import ComponentArgsError

    if (script is None) == (m is None):
        raise ComponentArgsError(
            f"{component} needs exactly one of --script FILE or -m MODULE"
            + (" (got both)" if script is not None else "")
        )
    jarg = StructuredJArgument.parse_from(j)
    names = StructuredNameArgument.parse_from(name, m=m, script=script)
    # the role is named after the program (not --name), so `torchx log HANDLE/train/0` is stable
    role_name = _run_name_from(m, script) or "trainer"
    if jarg.nnodes == 1:
        endpoint = "localhost:0"
    else:
        port = str(rdzv_port) if rdzv_port is not None else f"$${{{RDZV_PORT_ENV}:-{DEFAULT_RDZV_PORT}}}"
        endpoint = f"$${{{specs.macros.rank0_env}:=localhost}}:{port}"
    head = ["python", "-m", "torch.distributed.run", "--rdzv_backend", rdzv_backend]
    tail = [
        "--rdzv_id", specs.macros.app_id,
        "--nnodes", jarg.nnodes_rep,
        "--nproc_per_node", str(jarg.nproc_per_node),
        "--tee", str(tee),
        "--role", role_name,
    ]
    if rdzv_conf:
        tail += ["--rdzv_conf", rdzv_conf]
    tail += ["-m", m] if m else [str(script)]
    tail += script_args
    # the endpoint is the one unquoted word: it may hold ${VAR:=localhost} for bash to expand
    line = " ".join([*map(shlex.quote, head), "--rdzv_endpoint", endpoint, *map(shlex.quote, tail)])
    role_env = {"TORCHX_TRACKING_EXPERIMENT_NAME": names.experiment_name, "LOGLEVEL": "WARNING"}
    if debug:
        role_env.update(_DEBUG_ENV)
    role_env.update(env or {})
    try:
        mount_list = specs.parse_mounts(mounts) if mounts else []
    except ValueError as e:
        raise ComponentArgsError(f"bad --mounts: {e}") from None
    return specs.AppDef(
        name=names.run_name,
        roles=[
            specs.Role(
                name=role_name,
                image=image,
                min_replicas=jarg.min_nnodes if jarg.min_nnodes != jarg.nnodes else None,
                entrypoint="bash",
                args=["-c", line],
                env=role_env,
                num_replicas=jarg.nnodes,
                max_retries=max_retries,
                resource=specs.resource(cpu=cpu, gpu=gpu, memMB=memMB, h=h),
                port_map={"c10d": DEFAULT_RDZV_PORT if rdzv_port is None else rdzv_port},
                mounts=mount_list,
                metadata={SCRIPT_METADATA: script} if script else {},
            )
        ],
    )


def ddp(
    *script_args: str,
    script: str | None = None,
    m: str | None = None,
    image: str = IMAGE,
    name: str = "/",
    h: str | None = None,
    cpu: int = 2,
    gpu: int = 0,
    memMB: int = 1024,
    j: str = "1x2",
    env: dict[str, str] | None = None,
    max_retries: int = 0,
    rdzv_port: int | None = None,
    rdzv_backend: str = "c10d",
    rdzv_conf: str | None = None,
    mounts: list[str] | None = None,
    debug: bool = False,
    tee: int = 3,
) -> specs.AppDef:
    """Distributed data parallel training with torchrun, on one node or several.

    ``torchx run dist.ddp -j 2x4 --script train.py --epochs 3``: 2 nodes x 4 processes each;
    everything after the script (``--epochs 3``) goes to the script.

    Args:
        script_args: arguments to the script or module
        script: the training script to run
        m: the training module to run (instead of --script)
        image: the image to run in
        name: ``experiment/run``; either part may be empty (the run defaults to the script's
            name, the experiment to ``default-experiment``)
        h: a named resource per node (e.g. ``gpu.small``); overrides cpu, gpu and memMB
        cpu: CPUs per node
        gpu: GPUs per node
        memMB: memory per node in MB
        j: ``N`` (N processes on one node), ``NxM`` (N nodes x M processes) or ``MIN:MAXxM``
            (elastic: MIN to MAX nodes)
        env: environment variables, ``K1=V1,K2=V2``
        max_retries: how many times to retry the job when a node fails
        rdzv_port: the rendezvous port on the rank-0 node (several nodes only; default:
            $TORCHX_RDZV_PORT, a free port local_cwd picks per job, else 29500)
        rdzv_backend: the torchrun rendezvous backend
        rdzv_conf: extra rendezvous settings, ``k1=v1,k2=v2``
        mounts: mounts, e.g. ``type=bind,src=/data,dst=/data,readonly``
        debug: turn on distributed debug logging (NCCL, c10d, CUDA)
        tee: which of stdout (1) / stderr (2) / both (3) torchrun copies to the log files
    """
    return _torchrun_app("dist.ddp", **locals())


def torchrun(
    *script_args: str,
    script: str | None = None,
    m: str | None = None,
    image: str = IMAGE,
    name: str = "/",
    h: str | None = None,
    cpu: int = 2,
    gpu: int = 0,
    memMB: int = 1024,
    j: str = "1x1",
    env: dict[str, str] | None = None,
    max_retries: int = 0,
    rdzv_port: int | None = None,
    rdzv_backend: str = "c10d",
    rdzv_conf: str | None = None,
    mounts: list[str] | None = None,
    debug: bool = False,
    tee: int = 3,
) -> specs.AppDef:
    """Any torchrun job: ``torchx run dist.torchrun -j 2x2 -m my.module --lr 0.1``.

    The same command as dist.ddp, one process per node by default.

    Args:
        script_args: arguments to the script or module
        script: the script to run
        m: the module to run (instead of --script)
        image: the image to run in
        name: ``experiment/run``; either part may be empty
        h: a named resource per node (e.g. ``gpu.small``); overrides cpu, gpu and memMB
        cpu: CPUs per node
        gpu: GPUs per node
        memMB: memory per node in MB
        j: ``N`` (N processes on one node), ``NxM`` (N nodes x M processes) or ``MIN:MAXxM``
            (elastic: MIN to MAX nodes)
        env: environment variables, ``K1=V1,K2=V2``
        max_retries: how many times to retry the job when a node fails
        rdzv_port: the rendezvous port on the rank-0 node (several nodes only; default:
            $TORCHX_RDZV_PORT, a free port local_cwd picks per job, else 29500)
        rdzv_backend: the torchrun rendezvous backend
        rdzv_conf: extra rendezvous settings, ``k1=v1,k2=v2``
        mounts: mounts, e.g. ``type=bind,src=/data,dst=/data,readonly``
        debug: turn on distributed debug logging (NCCL, c10d, CUDA)
        tee: which of stdout (1) / stderr (2) / both (3) torchrun copies to the log files
    """
    return _torchrun_app("dist.torchrun", **locals())


def spmd(
    *script_args: str,
    script: str | None = None,
    m: str | None = None,
    image: str = IMAGE,
    name: str = "/",
    h: str | None = None,
    cpu: int = 2,
    gpu: int = 0,
    memMB: int = 1024,
    j: str = "1x1",
    env: dict[str, str] | None = None,
    max_retries: int = 0,
    rdzv_port: int | None = None,
    rdzv_backend: str = "c10d",
    rdzv_conf: str | None = None,
    mounts: list[str] | None = None,
    debug: bool = False,
    tee: int = 3,
) -> specs.AppDef:
    """Single program, multiple data: one process per GPU on each node, e.g.
    ``torchx run dist.spmd -j 2x8 -h aws_p4d.24xlarge --name exp/trial_1 --script train.py``.

    Args:
        script_args: arguments to the script or module
        script: the script to run
        m: the module to run (instead of --script)
        image: the image to run in
        name: ``experiment/run``; either part may be empty
        h: a named resource per node (e.g. ``aws_p4d.24xlarge``); overrides cpu, gpu and memMB
        cpu: CPUs per node
        gpu: GPUs per node
        memMB: memory per node in MB
        j: ``N`` (N processes on one node), ``NxM`` (N nodes x M processes, M usually the GPU
            count) or ``MIN:MAXxM`` (elastic: MIN to MAX nodes)
        env: environment variables, ``K1=V1,K2=V2``
        max_retries: how many times to retry the job when a node fails
        rdzv_port: the rendezvous port on the rank-0 node (several nodes only; default:
            $TORCHX_RDZV_PORT, a free port local_cwd picks per job, else 29500)
        rdzv_backend: the torchrun rendezvous backend
        rdzv_conf: extra rendezvous settings, ``k1=v1,k2=v2``
        mounts: mounts, e.g. ``type=bind,src=/data,dst=/data,readonly``
        debug: turn on distributed debug logging (NCCL, c10d, CUDA)
        tee: which of stdout (1) / stderr (2) / both (3) torchrun copies to the log files
    """
    return _torchrun_app("dist.spmd", **locals())

