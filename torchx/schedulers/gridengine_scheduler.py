"""Grid Engine (Son of Grid Engine, Altair/Univa): run an AppDef as one ``qsub`` array job.

Requires the Grid Engine client commands (``qsub``, ``qstat``, ``qacct``, ``qdel``) on PATH and a
filesystem shared with the execution hosts. No Python extra is needed.

Replicas are the tasks of **one array job** (``-t 1-N``; task ``i`` is the i-th replica in role
order), rather than one job each: one job id is the app id, so one ``qdel`` cancels everything,
``qstat``/``qacct`` report a state and an exit code per task (per replica), and every task gets
its own ``-o/-e`` files through ``$TASK_ID``. The price is that an array job has one resource
request: every task asks for the largest role's cpu (``-pe <pe> <slots>``), memory
(``-l mem_free=<MB>M``) and gpus (``-l gpu=<n>``); ``--dryrun`` notes it when roles differ.
Grid Engine does not start array tasks together (no gang scheduling), which rendezvous-based
jobs tolerate: torchrun waits for its peers.

The generated script has ``#$`` directives (``-S /bin/bash``, ``-N``, ``-t``, ``-cwd`` or
``-wd <job_dir>``, ``-o/-e torchx-$JOB_ID.$TASK_ID.out/.err``, ``-V``, ``-q``, ``-P``, ``-pe``,
``-l``). It takes the submitter's ``PATH`` (``-V`` passes every other variable) and exports
``TORCHX_APP_ID`` (the job id) and ``TORCHX_RANK0_HOST`` (``macros.rank0_env``): task 1 writes
its host name to ``.torchx-<job id>.rank0`` in the job directory and the other tasks wait for
that file (shared filesystem). Then a ``case`` on ``$SGE_TASK_ID`` runs the replica's command,
every user string quoted on one line (qsub reads a ``#$`` line anywhere in a script).
``max_retries`` reruns a failed task by exiting 99 (Grid Engine requeues it, after its cleanup
delay of about a minute) until a per-task counter in the job directory reaches it.

Status: ``qstat -xml`` while tasks are queued or running; ``qacct`` once they have left the
queue. Accounting is flushed lazily (15 s by default), so a job that has left ``qstat`` but is
not in ``qacct`` yet is reported RUNNING ("waiting for accounting"), not lost, for up to
``accounting_grace`` seconds. ``qdel`` does not write accounting for a task that never started,
so torchx notes its own cancels. Both facts, and the roles layout and job directory (for logs),
are kept in a small record per job under ``$TORCHX_HOME/gridengine/`` (``~/.torchx``); without
it, status still works from ``qstat``/``qacct`` with one role named after the job. A pending
app says why when the scheduler's ``schedd_job_info`` is on. Parsing is in
:py:mod:`torchx.schedulers.gridengine_status`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from torchx.schedulers import batch_common
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
    stream_paths,
)
from torchx.schedulers.gridengine_status import (
    GRIDENGINE_STATES,
    Task,
    gridengine_state,
    parse_qacct,
    parse_qstat_xml,
    parse_reasons,
    to_describe,
)
from torchx.specs.api import (
    MISSING,
    AppDef,
    AppDryRunInfo,
    AppState,
    CfgVal,
    InvalidRunConfigException,
    TorchXError,
    UnknownAppException,
    macros,
    make_app_handle,
    runopts,
)

__all__ = [
    "GRIDENGINE_STATES", "GridEngineCommandError", "GridEngineOpts", "GridEngineRequest",
    "GridEngineScheduler", "build_request", "create_scheduler", "gridengine_state",
]

RANK0_ENV = "TORCHX_RANK0_HOST"
APP_ID_ENV = "TORCHX_APP_ID"
_APP_ID = "\x00app_id\x00"  # stands for the job id until quoting turns it into "$TORCHX_APP_ID"
RANK0_WAIT = 600
"""Seconds a task waits for task 1 (replica 0) to publish its host."""


# --------------------------------------------------------------------------- options


@dataclass
class GridEngineOpts(StructuredOpts):
    queue: str | None = None
    """Queue to submit to (`qsub -q`; any queue if unset)."""
    pe: str = "smp"
    """Parallel environment for replicas with more than one cpu (`qsub -pe <pe> <cpu>`);
    `qconf -spl` lists the cluster's."""
    project: str | None = None
    """Project to charge (`qsub -P`)."""
    job_dir: str | None = None
    """Working directory of the job, where its logs go (`-wd`); the submit directory if unset."""
    mem_resource: str = "mem_free"
    """Complex requested for `Resource.memMB` (`-l <name>=<MB>M`, e.g. `h_vmem` to enforce it)."""
    gpu_resource: str = "gpu"
    """Consumable complex requested for `Resource.gpu` (`-l <name>=<n>`)."""


