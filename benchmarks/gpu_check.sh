#!/usr/bin/env bash
# One prepared accelerator check, <= 8 minutes on one H100/H200:
#   bash benchmarks/gpu_check.sh [--out DIR] [--budget-s S]   # paper-size phase diagram, Fig 1, Fig 5b transformer,
#                                                              # GPU-vs-CPU agreement -> DIR/gpu_check.md
#   bash benchmarks/gpu_check.sh --dry-run [--out DIR]        # tiny sizes on any device (runs in the test suite)
# Paste DIR/gpu_check.md (default results/gpu_check/) into benchmarks/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export NVIDIA_TF32_OVERRIDE=0                       # no TF32 matmuls (float32 is compared with the CPU)
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
PY="${PYTHON:-python}"
if [ -x .venv/bin/python ] && [ -z "${PYTHON:-}" ]; then PY=.venv/bin/python; fi
if [[ " $* " != *" --dry-run "* ]]; then
  "$PY" -c "import jax, sys; b = jax.default_backend(); print('backend:', b, jax.devices()); sys.exit(b == 'cpu')" \
    || { echo "gpu_check: no accelerator visible to jax (use --dry-run on CPU)" >&2; exit 3; }
fi
exec timeout 480 "$PY" benchmarks/gpu_check.py "$@"
