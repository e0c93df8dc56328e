"""IEEE 118-bus transmission case (`pandapower.networks.case118()`) with its 54 generators and costs.

A grid only (the OPF benchmark's largest case): no cards and no topology.
"""

from eip.isp.grids import GridModel, grid_from_net, pandapower

NAME = "case118"


def grid() -> GridModel:
    """The ISP's model of the 118-bus case, its loads folded into one injection per bus."""
    pandapower()
    from pandapower.networks import case118

    return grid_from_net(case118(), NAME, "IEEE 118-bus transmission case")
