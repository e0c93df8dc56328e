"""The economics of seed 000's four-node day (sections 8 and 10, Fig. 10), without any network.

`run_day(DayParams())` returns a frozen `Day`: both modes' per-period records and their Fig. 10
metrics (row names exactly as in eip/data/blueprint_fig10.csv). Everything below is a
modelling choice, documented once more in docs/four_node_day.md:

Common to both modes
    Cards, grid, plants, lines and the 12 two-hour base profiles are `eip.cases.four_node` (`grid()`).
    **Elastic loads** (seed 10.1): a linear demand curve through the base point (q0 = the profile's kW,
    p0 = the LMP of the load's bus in the OPF of the base injections), slope set by the elasticity
    (-0.5 urban, -2.0 rural: +10 % price -> -5 % / -20 % load). Utility = the area under the inverse
    demand curve from 0 to q. Each period the load and the LMP are brought to a fixed point (a few
    OPF runs): the load answers its bus's LMP, its marginal price in both modes (in the Energy
    Internet its peer-to-peer purchases are infra-marginal: one more kWh comes from the grid).
    **Storage** (bus 4) and **EV** (bus 2) are price takers that plan the day on the day-ahead price,
    the base OPF's LMP of their bus, by linear programming (charge cheap, discharge dear, 95 % one-way
    efficiency, state of charge within the battery). The EV needs `ev_travel_kwh` for two trips (it is
    away in `ev_trip_periods`, where the trip's energy leaves the battery); its travel utility is
    200 CNY (Fig. 10). Carbon 0.55 kg/kWh of thermal energy.
Traditional central dispatch
    The ISP runs the AC OPF (`eip.isp.opf.run_opf`) on the nodal injections and everybody settles at
    the LMP of its bus, no P2P. The operator neither sees nor controls the distributed renewables, so it
    admits them only up to their node's own consumption (no reverse power flow out of a distribution
    node, the usual rule for un-dispatched DER): the rest is **curtailed**. The EV cannot discharge
    (no V2G without a market to sell in); the storage is a metered merchant and may.
Energy Internet
    Nothing is curtailed: PV, wind, storage discharge and the EV (V2G allowed) sell BEEs in the pool,
    loads, EV charging and storage charging bid. The pool clears like a double auction on the period's
    nodal prices: asks at the seller's bus LMP (what the grid would pay it), bids at the buyer's bus
    LMP (what the grid would charge it), highest bid with lowest ask first, each match at
    ask + `p2p_split` x (bid - ask) - a price between the grid's buy and sell prices. What is not
    matched is exchanged with the grid at the LMP. The ISP sees only the nodal injections (the P2P
    trades do not change them: seed section 7) and runs `EnergyIsp.run_period`: OPF, static limits,
    reversal of any limit violation, and service fees (losses, reversal, and the top-up to a 10 %
    profit rate), paid by the cards in proportion to the energy they moved.

Money in CNY, energy in kWh, power in kW. Area partition of welfare (seed Fig. 9/10): urban = urban
load surplus + PV + EV + storage (the cards of vpp2 and vpp4), rural = rural load surplus + wind
(vpp3), grid = grid surplus (vpp1: plants and network). The seed counts the EV in the rural area; our
topology puts it at the urban bus, and so do we.
"""

import csv
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np

from eip.cases.four_node import (
    BUS_OF,
    CARBON_T_PER_MWH,
    GRID_BUS,
    LOAD_ELASTICITY,
    RURAL_BUS,
    STORAGE_BUS,
    URBAN_BUS,
)
from eip.cases.four_node import PROFILES_KW as FOUR_NODE_PROFILES_KW
from eip.cases.four_node import grid as four_node_grid
from eip.data import reference
from eip.isp.fees import losses_cost_cny, service_fees
from eip.isp.grids import PERIODS_PER_DAY
from eip.isp.model import NodalInjections

REFERENCE_CSV = reference("blueprint_fig10.csv")
PERIOD_H = 2.0
FIXED_POINT_TOL_KW = 0.05
SELLERS = ("pv", "wind", "storage", "ev")
BUYERS = ("urban-load", "rural-load", "storage", "ev")
MODES = ("traditional", "energy_internet")

