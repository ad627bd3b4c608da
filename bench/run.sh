#!/usr/bin/env bash
# Sets up bench/.venv (Python 3.11: the peers plus this project, editable) and the Node
# BullMQ peer in bench/node, then runs the benchmark: bench/run.sh [run.py flags].
# A peer that fails to install is reported as "not run" in its row by run.py.
set -euo pipefail
cd "$(dirname "$0")"
PROJECT=..  # the workhorse project, relative to this script

if [ ! -f "$PROJECT/pyproject.toml" ]; then
  echo "run.sh: no pyproject.toml in $(cd "$PROJECT" && pwd); is bench/ inside the project?" >&2
  exit 1
fi

if [ ! -x .venv/bin/python ]; then
  PY=${PYTHON:-python3.11}
  "$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
    || { echo "run.sh: need Python 3.11 (set PYTHON=/path/to/python3.11)" >&2; exit 1; }
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q -r requirements.txt
.venv/bin/python -m pip install -q -e "$PROJECT" \
  || echo "run.sh: installing the project from $PROJECT failed; workhorse will not run" >&2

if [ ! -d node/node_modules ] || [ node/package-lock.json -nt node/node_modules/.package-lock.json ]; then
  (cd node && npm ci --no-audit --no-fund >&2) \
    || echo "run.sh: npm ci failed in bench/node; node-bullmq will not run" >&2
fi

exec .venv/bin/python run.py "$@"
