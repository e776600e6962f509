"""Slurm: run an AppDef as one heterogeneous ``sbatch`` job, one component per replica.

Requires the Slurm client commands (``sbatch``, ``squeue``, ``scancel``, ``scontrol``, ``sinfo``,
and ``sacct`` where accounting is on) on PATH and a filesystem shared with the nodes. No Python
extra is needed. Layout of the generated script:

* one ``#SBATCH`` block per replica (``--nodes=1 --ntasks-per-node=1``, cpus, mem, gpus, run
  options), separated by ``#SBATCH hetjob``; job-level options (comment, mail, chdir, requeue)
  go in the first block;
* ``TORCHX_APP_ID`` (the job id) and ``TORCHX_RANK0_HOST`` (first host of replica 0, which
  ``macros.rank0_env`` names) are exported; each replica's command is an exported shell function
  with every user string single-quoted, and one ``srun`` starts them all, ``:``-separated, as
  ``bash -c torchx_replica_<i>`` -- so srun never sees a user argument (it would split on ``:``);
* logs go to ``slurm-<jobid>-<role>-<replica>.out/.err`` in the job's working directory
  (``job_dir`` or the submit directory), appended across requeues;
* with ``max_retries`` the job is ``--requeue``-able and the script requeues itself on failure
  while ``SLURM_RESTART_COUNT`` < max_retries (Slurm delays a requeued job by ``cred_expire``).

``--mem`` is left out for a replica whose partition's smallest node reports less memory than
requested (Slurm would reject the job); GPUs map to ``--gpus-per-task`` on Slurm >= 20.11 and to
``--gpus-per-node`` before. Both facts are read lazily (``sinfo``, ``sbatch --version``; read-only)
when the request is built, so ``--dryrun`` shows exactly what would be submitted.
``Role.image`` is not used: jobs run from the shared filesystem.
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
from typing import Any

from torchx.schedulers.api import (
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    StructuredOpts,
    filter_regex,
)
from torchx.specs.api import (
    MISSING,
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    InvalidRunConfigException,
    ReplicaStatus,
    Role,
    RoleStatus,
    TorchXError,
    UnknownAppException,
    macros,
    make_app_handle,
    runopts,
)

# --------------------------------------------------------------------------- states

SLURM_STATES: dict[str, AppState] = {
    **dict.fromkeys(["PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD",
                     "RESV_DEL_HOLD", "SUSPENDED", "STOPPED"], AppState.PENDING),
    **dict.fromkeys(["RUNNING", "COMPLETING", "RESIZING", "SIGNALING", "STAGE_OUT"],
                    AppState.RUNNING),
    "COMPLETED": AppState.SUCCEEDED,
    **dict.fromkeys(["CANCELLED", "REVOKED"], AppState.CANCELLED),
    **dict.fromkeys(["FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE",
                     "OUT_OF_MEMORY", "LAUNCH_FAILED", "SPECIAL_EXIT"], AppState.FAILED),
}
"""Every Slurm job state -> AppState (suspended/stopped jobs wait, so they count as PENDING)."""

RANK0_ENV = "TORCHX_RANK0_HOST"
APP_ID_ENV = "TORCHX_APP_ID"
_APP_ID = "\x00app_id\x00"  # stands for the job id until quoting turns it into "$TORCHX_APP_ID"


def slurm_state(state: str) -> AppState:
    """AppState of a Slurm state name (``CANCELLED by 0`` and unknown names handled)."""
    return SLURM_STATES.get(state.split()[0].upper() if state.strip() else "", AppState.UNKNOWN)


# --------------------------------------------------------------------------- options


@dataclass
class SlurmOpts(StructuredOpts):
    partition: str | None = None
    """Partition to submit to (the cluster's default partition if unset)."""
    time: str | None = None
    """Time limit, e.g. `30`, `1:00:00`, `2-00:00:00` (the partition's default if unset)."""
    account: str | None = None
    """Account to charge."""
    qos: str | None = None
    """Quality of service."""
    comment: str | None = None
    """Comment attached to the job (shown by squeue/sacct)."""
    constraint: str | None = None
    """Node features the job needs, e.g. `a100&ib`."""
    mail_user: str | None = field(default=None, metadata={"key": "mail-user"})
    """Where Slurm sends mail about the job."""
    mail_type: str | None = field(default=None, metadata={"key": "mail-type"})
    """Which events send mail, e.g. `END,FAIL`."""
    job_dir: str | None = None
    """Directory the job runs in and writes its logs to; the workspace is copied there at submit
    time (honouring `.torchxignore`). The submit directory if unset."""


# --------------------------------------------------------------------------- request


@dataclass
class SlurmReplica:
    """One heterogeneous-job component: the ``#SBATCH`` options and the command of a replica."""

    role: str
    replica_id: int
    sbatch: list[str]
    srun: list[str]
    command: str
    notes: list[str] = field(default_factory=list)


@dataclass
class SlurmBatchRequest:
    """What ``schedule`` submits: ``sbatch --parsable`` with ``script`` on stdin."""

    app_name: str
    replicas: list[SlurmReplica]
    max_retries: int = 0
    job_dir: str | None = None
    workspaces: list[tuple[str, str]] = field(default_factory=list)

    @property
    def cmd(self) -> list[str]:
        return ["sbatch", "--parsable"]

    def materialize(self) -> str:
        """The sbatch script."""
        lines = ["#!/bin/bash"]
        for i, rep in enumerate(self.replicas):
            if i:
                lines.append("#SBATCH hetjob")
            lines += [f"#SBATCH {opt}" for opt in rep.sbatch]
        lines += [
            "",
            f"# torchx: app {_q(self.app_name)}, {len(self.replicas)} replica(s), one component each",
            *[f"# {n}" for rep in self.replicas for n in rep.notes],
            f'export {APP_ID_ENV}="$SLURM_JOB_ID"',
            f'export {RANK0_ENV}="$(scontrol show hostnames'
            ' "${SLURM_JOB_NODELIST_HET_GROUP_0:-$SLURM_JOB_NODELIST}" | head -n 1)"',
            "",
        ]
        fns = [f"torchx_replica_{i}" for i in range(len(self.replicas))]
        for fn, rep in zip(fns, self.replicas, strict=True):
            lines += [f"# {rep.role}[{rep.replica_id}]", f"{fn}() {{", f"  {rep.command}", "}"]
        lines += ["export -f " + " ".join(fns), ""]
        parts = []
        for i, (fn, rep) in enumerate(zip(fns, self.replicas, strict=True)):
            sep = "  " if i == 0 else "  : "
            parts.append(sep + " ".join([*rep.srun, "bash", "-c", fn]))
        lines.append("srun \\\n" + " \\\n".join(parts))
        lines.append("rc=$?")
        if self.max_retries > 0:
            lines += [
                f'if [ "$rc" -ne 0 ] && [ "${{SLURM_RESTART_COUNT:-0}}" -lt {self.max_retries} ]; then',
                '  scontrol requeue "$SLURM_JOB_ID" && exit "$rc"',
                "fi",
            ]
        lines.append('exit "$rc"')
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        script = self.materialize()
        eof = "TORCHX_EOF"
        while eof in script:
            eof += "_"
        ws = [f"# workspace: copy {_q(s)} -> {_q(d)} at submit" for s, d in self.workspaces]
        return "\n".join([*ws, f"{' '.join(self.cmd)} <<'{eof}'", script + eof]) + "\n"


# --------------------------------------------------------------------------- pure functions


def _q(s: str) -> str:
    """Shell-quote ``s``; the app-id placeholder becomes ``"$TORCHX_APP_ID"`` outside quotes."""
    pieces = s.split(_APP_ID)
    out = '"$' + APP_ID_ENV + '"'
    return out.join(shlex.quote(p) if p else "" for p in pieces) or "''"


def _opt_value(name: str, val: str) -> str:
    """An ``#SBATCH`` option value, double-quoted when needed; newlines/quotes are rejected."""
    if "\n" in val or '"' in val or "\x00" in val:
        raise InvalidRunConfigException(
            f"`{name}` value {val!r} cannot contain newlines or double quotes (sbatch limitation)"
        )
    return f'"{val}"' if re.search(r"\s|[#\\$`']", val) else val


def _version(text: str) -> tuple[int, int] | None:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def build_request(
    app: AppDef,
    opts: SlurmOpts,
    version: tuple[int, int] | None = None,
    partition_mem: Mapping[str, int] | None = None,
) -> SlurmBatchRequest:
    """``app`` as a heterogeneous sbatch request (pure: cluster facts are passed in).

    ``partition_mem`` maps partition name (``""`` = default partition) to its smallest node's
    memory in MB; ``version`` is Slurm's (major, minor); None means "assume current".
    """
    if not app.roles or all(r.num_replicas < 1 for r in app.roles):
        raise InvalidRunConfigException(f"app `{app.name}` has no replicas to run")
    part = opts.partition or ""
    job_dir = os.path.abspath(os.path.expanduser(opts.job_dir)) if opts.job_dir else None
    mem_limit = (partition_mem or {}).get(part)
    gpu_flag = "--gpus-per-node" if version and version < (20, 11) else "--gpus-per-task"
    common = [
        f"--{k}={_opt_value(k, v)}"
        for k, v in (
            ("partition", opts.partition), ("account", opts.account), ("qos", opts.qos),
            ("time", opts.time), ("constraint", opts.constraint),
        )
        if v
    ]
    replicas: list[SlurmReplica] = []
    workspaces: list[tuple[str, str]] = []
    for role in app.roles:
        if role.workspace and job_dir:
            for src, dst in role.workspace.projects.items():
                pair = (os.path.abspath(os.path.expanduser(src)), os.path.join(job_dir, dst))
                if pair not in workspaces:
                    workspaces.append(pair)
        for k in range(role.num_replicas):
            values = macros.Values(
                img_root=role.image, app_id=_APP_ID, replica_id=str(k), rank0_env=RANK0_ENV
            )
            r = values.apply(role)
            name = f"{role.name}-{k}"
            sbatch = [f"--job-name={_opt_value('role name', name)}", "--nodes=1",
                      "--ntasks-per-node=1"]
            srun: list[str] = []
            notes: list[str] = []
            res = role.resource
            if res.cpu > 0:
                sbatch.append(f"--cpus-per-task={res.cpu}")
                srun.append(f"--cpus-per-task={res.cpu}")
            if res.memMB > 0:
                if mem_limit is not None and mem_limit < res.memMB:
                    notes.append(
                        f"{name}: --mem omitted, partition {part or '(default)'} nodes report"
                        f" {mem_limit} MB < {res.memMB} MB requested"
                    )
                else:
                    sbatch.append(f"--mem={res.memMB}M")
            if res.gpu > 0:
                sbatch.append(f"{gpu_flag}={res.gpu}")
            sbatch += common
            if not replicas:
                sbatch += _job_level(opts, job_dir, app.roles)
            log = f"slurm-\"$SLURM_JOB_ID\"-{_q(name)}"
            srun += [f"--output={log}.out", f"--error={log}.err", "--open-mode=append",
                     "--kill-on-bad-exit=1"]
            if r.entrypoint in (MISSING, ""):
                raise InvalidRunConfigException(f"role `{role.name}` has no entrypoint")
            env = [_q(f"{key}={val}") for key, val in r.env.items()]
            argv = [_q(a) for a in [r.entrypoint, *r.args]]
            command = "exec " + " ".join((["env", *env] if env else []) + argv)
            replicas.append(SlurmReplica(role.name, k, sbatch, srun, command, notes))
    retries = max(r.max_retries for r in app.roles)
    return SlurmBatchRequest(app.name, replicas, retries, job_dir, workspaces)


def _job_level(opts: SlurmOpts, job_dir: str | None, roles: Iterable[Any]) -> list[str]:
    out = [
        f"--{k}={_opt_value(k, v)}"
        for k, v in (
            ("comment", opts.comment), ("mail-user", opts.mail_user),
            ("mail-type", opts.mail_type), ("chdir", job_dir),
        )
        if v
    ]
    if any(r.max_retries > 0 for r in roles):
        out.append("--requeue")
    return out


@dataclass
class _Component:
    """One het-job component as any Slurm source reports it."""

    app_id: str
    offset: int
    name: str
    state: str
    reason: str = ""
    host: str = ""
    exit_code: int = 0
    step_exit: int = 0
    restarts: int = 0
    workdir: str = ""
    submitted: float | None = None
    uid: int | None = None


def _wait_status(raw: Any) -> int:
    """A wait status (``3 << 8``) or plain code as an exit code; signals as 128+N."""
    if isinstance(raw, dict):  # Slurm >= 23: {"status": ..., "return_code": N, "signal": ...}
        sig = raw.get("signal")
        sig_id = _num(sig.get("signal_id")) if isinstance(sig, dict) else None
        return 128 + int(sig_id) if sig_id else int(_num(raw.get("return_code")) or 0)
    code = int(raw or 0)
    if code > 255:
        return (code >> 8) & 0xFF
    return 128 + (code & 0x7F) if code & 0x7F else code


def _state_name(raw: Any) -> str:
    if isinstance(raw, dict):
        raw = raw.get("current", "")
    if isinstance(raw, list):
        raw = raw[0] if raw else ""
    return str(raw)


def parse_squeue(data: Mapping[str, Any]) -> list[_Component]:
    """Components from ``squeue --json`` (22.05 and later layouts).

    Slurm 22.05 ignores every filter (``--jobs``, ``--me``, ``--states``) when printing JSON,
    so callers filter the components themselves.
    """
    comps = []
    for j in data.get("jobs", []):
        het = int(_num(j.get("het_job_id")) or 0)
        comps.append(_Component(
            app_id=str(het or j["job_id"]), offset=int(_num(j.get("het_job_offset")) or 0),
            name=str(j.get("name", "")), state=_state_name(j.get("job_state")),
            reason=str(j.get("state_reason", "")), host=str(j.get("nodes") or ""),
            exit_code=_wait_status(_num(j.get("exit_code"))),
            step_exit=_wait_status(_num(j.get("derived_exit_code"))),
            restarts=int(_num(j.get("restart_cnt")) or 0),
            workdir=str(j.get("current_working_directory", "")),
            submitted=_num(j.get("submit_time")), uid=_num(j.get("user_id")),
        ))
    return comps


def _num(v: Any) -> Any:
    """Slurm >= 23 wraps numbers as ``{"set": true, "number": N}``."""
    if isinstance(v, dict) and "number" in v:
        return v["number"] if v.get("set", True) else None
    return v


SACCT_FORMAT = "JobID,State,ExitCode,DerivedExitCode,NodeList,Submit,WorkDir,JobName"


def _code(text: str) -> int:
    """``code:signal`` (sacct, jobcomp) as an exit code; a signal as 128+N."""
    code, _, sig = text.strip().partition(":")
    return 128 + int(sig) if sig.strip("0 ") else int(code or 0)


def parse_sacct(text: str) -> list[_Component]:
    """Components from ``sacct -P -n -X --duplicates --format=SACCT_FORMAT``.

    (``sacct --json`` in 22.05 reports every exit code as 0, so the text form is used.) A
    requeued job has one record per run: the last wins and the others count as restarts.
    """
    comps: dict[tuple[str, int], _Component] = {}
    for line in text.splitlines():
        f = line.split("|", 6)
        if len(f) < 7 or not f[0]:
            continue
        job, _, off = f[0].partition("+")
        workdir, _, name = f[6].partition("|")
        try:
            submitted: float | None = datetime.fromisoformat(f[5]).timestamp()
        except ValueError:
            submitted = None
        prev = comps.get((job, int(off or 0)))
        comps[(job, int(off or 0))] = _Component(
            app_id=job, offset=int(off or 0), name=name, state=f[1],
            host="" if f[4] == "None assigned" else f[4],
            exit_code=_code(f[2]), step_exit=_code(f[3]), workdir=workdir, submitted=submitted,
            restarts=prev.restarts + 1 if prev else 0,
        )
    return list(comps.values())


_JOBCOMP_FIELD = re.compile(r"(?:^| )([A-Za-z/_]+)=")


def parse_jobcomp(text: str, app_ids: set[str]) -> list[_Component]:
    """Components of ``app_ids`` from a ``jobcomp/filetxt`` log (``Key=value`` per line)."""
    comps = []
    for line in text.splitlines():
        keys = list(_JOBCOMP_FIELD.finditer(line))
        f = {m.group(1): line[m.end(): keys[i + 1].start() if i + 1 < len(keys) else None]
             for i, m in enumerate(keys)}
        app_id = f.get("HetJobId", "0").strip()
        app_id = f.get("JobId", "").strip() if app_id in ("", "0") else app_id
        if app_id not in app_ids:
            continue
        comps.append(_Component(
            app_id=app_id, offset=int(f.get("HetJobOffset", "0") or 0), name=f.get("Name", ""),
            state=f.get("JobState", ""), host=f.get("NodeList", "").strip(),
            exit_code=_code(f.get("ExitCode", "0:0")),
            step_exit=_code(f.get("DerivedExitCode", "0:0")), workdir=f.get("WorkDir", "").strip(),
        ))
    return comps


def to_describe(app_id: str, comps: list[_Component]) -> DescribeAppResponse:
    """One app's response from its components: per-replica state and host, reason in msg."""
    comps = sorted({c.offset: c for c in comps}.values(), key=lambda c: c.offset)
    leader = comps[0]
    state = slurm_state(leader.state)
    msg = leader.state
    if state == AppState.PENDING and leader.reason and leader.reason != "None":
        msg = f"PENDING: {leader.reason}"
    roles: dict[str, RoleStatus] = {}
    failed = []
    for c in comps:
        role, _, k = c.name.rpartition("-")
        role, rid = (role, int(k)) if k.isdigit() and role else (c.name, c.offset)
        rstate = slurm_state(c.state)
        if rstate in (AppState.FAILED, AppState.SUCCEEDED):  # the job's state is shared: use
            rstate = AppState.FAILED if c.step_exit else AppState.SUCCEEDED  # the step's own
        if c.step_exit and rstate == AppState.FAILED:
            failed.append(f"{role}[{rid}] exit code {c.step_exit}")
        roles.setdefault(role, RoleStatus(role, [])).replicas.append(
            ReplicaStatus(rid, rstate, role, c.host)
        )
    if state == AppState.FAILED:
        msg = f"{leader.state}: exit code {leader.exit_code}"
        if failed:
            msg += " (" + ", ".join(failed) + ")"
    return DescribeAppResponse(
        app_id=app_id, state=state, num_restarts=leader.restarts, msg=msg,
        roles_statuses=list(roles.values()),
        roles=[Role(r.role, image="", num_replicas=len(r.replicas)) for r in roles.values()],
    )


# --------------------------------------------------------------------------- scheduler


class SlurmCommandError(TorchXError):
    """A Slurm command failed or is missing; the message carries Slurm's own words."""

    def __init__(self, msg: str, detail: str = "") -> None:
        super().__init__(msg)
        self.detail = detail or msg


class SlurmScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Submits with ``sbatch``; reads ``squeue``/``sacct``/the jobcomp log; ``scancel`` cancels.

    Every Slurm call goes through :py:meth:`_run`; ``calls`` counts them.
    """

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__("slurm", session_name)
        self.calls = 0
        self._config: dict[str, str] | None = None
        self._facts: tuple[tuple[int, int] | None, dict[str, int]] | None = None

    def _run(self, cmd: list[str], input: str | None = None) -> str:
        """Run a Slurm command; its stdout, or SlurmCommandError with its stderr."""
        self.calls += 1
        try:
            p = subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            raise SlurmCommandError(
                f"Slurm command `{cmd[0]}` not found on PATH: run torchx where the Slurm client"
                " tools are installed (a login node) or add them to PATH"
            ) from None
        if p.returncode != 0:
            err = (p.stderr.strip() or p.stdout.strip() or f"exit code {p.returncode}")
            raise SlurmCommandError(f"`{' '.join(cmd[:2])}` failed: {err}", err)
        return p.stdout

    def _run_opts(self) -> runopts:
        return SlurmOpts.as_runopts()

    # ---- submitting

    def _cluster_facts(self) -> tuple[tuple[int, int] | None, dict[str, int]]:
        """(Slurm version, partition -> smallest node memory MB); empty when Slurm is absent."""
        if self._facts is None:
            version: tuple[int, int] | None = None
            mem: dict[str, int] = {}
            try:
                version = _version(self._run(["sbatch", "--version"]))
                for line in self._run(["sinfo", "-h", "-o", "%P %m"]).splitlines():
                    name, _, size = line.strip().partition(" ")
                    size = size.rstrip("+")
                    if not size.isdigit():
                        continue
                    # "debug*" is the default partition: also known as "" (no partition given)
                    for key in [name.rstrip("*"), *([""] if name.endswith("*") else [])]:
                        mem[key] = min(mem.get(key, int(size)), int(size))
            except SlurmCommandError:
                pass
            self._facts = (version, mem)
        return self._facts

    def _submit_dryrun(
        self, app: AppDef, cfg: Mapping[str, CfgVal]
    ) -> AppDryRunInfo[SlurmBatchRequest]:
        opts = SlurmOpts.from_cfg(cfg)
        version, mem = self._cluster_facts()
        return AppDryRunInfo(build_request(app, opts, version, mem), repr)

    def build_workspaces(self, roles: list[Any], cfg: Mapping[str, CfgVal], dryrun: bool) -> None:
        """Runner hook: accepting it makes the Runner set ``role.workspace``; the copy itself
        happens in :py:meth:`schedule` (only with ``job_dir``; else the job runs in place)."""

    def schedule(self, dryrun_info: AppDryRunInfo[SlurmBatchRequest]) -> str:
        req = dryrun_info.request
        if req.job_dir:
            os.makedirs(req.job_dir, exist_ok=True)
        if req.workspaces:
            from torchx.workspace.dir_workspace import copy_workspace  # honours .torchxignore

            for src, dst in req.workspaces:
                copy_workspace(src, dst)
        try:
            out = self._run(req.cmd, input=req.materialize())
        except SlurmCommandError as e:
            raise SlurmCommandError(f"sbatch rejected the job: {e.detail}", e.detail) from None
        return out.strip().split(";")[0]

    # ---- managing

    def _slurm_config(self) -> dict[str, str]:
        if self._config is None:
            out = self._run(["scontrol", "show", "config"])
            self._config = {
                k.strip(): v.strip()
                for k, sep, v in (ln.partition("=") for ln in out.splitlines())
                if sep
            }
        return self._config

    def _finished(self, ids: set[str]) -> list[_Component]:
        """Components of jobs squeue no longer knows: sacct, or the jobcomp log without accounting."""
        conf = self._slurm_config()
        if "none" not in conf.get("AccountingStorageType", "none"):
            out = self._run(["sacct", "-P", "-n", "-X", "--duplicates", f"--format={SACCT_FORMAT}",
                             "-j", ",".join(sorted(ids, key=int))])
            return parse_sacct(out)
        loc = conf.get("JobCompLoc", "")
        if conf.get("JobCompType", "") == "jobcomp/filetxt" and os.path.isfile(loc):
            with open(loc, errors="replace") as f:
                return parse_jobcomp(f.read(), ids)
        return []

    def _components(self, app_ids: list[str]) -> dict[str, list[_Component]]:
        """Het-job components of each known id: one squeue call, one sacct call for the rest."""
        import json

        ids = {a for a in app_ids if a.isdigit()}
        found: dict[str, list[_Component]] = {}
        if ids:
            jobs = ",".join(sorted(ids, key=int))
            out = self._run(["squeue", "--json", "--states=all", f"--jobs={jobs}"])
            for c in parse_squeue(json.loads(out)):
                if c.app_id in ids:
                    found.setdefault(c.app_id, []).append(c)
            if ids - set(found):
                for c in self._finished(ids - set(found)):
                    found.setdefault(c.app_id, []).append(c)
        return found

    def describe_many(self, app_ids: list[str]) -> dict[str, DescribeAppResponse | None]:
        """All of ``app_ids`` with O(1) Slurm calls (see :py:meth:`_components`)."""
        found = self._components(app_ids)
        return {a: to_describe(a, found[a]) if a in found else None for a in app_ids}

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        return self.describe_many([app_id])[app_id]

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        """This user's jobs: squeue (finished ones for ``MinJobAge``), plus today's from sacct
        where accounting is on."""
        import json

        apps: dict[str, list[_Component]] = {}
        if "none" not in self._slurm_config().get("AccountingStorageType", "none"):
            text = self._run(["sacct", "-P", "-n", "-X", "--duplicates",
                              f"--format={SACCT_FORMAT}", f"--uid={os.getuid()}"])
            for c in parse_sacct(text):
                apps.setdefault(c.app_id, []).append(c)
        live: dict[str, list[_Component]] = {}
        for c in parse_squeue(json.loads(self._run(["squeue", "--json", "--me", "--states=all"]))):
            if c.uid in (None, os.getuid()):
                live.setdefault(c.app_id, []).append(c)
        apps.update(live)  # squeue is fresher than the accounting records
        out = []
        for app_id, cs in sorted(apps.items(), key=lambda kv: int(kv[0])):
            d = to_describe(app_id, cs)
            out.append(ListAppResponse(
                app_id=app_id, state=d.state,
                app_handle=make_app_handle(self.backend, self.session_name, app_id),
                name=",".join(r.role for r in d.roles_statuses), created=cs[0].submitted,
            ))
        return out

    def _cancel_existing(self, app_id: str) -> None:
        self._run(["scancel", app_id])

    def _delete_existing(self, app_id: str) -> None:
        """Slurm cannot forget a job: delete cancels it; logs stay in its directory."""
        self._cancel_existing(app_id)

    # ---- logs

    def log_iter(
        self,
        app_id: str,
        role_name: str,
        k: int = 0,
        regex: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        should_tail: bool = False,
        streams: Stream | None = None,
    ) -> Iterable[str]:
        """Lines of ``slurm-<id>-<role>-<k>.out``/``.err`` (both for COMBINED or None).

        ``since``/``until`` are not supported (the files carry no timestamps) and are ignored.
        """
        comps = self._components([app_id]).get(app_id)
        if not comps:
            raise UnknownAppException(app_id)
        desc = to_describe(app_id, comps)
        roles = {r.role: len(r.replicas) for r in desc.roles_statuses}
        if roles and not 0 <= k < roles.get(role_name, 0):
            raise TorchXError(f"app `{app_id}` has no replica {k} of role `{role_name}`;"
                              f" its roles and replica counts: {roles}")
        workdir = next((c.workdir for c in comps if c.workdir), os.getcwd())
        stem = os.path.join(workdir, f"slurm-{app_id}-{role_name}-{k}")
        exts = {Stream.STDOUT: [".out"], Stream.STDERR: [".err"]}.get(
            streams or Stream.COMBINED, [".out", ".err"]
        )
        paths = [stem + e for e in exts]
        if not should_tail and not any(os.path.exists(p) for p in paths):
            raise TorchXError(
                f"no log file {paths[0]} yet: the replica has not started ({desc.msg})"
            )
        lines = _tail(paths, lambda: self._done(app_id)) if should_tail else _read_all(paths)
        return filter_regex(regex, lines) if regex else lines

    def _done(self, app_id: str) -> bool:
        d = self.describe(app_id)
        return d is None or d.state.is_terminal()


def _read_all(paths: list[str]) -> Iterator[str]:
    for p in paths:
        if os.path.exists(p):
            with open(p, errors="replace") as f:
                yield from f


def _tail(paths: list[str], done: Callable[[], bool], poll: float = 0.2) -> Iterator[str]:
    """Follow ``paths``, yielding whole lines as they appear, until ``done()`` then drain."""
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
            finished, next_check = done(), time.monotonic() + 1.0
        if not finished:
            time.sleep(poll)


def create_scheduler(session_name: str, **kwargs: Any) -> SlurmScheduler:
    return SlurmScheduler(session_name, **kwargs)
