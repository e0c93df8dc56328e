"""The four-node day's model side: its settings, and what the offline model (`economics`) plans.

The settings schema and its defaults; the model's planned P2P trades as wire orders (BEE, price
field) and per card; the per-period table and the assembled metrics of the model's `Day`, next to the
seed's Fig. 10 reference. No network here: `driver` carries the orders out, `report` writes them up.
"""

from eip.cases import four_node
from eip.scenarios.four_node_day.economics import (
    METRICS,
    PERIOD_H,
    DayParams,
    direction,
    load_reference,
)
from eip.scenarios.schema import Choice

WAN_POOL = "pool-vpp1"  # vpp1's router, by its name in Energy DNS
PRICE_FIELD_MAX = 2**31 - 1
CARDS = four_node.RESOURCES  # the cards that trade, from the one card list of the system

SCHEMA = {
    "periods": (
        int,
        12,
        "periods carried out on the network (the model always runs the whole day)",
    ),
    "period_s": ((int, float), 6.0, "wall seconds per emulated two-hour period"),
    "first_period": (int, 0, "first period carried out on the network (0 = 00:00-02:00)"),
    "network": (bool, True, "carry out the Energy Internet's P2P trades on an emulated network"),
    "trading": (
        Choice(("agents", "plan")),
        "plan",
        "agents: every card's behaviour decides its "
        "orders in the WAN pool; plan: the offline model's trades placed as crossing orders",
    ),
    "isp_prices": (
        bool,
        True,
        "agents: the behaviours take the ISP's price notices (R5.7) as their price signal (else "
        "the day's public price forecast only)",
    ),
    "pool": (str, WAN_POOL, "the public WAN pool every card sends its orders to (vpp1's router)"),
    "kwh_per_bee": ((int, float), 1.0, "model kWh per BEE on the wire (scale factor)"),
    "elasticity_urban": (float, -0.5, "urban load price elasticity (+10 % price -> -5 %)"),
    "elasticity_rural": (float, -2.0, "rural load price elasticity (+10 % price -> -20 %)"),
    "storage_kw": ((int, float), 40.0, "storage charge/discharge power, kW"),
    "storage_kwh": ((int, float), 200.0, "storage capacity, kWh"),
    "ev_kw": ((int, float), 40.0, "EV charger power, kW"),
    "ev_kwh": ((int, float), 120.0, "EV battery, kWh"),
    "ev_travel_kwh": ((int, float), 160.0, "EV energy for the day's two trips, kWh"),
    "ev_trip_periods": (list, [3, 8], "periods the EV is away (a trip each)"),
    "efficiency": (float, 0.95, "one-way efficiency of storage and EV"),
    "travel_utility_cny": ((int, float), 200.0, "EV travel utility, CNY (seed Fig. 10)"),
    "p2p_split": (float, 0.5, "P2P price = ask + split x (bid - ask), asks/bids at the bus LMPs"),
    "settle_timeout_s": ((int, float), 60.0, "wait at most this long for the last deliveries"),
}


def day_params(s: dict) -> DayParams:
    return DayParams(
        elasticity_urban=float(s["elasticity_urban"]),
        elasticity_rural=float(s["elasticity_rural"]),
        storage_kw=float(s["storage_kw"]),
        storage_kwh=float(s["storage_kwh"]),
        ev_kw=float(s["ev_kw"]),
        ev_kwh=float(s["ev_kwh"]),
        ev_travel_kwh=float(s["ev_travel_kwh"]),
        ev_trip_periods=tuple(int(k) for k in s["ev_trip_periods"]),
        efficiency=float(s["efficiency"]),
        travel_utility_cny=float(s["travel_utility_cny"]),
        p2p_split=float(s["p2p_split"]),
    )


def settings_with_defaults(settings: dict | None = None) -> dict:
    out = {k: spec[1] for k, spec in SCHEMA.items()}
    out.update(settings or {})
    return out


def wire_orders(day, periods, kwh_per_bee: float) -> list[dict]:
    """The planned trades of `periods` as wire orders: seller, buyer, BEE, micro-price per kBEE."""
    out = []
    for k in periods:
        for t in day.records["energy_internet"][k].trades:
            bee = round(t.kwh / kwh_per_bee)
            if bee < 1:
                continue
            price = round(t.price_cny_per_kwh * kwh_per_bee * 1e9)
            if not 0 < price <= PRICE_FIELD_MAX:
                raise ValueError(f"price {t.price_cny_per_kwh} CNY/kWh x {kwh_per_bee} kWh/BEE "
                                 f"does not fit the BEE price field: lower kwh_per_bee")  # fmt: skip
            out.append({"period": k, "seller": t.seller, "buyer": t.buyer, "bee": bee,
                        "price_micro_per_kbee": price, "kwh": t.kwh,
                        "price_cny_per_kwh": t.price_cny_per_kwh})  # fmt: skip
    return out


def planned_per_card(orders: list[dict]) -> dict:
    out = {n: {"sent_bee": 0, "received_bee": 0, "money_cny": 0.0} for n in CARDS}
    for o in orders:
        money = o["bee"] * o["price_micro_per_kbee"] / 1e9
        out[o["seller"]]["sent_bee"] += o["bee"]
        out[o["seller"]]["money_cny"] += money
        out[o["buyer"]]["received_bee"] += o["bee"]
        out[o["buyer"]]["money_cny"] -= money
    return out


def per_period(day) -> dict:
    out = {}
    for mode, recs in day.records.items():
        out[mode] = [
            {
                "period": r.period,
                "urban_load_kw": round(r.load_kw["urban-load"], 3),
                "rural_load_kw": round(r.load_kw["rural-load"], 3),
                "pv_kw": round(r.used_kw["pv"], 3), "pv_available_kw": r.available_kw["pv"],
                "wind_kw": round(r.used_kw["wind"], 3),
                "wind_available_kw": r.available_kw["wind"],
                "storage_kw": round(r.storage_kw, 3), "ev_kw": round(r.ev_kw, 3),
                "plant1_kw": round(r.dispatch_kw["plant1"], 3),
                "plant2_kw": round(r.dispatch_kw["plant2"], 3),
                "upstream_kw": round(r.upstream_kw, 3),
                "losses_kw": round(r.losses_kw, 4),
                "lmp": {str(b): round(v, 5) for b, v in r.lmp.items()},
                "p2p_kwh": round(sum(t.kwh for t in r.trades), 3),
                "method": r.method,
            }
            for r in recs
        ]  # fmt: skip
    return out


def assemble(day, wire: dict) -> dict:
    ref = load_reference()
    m = dict(day.metrics)
    m["reference"] = ref
    m["directions"] = {
        k: {
            "seed": direction(ref[k]["change_percent"]),
            "ours": direction(m["change_percent"][k]),
            "same": direction(ref[k]["change_percent"]) == direction(m["change_percent"][k]),
        }
        for k in METRICS
    }
    m["same_direction_count"] = sum(d["same"] for d in m["directions"].values())
    ch = m["change_percent"]
    m["rural_gains_most"] = bool(ch["welfare_rural"] > ch["welfare_urban"])
    m["wire"] = wire
    m["per_period"] = per_period(day)
    m["model"] = {"period_h": PERIOD_H, **{k: v for k, v in vars(day.params).items()}}
    m["model"]["ev_trip_periods"] = list(day.params.ev_trip_periods)
    m["plans"] = {"storage_kw": list(day.storage_plan_kw["traditional"]),
                  "ev_kw": {k: list(v) for k, v in day.ev_plan_kw.items()}}  # fmt: skip
    return m
