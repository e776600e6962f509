"""IBM Spectrum LSF: run an AppDef as one ``bsub`` job per replica, each a ``docker run``.

Requires the LSF client commands (``bsub``, ``bjobs``, ``bkill``, ``bhosts``) on PATH, Docker on
the execution hosts and a filesystem shared with them for the logs. No Python extra is needed.
Upstream TorchX had this scheduler until 2026; the request has its shape:

* the app id is the app name cleaned to ``[A-Za-z0-9_.-]`` plus a random suffix; every replica
  is ``bsub -P <app_id> -J <app_id>-<role>-<i>`` with ``-q``, ``-n <cpu>``,
  ``-R "span[hosts=1] rusage[mem=<MB>]"``, ``-gpu "num=N:mode=shared:j_exclusive=yes"`` and
  ``-o/-e <jobdir>/<app_id>/<role>-<i>.out/.err``;
* replica 0 of the first role (the head) is pinned with ``-m`` to the first ``bhosts`` host in
  state ``ok``, which the other replicas get as ``$TORCHX_RANK0_HOST`` (``macros.rank0_env``);
  they wait for it with ``-w "started(<head job id>)"`` and, with ``host_network``, avoid its
  host (two containers on one host network would share ports).

``--dryrun`` prints the whole bash script that submits, from its ``#!`` line: exactly what runs.
Unlike upstream, every user string reaches the process unchanged and nothing runs at submit time:
each job body is a quoted heredoc (``<<'TORCHX_EOF'``, with a delimiter no body line equals) of
single-quoted words, so backticks, ``$()`` and a line ``EOF`` in arguments or env values are
just text. If one ``bsub`` fails, the jobs already submitted are killed and the script fails.

Status is ``bjobs -json`` per replica (DONE, EXIT; exit code 130 is a ``bkill``, so CANCELLED,
as upstream); LSF forgets finished jobs after ``CLEAN_PERIOD`` (an hour by default), after which
the app is unknown. Logs are read from the ``-o/-e`` files that ``bjobs`` reports.
"""

from __future__ import annotations

import os
import re
import secrets
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from torchx.schedulers.api import (
    DescribeAppResponse,
    ListAppResponse,
    Scheduler,
    Stream,
    StructuredOpts,
)
from torchx.schedulers.batch_common import (
    BatchCommandError,
    CommandRunner,
    app_ended,
    heredoc,
    log_lines,
    sh_quote_one_line,
)
from torchx.specs.api import (
    MISSING,
    AppDef,
    AppDryRunInfo,
    AppState,
    BindMount,
    CfgVal,
    DeviceMount,
    InvalidRunConfigException,
    ReplicaStatus,
    Role,
    RoleStatus,
    TorchXError,
    UnknownAppException,
    VolumeMount,
    macros,
    make_app_handle,
    runopts,
)

__all__ = [
    "LSF_STATES", "LsfBsub", "LsfOpts", "LsfRequest", "LsfScheduler", "build_request",
    "create_scheduler", "lsf_state", "parse_bjobs",
]

# --------------------------------------------------------------------------- states

LSF_STATES: dict[str, AppState] = {
    **dict.fromkeys(["PEND", "PROV", "WAIT", "PSUSP", "USUSP", "SSUSP"], AppState.PENDING),
    "RUN": AppState.RUNNING,
    "DONE": AppState.SUCCEEDED,
    **dict.fromkeys(["EXIT", "ZOMBI"], AppState.FAILED),
    "UNKWN": AppState.UNKNOWN,
}
"""Every LSF job state -> AppState (suspended jobs wait, so PENDING; EXIT with 130 is CANCELLED)."""

CANCELLED_EXIT = 130
"""``bkill`` ends a job with SIGINT first: LSF reports exit code 130."""

RANK0_ENV = "TORCHX_RANK0_HOST"
BJOBS_FIELDS = "jobid job_name proj_name stat exit_code exec_host pend_reason output_file error_file"


def lsf_state(stat: str, exit_code: int | None = None) -> AppState:
    """AppState of an LSF ``STAT`` (and exit code: EXIT 130 is a ``bkill``)."""
    state = LSF_STATES.get(stat.strip().upper(), AppState.UNKNOWN)
    if state == AppState.FAILED and exit_code == CANCELLED_EXIT:
        return AppState.CANCELLED
    return state


