"""``with`` and ``async with`` for objects that have ``close()`` / ``aclose()`` (the block closes
them), and :class:`RouterHolder`: closing a router only where it was built."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from polyroute._router import Router

__all__ = ["AsyncClosing", "Closing", "RouterHolder"]


class Closing:
    """``with obj:`` gives ``obj`` and calls its ``close()`` when the block ends."""

    __slots__ = ()

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncClosing:
    """``async with obj:`` gives ``obj`` and awaits its ``aclose()`` when the block ends."""

    __slots__ = ()

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class RouterHolder:
    """Base for objects that route through a router they were either given (the caller's, who
    closes it) or built from a config (their own): :meth:`close` / :meth:`aclose` close it in
    the second case only. The LangChain and LlamaIndex integrations' models are ones; a
    subclass sets ``_router`` and ``_owns_router``."""

    __slots__ = ()

    if TYPE_CHECKING:
        _router: Router
        _owns_router: bool

    def close(self) -> None:
        """Close the router's sync connection pools, if this object built the router (``config=``)."""
        if self._owns_router:
            self._router.close()

    async def aclose(self) -> None:
        """Close every connection pool of the router, if this object built it (``config=``)."""
        if self._owns_router:
            await self._router.aclose()
