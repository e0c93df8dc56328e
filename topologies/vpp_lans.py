"""N VPP LANs with M cards each (`eip.cases.vpp_lans`) as a Mininet topology, for scale.

Card k of VPP i is `v{i}c{k}`; kinds rotate load, pv, wind, storage, ev, plant.
Usable as `mn --custom topologies/vpp_lans.py --topo vpp_lans,3,4 --switch ovs,datapath=user`.
"""

from eip.cases import vpp_lans
from eip.net.nodes import EnergyTopo


class VppLansTopo(EnergyTopo):
    """`n_vpp` VPP LANs (at most 254) of `cards_per_vpp` cards (at most 244) behind one WAN switch."""

    def build(self, n_vpp: int = 2, cards_per_vpp: int = 3):
        self.add_case(vpp_lans.topology(n_vpp, cards_per_vpp))


topos = {"vpp_lans": VppLansTopo}
