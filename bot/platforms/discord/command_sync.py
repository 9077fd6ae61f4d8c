"""Sync the slash commands with Discord only when they changed.

Syncing on every start is discouraged (the bulk-overwrite endpoint is rate limited per day, see
https://discordpy.readthedocs.io/en/stable/interactions/api.html#discord.app_commands.CommandTree.sync).
Instead, the SHA-256 of the command tree's JSON payload is kept in a small file per
application under the data directory and compared on start; the tree is synced when the hash
differs, when no hash was stored yet, or when forced (``serve(..., sync_commands=True)``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from discord import app_commands

log = logging.getLogger(__name__)


def tree_hash(tree: app_commands.CommandTree[Any]) -> str:
    """SHA-256 (hex) of the global command payload that :meth:`CommandTree.sync` would send."""
    payload = sorted(
        (command.to_dict(tree) for command in tree.get_commands()),
        key=lambda item: (item.get("type", 1), item["name"]),
    )
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def hash_file(data_dir: Path, application_id: int) -> Path:
    """Where the last synced hash of an application's commands is kept."""
    return data_dir / "discord" / f"commands-{application_id}.sha256"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def _write(path: Path, value: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value + "\n", encoding="utf-8")
    tmp.replace(path)


async def sync_if_changed(
    tree: app_commands.CommandTree[Any],
    data_dir: Path,
    application_id: int,
    *,
    force: bool = False,
) -> bool:
    """Sync the global commands if they changed since the last sync; return whether it synced.

    The hash is stored only after Discord accepted the commands, so a failed sync is retried on
    the next start. File access runs in a worker thread.

    Raises:
        discord.HTTPException: Discord refused the sync (the caller decides whether to go on).
    """
    path = hash_file(data_dir, application_id)
    current = tree_hash(tree)
    if not force and await asyncio.to_thread(_read, path) == current:
        log.info("slash commands unchanged (hash %s); not syncing", current[:12])
        return False
    synced = await tree.sync()
    await asyncio.to_thread(_write, path, current)
    log.info("synced %d slash command(s) (hash %s)", len(synced), current[:12])
    return True