# The Fig. 10 rows, in the CSV's order (checked against the file by the unit tests).
METRICS = (
    "daily_power_loss_kwh", "carbon_emissions_kg", "load_utility_urban", "load_utility_rural",
    "load_cost_urban", "load_cost_rural", "load_surplus_urban", "load_surplus_rural",
    "grid_surplus", "pv_revenue", "pv_curtailment_kwh", "wind_revenue", "wind_curtailment_kwh",
    "storage_revenue", "ev_surplus", "welfare_urban", "welfare_rural", "welfare_grid",
    "welfare_total",
)  # fmt: skip


@dataclass(frozen=True)
class DayParams:
    """The model's settings (the scenario file's `settings` of the same names)."""

    elasticity_urban: float = LOAD_ELASTICITY["urban-load"]
    elasticity_rural: float = LOAD_ELASTICITY["rural-load"]
    storage_kw: float = 40.0
    storage_kwh: float = 200.0
    storage_soc0_kwh: float = 0.0
    ev_kw: float = 40.0
    ev_kwh: float = 120.0
    ev_soc0_kwh: float = 60.0
    ev_travel_kwh: float = 160.0
    ev_trip_periods: tuple = (3, 8)
    efficiency: float = 0.95  # one way, storage and EV
    travel_utility_cny: float = 200.0
    p2p_split: float = 0.5
    fixed_point_iterations: int = 6  # at most; stops when the loads move < 0.05 kW
    carbon_kg_per_kwh: float = CARBON_T_PER_MWH  # t/MWh = kg/kWh


@dataclass(frozen=True)
class Trade:
    """One P2P match of the pool in one period."""

    period: int
    seller: str
    buyer: str
    kwh: float
    price_cny_per_kwh: float


@dataclass(frozen=True)
class PeriodRecord:
    """One period of one mode: the physical operating point and the money."""

    period: int
    load_kw: MappingProxyType  # urban-load, rural-load
    available_kw: MappingProxyType  # pv, wind: the forecast
    used_kw: MappingProxyType  # pv, wind: what was admitted
    storage_kw: float  # + discharge, - charge
    ev_kw: float  # + discharge, - charge
    injections_kw: MappingProxyType  # bus -> kW
    lmp: MappingProxyType  # bus -> CNY/kWh
    dispatch_kw: MappingProxyType  # plant -> kW
    upstream_kw: float  # the external grid's supply (+) or purchase (-) at bus 1
    losses_kw: float
    opf_cost_cny: float  # for the period
    money_cny: MappingProxyType  # card -> + received / - paid (energy only, before fees)
    fees_cny: MappingProxyType  # card -> service fee paid
    grid_revenue_cny: float  # from trading with the users (before fees)
    fees_total_cny: float
    reversal_kwh: float
    reversal_cost_cny: float
    trades: tuple = ()  # Trade, ... (Energy Internet only)
    method: str = "ac"
    fee_topup_cny: float = 0.0  # the part of the fees that lifts the grid to a 10 % profit rate


@dataclass(frozen=True)
class Day:
    params: DayParams
    base_lmp: tuple  # per period: bus -> CNY/kWh of the base OPF
    storage_plan_kw: MappingProxyType  # mode -> 12 kW (+ discharge)
    ev_plan_kw: MappingProxyType  # mode -> 12 kW (+ discharge)
    records: MappingProxyType  # mode -> tuple of PeriodRecord
    metrics: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))


# --- loads ------------------------------------------------------------------------------------
def demand_kw(q0: float, p0: float, elasticity: float, price: float) -> float:
    """The linear demand curve through (q0, p0) with point elasticity `elasticity` there."""
    return max(0.0, q0 * (1.0 + elasticity * (price - p0) / p0))


def utility_cny_per_h(q0: float, p0: float, elasticity: float, q: float) -> float:
    """Area under the inverse demand P(x) = p0 (1 + (x/q0 - 1)/e) from 0 to q (CNY per hour)."""
    return p0 * q + p0 / (elasticity * q0) * (q * q / 2.0 - q0 * q)