# --------------------------------------------------------------------------- request


@dataclass
class GridEngineTask:
    """One array task: the replica it runs and its (quoted) command."""

    role: str
    replica_id: int
    command: str


@dataclass
class GridEngineRequest:
    """What ``schedule`` submits: ``qsub -terse`` with :py:meth:`materialize` on stdin."""

    app_name: str
    directives: list[str]
    tasks: list[GridEngineTask]
    layout: list[tuple[str, int]]
    job_dir: str | None = None
    max_retries: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def cmd(self) -> list[str]:
        return ["qsub", "-terse"]

    def materialize(self) -> str:
        """The job script."""
        n = len(self.tasks)
        lines = ["#!/bin/bash", *[f"#$ {d}" for d in self.directives], "",
                 f"# torchx: app {_q(self.app_name)}, {n} replica(s) as tasks 1-{n} of one array job",
                 *[f"# note: {note}" for note in self.notes],
                 "# -V passes the submit environment but PATH; take the submitter's too",
                 'if [ -n "${SGE_O_PATH:-}" ]; then export PATH="$SGE_O_PATH"; fi',
                 f'export {APP_ID_ENV}="$JOB_ID"',
                 'rank0=".torchx-$JOB_ID.rank0"  # task 1 publishes its host here (job directory)',
                 'if [ "$SGE_TASK_ID" = 1 ]; then',
                 '  hostname >"$rank0.$$" && mv -f "$rank0.$$" "$rank0"',
                 "else",
                 f'  for _ in $(seq {RANK0_WAIT}); do [ -s "$rank0" ] && break; sleep 1; done',
                 f'  [ -s "$rank0" ] || {{ echo "torchx: replica 0 (task 1) did not start within'
                 f' {RANK0_WAIT} s" >&2; exit 1; }}',
                 "fi",
                 f'export {RANK0_ENV}="$(cat "$rank0")"',
                 "",
                 'case "$SGE_TASK_ID" in']
        for i, t in enumerate(self.tasks, start=1):
            lines += [f"  {i})  # {_comment(t.role)}[{t.replica_id}]", f"    {t.command}", "    ;;"]
        lines += ['  *) echo "torchx: no replica for task $SGE_TASK_ID" >&2; exit 2 ;;',
                  "esac", "rc=$?"]
        if self.max_retries > 0:
            lines += [
                'tries=".torchx-$JOB_ID.$SGE_TASK_ID.retries"',
                'n=$(cat "$tries" 2>/dev/null || echo 0)',
                f'if [ "$rc" -ne 0 ] && [ "$n" -lt {self.max_retries} ]; then',
                '  echo $((n + 1)) >"$tries"',
                '  echo "torchx: exit code $rc; retry $((n + 1)) of'
                f' {self.max_retries}" >&2',
                "  exit 99  # Grid Engine requeues the task",
                "fi",
            ]
        lines.append('exit "$rc"')
        return "\n".join(lines) + "\n"

    def __repr__(self) -> str:
        return heredoc(self.cmd, self.materialize())


# --------------------------------------------------------------------------- pure functions


_one_line = sh_quote_one_line


def _q(s: str) -> str:
    """Quote ``s`` on one line; the app-id placeholder becomes ``"$TORCHX_APP_ID"`` unquoted."""
    out = '"$' + APP_ID_ENV + '"'
    return out.join(_one_line(p) if p else "" for p in s.split(_APP_ID)) or "''"


def _comment(s: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", s)


def directive_value(name: str, val: str) -> str:
    """A ``#$`` option value (:py:func:`batch_common.directive_value`). qsub honours ``"..."``
    on directive lines but no backslash escapes, so a value needing quotes cannot hold ``"``
    or ``\\``: it is rejected with the fix."""
    quoted = batch_common.directive_value(name, val, "#$")
    if quoted != val and re.search(r'["\\]', val):
        raise InvalidRunConfigException(
            f"`{name}` value {val!r} needs quotes on a #$ line, where Grid Engine cannot read"
            ' `"` or `\\`: drop them')
    return quoted


def job_name(name: str) -> str:
    """A valid ``-N``: Grid Engine rejects blanks and ``/:@\\*?`` and a leading digit."""
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64] or "torchx"
    return clean if clean[0].isalpha() or clean[0] == "_" else "t" + clean


