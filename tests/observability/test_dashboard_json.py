"""The Grafana dashboard in docs/ stays true to the metrics: every query is valid
PromQL (``promtool check rules``) and names only metrics /metrics serves."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.observability.test_metrics import parse
from workhorse.observability.metrics import JobMetrics
from workhorse.store.base import Store

DASHBOARD = Path(__file__).parents[2] / "docs" / "grafana-dashboard.json"


def queries() -> list[str]:
    board = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    variable = board["templating"]["list"][0]["query"]["query"]
    assert variable == "label_values(workhorse_queue_jobs, queue)"
    return exprs


def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is not installed: apt-get install prometheus (or ./dev test)")
    rules = [
        {"record": f"workhorse:dashboard_query_{i}", "expr": _concrete(expr)}
        for i, expr in enumerate(queries())
    ]
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
    done = subprocess.run(
        [tool, "check", "rules", str(path)], capture_output=True, timeout=30, check=False
    )
    assert done.returncode == 0, (done.stdout + done.stderr).decode()
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout.decode()


async def test_every_metric_named_is_served(store: Store) -> None:
    served = {name for name, _ in parse(await JobMetrics(store, ["q"]).render())}
    named = {m for expr in queries() for m in re.findall(r"\bworkhorse_[a-z_]+\b", expr)}
    assert named, "the dashboard queries no workhorse metric"
    assert named <= served, f"not served: {sorted(named - served)}"


def _concrete(expr: str) -> str:
    """Grafana's variables replaced by what they stand for."""
    return expr.replace("$__rate_interval", "1m").replace("$queue", ".*")