# --- storage and EV ---------------------------------------------------------------------------
def plan_battery(price, power_kw, capacity_kwh, soc0_kwh, efficiency, discharge=True,
                 away=(), trip_kwh=None) -> tuple:  # fmt: skip
    """Price-taker day plan by LP: kW per period, + discharge, - charge (maximises sales - buys).

    SOC_k = soc0 + sum_{t<=k} h (eta c_t - d_t / eta) - trip_t, 0 <= SOC_k <= capacity,
    SOC_end >= soc0; no charging or discharging in `away` periods.
    """
    from scipy.optimize import linprog

    n, h, eta = len(price), PERIOD_H, efficiency
    trip = np.asarray(trip_kwh if trip_kwh is not None else [0.0] * n, dtype=float)
    cost = np.concatenate([h * np.asarray(price), -h * np.asarray(price)])
    lower = np.tril(np.ones((n, n)))
    soc_of_x = np.hstack([h * eta * lower, -h / eta * lower])  # SOC_k - soc0 + trips, per x
    trips = lower @ trip
    a_ub = np.vstack([-soc_of_x, soc_of_x, -soc_of_x[-1:]])
    b_ub = np.concatenate([soc0_kwh - trips, capacity_kwh - soc0_kwh + trips, [trips[-1]]])
    bounds = [(0.0, 0.0 if k in away else power_kw) for k in range(n)]
    bounds += [(0.0, 0.0 if (k in away or not discharge) else power_kw) for k in range(n)]
    res = linprog(cost, A_ub=a_ub, b_ub=b_ub, bounds=bounds, method="highs")
    if not res.success:
        raise ValueError(f"battery plan infeasible: {res.message}")
    x = np.round(res.x, 6)
    return tuple(float(d - c) for c, d in zip(x[:n], x[n:], strict=True))


# --- the P2P pool -----------------------------------------------------------------------------
def clear_pool(period: int, offers_kw: dict, bids_kw: dict, lmp: dict, split: float) -> tuple:
    """Double auction on nodal prices: asks at the seller's LMP, bids at the buyer's LMP.

    Highest bid meets lowest ask (ties: the same bus first, then by name) while bid >= ask; each match
    is priced at ask + split x (bid - ask). Returns (Trade, ...) with kWh for the two-hour period.
    """
    asks = sorted((lmp[BUS_OF[s]], s, kw) for s, kw in offers_kw.items() if kw > 1e-9)
    bids = sorted(((-lmp[BUS_OF[b]], b, kw) for b, kw in bids_kw.items() if kw > 1e-9))
    asks = [[p, s, kw] for p, s, kw in asks]
    bids = [[-p, b, kw] for p, b, kw in bids]
    trades: list[Trade] = []
    while asks and bids:
        ask_p, seller, ask_kw = asks[0]
        # Among the bids at the best price level, prefer one at the seller's own bus.
        best = bids[0][0]
        level = [i for i, b in enumerate(bids) if b[0] >= best - 1e-12]
        same = [i for i in level if BUS_OF[bids[i][1]] == BUS_OF[seller]]
        i = same[0] if same else level[0]
        bid_p, buyer, bid_kw = bids[i]
        if bid_p < ask_p - 1e-12 or seller == buyer:
            break
        kw = min(ask_kw, bid_kw)
        price = ask_p + split * (bid_p - ask_p)
        trades.append(Trade(period, seller, buyer, kw * PERIOD_H, price))
        asks[0][2] -= kw
        bids[i][2] -= kw
        if asks[0][2] <= 1e-9:
            asks.pop(0)
        if bids[i][2] <= 1e-9:
            bids.pop(i)
    return tuple(trades)


# --- one day ----------------------------------------------------------------------------------
def base_lmps(grid) -> tuple:
    from eip.isp.opf import run_opf

    return tuple(
        MappingProxyType(dict(run_opf(grid, grid.base_injections_kw(k)).lmp_cny_per_kwh))
        for k in range(PERIODS_PER_DAY)
    )