# --------------------------------------------------------------------------- options


@dataclass
class LsfOpts(StructuredOpts):
    lsf_queue: str | None = None
    """Queue to submit to (`bsub -q`; the cluster's default queue if unset)."""
    jobdir: str | None = None
    """Shared directory for the logs (`<jobdir>/<app_id>/<role>-<i>.out/.err`); the submit
    directory if unset."""
    container_workdir: str | None = None
    """Working directory inside the container (`docker run -w`); the image's if unset."""
    host_network: bool = False
    """Run containers on the host network (`--net=host`); replicas then avoid the head's host."""
    shm_size: str = "64m"
    """Size of /dev/shm in the containers (`docker run --shm-size`)."""


# --------------------------------------------------------------------------- request


@dataclass
class LsfBsub:
    """One replica: the ``bsub`` options and the job body (a ``docker run``) it submits."""

    role: str
    replica_id: int
    name: str
    bsub: list[str]
    docker: list[str]
    head: bool = False

    def body(self) -> str:
        """The job body LSF runs with ``sh``. A string holding a control character is quoted as
        bash's one-line ``$'...'``, so such a command runs under ``bash -c``: no user string
        may start a body line, which LSF would read as a ``#BSUB`` option."""
        if any("$'" in part for part in self.docker):
            return "#!/bin/sh\nexec bash -c " + shlex.quote("exec " + " ".join(self.docker)) + "\n"
        return "#!/bin/sh\nexec " + " \\\n  ".join(self.docker) + "\n"


@dataclass
class LsfRequest:
    """What ``schedule`` runs: the bash script :py:meth:`materialize` returns."""

    app_id: str
    replicas: list[LsfBsub]
    jobdir: str | None = None
    host_network: bool = False

    def materialize(self) -> str:
        """The submitting script: one quoted-heredoc ``bsub`` per replica."""
        jobdir = _q(self.jobdir) if self.jobdir else '"$PWD"'
        lines = [
            "#!/bin/bash",
            f"# torchx: app {self.app_id} on LSF, {len(self.replicas)} replica(s), one bsub each",
            "set -euo pipefail",
            f"app_id={_q(self.app_id)}",
            f"jobdir={jobdir}",
            'logdir="$jobdir/$app_id"',
            'mkdir -p "$logdir"',
            "ids=()",
            "# a failed bsub leaves nothing behind: kill what was already submitted",
            "trap 'rc=$?; if [ \"$rc\" -ne 0 ] && [ \"${#ids[@]}\" -gt 0 ]; then"
            ' bkill "${ids[@]}" >/dev/null 2>&1 || true;'
            ' echo "torchx: submission failed; killed LSF jobs ${ids[*]}" >&2; fi\' EXIT',
            "submit() {  # bsub options...; the job body on stdin. Sets $job_id",
            "  local out",
            '  out=$(bsub "$@")',
            '  if [[ $out =~ Job\\ \\<([0-9]+)\\> ]]; then job_id=${BASH_REMATCH[1]}; ids+=("$job_id");'
            ' else echo "torchx: cannot read a job id from bsub: $out" >&2; return 1; fi',
            "}",
            "head_host=$(bhosts -w | awk 'NR > 1 && $2 == \"ok\" { print $1; exit }')",
            '[ -n "$head_host" ] || { echo "torchx: bhosts lists no host in state ok" >&2; exit 1; }',
            f'export {RANK0_ENV}="$head_host"',
        ]
        for rep in self.replicas:
            opts = list(rep.bsub)
            if rep.head:
                opts.append('-m "$head_host"')
            else:
                opts.append('-w "started($head_id)"')
                if self.host_network:
                    opts.append("-R \"select[hname!='$head_host']\"")
            log = _q(f"{rep.role}-{rep.replica_id}")
            opts += [f'-o "$logdir"/{log}.out', f'-e "$logdir"/{log}.err']
            submit = "submit \\\n  " + " \\\n  ".join(opts)
            lines += [f"# {rep.role}[{rep.replica_id}]", heredoc([submit], rep.body()).rstrip("\n")]
            if rep.head:
                lines.append('head_id=$job_id')
        lines += ["trap - EXIT", 'echo "$app_id"']
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return self.materialize()


