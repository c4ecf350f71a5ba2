#!/usr/bin/env bash
# Creates .venv (if missing) and installs babyctl with its CPU training stack.
# torch is installed first and pinned (constraints.txt) so that pip takes the
# CPU wheel instead of a multi-GB CUDA build. Idempotent: re-runs only when
# pyproject.toml or constraints.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
stamp=.venv/.babyctl-installed
want=$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -c constraints.txt torch
.venv/bin/python -m pip install -q -c constraints.txt -e '.[train,eval,dev,capability]'
echo "$want" > "$stamp"
