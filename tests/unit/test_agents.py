"""Trading behaviours (eip/agents/): each kind's decision depends on what it sees, configs are strict.

Every behaviour is driven here as its host (later the card) will: `decide(view)` once per period,
`on_fill(fill)` for each match. The day test runs the four-node cards' behaviours through a real
`BeePool` for 12 periods.
"""

import ast
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eip.agents import (
    BEHAVIOURS,
    AgentView,
    Behaviour,
    ElasticLoad,
    Ev,
    Fill,
    OrderIntent,
    Param,
    Plant,
    PoolTop,
    PriceSignal,
    Storage,
    Wind,
    behaviour_from_config,
    behaviours_from_config,
    fill_from_pool,
    from_wire_price,
    register_behaviour,
    to_wire_price,
)
from eip.agents.host import HostedAgent
from eip.agents.study import merit_order_prices, study_behaviours
from eip.cases import four_node
from eip.markets.orders import ASK, SEND, MarketError, Order
from eip.markets.pool import BeePool
from eip.protocol.model import PoolFill
from eip.yamlconf import ConfigError, load_text

ROOT = Path(__file__).resolve().parents[2]
PERIOD_S = 7200.0
LOAD = {"base_demand_kw": [100.0], "elasticity": -0.5, "reference_price_cny_per_kwh": 0.5}
BATTERY = {"capacity_wh": 200_000, "p_kw": 40, "round_trip_efficiency": 0.9025}


def view(period=0, buy=None, sell=None, **kw) -> AgentView:
    signal = None if buy is None else PriceSignal(buy, buy if sell is None else sell)
    return AgentView(period * PERIOD_S, period, PERIOD_S, signal, **kw)


def fill_all(behaviour: Behaviour, intents, fraction: float = 1.0) -> None:
    for i in intents:
        behaviour.on_fill(
            Fill(i.side, int(i.quantity_bee * fraction), i.price_cny_per_kwh, i.period)
        )


def total(intents, side=None) -> int:
    return sum(i.quantity_bee for i in intents if side in (None, i.side))


# --- the contract -------------------------------------------------------------------------------
def test_wire_price_is_micro_per_1000_bee_and_round_trips():
    assert to_wire_price(0.5) == 500_000  # 1000 BEE = 1 kWh at 0.5 CNY
    assert from_wire_price(to_wire_price(0.4275)) == pytest.approx(0.4275)
    assert to_wire_price(0.5, kwh_per_bee=1.0) == 500_000_000  # the model's 1 kWh per BEE
    with pytest.raises(MarketError, match="price_micro_per_kbee"):
        to_wire_price(5.0, kwh_per_bee=1.0)


def test_intent_becomes_a_card_order_request():
    from eip.card.ops import parse_order

    intent = OrderIntent("buy", 1500, 0.62, 3)
    req = intent.order_request(PERIOD_S, epoch_s=1_000_000)
    o = parse_order(req, "10.1.0.254", 0, 0)
    assert (o.side, o.quantity, o.price_micro_per_kbee) == (ASK, 1500, 620_000)
    assert (o.start_s, o.end_s) == (1_000_000 + 3 * 7200, 1_000_000 + 4 * 7200)
    assert parse_order(OrderIntent("sell", 1, 0.1, 0).order_request(60), "p", 0, 0).side == SEND
    f = fill_from_pool(
        intent, PoolFill(order_id=7, status=1, quantity=900, price_micro_per_kbee=600_000)
    )
    assert f == Fill("buy", 900, pytest.approx(0.6), 3)


@pytest.mark.parametrize(
    "args, field",
    [(("hold", 1, 0.5, 0), "side"), (("buy", 0, 0.5, 0), "quantity_bee"),
     (("buy", 1.5, 0.5, 0), "quantity_bee"), (("buy", 1, math.nan, 0), "price_cny_per_kwh"),
     (("buy", 1, 0.5, -1), "period")],
)  # fmt: skip
def test_intent_is_validated(args, field):
    with pytest.raises(MarketError, match=field):
        OrderIntent(*args)


def test_decide_once_per_period():
    load = ElasticLoad(**LOAD)
    assert load.decide(view(2, 0.5)) != []
    assert load.decide(view(2, 0.5)) == [] and load.decide(view(1, 0.5)) == []
    assert load.decide(view(3, 0.5)) != []