# --------------------------------------------------------------------------- pure functions


_q = sh_quote_one_line


def clean_name(name: str) -> str:
    """``name`` with every character outside ``[A-Za-z0-9_.-]`` replaced by ``_``. LSF reads
    ``[...]`` in a job name as an array and ``%J`` in a log path as the job id."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "app"


def make_app_id(name: str) -> str:
    return f"{clean_name(name)[:40]}-{secrets.token_hex(4)}"


def _mounts(role: Role) -> list[str]:
    out = []
    for m in role.mounts:
        if isinstance(m, BindMount):
            out.append("-v " + _q(f"{m.src_path}:{m.dst_path}" + (":ro" if m.read_only else "")))
        elif isinstance(m, VolumeMount):
            out.append("-v " + _q(f"{m.src}:{m.dst_path}" + (":ro" if m.read_only else "")))
        elif isinstance(m, DeviceMount):
            out.append("--device " + _q(f"{m.src_path}:{m.dst_path}:{m.permissions}"))
    return out


def build_request(app: AppDef, opts: LsfOpts, app_id: str | None = None) -> LsfRequest:
    """``app`` as bsub submissions (pure; ``app_id`` is drawn when not given)."""
    if not app.roles or all(r.num_replicas < 1 for r in app.roles):
        raise InvalidRunConfigException(f"app `{app.name}` has no replicas to run")
    app_id = app_id or make_app_id(app.name)
    jobdir = os.path.abspath(os.path.expanduser(opts.jobdir)) if opts.jobdir else None
    if jobdir and "%" in jobdir:
        raise InvalidRunConfigException(
            f"jobdir {jobdir!r} has a `%`, which LSF expands in -o/-e paths: choose another")
    replicas: list[LsfBsub] = []
    for role in app.roles:
        if role.entrypoint in (MISSING, ""):
            raise InvalidRunConfigException(f"role `{role.name}` has no entrypoint")
        if role.image in (MISSING, ""):
            raise InvalidRunConfigException(
                f"role `{role.name}` has no image: LSF replicas run `docker run <image>`")
        for k in range(role.num_replicas):
            values = macros.Values(img_root="", app_id=app_id, replica_id=str(k),
                                   rank0_env=RANK0_ENV)
            r = values.apply(role)
            name = f"{app_id}-{clean_name(role.name)}-{k}"
            bsub = [f"-P {_q(app_id)}", f"-J {_q(name)}"]
            if opts.lsf_queue:
                bsub.append(f"-q {_q(opts.lsf_queue)}")
            res = role.resource
            if res.cpu > 0:
                bsub.append(f"-n {res.cpu}")
            rusage = f" rusage[mem={res.memMB}]" if res.memMB > 0 else ""
            bsub.append(_q(f"-R span[hosts=1]{rusage}").replace("'-R ", "-R '"))
            if res.gpu > 0:
                bsub.append(f"-gpu 'num={res.gpu}:mode=shared:j_exclusive=yes'")
            docker = ["docker run --rm", f"--name {_q(name)}", f"--shm-size={_q(opts.shm_size)}"]
            if opts.host_network:
                docker.append("--net=host")
            if opts.container_workdir:
                docker.append(f"-w {_q(opts.container_workdir)}")
            if res.gpu > 0:
                docker.append('--gpus "\\"device=${CUDA_VISIBLE_DEVICES:-all}\\""')
            docker += _mounts(role)
            docker.append(f"-e {RANK0_ENV}")
            docker += [f"-e {_q(f'{key}={val}')}" for key, val in r.env.items()]
            docker.append(f"--entrypoint {_q(r.entrypoint)}")
            docker.append(" ".join(_q(a) for a in [r.image, *r.args]))
            replicas.append(LsfBsub(clean_name(role.name), k, name, bsub, docker,
                                    head=not replicas))
    return LsfRequest(app_id, replicas, jobdir, opts.host_network)


@dataclass
class LsfJob:
    """One replica's job as ``bjobs -json`` reports it."""

    job_id: str
    name: str
    project: str
    stat: str
    exit_code: int | None = None
    host: str = ""
    reason: str = ""
    stdout: str = ""
    stderr: str = ""


