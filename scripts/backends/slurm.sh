#!/usr/bin/env bash
# A Slurm cluster on this machine for the integration tests (Debian 12, root, no systemd needed).
#
# usage: scripts/backends/slurm.sh start|stop|status
# env:   SLURM_NODES (default 4)  slurmd daemons n1..nN, all on localhost, names in /etc/hosts
#        SLURM_DBD   (default 1)  1 = slurmdbd + MariaDB accounting (sacct works); 0 = none
#
# Idempotent: when the daemons already run with the wanted configuration it only checks them
# (well under a second). Switching SLURM_DBD restarts slurmctld/slurmd with the new config.
# Partitions: `debug` (all nodes, default) and `tiny` (n1 only, for tests that need a queue).
set -euo pipefail
NODES=${SLURM_NODES:-4}
DBD=${SLURM_DBD:-1}
HOST=$(hostname -s)
CONF=/etc/slurm/slurm.conf
LOG=/var/log/slurm

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pidfile() {  # by PID file only; slurmctld leaves its PID file behind, so remove it
  local f=$1 p
  [ -f "$f" ] || return 0
  p=$(cat "$f"); kill "$p" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  rm -f "$f"
}

stop_slurm() {  # signal every daemon first, then wait: each slurmd takes ~1 s to exit
  local f pids=()
  for f in /run/slurmd-*.pid /run/slurmctld.pid; do
    [ -f "$f" ] || continue
    pids+=("$(cat "$f")"); kill "${pids[-1]}" 2>/dev/null || true
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  done
  rm -f /run/slurmd-*.pid /run/slurmctld.pid
}

stop_all() {
  stop_slurm
  for f in /run/slurmdbd.pid /run/mysqld/mysqld.pid /run/munge/munged.pid; do stop_pidfile "$f"; done
}

install_packages() {
  local pkgs="slurm-wlm slurm-client munge" need=0
  command -v slurmctld >/dev/null && command -v sbatch >/dev/null || need=1
  if [ "$DBD" = 1 ]; then
    pkgs="$pkgs slurmdbd mariadb-server"
    command -v slurmdbd >/dev/null && command -v mariadbd >/dev/null || need=1
  fi
  [ "$need" = 1 ] || return 0
  echo "slurm.sh: installing $pkgs" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
}

hosts_entries() {  # node names must resolve: torchrun rendezvous connects to them
  local names="" i
  for i in $(seq 1 "$NODES"); do names="$names n$i"; done
  grep -q "# torchx-slurm$" /etc/hosts 2>/dev/null && grep -q "^127.0.0.1$names # torchx-slurm$" /etc/hosts && return 0
  # /etc/hosts may be a bind mount: rewrite it in place, never rename over it
  local rest; rest=$(grep -v "# torchx-slurm$" /etc/hosts || true)
  printf '%s\n127.0.0.1%s # torchx-slurm\n' "$rest" "$names" >/etc/hosts
}

start_munge() {
  install -d -o munge -g munge -m 755 /run/munge
  alive /run/munge/munged.pid || runuser -u munge -- /usr/sbin/munged
  munge -n | unmunge >/dev/null
}

start_dbd() {  # MariaDB + slurmdbd; slurmdbd logs in over the unix socket, no password anywhere
  install -d -o mysql -g mysql /run/mysqld
  mkdir -p "$LOG"
  if ! mariadb -e 'select 1' >/dev/null 2>&1; then
    (setsid mariadbd --user=mysql --bind-address=127.0.0.1 --pid-file=/run/mysqld/mysqld.pid \
      >"$LOG/mariadb.log" 2>&1 &)
    for _ in $(seq 150); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
              CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED VIA unix_socket;
              GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  cat >/etc/slurm/slurmdbd.conf <<EOF
AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=slurm
PidFile=/run/slurmdbd.pid
LogFile=$LOG/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StorageLoc=slurm_acct_db
EOF
  chown slurm:slurm /etc/slurm/slurmdbd.conf; chmod 600 /etc/slurm/slurmdbd.conf
  alive /run/slurmdbd.pid || slurmdbd
  for _ in $(seq 150); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.1; done
  sacctmgr -n list cluster format=cluster | grep -qw ci || sacctmgr -i add cluster ci >/dev/null
}

write_conf() {  # prints the wanted slurm.conf
  local acct="AccountingStorageType=accounting_storage/none"
  if [ "$DBD" = 1 ]; then
    acct="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819"
  fi
  cat <<EOF
# written by torchx scripts/backends/slurm.sh (SLURM_DBD=$DBD SLURM_NODES=$NODES)
ClusterName=ci
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
AuthInfo=cred_expire=10
MpiDefault=none
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd/%n
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd-%n.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=1,sched_interval=2
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
$acct
JobCompType=jobcomp/filetxt
JobCompLoc=$LOG/jobcomp.log
JobAcctGatherType=jobacct_gather/linux
MinJobAge=3600
KillWait=5
NodeName=n[1-$NODES] NodeHostname=$HOST NodeAddr=127.0.0.1 Port=[17001-$((17000 + NODES))] CPUs=2 RealMemory=2000 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=tiny Nodes=n1 Default=NO MaxTime=INFINITE State=UP
EOF
}

running_all() {
  local i
  alive /run/slurmctld.pid || return 1
  for i in $(seq 1 "$NODES"); do alive "/run/slurmd-n$i.pid" || return 1; done
}

wait_idle() {
  local up=0
  for _ in $(seq 300); do
    up=$(sinfo -h -p debug -t idle,mixed,allocated -o '%D' 2>/dev/null | head -n1)
    [ "${up:-0}" = "$NODES" ] && return 0
    sleep 0.2
  done
  echo "slurm.sh: only ${up:-0} of $NODES nodes came up; see $LOG/slurmctld.log" >&2
  sinfo >&2 || true
  return 1
}

start() {
  install_packages
  hosts_entries
  mkdir -p "$LOG"; chown slurm:slurm "$LOG"
  start_munge
  local want; want=$(write_conf)
  if [ -f "$CONF" ] && [ "$(cat "$CONF")" = "$want" ] && running_all; then
    [ "$DBD" = 1 ] && start_dbd
    wait_idle; return 0
  fi
  stop_slurm
  printf '%s\n' "$want" >"$CONF"  # sacctmgr (in start_dbd) reads it too
  if [ "$DBD" = 1 ]; then start_dbd; else stop_pidfile /run/slurmdbd.pid; fi
  install -d -o slurm -g slurm /var/lib/slurm/slurmctld
  slurmctld
  local i
  for i in $(seq 1 "$NODES"); do mkdir -p "/var/lib/slurm/slurmd/n$i"; slurmd -N "n$i"; done
  wait_idle
  echo "slurm.sh: $NODES nodes up, accounting=$([ "$DBD" = 1 ] && echo slurmdbd || echo none)" >&2
}

case "${1:-start}" in
  start) start ;;
  stop) stop_all ;;
  status) running_all && sinfo ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
