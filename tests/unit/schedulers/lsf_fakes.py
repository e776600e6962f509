"""FAKE LSF and Docker commands for the lsf scheduler tests. They are not LSF.

LSF is proprietary and cannot be installed on this machine, so the tests run the generated
submit script under bash with these stand-ins on PATH: ``bsub`` (reads the job body on stdin and
runs it at once, detached, with ``-o``/``-e`` as its stdout/stderr; queue ``closed`` keeps the
job pending; ``-n`` over 64 is rejected), ``bjobs`` (``-a -json -o ... [-P project]`` from the
jobs' state files), ``bkill`` (SIGKILL to the job's process group, then exit code 130 as LSF
reports for a bkill), ``bhosts`` (one host, ``localhost``, in state ok) and ``docker`` (``docker
run`` options parsed and the entrypoint exec'ed on this host with the ``-e`` environment: a fake
container). What they cannot do: dependencies (``-w``), host selection (``-m``, ``-R``),
resource limits, suspension, and LSF's ``CLEAN_PERIOD`` (jobs are remembered until the state
directory is removed).
State lives in ``$FAKE_LSF_STATE``.
"""

from __future__ import annotations

import stat
import sys
from pathlib import Path

_COMMON = """\
import fcntl, json, os, signal, subprocess, sys, time
STATE = os.environ["FAKE_LSF_STATE"]
os.makedirs(STATE, exist_ok=True)
def jobs():
    out = []
    for n in sorted(os.listdir(STATE), key=lambda n: int(n.split(".")[0]) if n[0].isdigit() else 0):
        if n.endswith(".json"):
            with open(os.path.join(STATE, n)) as f:
                out.append(json.load(f))
    return out
def save(j):
    with open(os.path.join(STATE, j["id"] + ".json"), "w") as f:
        json.dump(j, f)
def status(j):
    rc = os.path.join(STATE, j["id"] + ".rc")
    if os.path.exists(rc):
        code = int(open(rc).read().strip() or 1)
        return ("DONE", "") if code == 0 else ("EXIT", str(code))
    if j.get("pend"):
        return "PEND", ""
    try:
        os.kill(j["pid"], 0)
        return "RUN", ""
    except OSError:
        return "EXIT", "1"
"""

_BSUB = _COMMON + """\
args = sys.argv[1:]
opts = {}
while args:
    k = args.pop(0)
    opts[k] = args.pop(0)
body = sys.stdin.read()
if int(opts.get("-n", 1)) > 64:
    print("Bad argument for option -n. Job not submitted.", file=sys.stderr)
    sys.exit(255)
with open(os.path.join(STATE, "lock"), "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    jid = str(len([n for n in os.listdir(STATE) if n.endswith(".json")]) + 100)
    j = {"id": jid, "name": opts.get("-J", ""), "proj": opts.get("-P", "default"),
         "queue": opts.get("-q", "normal"), "out": opts.get("-o", ""), "err": opts.get("-e", ""),
         "pend": opts.get("-q") == "closed", "pid": 0, "submitted": time.time()}
    save(j)
body_file = os.path.join(STATE, jid + ".sh")
with open(body_file, "w") as f:
    f.write(body)
if not j["pend"]:
    rc = os.path.join(STATE, jid + ".rc")
    wrapper = 'sh "$1" >>"$2" 2>>"$3"; echo $? >"$4.tmp"; mv -f "$4.tmp" "$4"'
    p = subprocess.Popen(["bash", "-c", wrapper, "job", body_file, j["out"] or os.devnull,
                          j["err"] or os.devnull, rc], start_new_session=True,
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env={**os.environ, "LSB_JOBID": jid})
    j["pid"] = p.pid
    save(j)
print(f"Job <{jid}> is submitted to queue <{j['queue']}>.")
"""

_BJOBS = _COMMON + """\
args = sys.argv[1:]
fields = args[args.index("-o") + 1].split() if "-o" in args else ["jobid", "stat"]
proj = args[args.index("-P") + 1] if "-P" in args else None
recs = []
for j in jobs():
    if proj is not None and j["proj"] != proj:
        continue
    st, code = status(j)
    vals = {"jobid": j["id"], "job_name": j["name"], "proj_name": j["proj"], "stat": st,
            "exit_code": code, "exec_host": "" if st == "PEND" else "localhost",
            "pend_reason": "Queue is closed" if st == "PEND" else "",
            "output_file": j["out"], "error_file": j["err"]}
    recs.append({f.upper(): vals.get(f, "") for f in fields})
if not recs:
    print("No job found", file=sys.stderr)
    sys.exit(255)
print(json.dumps({"COMMAND": "bjobs", "JOBS": len(recs), "RECORDS": recs}, indent=2))
"""

_BKILL = _COMMON + """\
for jid in sys.argv[1:]:
    path = os.path.join(STATE, jid + ".json")
    if not os.path.exists(path):
        print(f"Job <{jid}>: No matching job found", file=sys.stderr)
        continue
    j = json.load(open(path))
    if j.get("pend"):
        open(os.path.join(STATE, jid + ".rc"), "w").write("130")
    else:
        try:
            os.killpg(j["pid"], signal.SIGKILL)
        except OSError:
            pass
        for _ in range(100):
            try:
                os.kill(j["pid"], 0)
                time.sleep(0.05)
            except OSError:
                break
        open(os.path.join(STATE, jid + ".rc"), "w").write("130")
    print(f"Job <{jid}> is being terminated")
"""

_BHOSTS = """\
import sys
print("HOST_NAME          STATUS          JL/U    MAX  NJOBS    RUN  SSUSP  USUSP    RSV")
print("localhost          ok              -       8      0      0      0      0      0")
"""

_DOCKER = """\
import os, sys
args = sys.argv[1:]
assert args.pop(0) == "run", "fake docker: only `docker run`"
env = dict(os.environ)
entry, workdir = None, None
while args and args[0].startswith("-"):
    a = args.pop(0)
    if a in ("--rm",) or a.startswith("--shm-size=") or a.startswith("--net="):
        continue
    val = args.pop(0)
    if a == "-e":
        k, eq, v = val.partition("=")
        if eq:
            env[k] = v
    elif a == "--entrypoint":
        entry = val
    elif a == "-w":
        workdir = val
image = args.pop(0)
env["FAKE_DOCKER_IMAGE"] = image
if workdir:
    os.chdir(workdir)
os.execvpe(entry, [entry, *args], env)
"""

FAKES = {"bsub": _BSUB, "bjobs": _BJOBS, "bkill": _BKILL, "bhosts": _BHOSTS, "docker": _DOCKER}


def install(bindir: Path) -> Path:
    """Write the fake commands into ``bindir`` (created); returns it for PATH."""
    bindir.mkdir(parents=True, exist_ok=True)
    for name, body in FAKES.items():
        p = bindir / name
        p.write_text(f"#!{sys.executable}\n# FAKE {name} for torchx tests: not LSF/Docker\n" + body)
        p.chmod(p.stat().st_mode | stat.S_IEXEC)
    return bindir
