#!/usr/bin/env bash
# The prepared accelerator check, <= 8 minutes on one H100/H200, from a plain checkout (nothing to install:
# the checkout is put on PYTHONPATH; h5netcdf and mlxtend are not needed).
#   bash benchmarks/gpu_check.sh [--out DIR] [--budget-s S] [--parts ...]   # on a GPU machine
#   bash benchmarks/gpu_check.sh --dry-run [--out DIR]                      # tiny sizes on any device (tests)
# Results (at most 8 files, each <= 16 MiB) go to --out DIR, else $OUT when set, else results/gpu_check/;
# paste DIR/gpu_check.md into benchmarks/RESULTS.md. The exact remote command line is in RESULTS.md.
# Interpreter: $PYTHON, else the checkout's .venv, else python3, else python.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export XLA_PYTHON_CLIENT_PREALLOCATE="${XLA_PYTHON_CLIENT_PREALLOCATE:-false}"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"
elif command -v python3 >/dev/null 2>&1; then PY=python3
else PY=python; fi
"$PY" -c "import importlib.util as u, sys; sys.exit(u.find_spec('jax') is None)" 2>/dev/null \
  || { echo "gpu_check: $PY cannot import jax" >&2; exit 3; }
if [[ " $* " != *" --dry-run "* ]]; then
  "$PY" -c "import jax, sys; b = jax.default_backend(); print('backend:', b, jax.devices()); sys.exit(b == 'cpu')" \
    || { echo "gpu_check: no accelerator visible to jax (use --dry-run on CPU)" >&2; exit 3; }
fi
exec timeout 540 "$PY" "$ROOT/benchmarks/gpu_check.py" "$@"