def _injections(period, loads, used, storage_kw, ev_kw) -> NodalInjections:
    return NodalInjections(period, {
        URBAN_BUS: used["pv"] + ev_kw - loads["urban-load"],
        RURAL_BUS: used["wind"] - loads["rural-load"],
        STORAGE_BUS: storage_kw,
    })  # fmt: skip


def _admitted(mode, available, loads, ev_kw) -> dict:
    if mode == "energy_internet":
        return dict(available)
    # No reverse flow out of a distribution node: renewables up to the node's own consumption.
    return {
        "pv": min(available["pv"], loads["urban-load"] + max(0.0, -ev_kw)),
        "wind": min(available["wind"], loads["rural-load"]),
    }


def run_period(grid, isp, mode: str, k: int, p: DayParams, base_lmp, storage_kw, ev_kw):
    """The fixed point of one period (loads vs LMP), then its settlement."""
    from eip.isp.opf import run_opf

    fc = grid.card_forecast_kw(k)
    q0 = {"urban-load": -fc["urban-load"], "rural-load": -fc["rural-load"]}
    p0 = {"urban-load": base_lmp[URBAN_BUS], "rural-load": base_lmp[RURAL_BUS]}
    el = {"urban-load": p.elasticity_urban, "rural-load": p.elasticity_rural}
    available = {"pv": fc["pv"], "wind": fc["wind"]}
    loads = dict(q0)
    for _ in range(max(1, p.fixed_point_iterations)):
        used = _admitted(mode, available, loads, ev_kw)
        lmp = run_opf(grid, _injections(k, loads, used, storage_kw, ev_kw)).lmp_cny_per_kwh
        new = {n: demand_kw(q0[n], p0[n], el[n], lmp[BUS_OF[n]]) for n in q0}
        done = max(abs(new[n] - loads[n]) for n in q0) < FIXED_POINT_TOL_KW
        loads = new
        if done:
            break
    used = _admitted(mode, available, loads, ev_kw)
    inj = _injections(k, loads, used, storage_kw, ev_kw)
    h = PERIOD_H
    # Energy per card in the period: + sold (injected), - bought (withdrawn), kW.
    net_kw = {"urban-load": -loads["urban-load"], "rural-load": -loads["rural-load"],
              "pv": used["pv"], "wind": used["wind"], "storage": storage_kw, "ev": ev_kw}  # fmt: skip
    if mode == "traditional":
        opf = run_opf(grid, inj)
        lmp = opf.lmp_cny_per_kwh
        money = {n: kw * lmp[BUS_OF[n]] * h for n, kw in net_kw.items()}
        revenue = -sum(money.values())
        return PeriodRecord(
            k, MappingProxyType(loads), MappingProxyType(available), MappingProxyType(used),
            storage_kw, ev_kw, MappingProxyType(dict(inj.p_kw)), MappingProxyType(dict(lmp)),
            MappingProxyType(dict(opf.dispatch_kw)), _upstream(opf), opf.losses_kw,
            opf.cost_cny_per_h * h, MappingProxyType(money), MappingProxyType({}), revenue, 0.0,
            0.0, 0.0, (), opf.method,
        )  # fmt: skip
    # Energy Internet: the ISP runs its period on the injections (OPF, limits, reversal); the pool
    # clears on the prices of that OPF; the fees follow from the grid's revenue of the residuals.
    mac = {c.name: c.mac for c in grid.cards}
    usage = {mac[n]: abs(kw) * h for n, kw in net_kw.items()}
    ip = isp.run_period(k, inj, usage_kwh_by_card=usage)
    opf = ip.opf
    lmp = opf.lmp_cny_per_kwh
    offers = {n: kw for n, kw in net_kw.items() if kw > 0 and n in SELLERS}
    bids = {n: -kw for n, kw in net_kw.items() if kw < 0 and n in BUYERS}
    trades = clear_pool(k, offers, bids, lmp, p.p2p_split)
    money = {n: 0.0 for n in net_kw}
    p2p_kw = {n: 0.0 for n in net_kw}
    for t in trades:
        money[t.seller] += t.kwh * t.price_cny_per_kwh
        money[t.buyer] -= t.kwh * t.price_cny_per_kwh
        p2p_kw[t.seller] += t.kwh / h
        p2p_kw[t.buyer] -= t.kwh / h
    residual = {n: net_kw[n] - p2p_kw[n] for n in net_kw}  # exchanged with the grid at the LMP
    for n, kw in residual.items():
        money[n] += kw * lmp[BUS_OF[n]] * h
    revenue = -sum(kw * lmp[BUS_OF[n]] * h for n, kw in residual.items())
    fee = service_fees(opf, h, losses_cost_cny(opf, h), ip.reversal.cost_cny, revenue, usage)
    name_of = {m: n for n, m in mac.items()}
    fees = {name_of[m]: float(v) for m, v in fee.by_card_cny.items() if m in name_of}
    return PeriodRecord(
        k, MappingProxyType(loads), MappingProxyType(available), MappingProxyType(used),
        storage_kw, ev_kw, MappingProxyType(dict(inj.p_kw)), MappingProxyType(dict(lmp)),
        MappingProxyType(dict(opf.dispatch_kw)), _upstream(opf), opf.losses_kw,
        opf.cost_cny_per_h * h, MappingProxyType(money), MappingProxyType(fees), revenue,
        fee.total_cny, ip.reversal.total_kwh, ip.reversal.cost_cny, trades, opf.method,
        fee.surplus_cny,
    )  # fmt: skip


