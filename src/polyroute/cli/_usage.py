"""``polyroute usage``: spend and tokens from the ledger, grouped, ranked, exported or charted."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from polyroute.accounting._settings import LedgerSettings
from polyroute.cli._app import ConfigOption, app, config_path, console, err_console
from polyroute.cli._format import money
from polyroute.errors import ConfigError

__all__ = ["usage"]

_COUNTS = ("requests", "attempts", "failed", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")


def _day(text: str, option: str) -> float:
    try:
        d = date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"expected a day as YYYY-MM-DD, got {text!r}", param_hint=option) from None
    return datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp()


def _window(since: str | None, until: str | None, days: int | None) -> tuple[float | None, float | None]:
    if days is not None:
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return (today - timedelta(days=days - 1)).timestamp(), None
    lo = _day(since, "--since") if since else None
    hi = _day(until, "--until") + 86400 if until else None  # the last day is included
    return lo, hi


def _ledger_settings(ledger: str | None, config: Path | None) -> LedgerSettings:
    if ledger is not None:
        return LedgerSettings(url=ledger)
    path = config_path(config)
    if path is not None:
        from polyroute.catalog._config import load_ledger_settings

        settings = load_ledger_settings(path)
        if settings is not None:
            return settings
    return LedgerSettings()


def _rows(settings: LedgerSettings, since: float | None, until: float | None) -> list[Any]:
    from polyroute.ledger import open_ledger
    from polyroute.ledger._url import default_ledger_path, is_postgres_url, sqlite_path

    url = settings.url
    if url is None or not is_postgres_url(url):
        path = sqlite_path(url) if url is not None else default_ledger_path()
        if not path.exists():
            err_console.print(f"[bold red]no ledger at {path}[/] (nothing recorded yet? see --ledger)")
            raise typer.Exit(1)
    ledger = open_ledger(settings)
    try:
        return list(ledger.rows(since=since, until=until))
    finally:
        ledger.close()


def _table(records: list[dict[str, Any]], columns: list[str], title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col.replace("_", " "), justify="right" if col not in _TEXT else "left")
    for r in records:
        cells = []
        for col in columns:
            v = r[col]
            if col in ("cost", "fee"):
                cells.append(money(v))
            elif col == "share":
                cells.append(f"{v}%")
            elif isinstance(v, int):
                cells.append(f"{v:,}")
            else:
                cells.append(str(v))
        table.add_row(*cells)
    return table


_TEXT = {"model", "provider", "endpoint", "user", "key", "project", "tag", "day", "outcome"}


def _report(
    rows: list[Any], groups: list[str], leaderboard: bool, limit: int | None
) -> tuple[list[Any], list[str], str]:
    """The records, their columns and a title."""
    from polyroute.reports import leaderboard as rank
    from polyroute.reports import summarize

    if leaderboard:
        columns = ["rank", "model", "total_tokens", "prompt_tokens", "completion_tokens", "requests", "cost", "share"]
        return [e.as_dict() for e in rank(rows, limit=limit)], columns, "models by tokens"
    totals = summarize(rows, groups)
    records = [t.as_dict(groups) for t in (totals[:limit] if limit else totals)]
    return records, [*groups, *_COUNTS, "cost", "fee"], f"usage by {', '.join(groups)}"


def _emit(records: list[Any], columns: list[str], title: str, fmt: str, output: Path | None) -> None:
    from polyroute.reports import to_csv, to_json

    if fmt == "table":
        if output is None:
            console.print(_table(records, columns, title))
            return
        from rich.console import Console

        with output.open("w", encoding="utf-8") as f:
            Console(file=f, width=200).print(_table(records, columns, title))
        return
    text = to_csv(records) if fmt == "csv" else to_json(records)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")


_BY_HELP = (
    "Group by model|provider|endpoint|user|key|project|tag|day|outcome|kind (repeat to nest)."
    " Default: model, under kind (chat, embedding) when the ledger has embeddings."
)
_LEDGER_HELP = "Ledger: an SQLite file, sqlite:///FILE or postgresql://... Default: the config's ledger."


@app.command()
def usage(  # noqa: PLR0917 - typer maps parameters to options
    config: ConfigOption = None,
    ledger: Annotated[str | None, typer.Option(help=_LEDGER_HELP)] = None,
    by: Annotated[list[str] | None, typer.Option("--by", "-b", help=_BY_HELP)] = None,
    since: Annotated[str | None, typer.Option(help="First day (YYYY-MM-DD, UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Last day, included (YYYY-MM-DD, UTC).")] = None,
    days: Annotated[int | None, typer.Option(min=1, help="The last N days, today included.")] = None,
    leaderboard: Annotated[bool, typer.Option("--leaderboard", help="Rank models by tokens.")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the report to this file.")] = None,
    chart: Annotated[Path | None, typer.Option(help="Also write daily spend by provider (.svg or .png).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Show at most this many rows.")] = None,
) -> None:
    """Spend and tokens from the ledger, by model, provider, user, tag or day; a model leaderboard."""
    from polyroute.reports import GROUPINGS, daily_spend, write_chart

    if fmt not in ("table", "csv", "json"):
        raise typer.BadParameter("expected table, csv or json", param_hint="--format")
    groups = by or ["model"]
    for g in groups:
        if g not in GROUPINGS:
            known = ", ".join(GROUPINGS)
            raise typer.BadParameter(f"unknown grouping {g!r}; expected one of {known}", param_hint="--by")
    lo, hi = _window(since, until, days)
    try:
        rows = _rows(_ledger_settings(ledger, config), lo, hi)
    except ConfigError as exc:
        err_console.print(f"[bold red]configuration error:[/] {exc}")
        raise typer.Exit(2) from exc
    if not by and any(r.kind != "chat" for r in rows):
        groups = ["kind", "model"]  # embeddings apart from chat
    records, columns, title = _report(rows, groups, leaderboard, limit)
    _emit(records, columns, f"{title} ({len(rows)} ledger rows)", fmt, output)
    if chart is not None:
        try:
            written = write_chart(daily_spend(rows), chart)
        except (ValueError, ImportError) as exc:
            err_console.print(f"[bold red]chart:[/] {exc}")
            raise typer.Exit(2) from exc
        err_console.print(f"chart written to {written}")
