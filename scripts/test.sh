#!/usr/bin/env bash
# Run the test suite (sets up .venv first if needed). Extra arguments go to pytest.
# When PostgreSQL can be started on this machine, the feedback-store tests also run against it.
# A full run (no arguments) then runs the quality gate: `supportbot eval` on both dev sets
# (samples/devsets.toml, data in ../shared) with --fail-under gates at the figures the README
# reports, less a small noise margin, so a change that costs quality fails here.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
if [ -z "${SUPPORTBOT_TEST_POSTGRES_URL:-}" ]; then
  if url=$(bash scripts/start_postgres.sh); then
    export SUPPORTBOT_TEST_POSTGRES_URL="$url"
  else
    echo "PostgreSQL not available: feedback-store tests run on SQLite only." >&2
  fi
fi
bash scripts/install_chromium.sh || echo "Chromium not available: the browser test skips." >&2
python -m pytest "$@"
if [ "$#" -eq 0 ]; then
  bash scripts/quality_gate.sh
fi
