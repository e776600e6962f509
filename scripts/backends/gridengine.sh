#!/usr/bin/env bash
# A one-host Son of Grid Engine cluster (Debian 12 gridengine-*) for the integration tests.
#
# usage: scripts/backends/gridengine.sh start|stop|status
#
# As /work/shared/recipes/sge-ci.sh: a host alias (127.0.0.1 reverse-resolves to "localhost", not
# to hostname -s), min_uid/min_gid 0 (CI runs as root), a 1 s scheduling interval, a parallel
# environment `smp` ($pe_slots) and queue all.q with 4 slots. Daemons are started by hand (no
# systemd). Idempotent: when qmaster and execd already run and all.q is configured it only checks
# them (a second or two).
set -euo pipefail
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
H=$(hostname -s)
QPID=/var/spool/gridengine/qmaster/qmaster.pid

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
execd_pidfile() {  # the execd spool directory is named as SGE resolves the host ("localhost")
  local f
  for f in /var/spool/gridengine/execd/*/execd.pid; do alive "$f" && { echo "$f"; return 0; }; done
  return 1
}

stop_all() {  # by PID file only
  local f p
  for f in /var/spool/gridengine/execd/*/execd.pid "$QPID"; do
    [ -f "$f" ] || continue
    p=$(cat "$f"); kill "$p" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
}

install_packages() {
  command -v qsub >/dev/null && [ -x /usr/sbin/sge_qmaster ] && [ -x /usr/sbin/sge_execd ] && return 0
  echo "gridengine.sh: installing gridengine-master gridengine-exec gridengine-client" >&2
  local p
  for p in gridengine-common gridengine-client gridengine-master; do
    printf '%s shared/gridenginemaster string %s\n%s shared/gridenginecell string default\n%s shared/gridengineconfig boolean true\n' \
      "$p" "$H" "$p" "$p" | debconf-set-selections
  done
  # other backends' scripts may run apt at the same time: wait for the dpkg lock, do not fail
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    gridengine-master gridengine-exec gridengine-client >/dev/null
}

configured() {  # everything the tests rely on is in place
  local conf; conf=$(qconf -sconf global 2>/dev/null) || return 1
  grep -q '^min_uid *0$' <<<"$conf" && grep -q '^login_shells *none$' <<<"$conf" &&
    qconf -ssconf 2>/dev/null | grep -q '^schedule_interval *0:0:1$' &&
    qconf -sp smp >/dev/null 2>&1 && qconf -sq all.q >/dev/null 2>&1 &&
    qconf -sel 2>/dev/null | grep -qx "$H"
}

configure() {
  local t; t=$(mktemp -d)
  (
    cd "$t"
    qconf -sconf global >global                      # root's jobs are refused (min_uid 1000) unless:
    # jobs start as plain (non-login) shells: root's ~/.profile here runs pyenv, which blocks on
    # a lock other processes hold and writes to every job's stderr
    sed -i -e 's/^min_uid .*/min_uid 0/' -e 's/^min_gid .*/min_gid 0/' \
      -e 's/^login_shells .*/login_shells none/' global
    qconf -Mconf global >/dev/null                   # the file must be named after the config
    qconf -ssconf >sched                             # default 15 s scheduling interval -> 1 s
    sed -i -e 's/^schedule_interval .*/schedule_interval 0:0:1/' -e 's/^flush_submit_sec .*/flush_submit_sec 1/' \
      -e 's/^flush_finish_sec .*/flush_finish_sec 1/' sched
    qconf -Msconf sched >/dev/null
    qconf -as "$H" >/dev/null 2>&1 || true            # submit host
    if ! qconf -shgrp @allhosts >/dev/null 2>&1; then
      printf 'group_name @allhosts\nhostlist %s\n' "$H" >hg; qconf -Ahgrp hg >/dev/null
    fi
    if ! qconf -sp smp >/dev/null 2>&1; then
      printf '%s\n' 'pe_name smp' 'slots 999' 'user_lists NONE' 'xuser_lists NONE' 'start_proc_args NONE' \
        'stop_proc_args NONE' 'allocation_rule $pe_slots' 'control_slaves TRUE' 'job_is_first_task FALSE' \
        'urgency_slots min' 'accounting_summary FALSE' 'qsort_args NONE' >pe
      qconf -Ap pe >/dev/null
    fi
  )
  rm -rf "$t"
}

add_queue() {
  qconf -sq all.q >/dev/null 2>&1 && return 0
  local t; t=$(mktemp -d)
  (
    cd "$t"
    qconf -sq >q 2>/dev/null || true                  # with no queue name: the template queue
    sed -i -e 's/^qname .*/qname all.q/' -e 's/^hostlist .*/hostlist @allhosts/' -e 's/^slots .*/slots 4/' \
      -e 's/^pe_list .*/pe_list smp/' -e 's/^load_thresholds .*/load_thresholds NONE/' q
    qconf -Aq q >/dev/null
  )
  rm -rf "$t"
}

wait_ready() {  # the queue instance is usable (not unknown/alarm/error)
  for _ in $(seq 150); do
    if qstat -f -q "all.q@$H" 2>/dev/null | grep -q "^all.q@$H"; then
      qstat -f -q "all.q@$H" | awk -v q="all.q@$H" '$1 ~ "^all.q@" { exit ($6 == "" ? 0 : 1) }' && return 0
    fi
    sleep 0.2
  done
  echo "gridengine.sh: queue all.q@$H is not ready:" >&2; qstat -f >&2 || true
  return 1
}

start() {
  install_packages
  # 127.0.0.1 reverse-resolves to "localhost" but gethostname() is $H: tell SGE they are one host
  local alias="$H localhost" af=$SGE_ROOT/$SGE_CELL/common/host_aliases
  [ "$(cat "$af" 2>/dev/null)" = "$alias" ] || echo "$alias" >"$af"
  if alive "$QPID" && execd_pidfile >/dev/null && configured; then
    wait_ready; return 0
  fi
  alive "$QPID" || /usr/sbin/sge_qmaster
  for _ in $(seq 100); do qconf -sh >/dev/null 2>&1 && break; sleep 0.2; done
  configure
  if ! execd_pidfile >/dev/null; then
    /usr/sbin/sge_execd                             # registers itself as exec host (admin host)
  fi
  for _ in $(seq 100); do qconf -sel 2>/dev/null | grep -qx "$H" && break; sleep 0.2; done
  add_queue
  qmod -c all.q >/dev/null 2>&1 || true           # clear an error state left by an earlier run
  wait_ready
  echo "gridengine.sh: one-host cluster up (all.q@$H, 4 slots, PE smp)" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop_all ;;
  status) alive "$QPID" && execd_pidfile >/dev/null && qstat -f ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
