"""Usage reports: totals by model, provider, user, tag and day; the leaderboard; CSV, JSON and charts."""

from __future__ import annotations

import csv
import io
import json
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from polyroute.cli import _chat, _demo, _models, _usage, app  # noqa: F401  (registers the commands)
from polyroute.ledger import LedgerRow, SQLiteLedger
from polyroute.reports import daily_spend, leaderboard, render_svg, summarize, to_csv, to_json, write_chart
from polyroute.reports._chart import daily_spend_figure

D = Decimal
DAY1 = 1_741_392_000.0  # 2025-03-08 00:00 UTC
DAY2 = DAY1 + 86_400


def row(request_id: str, t: float, model: str, provider: str, **fields: Any) -> LedgerRow:
    return LedgerRow(request_id=request_id, started_at=t, model=model, provider=provider, endpoint_model=f"{provider}-x",
                     outcome=fields.pop("outcome", "success"), **fields)  # fmt: skip


ROWS = [
    row(
        "r1",
        DAY1 + 10,
        "llama",
        "groq",
        prompt_tokens=100,
        completion_tokens=50,
        cost=D("0.001"),
        fee=D("0.0001"),
        user="alice",
        tags=("batch", "eval"),
    ),  # fmt: skip
    row("r2", DAY1 + 20, "llama", "together", outcome="error", error="ServerError", cost=D(0), user="bob"),
    row("r2", DAY1 + 21, "llama", "groq", prompt_tokens=10, completion_tokens=5, cost=D("0.0002"), user="bob"),
    row(
        "r3",
        DAY2 + 5,
        "gpt",
        "openai",
        prompt_tokens=1000,
        completion_tokens=2000,
        cached_tokens=800,
        reasoning_tokens=500,
        cost=D("0.03"),
        user="alice",
        project="search",
    ),  # fmt: skip
    row("r4", DAY2 + 6, "gpt", "openai", outcome="skipped", error="BudgetExceeded", user="carol"),
    row("r5", DAY2 + 7, "mystery", "local", prompt_tokens=7, completion_tokens=7, cost=None, tags=("eval",)),
]


def test_by_model() -> None:
    gpt, llama, mystery = summarize(ROWS, ["model"])
    assert gpt.group == ("gpt",) and gpt.cost == D("0.03")
    assert (gpt.requests, gpt.attempts, gpt.skipped) == (2, 1, 1)
    assert (gpt.cached_tokens, gpt.reasoning_tokens, gpt.total_tokens) == (800, 500, 3000)
    assert llama.cost == D("0.0012") and llama.fee == D("0.0001")
    assert (llama.requests, llama.attempts, llama.failed) == (2, 3, 1)
    assert (mystery.unpriced, mystery.cost) == (1, 0)


def test_by_provider_user_tag_and_day() -> None:
    assert [(t.group, t.cost) for t in summarize(ROWS, ["provider"])][:2] == [
        (("openai",), D("0.03")),
        (("groq",), D("0.0012")),
    ]
    users = {t.group[0]: t.cost for t in summarize(ROWS, ["user"])}
    assert users == {"alice": D("0.031"), "bob": D("0.0002"), "carol": 0, "(none)": 0}
    tags = {t.group[0]: t.total_tokens for t in summarize(ROWS, ["tag"])}
    assert tags == {"batch": 150, "eval": 164, "(none)": 3015}  # a row counts under each of its tags
    days = [(t.group, t.cost) for t in summarize(ROWS, ["day"])]
    assert days == [(("2025-03-08",), D("0.0012")), (("2025-03-09",), D("0.03"))]


def test_nested_groupings() -> None:
    out = [(t.group, t.cost) for t in summarize(ROWS, ["day", "provider"])]
    assert out[0] == (("2025-03-08", "groq"), D("0.0012"))
    assert (("2025-03-09", "openai"), D("0.03")) in out
    with pytest.raises(ValueError, match="unknown grouping"):
        summarize(ROWS, ["colour"])


def test_leaderboard_ranks_models_by_tokens() -> None:
    board = leaderboard(ROWS)
    assert [(e.rank, e.model, e.total_tokens) for e in board] == [
        (1, "gpt", 3000),
        (2, "llama", 165),
        (3, "mystery", 14),
    ]
    assert board[0].share == D("94.37")  # 3000 of 3179 tokens
    assert sum(e.share for e in board) == D("100.00")
    assert len(leaderboard(ROWS, limit=1)) == 1


def test_daily_spend_by_provider() -> None:
    assert daily_spend(ROWS) == {
        "2025-03-08": {"groq": D("0.0013"), "together": D(0)},
        "2025-03-09": {"openai": D("0.03")},
    }


