"""``crm-graph analytics train|evaluate``: the plugin's commands on the real command line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import crm_analytics
from crm_graph.db.migrate import upgrade
from crm_graph.demo import seed_demo
from crm_graph.plugin import open_app
from crm_graph.settings import Settings


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "crm_graph", "analytics", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_train_then_evaluate_from_the_command_line(cli_env: dict[str, str]) -> None:
    settings = Settings(database_url=cli_env["CRM_DATABASE_URL"])
    async with open_app(settings, plugins=[crm_analytics]) as app:
        await upgrade(app.engine, app.plugins)
        await seed_demo(app.engine, customers=250, seed=5)
    # The commands load the plugins the database was migrated for, not every bundled one.
    cli_env = {**cli_env, "CRM_PLUGINS": "analytics"}

    trained = _run(cli_env, "train", "--as-of", "2026-11-01", "--time-unit-days", "7")
    assert trained.returncode == 0, trained.stderr
    progress = [int(p) for p in re.findall(r"^\s*(\d+)%", trained.stderr, re.M)]
    assert progress == sorted(progress) and progress[-1] == 100 and len(progress) >= 5
    assert "done: trained: rfm, clv, churn, segments, recommendations" in trained.stderr

    evaluated = _run(cli_env, "evaluate", "--as-of", "2026-11-01")
    assert evaluated.returncode == 0, evaluated.stderr
    out = evaluated.stdout
    predicted, actual = map(float, re.search(r"predicted ([\d.]+), actual ([\d.]+)", out).groups())
    assert abs(predicted - actual) / actual < 0.5
    rmse, naive = map(float, re.search(r"RMSE ([\d.]+) \(.*: ([\d.]+)\)", out).groups())
    assert rmse < naive  # BG/NBD beats "the same rate as before"
    auc = float(re.search(r"ROC AUC ([\d.]+)", out).group(1))
    assert auc > 0.65
    model, popular = (
        float(re.search(rf"{label}\s+NDCG@10 ([\d.]+)\s+recall@20 [\d.]+\s+coverage", out).group(1))
        for label in (r"(?:cosine|knn|ease|rp3beta)(?:\+decay)?", "popularity")
    )
    assert model > popular  # recommendations beat recommending the bestsellers


def test_bad_dates_are_refused_with_a_message(cli_env: dict[str, str]) -> None:
    result = _run(cli_env, "train", "--as-of", "yesterday")
    assert result.returncode == 2
    assert "'yesterday' is not a date (YYYY-MM-DD) or ISO time" in result.stderr
