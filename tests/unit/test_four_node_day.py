"""The pure economic model of seed 000's four-node day (eip.scenarios.four_node_day.economics), no network."""

import pytest

from eip.scenarios.base import EXPERIMENTS, RunContext
from eip.scenarios.four_node_day import assemble, report, wire_orders, wire_summary
from eip.scenarios.four_node_day.economics import (
    BUS_OF,
    METRICS,
    MODES,
    PERIOD_H,
    clear_pool,
    demand_kw,
    load_reference,
    plan_battery,
    run_day,
    utility_cny_per_h,
)


@pytest.fixture(scope="module")
def day():
    return run_day()


@pytest.fixture(scope="module")
def metrics(day):
    return assemble(day, wire_summary(day, wire_orders(day, range(12), 1.0), range(12), 1.0, None))


def test_metric_names_are_the_rows_of_the_seed_csv(metrics):
    assert tuple(load_reference()) == METRICS
    for block in ("traditional", "energy_internet", "change_percent", "reference"):
        assert set(METRICS) <= set(metrics[block]), block


def test_the_directions_we_claim(metrics):
    t, e, c = metrics["traditional"], metrics["energy_internet"], metrics["change_percent"]
    assert c["carbon_emissions_kg"] < 0
    assert t["wind_curtailment_kwh"] > 0
    assert e["wind_curtailment_kwh"] == 0 and e["pv_curtailment_kwh"] == 0
    assert c["welfare_total"] > 0
    assert c["welfare_rural"] > c["welfare_urban"] > 0
    assert c["wind_revenue"] > 0 and c["storage_revenue"] > 0 and c["ev_surplus"] > 0
    assert c["grid_surplus"] < 0 and e["grid_surplus"] >= 0
    assert c["load_surplus_rural"] > 0


def test_energy_balance_every_period(day):
    for mode in MODES:
        for r in day.records[mode]:
            generation = sum(r.dispatch_kw.values()) + r.upstream_kw
            generation += r.used_kw["pv"] + r.used_kw["wind"]
            generation += max(0.0, r.storage_kw) + max(0.0, r.ev_kw)
            load = r.load_kw["urban-load"] + r.load_kw["rural-load"]
            load += max(0.0, -r.storage_kw) + max(0.0, -r.ev_kw)
            assert generation == pytest.approx(load + r.losses_kw, abs=0.05), (mode, r.period)
            assert r.method == "ac"


def test_curtailment_is_never_negative_and_zero_in_the_energy_internet(day):
    for mode in MODES:
        for r in day.records[mode]:
            for res in ("pv", "wind"):
                assert 0 <= r.used_kw[res] <= r.available_kw[res] + 1e-9
    assert all(r.used_kw == r.available_kw for r in day.records["energy_internet"])


def test_grid_keeps_a_ten_percent_profit_in_the_energy_internet(metrics):
    e = metrics["energy_internet"]
    assert e["grid_profit_rate"] >= 0.10 - 1e-6
    assert e["reversal_kwh"] == 0  # the ISP's limits hold: no reversal needed


def test_welfare_is_utility_minus_thermal_cost(metrics, day):
    """Money only moves between the parties: total welfare = utilities + travel - OPF cost."""
    for mode in MODES:
        m = metrics[mode]
        total = m["load_utility_urban"] + m["load_utility_rural"]
        total += day.params.travel_utility_cny - m["opf_cost_cny"]
        assert m["welfare_total"] == pytest.approx(total, abs=0.05), mode


def test_p2p_trades_cover_the_sellers_and_are_priced_between_the_bus_prices(day):
    for r in day.records["energy_internet"]:
        sold = {}
        for t in r.trades:
            sold[t.seller] = sold.get(t.seller, 0.0) + t.kwh
            low, high = sorted((r.lmp[BUS_OF[t.seller]], r.lmp[BUS_OF[t.buyer]]))
            assert low - 1e-9 <= t.price_cny_per_kwh <= high + 1e-9
            assert t.seller != t.buyer and t.kwh > 0
        assert sold.get("wind", 0.0) == pytest.approx(r.used_kw["wind"] * PERIOD_H)
        assert sold.get("pv", 0.0) == pytest.approx(r.used_kw["pv"] * PERIOD_H)


def test_demand_curve_and_utility():
    assert demand_kw(100, 0.5, -0.5, 0.55) == pytest.approx(95)
    assert demand_kw(100, 0.5, -2.0, 0.55) == pytest.approx(80)
    assert demand_kw(100, 0.5, -2.0, 10.0) == 0.0
    # Utility at the base point: p0 q0 (1 + 1/(2|e|)); its slope is the inverse demand.
    assert utility_cny_per_h(100, 0.5, -0.5, 100) == pytest.approx(100)
    du = utility_cny_per_h(100, 0.5, -2.0, 80.001) - utility_cny_per_h(100, 0.5, -2.0, 80)
    assert du / 0.001 == pytest.approx(0.55, rel=1e-3)