def _upstream(opf) -> float:
    return float(opf.bus_p_kw[GRID_BUS]) - sum(opf.dispatch_kw.values())


def run_day(params: DayParams | None = None, grid=None) -> Day:
    """Both modes of the whole day (12 periods); ~100 AC OPFs, some 15 s."""
    from eip.cases import four_node
    from eip.isp.isp import EnergyIsp
    from eip.net.plan import plan_from_case

    p = params or DayParams()
    grid = grid or four_node_grid()
    base = base_lmps(grid)
    n = PERIODS_PER_DAY
    trip = [p.ev_travel_kwh / len(p.ev_trip_periods) if k in p.ev_trip_periods else 0.0
            for k in range(n)]  # fmt: skip
    st_price = [b[STORAGE_BUS] for b in base]
    ev_price = [b[URBAN_BUS] for b in base]
    storage = plan_battery(st_price, p.storage_kw, p.storage_kwh, p.storage_soc0_kwh, p.efficiency)
    ev_plan = {
        "traditional": plan_battery(ev_price, p.ev_kw, p.ev_kwh, p.ev_soc0_kwh, p.efficiency,
                                    discharge=False, away=p.ev_trip_periods, trip_kwh=trip),
        "energy_internet": plan_battery(ev_price, p.ev_kw, p.ev_kwh, p.ev_soc0_kwh, p.efficiency,
                                        discharge=True, away=p.ev_trip_periods, trip_kwh=trip),
    }  # fmt: skip
    isp = EnergyIsp(grid, plan_from_case(four_node.topology(), "four_node"), PERIOD_H * 3600, 10)
    records = {
        mode: tuple(run_period(grid, isp, mode, k, p, base[k], storage[k], ev_plan[mode][k])
                    for k in range(n))
        for mode in MODES
    }  # fmt: skip
    day = Day(p, base, MappingProxyType({m: storage for m in MODES}),
              MappingProxyType(ev_plan), MappingProxyType(records))  # fmt: skip
    return replace(day, metrics=MappingProxyType(day_metrics(day)))


