"""Chat-platform adapters (Slack, Discord): thin layers over :mod:`bot.service`."""