# --- every kind --------------------------------------------------------------------------------
def test_elastic_load_bids_less_at_a_higher_price():
    cheap = ElasticLoad(**LOAD).decide(view(0, 0.5, 0.45))
    dear = ElasticLoad(**LOAD).decide(view(0, 0.6, 0.55))
    assert total(dear) < total(cheap)
    assert cheap[0] == OrderIntent("buy", 200_000, 0.5, 0)  # q0 at p0, for two hours
    assert all(0.45 <= i.price_cny_per_kwh <= 0.5 for i in cheap)
    prices = [i.price_cny_per_kwh for i in cheap]
    assert prices == sorted(prices, reverse=True)  # down the demand curve
    single = ElasticLoad(**LOAD, blocks=1).decide(view(0, 0.55, 0.45))
    assert single == [OrderIntent("buy", round(100 * (1 - 0.5 * 0.1) * 2000), 0.55, 0)]


def test_elastic_load_without_a_signal_uses_the_pool_then_its_reference():
    load = ElasticLoad(**LOAD, blocks=1)
    assert load.decide(view(0))[0].price_cny_per_kwh == 0.5
    top = PoolTop(best_bid_cny_per_kwh=None, best_ask_cny_per_kwh=0.7)
    assert load.decide(view(1, pool_top=top))[0].quantity_bee < 200_000


@pytest.mark.parametrize("kind", ["pv", "wind"])
def test_renewable_never_offers_more_than_its_forecast(kind):
    gen = behaviour_from_config(
        kind, {"forecast_kw": [0.0, 50.0], "marginal_cost_cny_per_kwh": 0.01}
    )
    assert gen.decide(view(0, 0.5, 0.4)) == []  # nothing forecast
    assert gen.decide(view(1, 0.5, 0.4)) == [OrderIntent("sell", 100_000, 0.4, 1)]
    newer = gen.decide(view(3, state={"forecast_kw": 10.0}))
    assert newer == [OrderIntent("sell", 20_000, 0.01, 3)]  # the measured forecast, at cost
    assert gen.status()["forecast_wh"] == 20_000


def test_storage_charges_low_discharges_high_within_capacity():
    st_ = Storage(**BATTERY, charge_below_cny_per_kwh=0.4, discharge_above_cny_per_kwh=0.6)
    low = st_.decide(view(0, 0.35))
    assert [i.side for i in low] == ["buy"] and low[0].quantity_bee == 80_000  # 40 kW x 2 h
    fill_all(st_, low)
    assert st_.status()["soc_wh"] == pytest.approx(80_000 * 0.95)
    assert st_.decide(view(1, 0.5)) == []  # neither low nor high
    high = st_.decide(view(2, 0.7))
    assert [i.side for i in high] == ["sell"] and high[0].quantity_bee == math.floor(76_000 * 0.95)
    fill_all(st_, high)
    assert st_.status()["soc_wh"] == pytest.approx(0.0, abs=2)
    for k in range(3, 12):  # charging at the cap stops at capacity
        fill_all(st_, st_.decide(view(k, 0.3)))
        assert 0 <= st_.status()["soc_wh"] <= 200_000
    assert st_.status()["soc_wh"] > 199_000 and st_.decide(view(12, 0.3)) == []


def test_storage_band_follows_the_mean_of_the_prices_it_saw():
    st_ = Storage(**BATTERY, soc0_wh=100_000, band=0.1)
    assert st_.decide(view(0, 0.5)) == []  # no history yet
    assert st_.decide(view(1, 0.52)) == []  # within 10 % of the mean
    assert st_.decide(view(2, 0.6))[0].side == "sell"
    assert st_.decide(view(3, 0.4))[0].side == "buy"


def test_ev_is_absent_on_trips_and_leaves_with_its_target():
    ev = Ev(**{**BATTERY, "capacity_wh": 120_000}, soc0_wh=10_000, trip_periods=[3, 8],
            trip_energy_wh=80_000, discharge_above_cny_per_kwh=0.0)  # fmt: skip
    for k in range(12):  # the price says discharge every period: the trips still come first
        intents = ev.decide(view(k, 0.9))
        if k in (3, 8):
            assert intents == [] and ev.status()["away"]
        fill_all(ev, intents)
        assert 0 <= ev.status()["soc_wh"] <= 120_000
    departures = dict(ev.status()["departures"])
    assert departures.keys() == {3, 8}
    assert all(soc >= 80_000 - 1 for soc in departures.values())
    assert ev.status()["travel_shortfall_wh"] == 0 and ev.sold_wh > 0  # it did sell when it could


