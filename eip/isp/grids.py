"""The grids the Energy ISP operates: one function per named grid, each returning a `GridModel`.

A `GridModel` holds a pandapower net prepared for the per-period OPF and the maps between cards and
buses. The ISP only ever sets *nodal* injections: every bus that carries non-dispatchable resources has
exactly one injection element (a pandapower `load` named `inj@<bus>`, p_mw = -injection), and the
original loads/sgens/storage units of a library grid are folded into it. Dispatchable plants are
pandapower `gen`s with `poly_cost`; the external grid is the slack.

Units are in every name: kW, kWh, CNY; pandapower's own columns stay in MW and CNY per MWh.

Grids:

- `four_node_grid()`   seed 000 section 8/10: four 10 kV buses, two quadratic-cost plants at bus 1.
- `cigre_lv_grid()`    pandapower's CIGRE LV benchmark (0.4 kV, 44 buses), external grid supplies.
- `case33bw_grid()`    Baran & Wu 33-bus 12.66 kV feeder, external grid supplies.
- `case118_grid()`     IEEE 118-bus transmission case with its 54 generators (bench only, no cards).
- `vpp_lans_grid(plan)` one bus per VPP on a small 10 kV radial feeder (for `topologies/vpp_lans.py`).
- `grid_for_plan(plan)` picks one by plan name, then by card buses.

Four-node data (documented in docs/isp.md, tables there):

      bus 1 "grid" (slack, plant1, plant2)
        |  \\
       L0   L1
        |     \\
      bus 2 --L2-- bus 3 "rural" (rural-load, wind)
     "urban" (urban-load, pv, ev)
        |
       L3
        |
      bus 4 "storage"

The seed's AC OPF has "no reactive parameters": loads draw no reactive power, lines have no shunt
capacitance, and line reactance is only a small fraction (x = r / 10) kept so the DC model (PTDF, DC
OPF) is defined; with x proportional to r the DC flow split equals the resistive split of the real grid.
"""

import math
from dataclasses import dataclass, field
from types import MappingProxyType

from eip.isp.model import IspError, NodalInjections

PERIODS_PER_DAY = 12
PERIOD_S = 7200.0  # the seed's two-hour periods

# Price elasticities of the seed's elastic loads (section 10: +10 % price -> -5 % urban, -20 % rural).
LOAD_ELASTICITY = MappingProxyType({"urban-load": -0.5, "rural-load": -2.0})

# Seed 000 section 10: cost = 1/2 a P^2 + b P with P in kW, cost in CNY/h.
PLANTS = (
    # name, a CNY/kW^2h, b CNY/kWh, capacity kW
    ("plant1", 0.0008, 0.55, 500.0),
    ("plant2", 0.0005, 0.35, 300.0),
)
CARBON_T_PER_MWH = 0.55

# Twelve two-hour periods (period 0 = 00:00-02:00). Signed kW per card: + injection, - withdrawal.
FOUR_NODE_PROFILES_KW = MappingProxyType({
    "urban-load": (-130.0, -110.0, -120.0, -180.0, -230.0, -250.0, -260.0, -250.0, -280.0, -330.0,
                   -280.0, -180.0),
    "pv": (0.0, 0.0, 5.0, 45.0, 100.0, 125.0, 115.0, 70.0, 15.0, 0.0, 0.0, 0.0),
    "ev": (-40.0, -40.0, -20.0, 0.0, 0.0, -10.0, -10.0, -20.0, -30.0, -10.0, -30.0, -40.0),
    "rural-load": (-50.0, -45.0, -55.0, -80.0, -90.0, -85.0, -80.0, -75.0, -85.0, -100.0, -90.0,
                   -65.0),
    "wind": (110.0, 120.0, 100.0, 80.0, 50.0, 35.0, 30.0, 35.0, 50.0, 75.0, 100.0, 110.0),
    "storage": (0.0, 0.0, 0.0, -20.0, -40.0, -40.0, 0.0, 0.0, 30.0, 40.0, 30.0, 0.0),
})  # fmt: skip

# (name, from bus, to bus, length km, r ohm/km, max_i_ka): long 10 kV overhead lines of a small
# conductor (LGJ-25 class, 1.35 ohm/km), x = r/10, no shunt. The resistance puts daily losses near the
# seed's ~100 kWh; L0's rating (13 A ~ 225 kVA) makes it congested in the evening peak (periods 8-10).
FOUR_NODE_LINES = (
    ("L0 grid-urban", 1, 2, 10.0, 1.35, 0.013),
    ("L1 grid-rural", 1, 3, 12.0, 1.35, 0.020),
    ("L2 urban-rural", 2, 3, 8.0, 1.35, 0.020),
    ("L3 urban-storage", 2, 4, 2.0, 1.35, 0.010),
)
FOUR_NODE_VN_KV = 10.0

