"""CIGRE LV benchmark (`pandapower.networks.create_cigre_network_lv()`, 0.4 kV, 44 buses).

Its three feeders, told apart by bus name (Bus R.., Bus I.., Bus C..; the `zone` column is the same
for all buses), are three VPPs; a card per load (eip/cases/feeders.py):

                                   +-------+
                  +----------------|  wan  |----------------+
                  |                +-------+                |
                [r1]                  [r2]                 [r3]
                  |                    |                    |
                 (s1)                 (s2)                 (s3)
           vpp1 residential      vpp2 industrial      vpp3 commercial
           load-r1 .. load-r18   load-i2              load-c1 .. load-c20
           (6 loads)             (1 load)             (8 loads)

The ISP's grid model folds the loads into one injection per bus; the external grid buys at 0.5 CNY/kWh.
"""

from eip.cases.feeders import grid_topology
from eip.cases.model import CaseCard, CaseTopology
from eip.isp.grids import GridModel, grid_from_net, pandapower

NAME = "cigre_lv"
CIGRE_FEEDERS = {"R": "residential", "I": "industrial", "C": "commercial"}
# The EV that roams from the residential LAN to the commercial one (the cigre_lv_vpp scenario).
EV = CaseCard("ev", "ev", 1)


def net():
    """A fresh pandapower CIGRE LV net."""
    pandapower()
    from pandapower.networks import create_cigre_network_lv

    return create_cigre_network_lv()


def cigre_lv_zones(net) -> list[tuple[str, set[int]]]:
    """CIGRE LV's feeders by bus name letter: residential (R), industrial (I), commercial (C)."""
    zones = {letter: set() for letter in CIGRE_FEEDERS}
    for idx, name in net.bus["name"].items():
        parts = str(name).split()
        letter = parts[-1][:1] if parts else ""
        if letter in zones:
            zones[letter].add(int(idx))
    return [(label, zones[letter]) for letter, label in CIGRE_FEEDERS.items()]


def bus_label(net):
    """Bus index -> the short label of its name (`Bus R11` -> `r11`), for card names."""
    names = net.bus["name"]
    return lambda bus: str(names.loc[bus]).split()[-1].lower()


def topology(grid_net=None) -> CaseTopology:
    """The three feeders as VPPs and a card per load (of `grid_net`, default a fresh CIGRE LV)."""
    if grid_net is None:
        grid_net = net()
    return grid_topology(grid_net, cigre_lv_zones(grid_net), bus_label(grid_net), NAME)


def grid() -> GridModel:
    """The ISP's model of CIGRE LV; the external grid buys at 0.5 CNY/kWh."""
    grid_net = net()
    grid_net.ext_grid["min_p_mw"], grid_net.ext_grid["max_p_mw"] = -2.0, 2.0
    grid_net.ext_grid["min_q_mvar"], grid_net.ext_grid["max_q_mvar"] = -2.0, 2.0
    return grid_from_net(grid_net, NAME, "CIGRE LV benchmark, 0.4 kV, three feeders")