def test_ev_must_charge_bid_fills_against_the_pool():
    ev = Ev(**{**BATTERY, "capacity_wh": 120_000}, trip_periods=[1], trip_energy_wh=60_000)
    [bid] = ev.decide(view(0, 0.5, pool_top=PoolTop(0.4, 0.8)))
    assert bid.side == "buy" and bid.price_cny_per_kwh == 0.8
    assert bid.quantity_bee == math.ceil(60_000 / 0.95)


def test_plant_ask_rises_with_quantity_and_stays_within_capacity():
    plant = Plant(a_cny_per_kw2h=0.0008, b_cny_per_kwh=0.55, capacity_kw=500.0, blocks=5)
    asks = plant.decide(view(0))  # no price signal: the merit order
    prices = [i.price_cny_per_kwh for i in asks]
    assert prices == sorted(prices) and len(set(prices)) == 5
    assert prices[-1] == pytest.approx(0.0008 * 500 + 0.55)  # marginal cost at capacity
    assert total(asks) == 1_000_000  # 500 kW for 2 h
    plant.on_fill(Fill("sell", 400_000, prices[1], 0))
    assert plant.status()["dispatch_kw"] == pytest.approx(200.0)
    # with the ISP's signal the plant is the grid: all of it at the grid's buy price
    asks = Plant(a_cny_per_kw2h=0.0008, b_cny_per_kwh=0.55, capacity_kw=500.0).decide(view(1, 0.9))
    assert {i.price_cny_per_kwh for i in asks} == {0.9} and total(asks) == 1_000_000


# --- configuration -----------------------------------------------------------------------------
def test_unknown_kind_lists_the_valid_ones():
    with pytest.raises(
        ConfigError, match=r"unknown behaviour 'battery'.*elastic_load, ev, household, plant"
    ):
        behaviour_from_config("battery", {})


@pytest.mark.parametrize(
    "kind, params, match",
    [("storage", {**BATTERY, "colour": 1}, "'colour': unknown parameter"),
     ("storage", {**BATTERY, "capacity_wh": -1}, "'capacity_wh'.*below its minimum 0"),
     ("storage", {"p_kw": 1}, "'capacity_wh': missing"),
     ("storage", {**BATTERY, "soc0_wh": 300_000}, "'soc0_wh'.*above capacity_wh"),
     ("storage", {**BATTERY, "round_trip_efficiency": 0}, "round_trip_efficiency"),
     ("storage", {**BATTERY, "p_kw": True}, "'p_kw': expected a number"),
     ("elastic_load", {**LOAD, "elasticity": 0.5}, "'elasticity'"),
     ("elastic_load", {**LOAD, "base_demand_kw": []}, "'base_demand_kw'"),
     ("pv", {"forecast_kw": [1, -2]}, "'forecast_kw'.*-2"),
     ("ev", {**BATTERY, "trip_periods": [12], "trip_energy_wh": 1}, "'trip_periods'"),
     ("ev", {**BATTERY, "trip_periods": [2], "trip_energy_wh": [1, 2]}, "'trip_energy_wh'"),
     ("plant", {"a_cny_per_kw2h": 0, "b_cny_per_kwh": 0.3, "capacity_kw": 1, "blocks": 0},
      "'blocks'")],
)  # fmt: skip
def test_bad_parameters_are_named(kind, params, match):
    with pytest.raises(ConfigError, match=match):
        behaviour_from_config(kind, params)
    with pytest.raises(ConfigError, match=match):  # the Python constructor checks the same
        BEHAVIOURS[kind](**params)


SCENARIO = """\
behaviours:
  wind: {kind: wind, forecast_kw: [110, 120]}
  storage:
    kind: storage
    capacity_wh: 200000
    p_kw: 40
"""


def test_a_behaviours_key_builds_one_behaviour_per_card():
    data, where = load_text(SCENARIO, "s.yaml")
    agents = behaviours_from_config(data["behaviours"], where.at("behaviours"))
    assert {n: type(a) for n, a in agents.items()} == {"wind": Wind, "storage": Storage}
    assert agents["wind"].decide(view(1))[0].quantity_bee == 240_000


