"""``supportbot --help`` stays light: the CLI module imports no model, index or web stack
(those load inside the commands that need them)."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = (
    "torch",
    "transformers",
    "sentence_transformers",
    "llama_index",
    "qdrant_client",
    "fastapi",
    "sqlalchemy",
    "slack_bolt",
    "discord",
    "matplotlib",
    "sklearn",
)


def test_importing_the_cli_loads_no_heavy_package() -> None:
    code = (
        "import json, sys, bot.cli; "
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert json.loads(out) == []


def test_help_lists_the_commands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("ingest", "ask", "eval", "serve", "review", "doctor", "db"):
        assert command in out
