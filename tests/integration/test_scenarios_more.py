"""The short variants of thesis_households, sden_slicing and cigre_lv_vpp end to end on real
emulations, with their scenario files' expectations."""

import pytest

from eip.net.emulation import Emulation
from eip.scenarios.base import EXPERIMENTS, RunContext
from eip.scenarios.schema import import_experiments, load_scenario

pytestmark = pytest.mark.integration


def run_short(name: str, tmp_path) -> dict:
    import_experiments()
    scenario = load_scenario(f"scenarios/{name}.yaml", short=True)
    ctx = RunContext(name, dict(scenario.settings), "both", tmp_path, short=True,
                     emulation=lambda topo, **kw: Emulation(topo, tmp_path / "state", **kw))  # fmt: skip
    metrics = EXPERIMENTS[name].run(ctx)
    failed = [(e.describe(), e.check(metrics)) for e in scenario.expect if not e.check(metrics)[0]]
    assert not failed, failed
    assert EXPERIMENTS[name].report(metrics, ctx)
    return metrics


def test_thesis_households_trades_on_real_cards_match_the_model(tmp_path):
    m = run_short("thesis_households", tmp_path)
    net = m["network"]
    assert net["transfers_done"] == net["transfers"] > 0
    assert all(h["agree"] for h in net["per_household"])
    assert (tmp_path / "bills.png").exists()


def test_sden_slicing_fig5_on_real_packets(tmp_path):
    m = run_short("sden_slicing", tmp_path)
    assert m["slots_match_offline"] and m["checks"]["priority1_served_first"]
    assert m["server"]["delivered_bee"] == m["delivered_bee"] == 1600
    assert (tmp_path / "slices.png").exists()


def test_cigre_lv_vpp_island_and_roaming_ev(tmp_path):
    m = run_short("cigre_lv_vpp", tmp_path)
    assert m["ev"]["before"]["energy_ip"] != m["ev"]["after"]["energy_ip"]
    assert m["ev"]["credited_at_move"] < m["ev"]["transfer"]["quantity"]
    assert m["island"]["inside_island"]["reason"] == "done"
