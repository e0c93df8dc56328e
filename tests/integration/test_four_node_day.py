"""The short four-node day on a real emulation: the model's P2P trades arrive as BEEs, card by card."""

import time

import pytest

from eip.net.emulation import Emulation
from eip.scenarios.base import RunContext
from eip.scenarios.four_node_day import agents, report, run, settings_with_defaults
from eip.scenarios.runner import collect_ledgers

pytestmark = pytest.mark.integration


def test_short_day_wire_energy_equals_the_planned_trades(tmp_path):
    settings = settings_with_defaults({"periods": 3, "first_period": 8, "period_s": 3.0})
    ctx = RunContext(
        "four_node_day", settings, "energy-internet", tmp_path, short=True,
        emulation=lambda topo, **kw: Emulation(topo, tmp_path / "state", **kw),
    )  # fmt: skip
    t0 = time.monotonic()
    metrics = run(ctx)
    elapsed = time.monotonic() - t0
    wire = metrics["wire"]
    assert wire["carried_out"] and wire["orders"] > 0, wire
    assert wire["problems"] == [], wire["problems"]
    assert wire["fills_ok"] == wire["orders"]
    for name, card in wire["cards"].items():
        assert card["wire_sent_bee"] == card["planned_sent_bee"], name
        assert card["wire_received_bee"] == card["planned_received_bee"], name
        assert card["wire_money_cny"] == pytest.approx(card["planned_money_cny"], abs=1e-3), name
        # 1 BEE = 1 kWh: the wire's energy is the model's within rounding of each trade.
        assert abs(card["wire_sold_kwh"] - card["model_sold_kwh"]) <= 0.5 * wire["orders"]
    assert wire["all_match"]
    assert metrics["energy_internet"]["wind_curtailment_kwh"] == 0
    text = report(metrics, ctx)
    assert "| wind |" in text and (tmp_path / "four_node_day_power.png").exists()
    assert elapsed < 150


def test_short_day_traded_by_the_cards_behaviours_under_the_enforcing_isp(tmp_path):
    """trading: agents: the cards decide, the pool matches, the ISP enforces; nothing is planned."""
    settings = settings_with_defaults({"periods": 3, "first_period": 8, "period_s": 6.0,
                                       "kwh_per_bee": 1.2, "trading": "agents"})  # fmt: skip
    ctx = RunContext(
        "four_node_day", settings, "energy-internet", tmp_path, short=True,
        emulation=lambda topo, **kw: Emulation(topo, tmp_path / "state", isp=True,
                                               isp_enforce=True, **kw),
    )  # fmt: skip
    w = run(ctx)["wire"]
    assert w["carried_out"] and w["problems"] == [], w["problems"]
    cards = w["cards"]
    assert w["orders"] > 0 and w["fills"] > 0 and w["wire_bee"] > 0, w
    assert w["no_card_beyond_fills"], cards
    assert w["thermal_kwh"] > 0 and w["load_kwh"] > 0  # the plants sold, the loads bought
    assert abs(w["money_sum_cny"]) < 0.01 * sum(abs(c["money_cny"]) for c in cards.values())
    for name in ("urban-load", "rural-load"):  # pure buyers: the switch meters no export
        assert cards[name]["sent_bee"] == 0 and cards[name]["switch_exported_bee"] == 0, name
    for name, c in cards.items():  # every BEE a seller's ledger sent crossed its meter
        assert c["switch_exported_bee"] >= c["sent_bee"], (name, c)
        # every period's static-limit notice, each after the ISP's prices for the card's node (R5.7)
        assert c["notices"] >= 3 and c["price_notices"] == c["notices"], (name, c)
        # the ISP and the WAN pool were found by name in Energy DNS when the card started
        assert c["dns"] == {"isp_ip": "10.0.0.254", "pools": {"pool-vpp1": "10.1.0.254"}}, c
    # the ISP billed its service fees on the wire (R5.8): the ledgers' bills add up to what the ISP
    # billed for the same periods, and only cards that moved BEE were billed (a card whose BEE moved
    # in the last period is billed at the next boundary, which may come after the figures are read)
    assert w["fee_bills"] > 0 and w["fees"]["as_billed"] and w["fees"]["billed_cny"] > 0, w["fees"]
    moved = [c["sent_bee"] or c["received_bee"] or c["switch_exported_bee"] for c in cards.values()
             if c["fee_bills"] > 0]  # fmt: skip
    assert len(moved) >= 2 and all(moved), cards
    checks = collect_ledgers(tmp_path)
    assert sorted(ch["card"] for ch in checks) == sorted(agents.ALL_CARDS)
    assert all(ch["ok"] for ch in checks), checks


def test_where_no_limit_binds_the_closed_loop_stays_near_the_offline_model(tmp_path):
    """With the ISP measuring only nothing stops a trade, and the cards' behaviours, which decide
    from the study's own forecasts and the ISP's prices, land near the model's energies: what the
    loads bought within 15 % of the model's demand, and what the renewables and plants sold within
    20 % of the model's supply (--short, periods 8-10: 2,356 and 2,169 kWh in the model)."""
    settings = settings_with_defaults({"periods": 3, "first_period": 8, "period_s": 6.0,
                                       "kwh_per_bee": 1.2, "trading": "agents"})  # fmt: skip
    ctx = RunContext(
        "four_node_day", settings, "energy-internet", tmp_path, short=True,
        emulation=lambda topo, **kw: Emulation(topo, tmp_path / "state", isp=True,
                                               isp_enforce=False, **kw),
    )  # fmt: skip
    w = run(ctx)["wire"]
    assert w["carried_out"] and w["problems"] == [], w["problems"]
    assert w["limit_exceeded"] == 0 and w["window_updates"] == 0, w  # no limit bound
    m = w["model"]
    assert abs(w["load_kwh"] - m["load_kwh"]) <= 0.15 * m["load_kwh"], (w["load_kwh"], m)
    supply, model_supply = (
        w["renewable_kwh"] + w["thermal_kwh"],
        m["renewable_kwh"] + m["thermal_kwh"],
    )
    assert abs(supply - model_supply) <= 0.20 * model_supply, (supply, m)
    assert w["fees"]["as_billed"] and w["fee_bills"] > 0, w["fees"]  # measuring, it still bills
