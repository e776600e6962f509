#!/usr/bin/env bash
# MLflow for the MLflow tracker's tests. usage: mlflow.sh start|stop
# MLflow is a library plus a server the tests start themselves (on a free loopback port, with a
# sqlite store in a temp dir), so `start` only makes sure the project venv has it; `stop` is a no-op.
set -euo pipefail
cd "$(dirname "$0")/../.."
case "${1:-}" in
  start)
    .venv/bin/python -c 'import mlflow' 2>/dev/null \
      || .venv/bin/pip install -q --disable-pip-version-check 'mlflow>=2.10'
    .venv/bin/mlflow --version >&2 ;;
  stop) ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
