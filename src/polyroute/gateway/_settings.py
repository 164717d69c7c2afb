"""The gateway's settings: where it listens is the CLI's business; what it accepts is here."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["GatewaySettings"]


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """How the gateway treats requests.

    ``admin_key`` guards ``/api/v1/keys`` and the dashboard (``None``: only the one-time login
    link, and the admin API is closed). ``require_key``: calls need a gateway key (``False``
    opens ``/v1/chat/completions`` to anyone who can reach the port: for a loopback-only
    gateway). ``max_body_bytes`` caps a request body (413 above it). ``drain_seconds`` is how
    long shutdown waits for open streams.
    """

    admin_key: str | None = field(default=None, repr=False)
    require_key: bool = True
    max_body_bytes: int = 4 * 1024 * 1024
    drain_seconds: float = 30.0
    #: how old each worker's copy of the key table may get (keys changed by another process):
    #: re-read in the background, and before a request that finds it this old
    keys_refresh_seconds: float = 5.0
