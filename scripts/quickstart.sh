#!/usr/bin/env bash
# Quick start: set everything up, ingest the sample knowledge base, answer sample questions.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
. .venv/bin/activate
supportbot demo "$@"
