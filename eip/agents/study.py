"""The behaviours of a study system's cards, from the system's own data (e.g. seed 000's four nodes).

`study_configs(case, day)` gives each card of `case.CARDS` a (kind, params) pair: loads from
`case.PROFILES_KW` and `case.LOAD_ELASTICITY`, PV and wind forecasts from `case.PROFILES_KW`, plants
from `case.PLANTS` (name, a, b, capacity kW), storage and EV from the day's settings `day` (an
`economics.DayParams`, or anything with its storage_*, ev_* and efficiency fields). `case` is a study
module such as `eip.cases.four_node`, passed in: the agents sit below the study systems and import none.
It is what a scenario's `behaviours:` key will default to. `power_scale` shrinks the system for a
wire of fewer BEE: every power and energy is multiplied by it and the plants' `a` divided by it, so
prices, marginal costs and elasticities stay those of the study (four_node_day: 1 BEE = 1 Wh of
a system 1/1200 the size, i.e. 1.2 kWh of the study's).

The loads' reference price p0 (the price their base demand answers) is, by default, the plants'
merit-order price of the period's net base load (equal marginal cost, no network): a public day-ahead
forecast a participant can know, unlike the offline model's base-case LMP (grid data). The storage
and the EV take their charge/discharge thresholds from the same forecast (charge in its
`THRESHOLD_PERIODS` cheapest periods, discharge in its most expensive ones) and, with no other price
known, the forecast itself as the period's price.
"""

from types import MappingProxyType

from eip.agents.registry import behaviour_from_config

CARD_BEHAVIOUR = MappingProxyType({
    "load": "elastic_load", "pv": "pv", "wind": "wind", "storage": "storage", "ev": "ev",
    "plant": "plant",
})  # fmt: skip
THRESHOLD_PERIODS = 4  # about what fills the storage: 200 kWh at 40 kW x 2 h x 0.95


def price_thresholds(prices, periods: int = THRESHOLD_PERIODS) -> dict:
    """Charge/discharge thresholds: the `periods`-th lowest and highest forecast price."""
    ranked = sorted(prices)
    n = min(periods, len(ranked)) - 1
    return {"charge_below_cny_per_kwh": ranked[n], "discharge_above_cny_per_kwh": ranked[-1 - n]}


def merit_order_price_cny_per_kwh(load_kw: float, plants) -> float:
    """The equal-marginal-cost price at which `plants` (name, a, b, capacity kW) supply `load_kw`."""
    low = min(b for _, _, b, _ in plants)
    high = max(a * cap + b for _, a, b, cap in plants)

    def supply_kw(price: float) -> float:
        return sum(min(cap, max(0.0, (price - b) / a)) if a else (cap if price >= b else 0.0)
                   for _, a, b, cap in plants)  # fmt: skip

    if load_kw <= 0:
        return low
    for _ in range(60):
        mid = (low + high) / 2.0
        low, high = (mid, high) if supply_kw(mid) < load_kw else (low, mid)
    return high


def net_base_load_kw(profiles_kw) -> tuple:
    """Per period, what the plants must supply for the signed base profiles (kW, + load)."""
    n = len(next(iter(profiles_kw.values())))
    return tuple(-sum(profile[k] for profile in profiles_kw.values()) for k in range(n))


def merit_order_prices(case) -> list:
    """Per period, the plants' merit-order price of the case's net base load."""
    return [
        merit_order_price_cny_per_kwh(kw, case.PLANTS) for kw in net_base_load_kw(case.PROFILES_KW)
    ]


def study_configs(case, day, reference_prices_cny_per_kwh=None, power_scale: float = 1.0) -> dict:
    """card name -> (behaviour kind, params) for every card of the study system `case`, its powers
    and energies times `power_scale`."""
    if not power_scale > 0:
        raise ValueError(f"power_scale must be > 0, got {power_scale}")
    f = float(power_scale)
    prices = reference_prices_cny_per_kwh or merit_order_prices(case)
    plants = {name: (a, b, cap) for name, a, b, cap in case.PLANTS}
    round_trip = day.efficiency**2  # the model's efficiency is one way
    thresholds = price_thresholds(prices)
    out = {}
    for card in case.CARDS:
        kind = CARD_BEHAVIOUR[card.kind]
        if kind == "elastic_load":
            params = {"base_demand_kw": [-kw * f for kw in case.PROFILES_KW[card.name]],
                      "elasticity": case.LOAD_ELASTICITY[card.name],
                      "reference_price_cny_per_kwh": list(prices)}  # fmt: skip
        elif kind in ("pv", "wind"):
            params = {"forecast_kw": [kw * f for kw in case.PROFILES_KW[card.name]],
                      "reference_price_cny_per_kwh": list(prices)}  # fmt: skip
        elif kind == "plant":
            a, b, cap = plants[card.name]
            params = {"a_cny_per_kw2h": a / f, "b_cny_per_kwh": b, "capacity_kw": cap * f}
        elif kind == "storage":
            params = {"capacity_wh": day.storage_kwh * 1000 * f, "p_kw": day.storage_kw * f,
                      "soc0_wh": day.storage_soc0_kwh * 1000 * f,
                      "round_trip_efficiency": round_trip, **thresholds,
                      "reference_price_cny_per_kwh": list(prices)}  # fmt: skip
        else:  # ev
            trips = list(day.ev_trip_periods)
            params = {"capacity_wh": day.ev_kwh * 1000 * f, "p_kw": day.ev_kw * f,
                      "soc0_wh": day.ev_soc0_kwh * 1000 * f, "round_trip_efficiency": round_trip,
                      "trip_periods": trips, **thresholds,
                      "reference_price_cny_per_kwh": list(prices),
                      "trip_energy_wh": day.ev_travel_kwh * 1000 * f / max(1, len(trips))}  # fmt: skip
        out[card.name] = (kind, params)
    return out


def study_behaviours(case, day, reference_prices_cny_per_kwh=None) -> dict:
    """card name -> a new behaviour, built through the registry from `study_configs`."""
    configs = study_configs(case, day, reference_prices_cny_per_kwh)
    return {name: behaviour_from_config(kind, params) for name, (kind, params) in configs.items()}
