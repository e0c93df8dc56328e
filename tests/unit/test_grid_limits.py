"""The grid-limits scenario's plan and figures (eip/scenarios/grid_limits), without a network."""

import pytest

from eip.cases.four_node import PLANTS, PROFILES_KW
from eip.cases.four_node import grid as four_node_grid
from eip.scenarios.grid_limits import mode_metrics
from eip.scenarios.grid_limits.plan import PLANT_SHARE, Trade, trades_for

PERIOD_S = 10.0


@pytest.mark.parametrize("period", range(12))
def test_every_load_is_served_and_no_seller_sells_more_than_it_has(period):
    trades = trades_for(period, 1.25)
    kw = {n: p[period] for n, p in PROFILES_KW.items()}
    sold: dict = {}
    bought: dict = {}
    for t in trades:
        assert t.kw > 0 and t.seller != t.buyer
        sold[t.seller] = sold.get(t.seller, 0.0) + t.kw
        bought[t.buyer] = bought.get(t.buyer, 0.0) + t.kw
    for name in ("pv", "wind", "storage", "ev"):
        assert sold.get(name, 0.0) <= max(0.0, kw[name]) + 1e-6, name
    for name, _a, _b, cap_kw in PLANTS:
        assert sold.get(name, 0.0) <= PLANT_SHARE * cap_kw + 1e-6, name
    want = {"urban-load": -kw["urban-load"] * 1.25, "rural-load": -kw["rural-load"] * 1.25,
            "ev": max(0.0, -kw["ev"]), "storage": max(0.0, -kw["storage"])}  # fmt: skip
    plants_left = sum(PLANT_SHARE * cap for _n, _a, _b, cap in PLANTS) - sum(
        sold.get(n, 0.0) for n, *_ in PLANTS
    )
    for name, need in want.items():
        got = bought.get(name, 0.0)
        assert got <= need + 1e-3, name
        assert got == pytest.approx(need, abs=1e-2) or plants_left < 1e-3, (name, got, need)


def test_a_trade_is_its_power_over_the_period_in_wh():
    t = Trade("plant2", "urban-load", 240.0, 0.35)
    assert t.bee(PERIOD_S) == 666  # 240 kW x 10 s / 3.6 = 666.7 Wh
    assert t.price_micro_per_kbee == 350_000  # 0.35 CNY/kWh = per 1000 BEE
    assert Trade("pv", "urban-load", 0.01, 0.4).bee(PERIOD_S) == 1


def run_of(period: int, delivered_share: float) -> dict:
    """A run as the driver returns it: the period's trades delivered in part, measured exactly."""
    trades = []
    for t in trades_for(period, 1.25):
        q = t.bee(PERIOD_S)
        trades.append({"period": period, "seller": t.seller, "buyer": t.buyer, "kw": t.kw,
                       "price_cny_per_kwh": t.price_cny_per_kwh, "planned_bee": q,
                       "delivered_bee": int(q * delivered_share)})  # fmt: skip
    cards: dict = {}
    for t in trades:
        cards.setdefault(t["seller"], {"exported_bee": 0, "imported_bee": 0})
        cards.setdefault(t["buyer"], {"exported_bee": 0, "imported_bee": 0})
        cards[t["seller"]]["exported_bee"] += t["delivered_bee"]
        cards[t["buyer"]]["imported_bee"] += t["delivered_bee"]
    row = {"period": period, "published": None, "measured": {"elapsed_s": PERIOD_S, "cards": cards}}
    return {"periods": [period], "trades": trades, "isp": {"periods": [row]}, "quantum_bee": 10,
            "events": {"urban-load": {"limit-exceeded": 2, "window-update": 1}},
            "cards": {"urban-load": {"quota_blocks": 0, "import_blocks": 1}}, "books_ok": True,
            "seconds": 1.0}  # fmt: skip


def test_figures_come_from_the_measured_counts():
    grid = four_node_grid()
    full = mode_metrics(run_of(9, 1.0), grid, PERIOD_S)
    assert full["curtailed_bee"] == 0 and full["overload_periods"] == 1
    assert full["max_line_loading_percent"] > 120  # L0 in the evening peak at 1.25 x demand
    assert not full["within_one_segment"] and full["max_excess_kw"] > 10
    p = full["per_period"][0]
    assert p["measured"]["max_line_loading_percent"] == pytest.approx(
        p["planned_max_line_loading_percent"], abs=1.0
    )  # delivered as planned: the measured flow is the plan's
    half = mode_metrics(run_of(9, 0.5), grid, PERIOD_S)
    assert half["overload_periods"] == 0 and half["within_one_segment"]
    assert half["curtailed_percent"] == pytest.approx(50, abs=1)
    assert half["max_line_loading_percent"] < full["max_line_loading_percent"]
    assert half["limit_exceeded_events"] == 2 and half["import_blocks"] == 1
    assert half["one_segment_kw"] == pytest.approx(3.6)  # 10 BEE x 3.6 / 10 s


def test_bench_loop_figures_are_per_period_and_against_the_deadline():
    from eip.bench.loop import figures

    run = run_of(9, 1.0) | {
        "timeline": [
            {
                "period": 9,
                "open_s": 0.1,
                "done_s": 8.5,
                "cancelled": False,
                "controller_cpu_s": 1.2,
            },
            {
                "period": 10,
                "open_s": 0.1,
                "done_s": 9.5,
                "cancelled": True,
                "controller_cpu_s": 0.8,
            },
        ]
    }
    f = figures(run, PERIOD_S)
    assert f["slowest_period_s"] == 9.5 and f["slowest_over_deadline"] == 0.95
    assert f["controller_cpu_s_per_period"] == 1.0
    delivered = sum(t["delivered_bee"] for t in run["trades"])
    assert f["bee_per_s"] == round(delivered / 20.0, 1)
    assert f["packets_per_s"] == round(delivered / 10 / 20.0, 1)
