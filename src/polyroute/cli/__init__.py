"""The ``polyroute`` command line: ``chat``, ``models``, ``demo`` and friends.

Built on typer and rich, imported only when the command runs.
"""

from __future__ import annotations

from polyroute.cli._app import app, main

__all__ = ["app", "main"]