@pytest.mark.parametrize(
    "change, match",
    [(("    p_kw: 40", "    p_kw: -40"), r"s.yaml:6: behaviours.storage.p_kw: -40 is below"),
     (("kind: storage", "kind: battery"), r"s.yaml:4: behaviours.storage.kind: unknown behaviour"),
     (("    p_kw: 40", "    p_kw: 40\n    colour: red"), r"s.yaml:7: behaviours.storage.colour: unknown"),
     (("  wind: {kind: wind, ", "  wind: {"), r"s.yaml:2: behaviours.wind: .*'kind' key")],
)  # fmt: skip
def test_errors_name_the_file_and_line_of_a_scenario(change, match):
    data, where = load_text(SCENARIO.replace(*change), "s.yaml")
    with pytest.raises(ConfigError, match=match):
        behaviours_from_config(data["behaviours"], where.at("behaviours"))


def test_a_user_class_registers_without_touching_a_runner():
    class Flat(Behaviour):
        """Bids a fixed quantity at a fixed price."""

        PARAMS = {"quantity_wh": Param(1000, "Wh per period", "int", minimum=1),
                  "price_cny_per_kwh": Param(0.5, "CNY/kWh", minimum=0.0)}  # fmt: skip

        def orders(self, v):
            p = self.params
            return [OrderIntent("buy", p["quantity_wh"], p["price_cny_per_kwh"], v.period)]

    try:
        register_behaviour("flat", Flat)
        b = behaviour_from_config("flat", {"quantity_wh": 5})
        assert b.kind == "flat" and b.decide(view(0)) == [OrderIntent("buy", 5, 0.5, 0)]
        with pytest.raises(ConfigError, match="already registered"):
            register_behaviour("flat", type("Other", (Flat,), {}))
        with pytest.raises(ConfigError, match="not a subclass"):
            register_behaviour("bad", dict)
    finally:
        BEHAVIOURS.pop("flat", None)


# --- properties --------------------------------------------------------------------------------
prices = st.lists(st.floats(0.05, 2.0), min_size=1, max_size=40)
fractions = st.lists(st.floats(0.0, 1.0), min_size=40, max_size=40)


@settings(max_examples=150, deadline=None)
@given(prices, fractions, st.floats(0.0, 200_000), st.floats(0.5, 1.0))
def test_storage_soc_stays_in_bounds(price_seq, frac, soc0, rte):
    b = Storage(**{**BATTERY, "round_trip_efficiency": rte}, soc0_wh=soc0, band=0.02)
    for k, p in enumerate(price_seq):
        intents = b.decide(view(k, p * 1.05, p * 0.95))
        assert all(i.quantity_bee >= 1 for i in intents) and len({i.side for i in intents}) <= 1
        fill_all(b, intents, frac[k])
        assert 0.0 <= b.soc_wh <= 200_000


@settings(max_examples=100, deadline=None)
@given(prices, st.floats(0.0, 120_000), st.lists(st.integers(0, 11), max_size=3, unique=True))
def test_ev_soc_in_bounds_and_targets_met_when_its_bids_fill(price_seq, soc0, trips):
    ev = Ev(
        **{**BATTERY, "capacity_wh": 120_000},
        soc0_wh=soc0,
        trip_periods=trips,
        trip_energy_wh=30_000,
    )
    for k, p in enumerate(price_seq):
        fill_all(ev, ev.decide(view(k, p)))
        assert 0.0 <= ev.soc_wh <= 120_000
    # A departure after a period at home (or with enough at the start) leaves with its target;
    # back-to-back trip periods are one long trip, the second cannot be prepared for.
    prepared = [
        soc
        for k, soc in ev.status()["departures"]
        if (k >= 1 and (k - 1) % 12 not in trips) or (k == 0 and soc0 >= 30_000)
    ]
    assert all(soc >= 30_000 - 1 for soc in prepared)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.1, 1.5), st.floats(0.01, 0.5), st.floats(-3.0, -0.05))
def test_elastic_load_demand_falls_as_the_price_rises(price, step, elasticity):
    params = {**LOAD, "elasticity": elasticity}
    lower = ElasticLoad(**params).decide(view(0, price, price * 0.9))
    higher = ElasticLoad(**params).decide(view(0, price + step, (price + step) * 0.9))
    assert total(higher) <= total(lower)
    assert all(i.quantity_bee >= 1 for i in lower + higher)