# --- metrics ----------------------------------------------------------------------------------
def mode_metrics(day: Day, mode: str) -> dict:
    """The Fig. 10 rows of one mode (plus a few extra quantities, after them)."""
    p, recs, h = day.params, day.records[mode], PERIOD_H
    util = {"urban-load": 0.0, "rural-load": 0.0}
    el = {"urban-load": p.elasticity_urban, "rural-load": p.elasticity_rural}

    for r in recs:
        for n in util:
            q0 = -FOUR_NODE_PROFILES_KW[n][r.period]
            p0 = day.base_lmp[r.period][BUS_OF[n]]
            util[n] += utility_cny_per_h(q0, p0, el[n], r.load_kw[n]) * h

    def paid(name):  # net money of a card over the day, after its fees
        return sum(r.money_cny[name] - r.fees_cny.get(name, 0.0) for r in recs)

    thermal_kwh = sum(sum(r.dispatch_kw.values()) * h for r in recs)
    opf_cost = sum(r.opf_cost_cny for r in recs)
    fees = sum(r.fees_total_cny for r in recs)
    reversal_cost = sum(r.reversal_cost_cny for r in recs)
    grid_surplus = sum(r.grid_revenue_cny for r in recs) + fees - opf_cost - reversal_cost
    m = {
        "daily_power_loss_kwh": sum(r.losses_kw for r in recs) * h,
        "carbon_emissions_kg": thermal_kwh * p.carbon_kg_per_kwh,
        "load_utility_urban": util["urban-load"],
        "load_utility_rural": util["rural-load"],
        "load_cost_urban": -paid("urban-load"),
        "load_cost_rural": -paid("rural-load"),
    }
    m["load_surplus_urban"] = m["load_utility_urban"] - m["load_cost_urban"]
    m["load_surplus_rural"] = m["load_utility_rural"] - m["load_cost_rural"]
    m["grid_surplus"] = grid_surplus
    m["pv_revenue"] = paid("pv")
    m["pv_curtailment_kwh"] = sum(r.available_kw["pv"] - r.used_kw["pv"] for r in recs) * h
    m["wind_revenue"] = paid("wind")
    m["wind_curtailment_kwh"] = sum(r.available_kw["wind"] - r.used_kw["wind"] for r in recs) * h
    m["storage_revenue"] = paid("storage")
    m["ev_surplus"] = p.travel_utility_cny + paid("ev")
    m["welfare_urban"] = m["load_surplus_urban"] + m["pv_revenue"] + m["ev_surplus"] + m[
        "storage_revenue"]  # fmt: skip
    m["welfare_rural"] = m["load_surplus_rural"] + m["wind_revenue"]
    m["welfare_grid"] = grid_surplus
    m["welfare_total"] = m["welfare_urban"] + m["welfare_rural"] + m["welfare_grid"]
    # Extra quantities (not Fig. 10 rows).
    m["thermal_kwh"] = thermal_kwh
    m["opf_cost_cny"] = opf_cost
    m["grid_profit_rate"] = grid_surplus / opf_cost if opf_cost else None
    m["service_fees_cny"] = fees
    m["service_fee_topup_cny"] = sum(r.fee_topup_cny for r in recs)
    m["reversal_kwh"] = sum(r.reversal_kwh for r in recs)
    m["p2p_kwh"] = sum(t.kwh for r in recs for t in r.trades)
    m["load_kwh_urban"] = sum(r.load_kw["urban-load"] for r in recs) * h
    m["load_kwh_rural"] = sum(r.load_kw["rural-load"] for r in recs) * h
    m["upstream_kwh"] = sum(r.upstream_kw for r in recs) * h
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in m.items()}


def change_percent(old: float, new: float) -> float | None:
    if old == 0:
        return 0.0 if abs(new) < 1e-9 else None
    return round((new - old) / abs(old) * 100.0, 2)


def load_reference(path: Path = REFERENCE_CSV) -> dict:
    """metric -> {traditional, energy_internet, change_percent} from the seed's Fig. 10 CSV."""
    lines = [ln for ln in Path(path).read_text().splitlines() if ln.strip() and ln[0] != "#"]
    return {
        r["metric"]: {k: float(r[k]) for k in ("traditional", "energy_internet", "change_percent")}
        for r in csv.DictReader(lines)
    }


def day_metrics(day: Day) -> dict:
    trad, ei = mode_metrics(day, "traditional"), mode_metrics(day, "energy_internet")
    return {
        "traditional": trad,
        "energy_internet": ei,
        "change_percent": {k: change_percent(trad[k], ei[k]) for k in METRICS},
    }


def direction(value: float | None) -> int:
    """-1, 0 or +1 (a change within 0.5 % counts as none); 0 for None."""
    if value is None or math.isnan(value) or abs(value) < 0.5:
        return 0
    return 1 if value > 0 else -1
