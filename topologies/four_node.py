"""The four-node example of seed 000 (section 8, Fig. 7): four grid nodes, each an Energy LAN (VPP).

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

Usable as `mn --custom topologies/four_node.py --topo four_node --switch ovs,datapath=user`.
"""

from eip.net.nodes import EnergyTopo

# (VPP number, label, grid bus, [(card name, kind)]): the resources of seed 000 Fig. 7.
FOUR_NODE_RESOURCES = (
    (1, "grid", 1, (("plant1", "plant"), ("plant2", "plant"))),
    (2, "urban", 2, (("urban-load", "load"), ("pv", "pv"), ("ev", "ev"))),
    (3, "rural", 3, (("rural-load", "load"), ("wind", "wind"))),
    (4, "storage", 4, (("storage", "storage"),)),
)


class FourNodeTopo(EnergyTopo):
    """Seed 000's four-node example: four VPP LANs behind routers joined by one WAN switch."""

    def build(self):
        self.add_wan()
        for no, label, bus, cards in FOUR_NODE_RESOURCES:
            self.add_vpp(no, label)
            for name, kind in cards:
                self.add_card(no, name, kind, bus=bus)


topos = {"four_node": FourNodeTopo}