# --- a day of the four-node cards --------------------------------------------------------------
def test_four_node_day_of_behaviours_clears_in_the_pool():
    from eip.scenarios.four_node_day.economics import DayParams

    epoch = 1_700_000_000
    hosts = {
        n: HostedAgent(a, PERIOD_S, epoch)
        for n, a in study_behaviours(four_node, DayParams()).items()
    }
    agents = {n: h.behaviour for n, h in hosts.items()}
    assert set(agents) == {c.name for c in four_node.CARDS}
    mid = merit_order_prices(four_node)  # the loads' reference prices: 0.39-0.57 CNY/kWh
    assert min(mid) > four_node.PLANTS[1][2] and max(mid) < 0.6
    pool, next_id, owner_of = BeePool(), 1, {}
    for k in range(12):
        now = epoch + k * PERIOD_S
        signal = PriceSignal(mid[k] * 1.1, mid[k] * 0.9)
        orders = {n: h.orders(h.view(now, price_signal=signal)) for n, h in hosts.items()}
        asks = [o for os_ in orders.values() for o in os_ if o.side == SEND]
        bids = [o for os_ in orders.values() for o in os_ if o.side == ASK]
        assert asks and bids and all(o.quantity > 0 for o in asks + bids)
        assert sum(o.quantity for o in asks) >= sum(o.quantity for o in bids)  # plants cover all
        assert orders["ev"] == [] if k in (3, 8) else True
        trades = []
        for side in (SEND, ASK):  # offers rest first, then the bids take the best of them
            for name, os_ in orders.items():
                for o in (o for o in os_ if o.side == side):
                    hosts[name].placed(next_id, o)
                    owner_of[next_id] = (name, o.side)
                    order = Order(next_id, name, o.side, 1, o.quantity, o.price_micro_per_kbee,
                                  o.start_s, o.end_s)  # fmt: skip
                    trades += pool.place(order, int(now))
                    next_id += 1
        assert trades, f"period {k}: nothing traded"
        for t in trades:
            for oid in (t.buy_order_id, t.sell_order_id):
                name, side = owner_of[oid]
                assert hosts[name].on_pool_fill(oid, t.fill_for(side)) is not None
        for name in ("storage", "ev"):
            assert 0 <= agents[name].soc_wh <= agents[name].params["capacity_wh"]
    bought = {n: a.status()["bought_wh"] for n, a in agents.items()}
    assert bought["urban-load"] > 0.8 * -sum(four_node.PROFILES_KW["urban-load"]) * 2000
    assert agents["pv"].status()["sold_wh"] > 0 and agents["wind"].status()["sold_wh"] > 0
    assert agents["storage"].status()["sold_wh"] > 0 and bought["storage"] > 0
    assert agents["ev"].status()["travel_shortfall_wh"] == 0
    assert sum(a.status()["money_cny"] for a in agents.values()) == pytest.approx(0.0, abs=1e-3)


def test_a_scaled_study_system_trades_the_same_prices_on_fewer_bee():
    from eip.agents.study import study_configs
    from eip.scenarios.four_node_day.economics import DayParams

    f = 1 / 1200
    full, small = (
        study_configs(four_node, DayParams()),
        study_configs(four_node, DayParams(), None, f),
    )
    for name in ("urban-load", "wind", "plant1", "storage"):
        big = behaviour_from_config(*full[name]).decide(view(4, 0.5, 0.45))
        little = behaviour_from_config(*small[name]).decide(view(4, 0.5, 0.45))
        assert [i.side for i in big] == [i.side for i in little], name
        assert [i.price_cny_per_kwh for i in big] == pytest.approx(
            [i.price_cny_per_kwh for i in little], abs=1e-3
        ), name  # marginal costs and inverse demand unchanged
        assert total(little) == pytest.approx(total(big) * f, rel=0.05, abs=len(big)), name
    with pytest.raises(ValueError, match="power_scale"):
        study_configs(four_node, DayParams(), None, 0.0)


