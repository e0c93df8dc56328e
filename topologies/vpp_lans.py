"""A generator of N VPP LANs with M cards each, for scale (10 x 20 = 200 cards and more).

                               +-------+
             +-----------------|  wan  |-----------------+
             |                 +-------+                 |
           [r1] 10.0.0.1        ...                    [rN] 10.0.0.N
             |                                           |
           (s1) 10.1.0.0/24                            (sN) 10.N.0.0/24
          /  |  \\                                      /  |  \\
      v1c1 v1c2 .. v1cM                            vNc1 vNc2 .. vNcM

Card k of VPP i is `v{i}c{k}`; kinds rotate load, pv, wind, storage, ev, plant.

Usable as `mn --custom topologies/vpp_lans.py --topo vpp_lans,3,4 --switch ovs,datapath=user`.
"""

from eip.card.config import KINDS
from eip.net.nodes import EnergyTopo


class VppLansTopo(EnergyTopo):
    """`n_vpp` VPP LANs (at most 254) of `cards_per_vpp` cards (at most 244) behind one WAN switch."""

    def build(self, n_vpp: int = 2, cards_per_vpp: int = 3):
        self.add_wan()
        for i in range(1, n_vpp + 1):
            self.add_vpp(i)
            for k in range(1, cards_per_vpp + 1):
                self.add_card(i, f"v{i}c{k}", KINDS[(i + k - 2) % len(KINDS)])


topos = {"vpp_lans": VppLansTopo}
