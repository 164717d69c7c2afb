"""Usage reports over the ledger: spend and tokens by model, provider, user, tag or day; the
model leaderboard; CSV and JSON export; a daily-spend chart. See ``docs/usage-reports.md``.
"""

from __future__ import annotations

from polyroute.reports._chart import daily_spend_figure, render_png, render_svg, write_chart
from polyroute.reports._export import to_csv, to_json
from polyroute.reports._summary import GROUPINGS, LeaderboardEntry, UsageTotals, daily_spend, leaderboard, summarize

__all__ = [
    "GROUPINGS",
    "LeaderboardEntry",
    "UsageTotals",
    "daily_spend",
    "daily_spend_figure",
    "leaderboard",
    "render_png",
    "render_svg",
    "summarize",
    "to_csv",
    "to_json",
    "write_chart",
]