# Daily shapes for library grids: fraction of nominal load and of nominal sgen output per period.
LOAD_SHAPE = (0.55, 0.5, 0.55, 0.7, 0.8, 0.85, 0.85, 0.8, 0.9, 1.0, 0.9, 0.7)
PV_SHAPE = (0.0, 0.0, 0.05, 0.4, 0.8, 1.0, 0.9, 0.55, 0.1, 0.0, 0.0, 0.0)
WIND_SHAPE = (0.9, 1.0, 0.85, 0.65, 0.4, 0.3, 0.25, 0.3, 0.4, 0.6, 0.85, 0.9)
# vpp_lans: nominal kW of a card by kind (signed) and its shape.
KIND_NOMINAL_KW = MappingProxyType({
    "load": (-30.0, LOAD_SHAPE), "pv": (20.0, PV_SHAPE), "wind": (25.0, WIND_SHAPE),
    "storage": (0.0, LOAD_SHAPE), "ev": (-10.0, LOAD_SHAPE), "plant": (40.0, (1.0,) * 12),
})  # fmt: skip

EXPORT_KINDS = frozenset({"pv", "wind", "storage", "ev", "plant"})
IMPORT_KINDS = frozenset({"load", "storage", "ev"})


@dataclass(frozen=True)
class GridCard:
    """A card as the ISP sees it: where it connects, and its forecast per period (if known)."""

    name: str
    kind: str
    mac: str
    vpp: str
    bus: int
    profile_kw: tuple = ()  # signed kW per period; () when the ISP has no per-card forecast


@dataclass(frozen=True, eq=False)
class GridModel:
    """A pandapower net prepared for the ISP, and how cards and VPPs map onto its buses.

    `net` is owned by the model: `run_opf` resets every injection element before each run, so no
    state leaks between periods. `cache` holds topology-dependent matrices (PTDF, voltage
    sensitivities) keyed by the topology; do not rely on its contents.
    """

    name: str
    net: object  # pandapowerNet
    injection_load: MappingProxyType  # bus -> index of its `inj@bus` load element
    dispatchable: MappingProxyType  # plant (gen) name -> pandapower gen index
    cards: tuple = ()  # GridCard, ...
    base_kw: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))  # bus -> tuple
    period_s: float = PERIOD_S
    description: str = ""
    cache: dict = field(default_factory=dict, repr=False)

    @property
    def bus_of_card(self) -> dict:
        return {c.name: c.bus for c in self.cards}

    @property
    def bus_of_mac(self) -> dict:
        return {c.mac: c.bus for c in self.cards}

    @property
    def vpp_of_bus(self) -> dict:
        return {c.bus: c.vpp for c in self.cards}

    @property
    def buses(self) -> tuple:
        """The buses with an injection element, in order: the nodes the ISP sets and limits."""
        return tuple(sorted(self.injection_load))

    def base_injections_kw(self, period: int) -> NodalInjections:
        """The default (forecast) nodal injections of `period` (taken modulo 12)."""
        k = period % PERIODS_PER_DAY
        return NodalInjections(period, {bus: prof[k] for bus, prof in self.base_kw.items()})

    def card_forecast_kw(self, period: int) -> dict:
        """Signed kW of each card with a known profile in `period` (name -> kW)."""
        k = period % PERIODS_PER_DAY
        return {c.name: c.profile_kw[k] for c in self.cards if c.profile_kw}

    def with_cards(self, cards) -> "GridModel":
        """The same grid with another card list (e.g. from a network plan)."""
        cards = tuple(cards)
        for c in cards:
            if c.bus not in self.injection_load and c.kind != "plant":
                raise IspError(f"card {c.name}: bus {c.bus} is not a node of grid {self.name!r}")
        return GridModel(self.name, self.net, self.injection_load, self.dispatchable, cards,
                         self.base_kw, self.period_s, self.description)  # fmt: skip


def _pp():
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="pandapower")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pandapower")
    import pandapower as pp

    return pp


