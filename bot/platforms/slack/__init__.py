"""Slack adapter: answers mentions, DMs, thread follow-ups and ``/ask``; collects 👍/👎.

Entry point for the CLI: :func:`serve` (``supportbot serve slack``). See ``docs/slack.md`` for
creating the Slack app from ``deploy/slack/manifest.yaml`` and for the settings.
"""

from bot.platforms.slack.runner import SlackBot, SlackConfigError, build_app, serve

__all__ = ["SlackBot", "SlackConfigError", "build_app", "serve"]
