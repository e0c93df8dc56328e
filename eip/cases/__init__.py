"""The study systems, one module each (like pandapower's `networks`): card list, grid model, topology.

- `four_node`   seed 000's four-node example (sections 8 and 10): four buses, four VPPs, eight cards.
- `cigre_lv`    pandapower's CIGRE LV benchmark: three feeders as VPPs, a card per load.
- `case33bw`    Baran & Wu's 33-bus feeder: the main feeder and its laterals as VPPs.
- `case118`     IEEE 118-bus case: a grid only (the OPF benchmark).
- `vpp_lans`    N VPP LANs of M cards, for scale; one bus per VPP.
- `households`  one Energy LAN of N household cards (the thesis studies).

Each module's `topology(...)` is plain data (`CaseTopology`, no Mininet) that `topologies/*.py` turn
into Mininet Topos; `grid()` (`grid(plan)` for vpp_lans) is the Energy ISP's `GridModel`.
"""

from eip.cases import case33bw, case118, cigre_lv, four_node, households, vpp_lans
from eip.isp.grids import GridModel, plan_cards
from eip.isp.model import IspError

# Topology name (as in topologies.TOPOLOGIES and scenario files) -> its CaseTopology factory.
TOPOLOGIES = {
    "four_node": four_node.topology,
    "vpp_lans": vpp_lans.topology,
    "cigre_lv": cigre_lv.topology,
    "case33bw": case33bw.topology,
}
# Grid name -> its GridModel factory (no arguments).
GRIDS = {
    "four_node": four_node.grid,
    "cigre_lv": cigre_lv.grid,
    "case33bw": case33bw.grid,
    "case118": case118.grid,
}

_BY_NAME = (
    ("four_node", four_node.grid), ("fournode", four_node.grid), ("cigre", cigre_lv.grid),
    ("case33bw", case33bw.grid), ("case33", case33bw.grid), ("case118", case118.grid),
)  # fmt: skip


def grid_for_plan(plan) -> GridModel:
    """The grid of a network plan: by plan name, else one bus per VPP (`vpp_lans.grid`).

    Cards keep their plan MAC and VPP; their bus is the plan's `bus` (pandapower bus index).
    """
    key = plan.name.lower().replace("-", "_")
    for fragment, make in _BY_NAME:
        if fragment in key:
            grid = make()
            return grid.with_cards(plan_cards(grid, plan))
    if all(c.bus == 0 for c in plan.cards) or "vpp_lans" in key or "vpplans" in key:
        return vpp_lans.grid(plan)
    raise IspError(f"no grid model for network plan {plan.name!r}: name it after a known grid")


__all__ = ["GRIDS", "TOPOLOGIES", "case33bw", "case118", "cigre_lv", "four_node", "grid_for_plan",
           "households", "vpp_lans"]  # fmt: skip
