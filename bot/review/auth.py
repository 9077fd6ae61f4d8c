"""Who may open the review console: users with argon2id password hashes (argon2-cffi), a
session secret, and a limit on failed logins.

Users live in ``data_dir/review_users.json`` (``{"users": {"name": "$argon2id$…"}}``, mode
0600), written by ``supportbot review add-user``; no password is ever stored or logged.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from collections import deque
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()  # argon2id with the library's defaults (RFC 9106 recommendations)
MAX_FAILURES = 5
"""Failed logins allowed per client address within :data:`FAILURE_WINDOW_S`."""
FAILURE_WINDOW_S = 300.0
_DUMMY_HASH = _HASHER.hash("not a password")  # unknown names cost as much as wrong passwords


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.replace(path)


def load_users(path: Path) -> dict[str, str]:
    """``name → argon2 hash`` from the users file (empty if there is none)."""
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return {str(k): str(v) for k, v in dict(data.get("users", {})).items()}


def add_user(path: Path, name: str, password: str) -> None:
    """Add a user or change their password (the file is rewritten with mode 0600).

    Raises:
        ValueError: an empty name or a password shorter than 8 characters.
    """
    if not name.strip():
        raise ValueError("the user name is empty")
    if len(password) < 8:
        raise ValueError("use a password of at least 8 characters")
    users = load_users(path)
    users[name.strip()] = _HASHER.hash(password)
    _write_private(path, json.dumps({"users": users}, indent=2))


def verify(users: dict[str, str], name: str, password: str) -> bool:
    """Whether ``password`` is ``name``'s (constant work whether or not the name exists)."""
    stored = users.get(name, _DUMMY_HASH)
    try:
        ok = _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and name in users


def session_secret(configured: str | None, data_dir: Path) -> str:
    """The configured secret, else one kept in ``data_dir/review_secret`` (made once, 0600)."""
    if configured:
        return configured
    path = data_dir / "review_secret"
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    secret = secrets.token_urlsafe(48)
    _write_private(path, secret)
    return secret


class LoginThrottle:
    """At most :data:`MAX_FAILURES` failed logins per client within a sliding window."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S):
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: dict[str, deque[float]] = {}

    def _recent(self, client: str) -> deque[float]:
        q = self._failures.setdefault(client, deque())
        while q and time.monotonic() - q[0] > self.window_s:
            q.popleft()
        return q

    def blocked(self, client: str) -> bool:
        """Whether the client has used up its failed attempts."""
        return len(self._recent(client)) >= self.max_failures

    def failed(self, client: str) -> None:
        """Count a failed login."""
        self._recent(client).append(time.monotonic())

    def succeeded(self, client: str) -> None:
        """Forget the client's failures."""
        self._failures.pop(client, None)
