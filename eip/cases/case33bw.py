"""IEEE 33-bus distribution feeder (Baran & Wu, `pandapower.networks.case33bw()`, 12.66 kV).

Split by `feeder_zones`: the main feeder (the longest path from the external grid over in-service
branches) is one zone, and every lateral branching off it is a zone of its own, numbered in the order
of its branch bus:

      bus 0 (ext grid) - 1 - 2 - 3 - 4 - 5 - ... - 17      vpp1 main:       loads at buses 1..17
                         |   |           |
                         |   |           +- 25 .. 32      vpp4 lateral@5:  loads at 25..32
                         |   +- 22 - 23 - 24              vpp3 lateral@2:  loads at 22..24
                         +- 18 - 19 - 20 - 21             vpp2 lateral@1:  loads at 18..21

    each VPP: (s{i}) LAN switch with its cards, [r{i}] router, all routers on the (wan) switch.

The ISP's grid model has the tie lines open and a voltage band of 0.9-1.1.
"""

from eip.cases.feeders import feeder_zones, grid_topology
from eip.cases.model import CaseTopology
from eip.isp.grids import GridModel, grid_from_net, pandapower

NAME = "case33bw"


def net():
    """A fresh pandapower case33bw net."""
    pandapower()
    from pandapower.networks import case33bw

    return case33bw()


def topology(grid_net=None) -> CaseTopology:
    """The main feeder and its three laterals as VPPs, a card per load."""
    if grid_net is None:
        grid_net = net()
    return grid_topology(grid_net, feeder_zones(grid_net), name=NAME)


def grid() -> GridModel:
    """The ISP's model of the 33-bus feeder (lines capped at 0.5 kA)."""
    grid_net = net()
    grid_net.ext_grid["min_p_mw"], grid_net.ext_grid["max_p_mw"] = -10.0, 10.0
    grid_net.ext_grid["min_q_mvar"], grid_net.ext_grid["max_q_mvar"] = -10.0, 10.0
    grid_net.line["max_i_ka"] = grid_net.line["max_i_ka"].clip(upper=0.5)
    return grid_from_net(grid_net, NAME, "Baran & Wu 33-bus feeder, 12.66 kV")