def _add_injection_loads(net, buses) -> dict:
    pp = _pp()
    return {
        int(b): int(pp.create_load(net, int(b), p_mw=0.0, q_mvar=0.0, name=f"inj@{b}",
                                   controllable=False))
        for b in sorted(buses)
    }  # fmt: skip


def four_node_grid() -> GridModel:
    """Seed 000's four-node example (section 8 Fig. 7, section 10) with the data in this module."""
    from eip.net.plan import card_mac
    from topologies.four_node import FOUR_NODE_RESOURCES

    pp = _pp()
    net = pp.create_empty_network(name="four_node", sn_mva=1.0)
    for _no, label, bus, _cards in FOUR_NODE_RESOURCES:
        pp.create_bus(net, vn_kv=FOUR_NODE_VN_KV, index=bus, name=f"bus{bus} {label}",
                      min_vm_pu=0.93, max_vm_pu=1.07)  # fmt: skip
    for name, fb, tb, length_km, r_ohm_per_km, max_i_ka in FOUR_NODE_LINES:
        pp.create_line_from_parameters(
            net, fb, tb, length_km, r_ohm_per_km=r_ohm_per_km, x_ohm_per_km=r_ohm_per_km / 10,
            c_nf_per_km=0.0, max_i_ka=max_i_ka, name=name, max_loading_percent=100.0,
        )  # fmt: skip
    # Slack and voltage reference: the upstream grid supplies nothing (max_p_mw = 0, the plants
    # cover load and losses) but buys any surplus at 0.2 CNY/kWh, below both plants' marginal cost.
    eg = pp.create_ext_grid(net, 1, vm_pu=1.0, min_p_mw=-5.0, max_p_mw=0.0, min_q_mvar=-5.0,
                            max_q_mvar=5.0, name="upstream")  # fmt: skip
    pp.create_poly_cost(net, eg, "ext_grid", cp1_eur_per_mw=200.0)
    dispatchable = {}
    for name, a, b, cap_kw in PLANTS:
        g = pp.create_gen(net, 1, p_mw=0.0, vm_pu=1.0, min_p_mw=0.0, max_p_mw=cap_kw / 1000,
                          min_q_mvar=-1.0, max_q_mvar=1.0, controllable=True, name=name)  # fmt: skip
        # 1/2 a P^2 + b P, P in kW -> CNY/MW^2h = a/2 * 1e6, CNY/MWh = b * 1e3.
        pp.create_poly_cost(net, g, "gen", cp1_eur_per_mw=b * 1e3, cp2_eur_per_mw2=a / 2 * 1e6)
        dispatchable[name] = int(g)
    cards = []
    for no, _label, bus, members in FOUR_NODE_RESOURCES:
        for k, (name, kind) in enumerate(members, start=1):
            prof = FOUR_NODE_PROFILES_KW.get(name, ())
            cards.append(GridCard(name, kind, card_mac(no, k), f"vpp{no}", bus, tuple(prof)))
    node_buses = sorted({c.bus for c in cards if c.kind != "plant"})
    injection_load = _add_injection_loads(net, node_buses)
    base = {
        bus: tuple(
            sum(c.profile_kw[k] for c in cards if c.bus == bus and c.profile_kw)
            for k in range(PERIODS_PER_DAY)
        )
        for bus in node_buses
    }
    return GridModel("four_node", net, MappingProxyType(injection_load),
                     MappingProxyType(dispatchable), tuple(cards), MappingProxyType(base),
                     PERIOD_S, "seed 000 four-node example")  # fmt: skip