def build_request(app: AppDef, opts: GridEngineOpts) -> GridEngineRequest:
    """``app`` as one array job (pure)."""
    if not app.roles or all(r.num_replicas < 1 for r in app.roles):
        raise InvalidRunConfigException(f"app `{app.name}` has no replicas to run")
    job_dir = os.path.abspath(os.path.expanduser(opts.job_dir)) if opts.job_dir else None
    tasks: list[GridEngineTask] = []
    layout: list[tuple[str, int]] = []
    for role in app.roles:
        if role.entrypoint in (MISSING, ""):
            raise InvalidRunConfigException(f"role `{role.name}` has no entrypoint")
        if role.num_replicas < 1:
            continue
        layout.append((role.name, role.num_replicas))
        for k in range(role.num_replicas):
            values = macros.Values(img_root=role.image, app_id=_APP_ID, replica_id=str(k),
                                   rank0_env=RANK0_ENV)
            r = values.apply(role)
            env = [_q(f"{key}={val}") for key, val in r.env.items()]
            argv = [_q(a) for a in [r.entrypoint, *r.args]]
            tasks.append(GridEngineTask(role.name, k, " ".join((["env", *env] if env else [])
                                                               + argv)))
    roles = [r for r in app.roles if r.num_replicas > 0]
    cpu = max(max(r.resource.cpu for r in roles), 1)
    mem = max(r.resource.memMB for r in roles)
    gpu = max(r.resource.gpu for r in roles)
    d = ["-S /bin/bash", f"-N {job_name(app.name)}", f"-t 1-{len(tasks)}",
         f"-wd {directive_value('job_dir', job_dir)}" if job_dir else "-cwd",
         "-o torchx-$JOB_ID.$TASK_ID.out", "-e torchx-$JOB_ID.$TASK_ID.err", "-V"]
    if opts.queue:
        d.append(f"-q {directive_value('queue', opts.queue)}")
    if opts.project:
        d.append(f"-P {directive_value('project', opts.project)}")
    if cpu > 1:
        d.append(f"-pe {directive_value('pe', opts.pe)} {cpu}")
    if mem > 0 and opts.mem_resource:
        d.append(f"-l {directive_value('mem_resource', opts.mem_resource)}={mem}M")
    if gpu > 0 and opts.gpu_resource:
        d.append(f"-l {directive_value('gpu_resource', opts.gpu_resource)}={gpu}")
    notes = []
    if len({(r.resource.cpu, r.resource.memMB, r.resource.gpu) for r in roles}) > 1:
        notes.append(f"one array job: every task asks for the largest role's resources"
                     f" (cpu={cpu}, memMB={mem}, gpu={gpu})")
    retries = max(r.max_retries for r in roles)
    return GridEngineRequest(app.name, d, tasks, layout, job_dir, retries, notes)


# --------------------------------------------------------------------------- job records


def _records_dir() -> str:
    home = os.environ.get("TORCHX_HOME") or os.path.join(os.path.expanduser("~"), ".torchx")
    return os.path.join(home, "gridengine")


def _record_path(app_id: str) -> str:
    return os.path.join(_records_dir(), f"{app_id}.json")


def load_record(app_id: str) -> dict[str, Any] | None:
    """What torchx noted about job ``app_id`` when it submitted it (None if not submitted here)."""
    if not app_id.isdigit():
        return None
    try:
        with open(_record_path(app_id)) as f:
            rec: dict[str, Any] = json.load(f)
            return rec
    except (OSError, ValueError):
        return None


def save_record(app_id: str, rec: Mapping[str, Any]) -> None:
    os.makedirs(_records_dir(), mode=0o700, exist_ok=True)
    tmp = f"{_record_path(app_id)}.{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(rec, f)
    os.replace(tmp, _record_path(app_id))


# --------------------------------------------------------------------------- scheduler


class GridEngineCommandError(BatchCommandError):
    """A Grid Engine command failed or is missing; the message carries its own words."""


_RUNNER = CommandRunner(
    system="Grid Engine",
    packages=dict.fromkeys(("qsub", "qstat", "qacct", "qdel", "qconf"), "gridengine-client"),
    elsewhere="run torchx where the Grid Engine client is installed and SGE_ROOT is set (source"
              " $SGE_ROOT/default/common/settings.sh)",
    unresponsive="check that sge_qmaster is up (`qhost`) and retry",
    error=GridEngineCommandError,
)
"""The one seam every Grid Engine command goes through (see :py:meth:`GridEngineScheduler._run`)."""