def test_hosted_agent_routes_fills_and_keeps_resting_orders():
    host = HostedAgent(Plant(a_cny_per_kw2h=0.001, b_cny_per_kwh=0.3, capacity_kw=10, blocks=2),
                       3600.0, epoch_s=1000)  # fmt: skip
    v = host.view(1000 + 3599)  # no signal: asks at marginal cost
    assert (v.period, v.period_s, v.resting) == (0, 3600.0, ())
    first, second = host.orders(v)
    assert (first.side, first.quantity, first.start_s, first.end_s) == (SEND, 5000, 1000, 4600)
    assert first.price_micro_per_kbee == to_wire_price(0.305)  # marginal cost at 5 kW
    host.placed(11, first)
    host.placed(12, second)
    assert host.on_pool_fill(99, PoolFill(order_id=99, status=2, quantity=1)) is None  # not ours
    assert host.on_pool_fill(11, PoolFill(order_id=11, status=5)) is None  # resting: no trade
    status = host.on_pool_fill(11, PoolFill(order_id=11, status=1, quantity=2000,
                                            price_micro_per_kbee=400_000))  # fmt: skip
    assert status["sold_wh"] == 2000 and status["money_cny"] == pytest.approx(0.8)
    assert [(r.order_id, r.quantity_bee) for r in host.resting()] == [(11, 3000), (12, 5000)]
    host.on_pool_fill(
        11, PoolFill(order_id=11, status=2, quantity=3000, price_micro_per_kbee=400_000)
    )
    assert [r.order_id for r in host.resting()] == [12]
    assert host.orders(host.view(4600)) != [] and host.resting() == ()  # period 0's expired


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 500.0), min_size=1, max_size=12), st.floats(0.0, 500.0))
def test_renewable_offers_at_most_its_forecast(forecast, measured):
    gen = behaviour_from_config("wind", {"forecast_kw": forecast})
    for k in range(12):
        state = {"forecast_kw": measured} if k % 3 == 2 else {}
        fc = measured if state else forecast[k % len(forecast)]
        assert total(gen.decide(view(k, 0.5, 0.4, state=state))) <= fc * 2000


# --- hygiene ------------------------------------------------------------------------------------
def test_agents_run_without_a_network():
    forbidden = ("eip.net", "eip.cli", "eip.bench", "mininet", "topologies", "eip.card.daemon")
    for path in sorted((ROOT / "eip" / "agents").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        bad = [m for m in names if any(m == f or m.startswith(f + ".") for f in forbidden)]
        assert bad == [], f"{path.name} imports {bad}"
        assert len(path.read_text().splitlines()) < 300, path.name
        assert ast.get_docstring(tree), f"{path.name} has no module docstring"


def test_docs_name_every_parameter_of_every_kind():
    text = (ROOT / "docs" / "agents.md").read_text()
    missing = [
        f"{k}.{p}" for k, cls in BEHAVIOURS.items() for p in cls.PARAMS if f"`{p}`" not in text
    ]
    assert missing == []
    assert all(f"`{k}`" in text for k in BEHAVIOURS)


def test_the_demand_curve_is_the_offline_models():
    """eip/agents cannot import the scenarios (a lower layer), so the curve is written twice: same."""
    from eip.agents.load import demand_kw, inverse_demand
    from eip.scenarios.four_node_day import economics

    for q0, p0, e, p in [(130.0, 0.45, -0.5, 0.5), (50.0, 0.4, -2.0, 0.3), (80, 0.5, -2.0, 0.9)]:
        assert demand_kw(q0, p0, e, p) == economics.demand_kw(q0, p0, e, p)
        q = demand_kw(q0, p0, e, p)
        if q > 0:
            assert inverse_demand(q0, p0, e, q) == pytest.approx(p)


@settings(max_examples=100, deadline=None)
@given(st.floats(0.0, 0.01), st.floats(0.0, 1.0), st.floats(1.0, 1000.0), st.integers(1, 20))
def test_plant_offers_its_capacity_at_a_rising_marginal_cost(a, b, cap_kw, blocks):
    plant = Plant(a_cny_per_kw2h=a, b_cny_per_kwh=b, capacity_kw=cap_kw, blocks=blocks)
    asks = plant.decide(view(0))
    prices = [i.price_cny_per_kwh for i in asks]
    assert prices == sorted(prices) and all(p >= b for p in prices)
    assert total(asks) <= cap_kw * 2000 and total(asks) >= cap_kw * 2000 - 1