def _fold_elements(net, name: str, description: str) -> GridModel:
    """Replace a library net's loads/sgens/storage by one injection load per bus with base profiles."""
    pp = _pp()
    per_bus_load_kw: dict[int, float] = {}
    per_bus_q: dict[int, float] = {}
    per_bus_pv_kw: dict[int, float] = {}
    per_bus_wind_kw: dict[int, float] = {}
    for _i, row in net.load[net.load.in_service].iterrows():
        b = int(row.bus)
        per_bus_load_kw[b] = per_bus_load_kw.get(b, 0.0) + row.p_mw * row.scaling * 1000
        per_bus_q[b] = per_bus_q.get(b, 0.0) + row.q_mvar * row.scaling
    for _i, row in net.sgen[net.sgen.in_service].iterrows():
        b = int(row.bus)
        wind = "wind" in f"{row.get('name')} {row.get('type')}".lower()
        target = per_bus_wind_kw if wind else per_bus_pv_kw
        target[b] = target.get(b, 0.0) + row.p_mw * row.scaling * 1000
        per_bus_q[b] = per_bus_q.get(b, 0.0) - row.q_mvar * row.scaling
    net.load["in_service"] = False
    net.sgen["in_service"] = False
    net.storage["in_service"] = False
    buses = sorted(set(per_bus_load_kw) | set(per_bus_pv_kw) | set(per_bus_wind_kw))
    injection_load = _add_injection_loads(net, buses)
    for b, q in per_bus_q.items():
        net.load.at[injection_load[b], "q_mvar"] = q
    base = {
        b: tuple(
            round(-per_bus_load_kw.get(b, 0.0) * LOAD_SHAPE[k] + per_bus_pv_kw.get(b, 0.0)
                  * PV_SHAPE[k] + per_bus_wind_kw.get(b, 0.0) * WIND_SHAPE[k], 6)
            for k in range(PERIODS_PER_DAY)
        )
        for b in buses
    }  # fmt: skip
    if "max_loading_percent" not in net.line or net.line.max_loading_percent.isna().any():
        net.line["max_loading_percent"] = net.line.get("max_loading_percent", 100.0)
        net.line["max_loading_percent"] = net.line["max_loading_percent"].fillna(100.0)
    if len(net.trafo):
        if "max_loading_percent" not in net.trafo:
            net.trafo["max_loading_percent"] = 100.0
        net.trafo["max_loading_percent"] = net.trafo["max_loading_percent"].fillna(100.0)
    for col, default in (("min_vm_pu", 0.9), ("max_vm_pu", 1.1)):
        if col not in net.bus:
            net.bus[col] = default
        net.bus[col] = net.bus[col].fillna(default)
    dispatchable = {}
    for g in net.gen.index:
        gname = net.gen.at[g, "name"]
        dispatchable[str(gname) if isinstance(gname, str) and gname else f"gen{g}"] = int(g)
    if not len(net.poly_cost) and not len(net.pwl_cost):
        for e in net.ext_grid.index:
            pp.create_poly_cost(net, e, "ext_grid", cp1_eur_per_mw=500.0)
    return GridModel(name, net, MappingProxyType(injection_load), MappingProxyType(dispatchable),
                     (), MappingProxyType(base), PERIOD_S, description)  # fmt: skip


def grid_from_net(net, name: str = "net", description: str = "") -> GridModel:
    """Any pandapower net as a `GridModel`: its loads/sgens folded into one injection per bus."""
    _pp()
    return _fold_elements(net, name, description or f"pandapower net {name}")


def cigre_lv_grid() -> GridModel:
    """CIGRE LV (pandapower.networks.create_cigre_network_lv); the external grid buys at 0.5 CNY/kWh."""
    from pandapower.networks import create_cigre_network_lv

    _pp()
    net = create_cigre_network_lv()
    net.ext_grid["min_p_mw"], net.ext_grid["max_p_mw"] = -2.0, 2.0
    net.ext_grid["min_q_mvar"], net.ext_grid["max_q_mvar"] = -2.0, 2.0
    return _fold_elements(net, "cigre_lv", "CIGRE LV benchmark, 0.4 kV, three feeders")


def case33bw_grid() -> GridModel:
    """IEEE 33-bus feeder (pandapower.networks.case33bw), tie lines open, voltage band 0.9-1.1."""
    from pandapower.networks import case33bw

    _pp()
    net = case33bw()
    net.ext_grid["min_p_mw"], net.ext_grid["max_p_mw"] = -10.0, 10.0
    net.ext_grid["min_q_mvar"], net.ext_grid["max_q_mvar"] = -10.0, 10.0
    net.line["max_i_ka"] = net.line["max_i_ka"].clip(upper=0.5)
    return _fold_elements(net, "case33bw", "Baran & Wu 33-bus feeder, 12.66 kV")


def case118_grid() -> GridModel:
    """IEEE 118-bus case (pandapower.networks.case118) with its generators and costs."""
    from pandapower.networks import case118

    _pp()
    return _fold_elements(case118(), "case118", "IEEE 118-bus transmission case")