def _int(v: Any) -> int | None:
    try:
        return int(str(v).strip())
    except ValueError:
        return None


def parse_bjobs(data: Mapping[str, Any]) -> list[LsfJob]:
    """Jobs from ``bjobs -a -json -o BJOBS_FIELDS`` (records with an ``ERROR`` are skipped)."""
    jobs = []
    for rec in data.get("RECORDS", []):
        if rec.get("ERROR") or not rec.get("JOBID"):
            continue
        host = str(rec.get("EXEC_HOST") or "").split(":")[0]
        jobs.append(LsfJob(
            job_id=str(rec["JOBID"]), name=str(rec.get("JOB_NAME", "")),
            project=str(rec.get("PROJ_NAME", "")), stat=str(rec.get("STAT", "")),
            exit_code=_int(rec.get("EXIT_CODE", "")), host=host.rpartition("*")[2],
            reason=str(rec.get("PEND_REASON") or "").strip(),
            stdout=str(rec.get("OUTPUT_FILE") or ""), stderr=str(rec.get("ERROR_FILE") or ""),
        ))
    return jobs


def _replica_of(app_id: str, name: str) -> tuple[str, int] | None:
    if not name.startswith(app_id + "-"):
        return None
    role, _, k = name[len(app_id) + 1:].rpartition("-")
    return (role, int(k)) if role and k.isdigit() else None


def to_describe(app_id: str, jobs: list[LsfJob]) -> DescribeAppResponse:
    """One app from its replicas' jobs: terminal once every replica is."""
    roles: dict[str, RoleStatus] = {}
    states: list[AppState] = []
    problems: list[str] = []
    reasons: list[str] = []
    for j in sorted(jobs, key=lambda j: int(j.job_id) if j.job_id.isdigit() else 0):
        rk = _replica_of(app_id, j.name)
        if rk is None:
            continue
        st = lsf_state(j.stat, j.exit_code)
        states.append(st)
        if st == AppState.FAILED:
            problems.append(f"{rk[0]}[{rk[1]}] exit code {j.exit_code}")
        if st == AppState.PENDING and j.reason:
            reasons.append(f"{rk[0]}[{rk[1]}]: {j.reason}")
        roles.setdefault(rk[0], RoleStatus(rk[0], [])).replicas.append(
            ReplicaStatus(rk[1], st, rk[0], j.host))
    for r in roles.values():
        r.replicas.sort(key=lambda rep: rep.id)
    if states and all(s.is_terminal() for s in states):
        state = (AppState.FAILED if AppState.FAILED in states else
                 AppState.CANCELLED if AppState.CANCELLED in states else AppState.SUCCEEDED)
    elif AppState.RUNNING in states:
        state = AppState.RUNNING
    elif states and all(s in (AppState.PENDING, AppState.UNKNOWN) for s in states):
        state = AppState.PENDING if AppState.PENDING in states else AppState.UNKNOWN
    else:
        state = AppState.RUNNING  # some replicas ended, the others wait to start
    msg = str(state)
    if problems:
        msg += ": " + ", ".join(problems)
    elif state == AppState.PENDING and reasons:
        msg += ": " + "; ".join(reasons)
    return DescribeAppResponse(
        app_id=app_id, state=state, num_restarts=0, msg=msg, roles_statuses=list(roles.values()),
        roles=[Role(r.role, image="", num_replicas=len(r.replicas)) for r in roles.values()],
    )


# --------------------------------------------------------------------------- scheduler


class LsfCommandError(BatchCommandError):
    """An LSF command failed or is missing; the message carries LSF's own words."""


_RUNNER = CommandRunner(
    system="LSF",
    elsewhere="run torchx where the LSF client tools are installed (source LSF's profile.lsf)",
    unresponsive="check that LSF is up (`lsid`) and retry",
    error=LsfCommandError,
)
"""The one seam every LSF command goes through (see :py:meth:`LsfScheduler._run`)."""

