#!/usr/bin/env bash
# A single-node Ray cluster for the `ray` scheduler tests. usage: scripts/backends/ray.sh start|stop|status
#
# start: installs `ray[default]` into the project's .venv when missing (scripts/setup makes the
#        venv; Ray shares it so jobs find torch for the DDP test), then `ray start --head` on
#        loopback with --num-cpus 2, usage stats off, every port free (6379/8265 when free), its
#        files under $STATE. Writes $STATE/env (RAY_ADDRESS=http://127.0.0.1:<dashboard port>,
#        RAY_GCS_ADDRESS=..., RAY_PYTHON=...), which the tests read. Idempotent: when the
#        recorded cluster answers, it returns in well under a second.
# stop:  stops the processes of the cluster this script started (by the session id recorded at
#        start and their descendants), never other Ray clusters; SIGTERM, then SIGKILL after 3 s.
set -euo pipefail
cd "$(dirname "$0")/../.."
STATE=${TORCHX_RAY_STATE:-/tmp/torchx-ray}
VENV=$PWD/.venv

alive() {  # the recorded cluster is up: its session leader lives and the dashboard answers
  [ -f "$STATE/env" ] && [ -f "$STATE/sid" ] || return 1
  local sid addr py
  sid=$(cat "$STATE/sid")
  addr=$(sed -n 's/^RAY_ADDRESS=//p' "$STATE/env")
  py=$(sed -n 's/^RAY_PYTHON=//p' "$STATE/env")
  [ -x "$py" ] && [ -n "$(session_pids "$sid")" ] || return 1
  curl -sf --max-time 5 "$addr/api/version" >/dev/null
}

session_pids() {  # pids of processes in session $1 and all their descendants
  procs "$1" list
}

procs() {  # procs SID list|stop: list, or stop (SIGTERM, 3 s, SIGKILL), session SID's processes
  python3 - "$@" <<'PY'
import os, signal, sys, time
sid, action = int(sys.argv[1]), sys.argv[2]

def members():
    ppid, out = {}, set()
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] == "Z":
            continue
        ppid[int(p)] = int(fields[1])
        if int(fields[3]) == sid:
            out.add(int(p))
    grew = True
    while grew:  # and their descendants (workers, job drivers in sessions of their own)
        grew = False
        for pid, parent in ppid.items():
            if parent in out and pid not in out:
                out.add(pid)
                grew = True
    return out

if action == "list":
    print(" ".join(map(str, sorted(members()))))
    sys.exit(0)
sig, deadline = signal.SIGTERM, time.monotonic() + 3
while True:
    pids = members()
    if not pids:
        break
    if sig == signal.SIGTERM and time.monotonic() > deadline:
        sig = signal.SIGKILL
    for pid in pids:
        try:
            os.kill(pid, sig)
        except OSError:
            pass
    time.sleep(0.1)
PY
}

stop() {
  [ -f "$STATE/sid" ] || return 0
  procs "$(cat "$STATE/sid")" stop
  rm -f "$STATE/sid" "$STATE/env"
  echo "ray.sh: stopped" >&2
}

install() {
  [ -x "$VENV/bin/python" ] || bash scripts/setup
  [ -x "$VENV/bin/ray" ] && "$VENV/bin/python" -c 'import ray.dashboard, aiohttp' 2>/dev/null && return 0
  echo "ray.sh: installing ray[default] into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check 'ray[default]>=2.9'
}

free_ports() {  # N free TCP ports on 127.0.0.1: the defaults when free, else any
  python3 - "$@" <<'PY'
import socket, sys
held, out = [], []
for want in map(int, sys.argv[1:]):
    for port in ([want, 0] if want else [0]):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers do: TIME_WAIT is free
        try:
            s.bind(("", port))
        except OSError:
            s.close()
            continue
        held.append(s)
        out.append(s.getsockname()[1])
        break
print(" ".join(map(str, out)))
for s in held:
    s.close()
PY
}

start() {
  if alive; then return 0; fi
  install
  stop  # a recorded cluster that no longer answers
  mkdir -p "$STATE"
  local gcs dash client nm om agent agent_grpc metrics renv
  read -r gcs dash client nm om agent agent_grpc metrics renv <<<"$(free_ports 6379 8265 0 0 0 0 0 0 0)"
  rm -rf "$STATE/tmp"; mkdir -p "$STATE/tmp"
  # setsid: the daemons share one new session whose id (= the leader's pid) `stop` kills by
  (
    export PATH="$VENV/bin:$PATH" RAY_USAGE_STATS_ENABLED=0
    setsid "$VENV/bin/ray" start --head --num-cpus 2 --num-gpus 0 \
      --node-ip-address 127.0.0.1 --port "$gcs" \
      --dashboard-host 127.0.0.1 --dashboard-port "$dash" --include-dashboard true \
      --ray-client-server-port "$client" --node-manager-port "$nm" --object-manager-port "$om" \
      --dashboard-agent-listen-port "$agent" --dashboard-agent-grpc-port "$agent_grpc" \
      --metrics-export-port "$metrics" --runtime-env-agent-port "$renv" \
      --object-store-memory 200000000 --temp-dir "$STATE/tmp" --disable-usage-stats \
      >"$STATE/start.log" 2>&1 &
    echo $! >"$STATE/sid"
    wait
  ) || { echo "ray.sh: ray start failed, see $STATE/start.log:" >&2; tail -20 "$STATE/start.log" >&2; stop; exit 1; }
  cat >"$STATE/env" <<EOF
RAY_ADDRESS=http://127.0.0.1:$dash
RAY_GCS_ADDRESS=127.0.0.1:$gcs
RAY_PYTHON=$VENV/bin/python
EOF
  for _ in $(seq 300); do alive && break; sleep 0.2; done
  alive || { echo "ray.sh: the dashboard did not answer on 127.0.0.1:$dash, see $STATE/tmp/session_latest/logs" >&2; exit 1; }
  echo "ray.sh: ray up, RAY_ADDRESS=http://127.0.0.1:$dash (GCS 127.0.0.1:$gcs)" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) alive && cat "$STATE/env" ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