def vpp_lans_grid(plan) -> GridModel:
    """One 10 kV bus per VPP on a radial feeder from the substation bus 0 (slack, 0.5 CNY/kWh).

    VPP i sits at bus i; line i feeds bus i from bus i-1 (1 km, 0.4 ohm/km, 150 A). Each card gets
    the nominal kW and daily shape of its kind (`KIND_NOMINAL_KW`).
    """
    pp = _pp()
    vpps = sorted({c.vpp for c in plan.cards}, key=lambda v: int(v.removeprefix("vpp") or 0))
    net = pp.create_empty_network(name=plan.name, sn_mva=1.0)
    pp.create_bus(net, 10.0, index=0, name="substation", min_vm_pu=0.9, max_vm_pu=1.1)
    eg = pp.create_ext_grid(net, 0, min_p_mw=-20.0, max_p_mw=20.0, min_q_mvar=-20.0,
                            max_q_mvar=20.0)  # fmt: skip
    pp.create_poly_cost(net, eg, "ext_grid", cp1_eur_per_mw=500.0)
    bus_of_vpp = {}
    for i, vpp in enumerate(vpps, start=1):
        pp.create_bus(net, 10.0, index=i, name=vpp, min_vm_pu=0.9, max_vm_pu=1.1)
        pp.create_line_from_parameters(net, i - 1, i, 1.0, 0.4, 0.04, 0.0, 0.15, name=f"L{i}",
                                       max_loading_percent=100.0)  # fmt: skip
        bus_of_vpp[vpp] = i
    cards = []
    for c in plan.cards:
        nominal, shape = KIND_NOMINAL_KW.get(c.kind, (0.0, LOAD_SHAPE))
        prof = tuple(nominal * s for s in shape)
        cards.append(GridCard(c.name, c.kind, c.mac, c.vpp, bus_of_vpp[c.vpp], prof))
    injection_load = _add_injection_loads(net, sorted(bus_of_vpp.values()))
    base = {
        b: tuple(sum(c.profile_kw[k] for c in cards if c.bus == b) for k in range(PERIODS_PER_DAY))
        for b in injection_load
    }
    return GridModel(plan.name, net, MappingProxyType(injection_load), MappingProxyType({}),
                     tuple(cards), MappingProxyType(base), PERIOD_S,
                     "one bus per VPP on a radial 10 kV feeder")  # fmt: skip


_BY_NAME = (
    ("four_node", four_node_grid), ("fournode", four_node_grid), ("cigre", cigre_lv_grid),
    ("case33bw", case33bw_grid), ("case33", case33bw_grid), ("case118", case118_grid),
)  # fmt: skip


def grid_for_plan(plan) -> GridModel:
    """The grid of a network plan: by plan name, else one bus per VPP (`vpp_lans_grid`).

    Cards keep their plan MAC and VPP; their bus is the plan's `bus` (pandapower bus index).
    """
    key = plan.name.lower().replace("-", "_")
    for fragment, make in _BY_NAME:
        if fragment in key:
            grid = make()
            return grid.with_cards(_plan_cards(grid, plan))
    if all(c.bus == 0 for c in plan.cards) or "vpp_lans" in key or "vpplans" in key:
        return vpp_lans_grid(plan)
    raise IspError(f"no grid model for network plan {plan.name!r}: name it after a known grid")


def _plan_cards(grid: GridModel, plan) -> list:
    known = {c.name: c for c in grid.cards}
    out = []
    for c in plan.cards:
        prof = known[c.name].profile_kw if c.name in known else ()
        if c.bus not in grid.injection_load and not (c.kind == "plant" and c.name in known):
            raise IspError(f"card {c.name}: bus {c.bus} is not a node of grid {grid.name!r}")
        out.append(GridCard(c.name, c.kind, c.mac, c.vpp, c.bus, prof))
    return out


def line_rating_kw(net) -> dict:
    """Each in-service line's and trafo's rating in kW (apparent power at nominal voltage).

    Keys are ("line", idx) and ("trafo", idx); rating = sqrt(3) V_n I_max * parallel * df for lines,
    sn_mva * parallel for trafos, both times max_loading_percent / 100.
    """
    out = {}
    vn = net.bus.vn_kv
    for idx, row in net.line.iterrows():
        pct = row.get("max_loading_percent", 100.0)
        pct = 100.0 if pct is None or math.isnan(pct) else pct
        out[("line", int(idx))] = (
            math.sqrt(3) * vn.at[row.from_bus] * row.max_i_ka * row.parallel * row.df * pct * 10
        )
    for idx, row in net.trafo.iterrows():
        pct = row.get("max_loading_percent", 100.0)
        pct = 100.0 if pct is None or math.isnan(pct) else pct
        out[("trafo", int(idx))] = row.sn_mva * row.parallel * pct * 10
    return out
