"""Administrator authentication: the admin key, or a one-time login link that sets a cookie."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from aiohttp import web

__all__ = ["COOKIE", "AdminAuth"]

#: the admin session cookie set by the login link
COOKIE = "polyroute_admin"


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8")).digest()


class AdminAuth:
    """Checks the admin key (``Authorization: Bearer``) or an admin session cookie, in constant time.

    Only a digest of the admin key is kept. :meth:`login_token` makes a one-time token for
    ``/login?token=...``; :meth:`redeem` turns it into a session cookie exactly once. Sessions are
    signed with ``secret`` (HMAC-SHA256) and expire after ``session_seconds``: processes given the
    same ``secret`` (the workers of one ``serve``) accept each other's sessions and tokens made by
    :meth:`login_token` on any of them — each process lets a token be used once.
    """

    __slots__ = ("_admin", "_now", "_secret", "_session_seconds", "_used")

    def __init__(
        self,
        admin_key: str | None = None,
        *,
        secret: bytes | None = None,
        session_seconds: float = 12 * 3600,
        now: Callable[[], float] = time.time,
    ) -> None:
        self._admin = _digest(admin_key) if admin_key else None
        self._secret = secret or secrets.token_bytes(32)
        self._session_seconds = session_seconds
        self._now = now
        self._used: set[str] = set()

    @property
    def has_key(self) -> bool:
        """Whether an admin key is configured."""
        return self._admin is not None

    def check_key(self, presented: str) -> bool:
        """Whether ``presented`` is the admin key."""
        return self._admin is not None and hmac.compare_digest(self._admin, _digest(presented))

    def _sign(self, kind: str, body: str) -> str:
        return hmac.new(self._secret, f"{kind}:{body}".encode(), hashlib.sha256).hexdigest()

    def _verify(self, kind: str, value: str) -> str | None:
        """The body of a signed ``body.signature`` value that has not expired, else ``None``."""
        body, _, sig = value.rpartition(".")
        if not body or not hmac.compare_digest(self._sign(kind, body), sig):
            return None
        expiry = body.split(":", 1)[0]
        try:
            if float(expiry) < self._now():
                return None
        except ValueError:
            return None
        return body

    def check(self, request: web.Request) -> bool:
        """Whether ``request`` is the administrator's."""
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer " and self.check_key(auth[7:].strip()):
            return True
        cookie = request.cookies.get(COOKIE)
        return cookie is not None and self._verify("session", cookie) is not None

    def login_token(self, *, valid_seconds: float = 600.0) -> str:
        """A one-time login token, valid for ``valid_seconds`` (give it as ``/login?token=...``)."""
        body = f"{int(self._now() + valid_seconds)}:{secrets.token_urlsafe(12)}"
        return f"{body}.{self._sign('login', body)}"

    def redeem(self, token: str) -> str | None:
        """A new session cookie value for a valid unused ``token`` (which is used up), else ``None``."""
        body = self._verify("login", token)
        if body is None or body in self._used:
            return None
        self._used.add(body)
        session = f"{int(self._now() + self._session_seconds)}:{secrets.token_urlsafe(12)}"
        return f"{session}.{self._sign('session', session)}"

    def __repr__(self) -> str:
        return f"AdminAuth(admin_key={'set' if self._admin else 'none'})"
