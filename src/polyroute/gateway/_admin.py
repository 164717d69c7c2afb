"""Administrator authentication: the admin key, or a one-time login link that sets a cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

__all__ = ["COOKIE", "AdminAuth"]

#: the admin session cookie set by the login link
COOKIE = "polyroute_admin"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class AdminAuth:
    """Checks the admin key (``Authorization: Bearer``) or an admin session cookie, in constant time.

    Only digests are kept. :meth:`login_token` makes a one-time token for ``/login?token=...``;
    :meth:`redeem` turns it into a session (the cookie's value) exactly once.
    """

    __slots__ = ("_admin", "_sessions", "_tokens")

    def __init__(self, admin_key: str | None = None) -> None:
        self._admin = _digest(admin_key) if admin_key else None
        self._tokens: set[bytes] = set()
        self._sessions: set[bytes] = set()

    @property
    def has_key(self) -> bool:
        """Whether an admin key is configured."""
        return self._admin is not None

    def check_key(self, presented: str) -> bool:
        """Whether ``presented`` is the admin key."""
        return self._admin is not None and hmac.compare_digest(self._admin, _digest(presented))

    def check(self, request: web.Request) -> bool:
        """Whether ``request`` is the administrator's."""
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer " and self.check_key(auth[7:].strip()):
            return True
        cookie = request.cookies.get(COOKIE)
        if cookie:
            d = _digest(cookie)
            return any(hmac.compare_digest(d, s) for s in self._sessions)
        return False

    def login_token(self) -> str:
        """A new one-time login token (give it as ``/login?token=...``)."""
        token = secrets.token_urlsafe(24)
        self._tokens.add(_digest(token))
        return token

    def redeem(self, token: str) -> str | None:
        """A new session for a valid unused ``token`` (which is used up), else ``None``."""
        d = _digest(token)
        for t in list(self._tokens):
            if hmac.compare_digest(d, t):
                self._tokens.discard(t)
                session = secrets.token_urlsafe(32)
                self._sessions.add(_digest(session))
                return session
        return None

    def __repr__(self) -> str:
        return f"AdminAuth(admin_key={'set' if self._admin else 'none'}, sessions={len(self._sessions)})"