class GridEngineScheduler(Scheduler[Mapping[str, CfgVal]]):
    """Submits with ``qsub``; reads ``qstat -xml`` and ``qacct``; ``qdel`` cancels.

    Every Grid Engine call goes through :py:meth:`_run`; ``calls`` counts them.
    """

    timeout = 120.0
    """Seconds one Grid Engine command may take before it counts as failed."""
    accounting_grace = 120.0
    """Seconds a job may be missing from both ``qstat`` and ``qacct`` before it counts as failed
    (accounting is flushed every 15 s by default)."""

    def __init__(self, session_name: str, **kwargs: Any) -> None:
        super().__init__("gridengine", session_name)
        self.calls = 0

    def _run(self, cmd: list[str], input: str | None = None, missing_ok: bool = False) -> str:
        """Run a Grid Engine command: its stdout, or GridEngineCommandError (one line). With
        ``missing_ok`` a "job not found" failure is an empty answer."""
        self.calls += 1
        try:
            return _RUNNER(cmd, input=input, timeout=self.timeout)
        except GridEngineCommandError as e:
            if missing_ok and re.search(r"not found|does not exist|do not exist", e.detail):
                return ""
            raise

    def _run_opts(self) -> runopts:
        return GridEngineOpts.as_runopts()

    # ---- submitting

    def _submit_dryrun(
        self, app: AppDef, cfg: Mapping[str, CfgVal]
    ) -> AppDryRunInfo[GridEngineRequest]:
        return AppDryRunInfo(build_request(app, GridEngineOpts.from_cfg(cfg)), repr)

    def schedule(self, dryrun_info: AppDryRunInfo[GridEngineRequest]) -> str:
        req = dryrun_info.request
        if req.job_dir:
            os.makedirs(req.job_dir, exist_ok=True)
        try:
            out = self._run(req.cmd, input=req.materialize())
        except GridEngineCommandError as e:
            hint = ""
            if "parallel environment" in str(e):
                hint = " (choose one of `qconf -spl` with `-cfg pe=<name>`)"
            raise GridEngineCommandError(f"qsub rejected the job: {e}{hint}") from None
        app_id = out.strip().split(".")[0]
        save_record(app_id, {"app": req.app_name, "job_dir": req.job_dir or os.getcwd(),
                             "layout": req.layout, "submitted": time.time(),
                             "cancelled": False, "gone_since": None})
        return app_id

    # ---- status

    def _qstat(self, user: str = "*") -> dict[str, dict[int, Task]]:
        out = self._run(["qstat", "-xml", "-g", "d", "-u", user])
        jobs: dict[str, dict[int, Task]] = {}
        for t in parse_qstat_xml(out):
            jobs.setdefault(t.job_id, {})[t.task_id] = t
        return jobs

    def _qacct(self, ids: set[str], since: float | None) -> dict[str, dict[int, Task]]:
        """Accounting of ``ids``: one ``qacct`` call (of jobs started since ``since``)."""
        if len(ids) == 1:
            cmd = ["qacct", "-j", next(iter(ids))]
        else:
            cmd = ["qacct", "-j"]
            if since:
                cmd += ["-b", time.strftime("%Y%m%d%H%M", time.localtime(since - 60))]
        jobs: dict[str, dict[int, Task]] = {}
        for t in parse_qacct(self._run(cmd, missing_ok=True)):
            if t.job_id in ids:
                jobs.setdefault(t.job_id, {})[t.task_id] = t
        return jobs

    def describe_many(
        self, app_ids: list[str], *, reasons: bool = True
    ) -> dict[str, DescribeAppResponse | None]:
        """All of ``app_ids`` with one ``qstat``, at most one ``qacct`` (for jobs with tasks no
        longer queued) and, with ``reasons``, one ``qstat -j`` for the pending ones."""
        ids = [a for a in app_ids if a.isdigit()]
        records = {a: load_record(a) for a in ids}
        live = self._qstat() if ids else {}
        n_tasks = {a: sum(n for _, n in (r or {}).get("layout") or [("", 0)]) for a, r in
                   records.items()}
        gone = {a for a in ids if len(live.get(a, {})) < max(n_tasks[a], 1)}
        acct: dict[str, dict[int, Task]] = {}
        if gone:
            subs = [r["submitted"] for a in gone if (r := records[a]) and r.get("submitted")]
            acct = self._qacct(gone, min(subs) if len(subs) == len(gone) else None)
        why: dict[str, str] = {}
        pending = [a for a in ids if live.get(a) and all(
            gridengine_state(t.state) == AppState.PENDING for t in live[a].values())]
        if reasons and pending:
            why = parse_reasons(self._run(["qstat", "-j", ",".join(pending)], missing_ok=True))
        out: dict[str, DescribeAppResponse | None] = dict.fromkeys(app_ids)
        for a in ids:
            rec = records[a]
            tasks = {**acct.get(a, {}), **live.get(a, {})}
            if not tasks and rec is None:
                continue
            layout = [(str(r), int(n)) for r, n in rec["layout"]] if rec else None
            cancelled = bool(rec and rec.get("cancelled"))
            awaiting = False
            if rec and len(tasks) < n_tasks[a] and not live.get(a) and not cancelled:
                awaiting = not self._grace_over(a, rec)
                if not awaiting:
                    out[a] = self._lost(a, tasks, layout)
                    continue
            out[a] = to_describe(a, tasks, layout, cancelled=cancelled, reason=why.get(a, ""),
                                 awaiting_accounting=awaiting)
        return out

    def _grace_over(self, app_id: str, rec: dict[str, Any]) -> bool:
        now = time.time()
        if not rec.get("gone_since"):
            rec["gone_since"] = now
            save_record(app_id, rec)
        return bool(now - float(rec["gone_since"]) > self.accounting_grace)

    def _lost(self, app_id: str, tasks: dict[int, Task], layout: list[tuple[str, int]] | None
              ) -> DescribeAppResponse:
        d = to_describe(app_id, tasks, layout, cancelled=True)
        d.state = AppState.FAILED
        d.msg = (f"FAILED: job {app_id} left the queue but `qacct -j {app_id}` has no record"
                 f" of it after {self.accounting_grace:g} s: exit status unknown (is accounting"
                 " on? `qconf -sconf | grep reporting_params`)")
        return d

    def describe(self, app_id: str) -> DescribeAppResponse | None:
        return self.describe_many([app_id])[app_id]

    def list(self, cfg: Mapping[str, CfgVal] | None = None) -> list[ListAppResponse]:
        """This user's queued/running jobs (``qstat``) and the ones torchx submitted from here
        in the last 7 days (their records), with one ``qacct`` call for the finished."""
        import getpass

        ids = set(self._qstat(getpass.getuser()))
        week = time.time() - 7 * 86400
        if os.path.isdir(_records_dir()):
            for name in os.listdir(_records_dir()):
                a = name.removesuffix(".json")
                if a.isdigit() and os.path.getmtime(_record_path(a)) > week:
                    ids.add(a)
        descs = self.describe_many(sorted(ids, key=int), reasons=False)
        out = []
        for a, d in descs.items():
            if d is None:
                continue
            rec = load_record(a) or {}
            out.append(ListAppResponse(
                app_id=a, state=d.state, name=rec.get("app", ""), created=rec.get("submitted"),
                app_handle=make_app_handle(self.backend, self.session_name, a)))
        return out

    def _cancel_existing(self, app_id: str) -> None:
        rec = load_record(app_id)
        if rec is not None:  # before qdel: a task deleted while pending is never accounted
            rec["cancelled"] = True
            save_record(app_id, rec)
        self._run(["qdel", app_id], missing_ok=True)

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
        """Lines of the task's ``-o``/``-e`` files (both for COMBINED or None). The files carry
        no timestamps: ``since``/``until`` filter whole files (see ``batch_common.log_lines``)."""
        rec = load_record(app_id)
        if rec is None:
            if self.describe(app_id) is None:
                raise UnknownAppException(app_id)
            raise TorchXError(
                f"job {app_id} was not submitted by torchx as this user on this host, so its"
                f" roles and directory are unknown: its logs are torchx-{app_id}.<task>.out/.err"
                " in its working directory")
        tid = 0
        for role, n in rec["layout"]:
            if role == role_name and 0 <= k < n:
                tid += k + 1
                break
            tid += n
        else:
            roles = {r: n for r, n in rec["layout"]}
            raise TorchXError(f"app `{app_id}` has no replica {k} of role `{role_name}`;"
                              f" its roles and replica counts: {roles}")
        paths = stream_paths(os.path.join(rec["job_dir"], f"torchx-{app_id}.{tid}"), streams)
        return log_lines(paths, regex, since, until, should_tail, done=app_ended(self, app_id))


def create_scheduler(session_name: str, **kwargs: Any) -> GridEngineScheduler:
    return GridEngineScheduler(session_name, **kwargs)
