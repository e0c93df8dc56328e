"""Topologies derived from a pandapower grid: one card per load, static generator and storage unit.

The systems are `eip.cases.cigre_lv` and `eip.cases.case33bw` (their drawings are there); how a grid
becomes VPPs and cards is `eip.cases.feeders`. This file only makes them Topos.
Usable as `mn --custom topologies/grid.py --topo cigre_lv --switch ovs,datapath=user`.
"""

from eip.cases import case33bw, cigre_lv
from eip.cases.cigre_lv import CIGRE_FEEDERS, cigre_lv_zones
from eip.cases.feeders import GridElement, feeder_zones, grid_elements, grid_topology, sgen_kind
from eip.net.nodes import EnergyTopo


class GridTopo(EnergyTopo):
    """A VPP per zone of a pandapower grid and a card per load/sgen/storage element.

    `zones` is a list of (label, set of bus indices); zones without elements get no VPP.
    """

    def build(self, net=None, zones=None, name_of_bus=None):
        self.add_case(grid_topology(net, zones, name_of_bus))


class CigreLvTopo(GridTopo):
    """CIGRE LV benchmark: residential, industrial and commercial feeders as three VPPs."""

    def build(self, net=None):
        self.add_case(cigre_lv.topology(net))


class Case33bwTopo(GridTopo):
    """IEEE 33-bus distribution feeder (Baran & Wu): the main feeder and its three laterals as VPPs."""

    def build(self, net=None):
        self.add_case(case33bw.topology(net))


class CigreEvTopo(CigreLvTopo):
    """CIGRE LV with the roaming EV card (`eip.cases.cigre_lv.EV`) on the residential LAN (vpp1)."""

    def build(self, net=None):
        super().build(net)
        ev = cigre_lv.EV
        self.add_card(ev.vpp_no, ev.name, ev.kind, bus=ev.bus)


topos = {"cigre_lv": CigreLvTopo, "case33bw": Case33bwTopo}

__all__ = ["CIGRE_FEEDERS", "Case33bwTopo", "CigreEvTopo", "CigreLvTopo", "GridElement", "GridTopo",
           "cigre_lv_zones", "feeder_zones", "grid_elements", "sgen_kind", "topos"]  # fmt: skip
