#!/usr/bin/env bash
# Create .venv (if missing) and install supportbot with its test tools.
# torch is installed first, pinned to the CPU wheel, so nothing pulls the CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
if ! python -c "import torch" 2>/dev/null; then
  pip install --quiet "torch==2.13.0"
fi
pip install --quiet -e ".[dev,postgres,tune]"