def test_battery_plan_buys_cheap_and_sells_dear():
    price = [0.3, 0.3, 0.6, 0.6]
    plan = plan_battery(price, 10, 20, 0, 1.0)
    assert plan[0] + plan[1] == pytest.approx(-10) and plan[2] + plan[3] == pytest.approx(10)
    assert plan[0] <= 0 and plan[1] <= 0 and plan[2] >= 0 and plan[3] >= 0
    ev = plan_battery(price, 10, 40, 0, 1.0, discharge=False, away=(3,), trip_kwh=[0, 0, 0, 20])
    assert all(kw <= 0 for kw in ev) and -sum(ev) * PERIOD_H == pytest.approx(20)
    assert ev[3] == 0 and ev[0] + ev[1] == pytest.approx(-10)  # charged while cheap


def test_pool_matches_highest_bid_with_lowest_ask():
    lmp = {1: 0.40, 2: 0.50, 3: 0.44, 4: 0.52}
    trades = clear_pool(0, {"wind": 30}, {"urban-load": 20, "storage": 20}, lmp, 0.5)
    assert [(t.seller, t.buyer, t.kwh) for t in trades] == [
        ("wind", "storage", 40),
        ("wind", "urban-load", 20),
    ]
    assert trades[0].price_cny_per_kwh == pytest.approx(0.48)


def test_registered_and_report_renders(metrics, tmp_path):
    exp = EXPERIMENTS["four_node_day"]
    assert exp.needs_network and exp.report is not None
    ctx = RunContext("four_node_day", {}, "both", tmp_path)
    text = report(metrics, ctx)
    assert "| carbon_emissions_kg |" in text and "Not carried out" in text
    assert (tmp_path / "four_node_day_welfare.png").exists()


# --- trading: agents (the cards' behaviours; the network part is tests/integration) ------------
def test_every_card_gets_a_valid_behaviour_entry_on_the_isp_scale():
    import yaml

    from eip.card.config import parse_behaviour
    from eip.scenarios.four_node_day import agents
    from eip.scenarios.four_node_day.model import day_params, settings_with_defaults
    from eip.yamlconf import load_text

    entries = agents.behaviour_entries(day_params(settings_with_defaults()), [8, 9, 10], 1.2)
    assert set(entries) == set(agents.ALL_CARDS)  # the plants trade too
    data, where = load_text(yaml.safe_dump(entries), "behaviours.yaml")
    for name, entry in data.items():
        cfg = parse_behaviour(entry, where.at(name))  # what `eip card run --behaviours` checks
        assert (cfg.first_period, cfg.last_period, cfg.period_s) == (8, 10, 7200.0), name
    # 1 BEE = 1 Wh of a system 1/1200 the size: the urban load's 280 kW of period 8 is ~467 Wh
    assert entries["urban-load"]["base_demand_kw"][8] == pytest.approx(280 / 1200)
    assert entries["plant1"]["a_cny_per_kw2h"] == pytest.approx(0.0008 * 1200)


def _row(kind, sold=0, sent=0, bought=0, received=0, money=0.0, fees=None):
    return {"kind": kind, "orders": 1, "fills": 1, "filled_sell_bee": sold, "sent_bee": sent,
            "filled_buy_bee": bought, "received_bee": received, "sold_kwh": sent * 1.2,
            "bought_kwh": received * 1.2, "money_cny": money,
            "undelivered_bee": max(0, sold - sent) + max(0, bought - received),
            "beyond_fills": sent > sold or received > bought, "switch_exported_bee": sent,
            "notices": 3, "price_notices": 3, "window_updates": 0, "limit_exceeded": 0,
            "fees_cny": sum((fees or {}).values()), "fee_bills": len(fees or {}),
            "net_cny": money - sum((fees or {}).values()), "fees_by_period_cny": fees or {}}  # fmt: skip


