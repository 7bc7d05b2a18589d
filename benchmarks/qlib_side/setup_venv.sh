#!/usr/bin/env bash
# Build the separate virtualenv that runs Qlib's single-order simulator for benchmarks/bench_qlib.py.
#
#   bash benchmarks/qlib_side/setup_venv.sh          # creates <repo>/.venv-qlib
#   QLIB_VENV=/some/dir bash benchmarks/qlib_side/setup_venv.sh
#
# Qlib is not a dependency of multiexec: it needs numpy<2 and an old tianshou, so it lives apart.
# torch is installed first and pinned to 2.13.0 (the CPU wheel found via pip's find-links) so that
# tianshou's plain `torch` requirement never pulls a CUDA build from the registry.
# pandas is kept below 3: pyqlib 0.9.7 predates pandas 3, under which its simulator ran slower
# than under pandas 2.3, the line it was released against (about 1.5x slower in one run here).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV="${QLIB_VENV:-$REPO/.venv-qlib}"
PY="${PYTHON:-python3.11}"

if ! command -v "$PY" >/dev/null 2>&1; then
  echo "error: $PY not found (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi

"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install --upgrade pip wheel setuptools
"$VENV/bin/python" -m pip install "torch==2.13.0"
"$VENV/bin/python" -m pip install "pyqlib==0.9.7" "tianshou==0.4.10" "numpy<2" "pandas<3" "torch==2.13.0"
"$VENV/bin/python" - <<'PY'
import numpy, pandas, qlib, tianshou, torch
from qlib.rl.order_execution import SingleAssetOrderExecutionSimple  # noqa: F401
print(f"ok: qlib {qlib.__version__}, tianshou {tianshou.__version__}, numpy {numpy.__version__}, pandas {pandas.__version__}, torch {torch.__version__}")
PY
echo "Qlib venv ready at $VENV"
