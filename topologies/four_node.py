"""The four-node example of seed 000 (section 8, Fig. 7) as a Mininet topology.

The system (cards, buses, VPPs, the drawing) is `eip.cases.four_node`; this file only makes it a Topo.
Usable as `mn --custom topologies/four_node.py --topo four_node --switch ovs,datapath=user`.
"""

from eip.cases import four_node
from eip.net.nodes import EnergyTopo


class FourNodeTopo(EnergyTopo):
    """Seed 000's four-node example: four VPP LANs behind routers joined by one WAN switch."""

    def build(self):
        self.add_case(four_node.topology())


topos = {"four_node": FourNodeTopo}
