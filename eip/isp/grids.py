"""The Energy ISP's grid model: a pandapower net prepared for the per-period OPF, and its cards.

A `GridModel` holds a pandapower net prepared for the per-period OPF and the maps between cards and
buses. The ISP only ever sets *nodal* injections: every bus that carries non-dispatchable resources has
exactly one injection element (a pandapower `load` named `inj@<bus>`, p_mw = -injection), and the
original loads/sgens/storage units of a library grid are folded into it (`grid_from_net`). Dispatchable
plants are pandapower `gen`s with `poly_cost`; the external grid is the slack.

The named grids are the study systems' (eip/cases: `four_node.grid()`, `cigre_lv.grid()`,
`case33bw.grid()`, `case118.grid()`, `vpp_lans.grid(plan)`; `eip.cases.grid_for_plan(plan)` picks one).
This module is their common part and imports nothing of the network.

Units are in every name: kW, kWh, CNY; pandapower's own columns stay in MW and CNY per MWh.
"""

import math
from dataclasses import dataclass, field
from types import MappingProxyType

from eip.isp.model import IspError, NodalInjections

PERIODS_PER_DAY = 12
PERIOD_S = 7200.0  # the seed's two-hour periods

# Daily shapes for library grids: fraction of nominal load and of nominal sgen output per period.
LOAD_SHAPE = (0.55, 0.5, 0.55, 0.7, 0.8, 0.85, 0.85, 0.8, 0.9, 1.0, 0.9, 0.7)
PV_SHAPE = (0.0, 0.0, 0.05, 0.4, 0.8, 1.0, 0.9, 0.55, 0.1, 0.0, 0.0, 0.0)
WIND_SHAPE = (0.9, 1.0, 0.85, 0.65, 0.4, 0.3, 0.25, 0.3, 0.4, 0.6, 0.85, 0.9)
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


def pandapower():
    """pandapower, imported with its FutureWarning/DeprecationWarning chatter silenced."""
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning, module="pandapower")
    warnings.filterwarnings("ignore", category=DeprecationWarning, module="pandapower")
    import pandapower as pp

    return pp


def add_injection_loads(net, buses) -> dict:
    """One `inj@<bus>` load (0 kW, not controllable) on each of `buses`; bus -> its load index."""
    pp = pandapower()
    return {
        int(b): int(pp.create_load(net, int(b), p_mw=0.0, q_mvar=0.0, name=f"inj@{b}",
                                   controllable=False))
        for b in sorted(buses)
    }  # fmt: skip


def _fold_elements(net, name: str, description: str) -> GridModel:
    """Replace a library net's loads/sgens/storage by one injection load per bus with base profiles."""
    pp = pandapower()
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
    injection_load = add_injection_loads(net, buses)
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
    pandapower()
    return _fold_elements(net, name, description or f"pandapower net {name}")


def plan_cards(grid: GridModel, plan) -> list:
    """The cards of a network plan as `grid` sees them: plan MAC, VPP and bus, the grid's profiles."""
    known = {c.name: c for c in grid.cards}
    # A card the grid has no bus for (e.g. CIGRE LV's roaming EV) sits at its VPP's first bus.
    vpp_bus: dict = {}
    for c in plan.cards:
        if c.bus in grid.injection_load:
            vpp_bus.setdefault(c.vpp, c.bus)
    out = []
    for c in plan.cards:
        prof = known[c.name].profile_kw if c.name in known else ()
        bus = c.bus
        if bus not in grid.injection_load and c.name in known:
            bus = known[c.name].bus  # e.g. vpp_lans: the plan says bus 0, the grid puts VPP i at i
        elif bus not in grid.injection_load and c.kind != "plant" and c.vpp in vpp_bus:
            bus = vpp_bus[c.vpp]
        if bus not in grid.injection_load and not (c.kind == "plant" and c.name in known):
            raise IspError(f"card {c.name}: bus {c.bus} is not a node of grid {grid.name!r}")
        out.append(GridCard(c.name, c.kind, c.mac, c.vpp, bus, prof))
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
