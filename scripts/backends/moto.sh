#!/usr/bin/env bash
# moto server (AWS emulator) for the aws_batch / aws_sagemaker tests. usage: scripts/backends/moto.sh start|stop
# start: installs moto[server] into its own venv ($TORCHX_MOTO_DIR, default /opt/torchx-moto; never
# the repo's .venv), makes sure Docker Engine runs (moto runs each Batch job as real containers) and
# that the Docker network `torchx-moto` exists (Batch containers join it, so a multinode job's
# nodes resolve each other's hostnames), and starts `moto_server` on 127.0.0.1:$TORCHX_MOTO_PORT
# (default 5077). It creates no AWS resources: the tests create their IAM role, compute
# environment and job queue themselves (idempotently). Idempotent: well under a second when running.
# Clients: AWS_ENDPOINT_URL=http://127.0.0.1:5077 AWS_DEFAULT_REGION=us-east-1
#          AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
set -euo pipefail
PORT=${TORCHX_MOTO_PORT:-5077}
DIR=${TORCHX_MOTO_DIR:-/opt/torchx-moto}
MOTO_VERSION=5.2.5   # the version whose Batch/Logs/SageMaker behaviour the tests were written against
NET=torchx-moto
STATE=/run/torchx-moto
PIDFILE=$STATE/moto-$PORT.pid
mkdir -p "$STATE"

up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if [ "${1:-start}" = stop ]; then
  if [ -f "$PIDFILE" ]; then
    pid=$(cat "$PIDFILE")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$PIDFILE"
  fi
  exit 0
fi

if ! "$DIR/venv/bin/python" -c "import moto, flask; assert moto.__version__ == '$MOTO_VERSION'" 2>/dev/null; then
  echo "installing moto[server]==$MOTO_VERSION into $DIR/venv" >&2
  [ -x "$DIR/venv/bin/python" ] || python3 -m venv "$DIR/venv"
  "$DIR/venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" \
    2> >(grep -v 'is ignored: it is neither a file nor a directory' >&2)
fi

bash "$(dirname "$0")/docker.sh" start
docker network inspect "$NET" >/dev/null 2>&1 || docker network create "$NET" >/dev/null

if up; then
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then exit 0; fi
  echo "port $PORT is taken by something that is not our moto server: set TORCHX_MOTO_PORT" >&2
  exit 1
fi
(MOTO_DOCKER_NETWORK_NAME=$NET setsid "$DIR/venv/bin/moto_server" -H 127.0.0.1 -p "$PORT" \
   >"$STATE/moto-$PORT.log" 2>&1 </dev/null & echo $! >"$PIDFILE")
for _ in $(seq 100); do up && break; sleep 0.1; done
up || { echo "moto_server did not start: see $STATE/moto-$PORT.log" >&2; exit 1; }
