#!/usr/bin/env bash
# The prepared GPU check: does hashbench run here, and is the GPU kept busy? (<= 8 minutes on one recent GPU)
# Idempotent: the work folder ($HASHBENCH_GPU_CHECK_DIR, default /tmp/hashbench-gpu-check) and the clip
# cache in it are reused; run it again after a fix. Prints one summary table; exits non-zero on a failure.
# Without CUDA it says so and exits 0 after its CPU parts (a tiny training run, the 2-process gloo DDP test).
set -uo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  if [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
# Install this checkout without touching the network (dependencies must already be there).
if ! "$PY" -m pip install --quiet --no-deps --no-build-isolation --no-index -e . >/tmp/hashbench-gpu-check-pip.log 2>&1; then
  echo "[gpu_check] pip install --no-deps -e . failed (see /tmp/hashbench-gpu-check-pip.log); using the checkout as it is"
fi
exec "$PY" benchmarks/gpu_check.py "$@"