def test_an_agents_day_is_summed_from_the_ledgers_and_flags_a_card_beyond_its_fills(day, tmp_path):
    from eip.scenarios.four_node_day import agents

    cards = {"plant1": _row("plant", sold=100, sent=90, money=50.0, fees={"9": 0.6}),
             "urban-load": _row("load", bought=100, received=90, money=-50.0,
                                fees={"9": 0.6, "11": 0.1})}  # fmt: skip
    # the ISP's published fees of period 9, at the wire's scale (1 BEE = 1 Wh): 1.2 CNY of the study
    # (usage x rate / 1e9: 500 BEE at 1000 micro per 1000 BEE), and 0.0004 more computed unbilled
    bills = {"plant1": [500, 1000], "urban-load": [500, 1000]}
    fees_cny = {"plant1": 0.0007, "urban-load": 0.0007}
    isp = [{"period": 9, "published": {"fees_cny": fees_cny, "bills": bills}}]
    traded = {"cards": cards, "problems": [], "startup_s": 1.0, "elapsed_s": 2.0,
              "isp_periods": isp}  # fmt: skip
    w = agents.summary(day, [8, 9, 10], 1.2, traded)
    assert (w["wire_bee"], w["filled_bee"], w["undelivered_bee"]) == (90, 100, 20)
    assert w["thermal_kwh"] == pytest.approx(108.0) and w["load_kwh"] == pytest.approx(108.0)
    assert w["no_card_beyond_fills"] and w["money_sum_cny"] == 0.0
    assert w["model"]["load_kwh"] > 0  # the offline model beside it, same periods
    fig = w["fig10"]  # the wire's Fig. 10 rows; a partial day has no model value beside them
    assert fig["carbon_emissions_kg"] == {"wire": pytest.approx(108.0 * 0.55), "model": None}
    assert fig["load_cost_urban"]["wire"] == 50.7 and fig["pv_revenue"]["wire"] == 0.0  # + fees
    fees = w["fees"]  # the bills the ledgers booked against what the ISP computed, period by period
    assert fees == {"billed_cny": 1.2, "booked_same_periods_cny": 1.2, "computed_cny": 1.68,
                    "booked_cny": 1.3, "as_billed": True} and w["fee_bills"] == 3  # fmt: skip
    # every Fig. 10 row from the wire; the utilities from what the ledgers moved per period
    from eip.cases import four_node
    from eip.scenarios.four_node_day.economics import METRICS, utility_cny_per_h

    assert list(fig) == list(METRICS)
    cards["urban-load"]["by_period_kwh"] = {"9": {"sold": 0.0, "bought": 600.0}}  # 300 kW for 2 h
    cards["plant1"]["by_period_kwh"] = {"9": {"sold": 600.0, "bought": 0.0}}
    fig = agents.summary(day, [8, 9, 10], 1.2, traded)["fig10"]
    util = utility_cny_per_h(330.0, day.base_lmp[9][2], -0.5, 300.0) * 2
    assert fig["load_utility_urban"]["wire"] == pytest.approx(util, abs=0.01)
    assert fig["load_surplus_urban"]["wire"] == pytest.approx(util - 50.7, abs=0.01)
    _, a, b, _ = four_node.PLANTS[0]  # plant1 at 300 kW for 2 h, plus the load's bills
    grid = 50.0 + 0.7 - (a / 2 * 300.0**2 + b * 300.0) * 2
    assert fig["grid_surplus"]["wire"] == pytest.approx(grid, abs=0.01)
    assert fig["welfare_total"]["wire"] == pytest.approx(
        fig["welfare_urban"]["wire"] + fig["welfare_rural"]["wire"] + grid, abs=0.02)  # fmt: skip
    assert fig["ev_surplus"]["wire"] == 200.0  # the travel utility; the EV moved no money
    cards["plant1"]["fees_by_period_cny"] = {}  # plant1's bill of period 9 was lost
    assert not agents.summary(day, [8, 9, 10], 1.2, traded)["fees"]["as_billed"]
    assert fig["daily_power_loss_kwh"]["wire"] is None  # nothing measured: no power flow
    cards["urban-load"] = _row("load", bought=100, received=110)  # a duplicate delivery
    assert not agents.summary(day, [8, 9, 10], 1.2, traded)["no_card_beyond_fills"]
    metrics = assemble(day, w)
    text = report(metrics, RunContext("four_node_day", {}, "both", tmp_path))
    assert "traded by the cards' behaviours" in text and "| plant1 | 1 | 1 | 100 | 90 |" in text


def test_bench_loop_day_figures_come_from_the_timeline_and_the_ledgers():
    from eip.bench.loop import day_figures, day_settings

    s = day_settings(3, 6.0)
    assert (s["trading"], s["kwh_per_bee"], s["isp_prices"]) == ("agents", 1.2, True)
    traded = {"timeline": [{"period": 8, "delivered_bee": 300, "controller_cpu_s": 0.2,
                            "driver_late_s": 0.1},
                           {"period": 9, "delivered_bee": 200, "controller_cpu_s": 0.4,
                            "driver_late_s": 0.0}],
              "cards": {"a": _row("load", bought=600, received=600),
                        "b": _row("plant", sold=600, sent=600)},
              "settle_s": 3.0, "quantum_bee": 10}  # fmt: skip
    f = day_figures(traded, 6.0)
    assert f["bee_per_s"] == 50.0 and f["packets_per_s"] == 5.0  # 600 BEE over 2 x 6 s
    assert f["controller_cpu_s_per_period"] == 0.3 and f["settle_over_period"] == 0.5
    assert f["delivered_bee"] == 600 and f["sold_bee"] == 600 and f["driver_late_s_max"] == 0.1


def test_the_wire_losses_are_an_ac_power_flow_of_what_the_switches_measured():
    from eip.scenarios.four_node_day import agents

    rows = [{"period": 8, "measured": {"elapsed_s": 6.0, "cards": {
        "plant2": {"exported_bee": 400, "imported_bee": 0},
        "urban-load": {"exported_bee": 0, "imported_bee": 400}}}}]  # fmt: skip
    flow = agents.measured_flow(rows, 6.0)
    # 400 Wh in 6 s = 240 kW from bus 1 to bus 2, over L0 and, in parallel, L1 + L2
    assert set(flow) == {"8"} and flow["8"]["losses_kw"] > 1.0
    assert 50 < flow["8"]["max_line_loading_percent"] < 100
    assert agents.measured_flow([{"period": 9, "measured": None}], 6.0) == {}