def test_csv_and_json_exports_are_exact() -> None:
    records = [t.as_dict(["model"]) for t in summarize(ROWS, ["model"])]
    parsed = list(csv.DictReader(io.StringIO(to_csv(records))))
    assert parsed[0]["model"] == "gpt" and parsed[0]["cost"] == "0.03" and parsed[0]["total_tokens"] == "3000"
    data = json.loads(to_json(records))
    assert data[1]["model"] == "llama" and D(data[1]["cost"]) == D("0.0012")
    assert to_csv([]) == ""


def test_svg_chart_stacks_daily_spend_by_provider(tmp_path: Path) -> None:
    path = write_chart(daily_spend(ROWS), tmp_path / "spend.svg")
    root = ET.fromstring(path.read_text())
    ns = {"svg": "http://www.w3.org/2000/svg"}
    titles = [t.text for t in root.iterfind(".//svg:rect/svg:title", ns)]
    assert "2025-03-08 groq: $0.0013" in titles and "2025-03-09 openai: $0.03" in titles
    texts = [t.text or "" for t in root.iterfind(".//svg:text", ns)]
    assert any(t.startswith("openai ($") for t in texts)  # the legend
    assert "Daily spend by provider (USD)" in texts


def test_empty_chart_says_so() -> None:
    assert "no spend in this period" in render_svg(daily_spend_figure({}))


def test_png_chart(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image", reason="Pillow is not installed: PNG charts need it")
    path = write_chart(daily_spend(ROWS), tmp_path / "spend.png")
    with image.open(path) as img:
        assert img.format == "PNG"
        assert img.size == (daily_spend_figure(daily_spend(ROWS)).width, daily_spend_figure(daily_spend(ROWS)).height)


def test_chart_needs_a_known_suffix(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=".svg or .png"):
        write_chart({}, tmp_path / "spend.gif")


# -- the command ---------------------------------------------------------------------------------


@pytest.fixture
def ledger_file(tmp_path: Path) -> Path:
    path = tmp_path / "usage.db"
    ledger = SQLiteLedger(path)
    for r in ROWS:
        ledger.record(r)
    ledger.close()
    return path


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, ["usage", *args], env={"COLUMNS": "250"})


def test_usage_json_by_provider(ledger_file: Path) -> None:
    result = invoke("--ledger", str(ledger_file), "--by", "provider", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(d["provider"], D(d["cost"])) for d in data][:2] == [("openai", D("0.03")), ("groq", D("0.0012"))]


def test_usage_leaderboard_csv_to_a_file(ledger_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "board.csv"
    result = invoke("--ledger", f"sqlite:///{ledger_file}", "--leaderboard", "-f", "csv", "-o", str(out))
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("rank,model,total_tokens")
    assert lines[1].startswith("1,gpt,3000")


def test_usage_days_and_chart(ledger_file: Path, tmp_path: Path) -> None:
    chart = tmp_path / "spend.svg"
    result = invoke("--ledger", str(ledger_file), "--since", "2025-03-08", "--until", "2025-03-08", "--by", "user",
                    "--chart", str(chart), "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    users = {d["user"] for d in json.loads(result.stdout)}
    assert users == {"alice", "bob"}  # only the first day
    assert "2025-03-08 groq" in chart.read_text()


def test_usage_table(ledger_file: Path) -> None:
    result = invoke("--ledger", str(ledger_file), "--by", "day", "--by", "provider")
    assert result.exit_code == 0, result.output
    assert "usage by day, provider (6 ledger rows)" in result.stdout
    assert "$0.030000" in result.stdout and "2025-03-09" in result.stdout


def test_usage_reads_the_configs_ledger(ledger_file: Path, tmp_path: Path) -> None:
    config = tmp_path / "polyroute.yaml"
    config.write_text(f"ledger: {{url: 'sqlite:///{ledger_file.name}'}}\n")
    result = invoke("--config", str(config), "-f", "json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 3


def test_usage_without_a_ledger(tmp_path: Path) -> None:
    result = invoke("--ledger", str(tmp_path / "nothing.db"))
    assert result.exit_code == 1
    assert "no ledger at" in result.output
    assert not (tmp_path / "nothing.db").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "xml"], "table, csv or json"),
        (["--by", "colour"], "unknown grouping"),
        (["--since", "yesterday"], "YYYY-MM-DD"),
    ],
)
def test_usage_bad_options(ledger_file: Path, args: list[str], message: str) -> None:
    result = invoke("--ledger", str(ledger_file), *args)
    assert result.exit_code == 2
    assert message in result.output