_NO_JOBS = re.compile(r"No (unfinished |matching )?job found|is not found", re.I)


class LsfScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Submits by running the generated script; ``bjobs`` for status, ``bkill`` to cancel.

    Every LSF call goes through :py:meth:`_run`; ``calls`` counts them.
    """

    timeout = 120.0
    """Seconds one LSF command may take before it counts as failed."""

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__("lsf", session_name)
        self.calls = 0

    def _run(self, cmd: list[str], input: str | None = None, ok_no_jobs: bool = False) -> str:
        """Run an LSF command: its stdout, or LsfCommandError (one line). With ``ok_no_jobs``
        a "no job found" failure is an empty answer."""
        self.calls += 1
        try:
            return _RUNNER(cmd, input=input, timeout=self.timeout)
        except LsfCommandError as e:
            if ok_no_jobs and _NO_JOBS.search(e.detail):
                return ""
            raise

    def _run_opts(self) -> runopts:
        return LsfOpts.as_runopts()

    def _submit_dryrun(self, app: AppDef, cfg: Mapping[str, CfgVal]) -> AppDryRunInfo[LsfRequest]:
        return AppDryRunInfo(build_request(app, LsfOpts.from_cfg(cfg)), repr)

    def schedule(self, dryrun_info: AppDryRunInfo[LsfRequest]) -> str:
        import shutil

        req = dryrun_info.request
        if shutil.which("bsub") is None:
            raise _RUNNER.missing("bsub")
        try:
            self._run(["bash", "-c", req.materialize()])
        except LsfCommandError as e:
            raise LsfCommandError(f"bsub rejected app {req.app_id}: {e.detail}", e.detail) from None
        return req.app_id

    def _jobs(self, *args: str) -> list[LsfJob]:
        import json

        out = self._run(["bjobs", "-a", "-json", "-o", BJOBS_FIELDS, *args], ok_no_jobs=True)
        return parse_bjobs(json.loads(out)) if out.strip().startswith("{") else []

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        jobs = self._jobs("-P", app_id)
        if not any(_replica_of(app_id, j.name) for j in jobs):
            return None
        return to_describe(app_id, jobs)

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        apps: dict[str, list[LsfJob]] = {}
        for j in self._jobs():
            if j.project and _replica_of(j.project, j.name):
                apps.setdefault(j.project, []).append(j)
        return [
            ListAppResponse(app_id=a, state=to_describe(a, js).state,
                            app_handle=make_app_handle(self.backend, self.session_name, a),
                            name=a.rpartition("-")[0])
            for a, js in sorted(apps.items())
        ]

    def _cancel_existing(self, app_id: str) -> None:
        live = [j.job_id for j in self._jobs("-P", app_id)
                if _replica_of(app_id, j.name) and not lsf_state(j.stat).is_terminal()]
        if live:
            self._run(["bkill", *live], ok_no_jobs=True)

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
        """Lines of the replica's ``-o``/``-e`` files (both for COMBINED or None). The files
        carry no timestamps: ``since``/``until`` filter whole files (``batch_common.log_lines``)."""
        jobs = self._jobs("-P", app_id)
        role = clean_name(role_name)
        job = next((j for j in jobs if _replica_of(app_id, j.name) == (role, k)), None)
        if job is None:
            if not any(_replica_of(app_id, j.name) for j in jobs):
                raise UnknownAppException(app_id)
            have = sorted({f"{r}[{i}]" for j in jobs if (ri := _replica_of(app_id, j.name))
                           for r, i in [ri]})
            raise TorchXError(f"app `{app_id}` has no replica {role_name}[{k}]; it has "
                              + ", ".join(have))
        paths = {Stream.STDOUT: [job.stdout], Stream.STDERR: [job.stderr]}.get(
            Stream(streams) if streams else Stream.COMBINED, [job.stdout, job.stderr])
        return log_lines([p for p in paths if p], regex, since, until, should_tail,
                         done=app_ended(self, app_id))


def create_scheduler(session_name: str, **kwargs: Any) -> LsfScheduler:
    return LsfScheduler(session_name, **kwargs)
