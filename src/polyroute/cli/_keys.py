"""``polyroute keys``: create, list, disable, enable, rotate and delete gateway keys.

Keys live in the ledger's database (the configuration's ``ledger:``, else ``--ledger``, else the
default SQLite file), only as hashes; a new or rotated key is printed once, on standard output.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from polyroute.cli._app import ConfigOption, app, console, err_console

if TYPE_CHECKING:
    from polyroute.gateway import KeyRecord, KeyStore

__all__ = ["keys_app"]

keys_app = typer.Typer(
    help="Gateway API keys: create (printed once), list, disable, rotate, delete.", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")

LedgerOption = Annotated[
    str | None,
    typer.Option(help="The database: an SQLite file, sqlite:///FILE or postgresql://... Default: the config's ledger."),
]
RefArgument = Annotated[str, typer.Argument(help="The key's name, or its hash (at least 8 leading hex digits).")]


def _store(ledger: str | None, config: Path | None) -> KeyStore:
    from polyroute.cli._usage import _ledger_settings
    from polyroute.errors import ConfigError
    from polyroute.gateway import KeyStore

    try:
        return KeyStore.open(_ledger_settings(ledger, config))
    except ConfigError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc


def _find(store: KeyStore, ref: str) -> KeyRecord:
    record = store.find(ref)
    if record is None:
        err_console.print(f"[bold red]no single key matches {ref!r}[/] (see `polyroute keys list`)")
        raise typer.Exit(1)
    return record


def _invalid(exc: Exception) -> typer.Exit:
    err_console.print(f"[bold red]invalid:[/] {exc}")
    return typer.Exit(2)


@keys_app.command("create")
def create(  # noqa: PLR0917 - typer maps parameters to options
    name: Annotated[str, typer.Argument(help="A name for the key (a person, an app).")],
    limit: Annotated[float | None, typer.Option(help="Credit limit in USD (default: none).")] = None,
    reset: Annotated[
        str | None, typer.Option(help="When the limit resets: daily, weekly, monthly (default: never).")
    ] = None,
    models: Annotated[list[str] | None, typer.Option("--models", help="Allowed model (repeat; default: all).")] = None,
    providers: Annotated[list[str] | None, typer.Option("--providers", help="Allowed provider (repeat).")] = None,
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute (per worker).")] = None,
    config: ConfigOption = None,
    ledger: LedgerOption = None,
) -> None:
    """Create a key and print it (once: only its hash is stored)."""
    from polyroute.errors import InvalidRequest

    store = _store(ledger, config)
    try:
        secret, record = store.create(
            name, limit=None if limit is None else str(limit), limit_reset=reset, models=models or (),
            providers=providers or (), rpm=rpm,
        )  # fmt: skip
    except InvalidRequest as exc:
        raise _invalid(exc) from exc
    finally:
        store.close()
    err_console.print(f"created key {record.name!r} ({record.hash[:12]}); it is shown once, store it now:")
    typer.echo(secret)


@keys_app.command("list")
def list_keys(config: ConfigOption = None, ledger: LedgerOption = None) -> None:
    """Every key: name, hash, label, limit, allowlists, state (never the key)."""
    store = _store(ledger, config)
    try:
        records = store.list()
    finally:
        store.close()
    table = Table(title=f"{len(records)} gateway keys", title_justify="left")
    for col in ("name", "hash", "label", "limit", "reset", "models", "providers", "rpm", "state"):
        table.add_column(col)
    for r in records:
        table.add_row(
            r.name, r.hash[:12], r.label, "-" if r.limit is None else f"${r.limit}", r.limit_reset or "never",
            ",".join(r.models) or "all", ",".join(r.providers) or "all", str(r.rpm or "-"),
            "disabled" if r.disabled else "active",
        )  # fmt: skip
    console.print(table)


def _set_disabled(ref: str, disabled: bool, config: Path | None, ledger: str | None) -> None:
    store = _store(ledger, config)
    try:
        record = store.update(_find(store, ref).hash, disabled=disabled)
    finally:
        store.close()
    err_console.print(f"key {record.name!r} ({record.hash[:12]}) {'disabled' if disabled else 'enabled'}")


@keys_app.command("disable")
def disable(ref: RefArgument, config: ConfigOption = None, ledger: LedgerOption = None) -> None:
    """Disable a key (calls with it get 401; its history stays)."""
    _set_disabled(ref, True, config, ledger)


@keys_app.command("enable")
def enable(ref: RefArgument, config: ConfigOption = None, ledger: LedgerOption = None) -> None:
    """Enable a disabled key."""
    _set_disabled(ref, False, config, ledger)


@keys_app.command("rotate")
def rotate(ref: RefArgument, config: ConfigOption = None, ledger: LedgerOption = None) -> None:
    """Give a key a new secret (printed once); the old one stops working. Limits and usage stay."""
    store = _store(ledger, config)
    try:
        secret, record = store.rotate(_find(store, ref).hash)
    finally:
        store.close()
    err_console.print(f"rotated key {record.name!r} ({record.hash[:12]}); the new key is shown once:")
    typer.echo(secret)


@keys_app.command("delete")
def delete(ref: RefArgument, config: ConfigOption = None, ledger: LedgerOption = None) -> None:
    """Delete a key (its ledger rows keep its fingerprint)."""
    store = _store(ledger, config)
    try:
        record = _find(store, ref)
        store.delete(record.hash)
    finally:
        store.close()
    err_console.print(f"deleted key {record.name!r} ({record.hash[:12]})")
