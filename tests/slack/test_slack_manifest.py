"""The app manifests in deploy/slack agree with the code: events, scopes, command, transport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.platforms.slack.listeners import ASK_COMMAND, EVENTS, STATUS_COMMAND, SYNC_COMMAND
from bot.platforms.slack.runner import EVENTS_PATH

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "slack"

# Scope each subscribed event needs (https://docs.slack.dev/reference/events).
EVENT_SCOPES = {
    "app_mention": "app_mentions:read",
    "message.channels": "channels:history",
    "message.groups": "groups:history",
    "message.im": "im:history",
    "message.mpim": "mpim:history",
    "reaction_added": "reactions:read",
    "reaction_removed": "reactions:read",
    "channel_shared": "channels:read",
    "channel_unshared": "channels:read",
}
# Scopes of the Web API methods the adapter calls (https://docs.slack.dev/reference/methods).
METHOD_SCOPES = {
    "chat.postMessage": {"chat:write"},
    "reactions.add": {"reactions:write"},
    "reactions.remove": {"reactions:write"},
    "conversations.replies": {"channels:history", "groups:history", "im:history", "mpim:history"},
    "conversations.info": {"channels:read", "groups:read", "im:read", "mpim:read"},
    "views.open": set(),
}


def _load(name: str) -> dict[str, Any]:
    return json.loads((DEPLOY / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", ["manifest.json", "manifest.http.json"])
def test_manifest_matches_the_listeners(name: str) -> None:
    manifest = _load(name)
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    listened = {e for e in EVENTS if e != "message"} | {
        "message.channels",
        "message.groups",
        "message.im",
        "message.mpim",
    }
    assert events == listened
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {EVENT_SCOPES[e] for e in events} | {"commands"}
    needed |= set().union(*METHOD_SCOPES.values())
    assert scopes == needed, "no scope missing, none unused"
    commands = [c["command"] for c in manifest["features"]["slash_commands"]]
    assert commands == [ASK_COMMAND, SYNC_COMMAND, STATUS_COMMAND]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_enabled"] is True
    assert manifest["features"]["app_home"]["messages_tab_read_only_enabled"] is False


def test_socket_and_http_manifests_differ_only_in_transport() -> None:
    socket, http = _load("manifest.json"), _load("manifest.http.json")
    assert socket["settings"]["socket_mode_enabled"] is True
    assert http["settings"]["socket_mode_enabled"] is False
    urls = [
        http["settings"]["event_subscriptions"].pop("request_url"),
        http["settings"]["interactivity"].pop("request_url"),
        *(c.pop("url") for c in http["features"]["slash_commands"]),
    ]
    assert all(url.startswith("https://") and url.endswith(EVENTS_PATH) for url in urls)
    http["settings"]["socket_mode_enabled"] = True
    assert http == socket
