"""`eip bench loop --day` end to end, its short version: one period, measuring only then enforcing."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_bench_loop_day_reports_both_runs_per_period_with_its_goals():
    done = subprocess.run(
        [sys.executable, "-m", "eip.cli.main", "bench", "loop", "--day", "--periods", "1",
         "--json"],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    # 3 = a goal not met: the goals are ratios on a noisy shared machine, reported, not asserted
    assert done.returncode in (0, 3), done.stderr[-2000:]
    out = json.loads(done.stdout)
    assert out["benchmark"] == "loop-day" and out["period_s"] == 6.0
    for label in ("measure_only", "enforced"):
        run = out[label]
        assert [p["period"] for p in run["periods"]] == [8], run
        assert run["delivered_bee"] > 0 and run["problems"] == [], run
        assert run["delivered_bee"] <= run["sold_bee"]  # nothing delivered that was not sold
        assert run["controller_cpu_s_per_period"] > 0
    assert set(out["goals"]) == {
        "last deliveries within a period of the day's end (enforcing)",
        "controller CPU enforcing / measuring",
    }
