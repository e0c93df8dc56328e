"""N VPP LANs with M cards each, for scale (10 x 20 = 200 cards and more).

                               +-------+
             +-----------------|  wan  |-----------------+
             |                 +-------+                 |
           [r1] 10.0.0.1        ...                    [rN] 10.0.0.N
             |                                           |
           (s1) 10.1.0.0/24                            (sN) 10.N.0.0/24
          /  |  \\                                      /  |  \\
      v1c1 v1c2 .. v1cM                            vNc1 vNc2 .. vNcM

Card k of VPP i is `v{i}c{k}`; kinds rotate load, pv, wind, storage, ev, plant. The ISP's grid model
puts one 10 kV bus per VPP on a small radial feeder (`grid(plan)`).
"""

from types import MappingProxyType

from eip.card.config import KINDS
from eip.cases.model import CaseCard, CaseTopology, CaseVpp
from eip.isp.grids import (
    LOAD_SHAPE,
    PERIOD_S,
    PERIODS_PER_DAY,
    PV_SHAPE,
    WIND_SHAPE,
    GridCard,
    GridModel,
    add_injection_loads,
    pandapower,
)

NAME = "vpp_lans"
# Nominal kW of a card by kind (signed) and its daily shape.
KIND_NOMINAL_KW = MappingProxyType({
    "load": (-30.0, LOAD_SHAPE), "pv": (20.0, PV_SHAPE), "wind": (25.0, WIND_SHAPE),
    "storage": (0.0, LOAD_SHAPE), "ev": (-10.0, LOAD_SHAPE), "plant": (40.0, (1.0,) * 12),
})  # fmt: skip


def card_name(vpp_no: int, k: int) -> str:
    return f"v{vpp_no}c{k}"


def topology(n_vpp: int = 2, cards_per_vpp: int = 3) -> CaseTopology:
    """`n_vpp` VPP LANs (at most 254) of `cards_per_vpp` cards (at most 244)."""
    vpps = tuple(CaseVpp(i) for i in range(1, n_vpp + 1))
    cards = tuple(
        CaseCard(card_name(i, k), KINDS[(i + k - 2) % len(KINDS)], i)
        for i in range(1, n_vpp + 1)
        for k in range(1, cards_per_vpp + 1)
    )
    return CaseTopology(NAME, vpps, cards)


def grid(plan) -> GridModel:
    """One 10 kV bus per VPP on a radial feeder from the substation bus 0 (slack, 0.5 CNY/kWh).

    VPP i sits at bus i; line i feeds bus i from bus i-1 (1 km, 0.4 ohm/km, 150 A). Each card gets
    the nominal kW and daily shape of its kind (`KIND_NOMINAL_KW`).
    """
    pp = pandapower()
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
    injection_load = add_injection_loads(net, sorted(bus_of_vpp.values()))
    base = {
        b: tuple(sum(c.profile_kw[k] for c in cards if c.bus == b) for k in range(PERIODS_PER_DAY))
        for b in injection_load
    }
    return GridModel(plan.name, net, MappingProxyType(injection_load), MappingProxyType({}),
                     tuple(cards), MappingProxyType(base), PERIOD_S,
                     "one bus per VPP on a radial 10 kV feeder")  # fmt: skip
