"""Conversation → prompt → answer → chat platforms → feedback.

The async core is :class:`bot.engine.SupportEngine`; adapters for Slack and Discord are thin
wrappers around it.
"""
