"""Energy Internet topologies for Mininet: each module also works as `mn --custom topologies/FILE.py`.

`TOPOLOGIES` maps a name to a factory: `TOPOLOGIES["vpp_lans"](n_vpp=10, cards_per_vpp=20)`.
"""

from topologies.four_node import FourNodeTopo
from topologies.grid import Case33bwTopo, CigreLvTopo
from topologies.vpp_lans import VppLansTopo

TOPOLOGIES = {
    "four_node": FourNodeTopo,
    "vpp_lans": VppLansTopo,
    "cigre_lv": CigreLvTopo,
    "case33bw": Case33bwTopo,
}

__all__ = ["TOPOLOGIES", "Case33bwTopo", "CigreLvTopo", "FourNodeTopo", "VppLansTopo"]
