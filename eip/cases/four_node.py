"""Seed 000's four-node example (sections 8 and 10, Fig. 7): four grid nodes, each an Energy LAN.

                                  +-------+
                  +---------------|  wan  |---------------+
                  |           +---|       |---+           |
                  |           |   +-------+   |           |
               10.0.0.1    10.0.0.2       10.0.0.3     10.0.0.4
                 [r1]        [r2]           [r3]         [r4]
               10.1.0.254  10.2.0.254     10.3.0.254   10.4.0.254
                  |           |               |            |
                 (s1)        (s2)            (s3)         (s4)
                 /  \\       / | \\           /  \\           |
           plant1 plant2 urban-load pv ev  rural-load wind  storage

    vpp1 "grid"     bus 1: plant1, plant2 (the two thermal plants)
    vpp2 "urban"    bus 2: urban-load, pv, ev
    vpp3 "rural"    bus 3: rural-load, wind
    vpp4 "storage"  bus 4: storage

The grid (documented in docs/isp.md, tables there): four 10 kV buses, two quadratic-cost plants at
bus 1, and the lines

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

`CARDS` is the one card list of this system: the topology (`topology()`, `topologies/four_node.py`),
the ISP's grid model (`grid()`) and the four-node day's economics all read it.
"""

from types import MappingProxyType

from eip.cases.model import CaseCard, CaseTopology, CaseVpp
from eip.isp.grids import (
    PERIOD_S,
    PERIODS_PER_DAY,
    GridCard,
    GridModel,
    add_injection_loads,
    pandapower,
)

NAME = "four_node"
VPPS = (CaseVpp(1, "grid"), CaseVpp(2, "urban"), CaseVpp(3, "rural"), CaseVpp(4, "storage"))
GRID_BUS, URBAN_BUS, RURAL_BUS, STORAGE_BUS = 1, 2, 3, 4
# The resources of seed 000 Fig. 7: name, kind, VPP number, grid bus.
CARDS = (
    CaseCard("plant1", "plant", 1, GRID_BUS),
    CaseCard("plant2", "plant", 1, GRID_BUS),
    CaseCard("urban-load", "load", 2, URBAN_BUS),
    CaseCard("pv", "pv", 2, URBAN_BUS),
    CaseCard("ev", "ev", 2, URBAN_BUS),
    CaseCard("rural-load", "load", 3, RURAL_BUS),
    CaseCard("wind", "wind", 3, RURAL_BUS),
    CaseCard("storage", "storage", 4, STORAGE_BUS),
)
# The cards that trade (every one but the dispatchable plants), in the order of `CARDS`.
RESOURCES = tuple(c.name for c in CARDS if c.kind != "plant")
BUS_OF = MappingProxyType({c.name: c.bus for c in CARDS if c.kind != "plant"})

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
PROFILES_KW = MappingProxyType({
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
LINES = (
    ("L0 grid-urban", 1, 2, 10.0, 1.35, 0.013),
    ("L1 grid-rural", 1, 3, 12.0, 1.35, 0.020),
    ("L2 urban-rural", 2, 3, 8.0, 1.35, 0.020),
    ("L3 urban-storage", 2, 4, 2.0, 1.35, 0.010),
)
VN_KV = 10.0


def topology() -> CaseTopology:
    """The four VPP LANs and their cards, as plain data."""
    return CaseTopology(NAME, VPPS, CARDS)


def grid() -> GridModel:
    """The ISP's grid model of the example, with the data of this module."""
    pp = pandapower()
    net = pp.create_empty_network(name=NAME, sn_mva=1.0)
    bus_label = {c.bus: v.label for v in VPPS for c in CARDS if c.vpp_no == v.no}
    for bus in sorted(bus_label):
        pp.create_bus(net, vn_kv=VN_KV, index=bus, name=f"bus{bus} {bus_label[bus]}",
                      min_vm_pu=0.93, max_vm_pu=1.07)  # fmt: skip
    for name, fb, tb, length_km, r_ohm_per_km, max_i_ka in LINES:
        pp.create_line_from_parameters(
            net, fb, tb, length_km, r_ohm_per_km=r_ohm_per_km, x_ohm_per_km=r_ohm_per_km / 10,
            c_nf_per_km=0.0, max_i_ka=max_i_ka, name=name, max_loading_percent=100.0,
        )  # fmt: skip
    # Slack and voltage reference: the upstream grid supplies nothing (max_p_mw = 0, the plants
    # cover load and losses) but buys any surplus at 0.2 CNY/kWh, below both plants' marginal cost.
    eg = pp.create_ext_grid(net, GRID_BUS, vm_pu=1.0, min_p_mw=-5.0, max_p_mw=0.0,
                            min_q_mvar=-5.0, max_q_mvar=5.0, name="upstream")  # fmt: skip
    pp.create_poly_cost(net, eg, "ext_grid", cp1_eur_per_mw=200.0)
    dispatchable = {}
    for name, a, b, cap_kw in PLANTS:
        g = pp.create_gen(net, GRID_BUS, p_mw=0.0, vm_pu=1.0, min_p_mw=0.0, max_p_mw=cap_kw / 1000,
                          min_q_mvar=-1.0, max_q_mvar=1.0, controllable=True, name=name)  # fmt: skip
        # 1/2 a P^2 + b P, P in kW -> CNY/MW^2h = a/2 * 1e6, CNY/MWh = b * 1e3.
        pp.create_poly_cost(net, g, "gen", cp1_eur_per_mw=b * 1e3, cp2_eur_per_mw2=a / 2 * 1e6)
        dispatchable[name] = int(g)
    mac = topology().mac_of()
    cards = [GridCard(c.name, c.kind, mac[c.name], c.vpp, c.bus, tuple(PROFILES_KW.get(c.name, ())))
             for c in CARDS]  # fmt: skip
    node_buses = sorted({c.bus for c in cards if c.kind != "plant"})
    injection_load = add_injection_loads(net, node_buses)
    base = {
        bus: tuple(
            sum(c.profile_kw[k] for c in cards if c.bus == bus and c.profile_kw)
            for k in range(PERIODS_PER_DAY)
        )
        for bus in node_buses
    }
    return GridModel(NAME, net, MappingProxyType(injection_load), MappingProxyType(dispatchable),
                     tuple(cards), MappingProxyType(base), PERIOD_S,
                     "seed 000 four-node example")  # fmt: skip
