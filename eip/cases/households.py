"""A community of households on one Energy LAN (the thesis's Identified Pricing and SDEN studies).

Household i (from 1) is card `v1c{i}` of `vpp_lans(1, n)`: one VPP, no grid model of its own (the
community's energy profiles come from the thesis data, eip/data).
"""

from eip.cases import vpp_lans
from eip.cases.model import CaseTopology


def topology(n_households: int) -> CaseTopology:
    """One VPP LAN with `n_households` household cards."""
    return vpp_lans.topology(1, n_households)


def card_names(n_households: int) -> list[str]:
    """The household cards' names, household 1 first."""
    return [vpp_lans.card_name(1, k) for k in range(1, n_households + 1)]
