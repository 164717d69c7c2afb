"""Ledger URLs: which backend, where, and how to show one without its password."""

from __future__ import annotations

import os
import re
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "default_ledger_path", "is_postgres_url", "redact_url", "sqlite_path"]

#: overrides the user data directory the default ledger lives in
DATA_DIR_ENV = "POLYROUTE_DATA_DIR"
_PASSWORD = re.compile(r"^([a-z][a-z0-9+.-]*://[^/@:]*):[^/@]*@", re.I)


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", url)


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return url.startswith(("postgresql://", "postgres://"))


def sqlite_path(url: str) -> Path:
    """The file of ``sqlite:///path`` (SQLAlchemy's spelling: ``sqlite:////abs`` is absolute) or a plain path."""
    return Path(url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else url).expanduser()


def default_ledger_path() -> Path:
    """``usage.db`` in ``$POLYROUTE_DATA_DIR``, else in the user's data directory for polyroute
    (``~/.local/share/polyroute`` on Linux, ``~/Library/Application Support/polyroute`` on macOS)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override).expanduser() / "usage.db"
    import platformdirs

    return Path(platformdirs.user_data_dir("polyroute", appauthor=False)) / "usage.db"
