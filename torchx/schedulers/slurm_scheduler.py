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
``Role.image`` is not used: jobs run from the shared filesystem. Status parsing (the state
table, ``squeue``/``sacct``/jobcomp parsers) is in :py:mod:`torchx.schedulers.slurm_status`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from torchx.schedulers.api import (
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    StructuredOpts,
    local_scripts,
    missing_script,
)
from torchx.schedulers.batch_common import (
    BatchCommandError,
    CommandRunner,
    app_ended,
    directive_value,
    heredoc,
    log_lines,
    sh_quote,
    stream_paths,
)
from torchx.schedulers.slurm_status import (
    SACCT_FORMAT,
    SLURM_STATES,
    Component,
    parse_jobcomp,
    parse_sacct,
    parse_squeue,
    slurm_state,
    to_describe,
)
from torchx.specs.api import (
    MISSING,
    AppDef,
    AppDryRunInfo,
    CfgVal,
    InvalidRunConfigException,
    TorchXError,
    UnknownAppException,
    macros,
    make_app_handle,
    runopts,
)

__all__ = [
    "SLURM_STATES", "SlurmBatchRequest", "SlurmCommandError", "SlurmOpts", "SlurmReplica",
    "SlurmScheduler", "build_request", "create_scheduler", "slurm_state",
]

# --------------------------------------------------------------------------- states
# The table (every Slurm state -> AppState) and the squeue/sacct/jobcomp parsers live in
# slurm_status; re-exported here so ``slurm_scheduler.SLURM_STATES`` is the documented name.

RANK0_ENV = "TORCHX_RANK0_HOST"
APP_ID_ENV = "TORCHX_APP_ID"
_APP_ID = "\x00app_id\x00"  # stands for the job id until quoting turns it into "$TORCHX_APP_ID"


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


SlurmReplicaRequest = SlurmReplica
"""Upstream's name for one replica's part of the request."""


@dataclass
class SlurmBatchRequest:
    """What ``schedule`` submits: ``sbatch --parsable`` with ``script`` on stdin."""

    app_name: str
    replicas: list[SlurmReplica]
    max_retries: int = 0
    job_dir: str | None = None
    workspaces: list[tuple[str, str]] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)
    """role -> the script it runs (``--script``): must exist in one of ``roots`` at submit"""
    roots: list[str] = field(default_factory=list)

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
        ws = [f"# workspace: copy {_q(s)} -> {_q(d)} at submit\n" for s, d in self.workspaces]
        return "".join(ws) + heredoc(self.cmd, self.materialize())


# --------------------------------------------------------------------------- pure functions


def _q(s: str) -> str:
    """Shell-quote ``s``; the app-id placeholder becomes ``"$TORCHX_APP_ID"`` outside quotes."""
    return sh_quote(s, {_APP_ID: f'"${APP_ID_ENV}"'})


def _opt_value(name: str, val: str) -> str:
    """An ``#SBATCH`` option value as sbatch reads it back (sbatch drops a bare backslash)."""
    return directive_value(name, val, "#SBATCH")


def _version(text: str) -> tuple[int, int] | None:
    m = re.search(r"(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _job_roots(app: AppDef, opts: SlurmOpts) -> list[str]:
    """Where the job finds its files: the submit directory, or with ``job_dir`` the workspace
    projects copied to its top (and the job_dir itself)."""
    if not opts.job_dir:
        return [os.getcwd()]
    roots = [os.path.expanduser(opts.job_dir)]
    for role in app.roles:
        if role.workspace:
            roots += [src for src, dst in role.workspace.projects.items() if dst in ("", ".")]
    return roots


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
            log = f"slurm-\"$SLURM_JOB_ID\"-{_q(name.replace('%', '%%'))}"  # srun expands %
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




# --------------------------------------------------------------------------- scheduler


class SlurmCommandError(BatchCommandError):
    """A Slurm command failed or is missing; the message carries Slurm's own words."""


_RUNNER = CommandRunner(
    system="Slurm",
    packages=dict.fromkeys(
        ("sbatch", "squeue", "scancel", "scontrol", "sinfo", "sacct", "srun"), "slurm-client"),
    elsewhere="run torchx where the Slurm client tools are installed (a login node) or add them"
              " to PATH",
    unresponsive="check that slurmctld is up (`sinfo`) and retry",
    error=SlurmCommandError,
)
"""The one seam every Slurm command goes through (see :py:meth:`SlurmScheduler._run`)."""


class SlurmScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Submits with ``sbatch``; reads ``squeue``/``sacct``/the jobcomp log; ``scancel`` cancels.

    Every Slurm call goes through :py:meth:`_run`; ``calls`` counts them.
    """

    timeout = 120.0
    """Seconds one Slurm command may take before it counts as failed."""

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__("slurm", session_name)
        self.calls = 0
        self._config: dict[str, str] | None = None
        self._facts: tuple[tuple[int, int] | None, dict[str, int]] | None = None

    def _run(self, cmd: list[str], input: str | None = None) -> str:
        """Run a Slurm command; its stdout, or SlurmCommandError with its stderr (one line)."""
        self.calls += 1
        return _RUNNER(cmd, input=input, timeout=self.timeout)

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
        req = build_request(app, opts, version, mem)
        req.scripts, req.roots = local_scripts(app), _job_roots(app, opts)
        return AppDryRunInfo(req, repr)

    def builds_workspaces(self) -> bool:
        """True: the Runner sets ``role.workspace``; the copy itself happens in
        :py:meth:`schedule` (only with ``job_dir``; else the job runs in place)."""
        return True

    def schedule(self, dryrun_info: AppDryRunInfo[SlurmBatchRequest]) -> str:
        req = dryrun_info.request
        why = missing_script(req.scripts, req.roots, self.backend)
        if why:  # before anything is copied or queued: a typo would wait in the queue
            from torchx.specs.builders import ComponentArgsError

            raise ComponentArgsError(why)
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

    def _finished(self, ids: set[str]) -> list[Component]:
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

    def _components(self, app_ids: list[str]) -> dict[str, list[Component]]:
        """Het-job components of each known id: one squeue call, one sacct call for the rest."""
        import json

        ids = {a for a in app_ids if a.isdigit()}
        found: dict[str, list[Component]] = {}
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

        apps: dict[str, list[Component]] = {}
        if "none" not in self._slurm_config().get("AccountingStorageType", "none"):
            text = self._run(["sacct", "-P", "-n", "-X", "--duplicates",
                              f"--format={SACCT_FORMAT}", f"--uid={os.getuid()}"])
            for c in parse_sacct(text):
                apps.setdefault(c.app_id, []).append(c)
        live: dict[str, list[Component]] = {}
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
                roles=d.roles,
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
        paths = stream_paths(os.path.join(workdir, f"slurm-{app_id}-{role_name}-{k}"), streams)
        if not should_tail and not any(os.path.exists(p) for p in paths):
            why = "it ended without one" if desc.state.is_terminal() else "it has not started"
            raise TorchXError(f"no log file `{paths[0]}` for replica {k}: {why} ({desc.msg})")
        # since/until are ignored, as before: Slurm's files carry no timestamps
        return log_lines(paths, regex, should_tail=should_tail, done=app_ended(self, app_id))


def create_scheduler(session_name: str, **kwargs: Any) -> SlurmScheduler:
    return SlurmScheduler(session_name, **kwargs)
