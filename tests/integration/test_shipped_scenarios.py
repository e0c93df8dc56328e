"""Every shipped scenario runs end to end through `eip run --short`; results.json holds what it promises.

The short variants keep CI within its time while running the same code paths as the full ones: the
real controller, Mininet, OVS userspace, cards, pool and energy server.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml"))

# Key findings each scenario must show, beyond the expectations in its own file.
KEY = {
    "four_node_day.yaml": [
        ("change_percent.carbon_emissions_kg", lambda v: v < 0),
        ("wire.no_card_beyond_fills", lambda v: v is True),  # the cards' behaviours traded
        ("wire.wire_bee", lambda v: v > 0),
        ("wire.load_kwh", lambda v: v > 0),
    ],
    "thesis_households.yaml": [
        ("findings.saving_pct.unified", lambda v: v > 0),  # P2P lowers bills
        ("network.ledgers_agree_with_model", lambda v: v is True),
    ],
    "sden_slicing.yaml": [
        ("checks.max_allocated_minus_capacity", lambda v: v <= 0),  # never beyond supply + buffer
        ("accepted", lambda v: v == 6),
    ],
    "cigre_lv_vpp.yaml": [("ledgers.debits_equal_credits", lambda v: v is True)],
    "grid_limits.yaml": [
        ("runs.measure_only.max_line_loading_percent", lambda v: v > 100),
        ("runs.enforced.max_line_loading_percent", lambda v: v < 105),
        ("enforcement.overload_removed", lambda v: v is True),
    ],
}


def _get(tree: dict, path: str):
    for part in path.split("."):
        tree = tree[part]
    return tree


def test_all_five_scenarios_are_shipped():
    assert {"four_node_day.yaml", "thesis_households.yaml", "sden_slicing.yaml",
            "cigre_lv_vpp.yaml", "grid_limits.yaml"} <= set(SCENARIOS)  # fmt: skip


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_short_variant_runs_and_meets_its_expectations(name, tmp_path):
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "eip.cli.main", "run", str(ROOT / "scenarios" / name), "--short",
         "--out", str(out)],
        capture_output=True, text=True, timeout=900, cwd=ROOT,
    )  # fmt: skip
    results = json.loads((out / "results.json").read_text())
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    assert results["expectations"], "a shipped scenario states what it expects"
    failed = [e for e in results["expectations"] if not e.get("held")]
    assert not failed, failed
    ledgers = results.get("ledgers", {})
    assert ledgers and all(v["ok"] for v in ledgers), ledgers  # every card's chain verifies
    assert (out / "report.md").read_text().count("|") > 10  # the tables are there
    if name == "four_node_day.yaml":  # the default scenario's capture conforms, rule by rule
        checked = subprocess.run(
            [sys.executable, "-m", "eip.cli.main", "conformance", "--pcap", str(out / "capture.pcap"),
             "--json", str(out / "conformance.json")],
            capture_output=True, text=True, timeout=600, cwd=ROOT,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout[-3000:]
        counts = json.loads((out / "conformance.json").read_text())["counts"]
        assert counts["FAIL"] == 0 and counts["PASS"] >= 10, counts
    metrics = results["metrics"]
    for path, check in KEY.get(name, []):
        try:
            value = _get(metrics, path)
        except (KeyError, TypeError):
            pytest.fail(f"{name}: metric {path} missing from results.json")
        assert check(value), f"{name}: {path} = {value!r}"
