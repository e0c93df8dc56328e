"""A study system's topology as plain data: its VPPs (Energy LANs) and its cards, in order.

`CaseTopology` is what `topologies/*.py` hand to `EnergyTopo.add_case` and what the scenario checker
validates without Mininet. Card k of a VPP (its k-th card in `cards`) gets the addresses of
`eip.addressing`, whose checks `EnergyTopo` applies too while it builds a graph.
"""

from dataclasses import dataclass

from eip.addressing import (
    MAX_CARDS_PER_VPP,
    MAX_VPPS,
    card_ip,
    card_mac,
    check_card,
    check_vpp_no,
)
from eip.errors import EipError


@dataclass(frozen=True)
class CaseVpp:
    """An Energy LAN: VPP number `no` (1..254) behind its router, with a label (e.g. "urban")."""

    no: int
    label: str = ""


@dataclass(frozen=True)
class CaseCard:
    """A resource with its card: name, kind, the VPP number it sits in, its grid bus (0 if none)."""

    name: str
    kind: str
    vpp_no: int
    bus: int = 0

    @property
    def vpp(self) -> str:
        return f"vpp{self.vpp_no}"


@dataclass(frozen=True)
class CaseTopology:
    """The graph of a study system: VPPs behind one WAN switch and their cards (checked on creation)."""

    name: str
    vpps: tuple[CaseVpp, ...]
    cards: tuple[CaseCard, ...]

    def __post_init__(self):
        seen: dict[int, int] = {}
        for v in self.vpps:
            check_vpp_no(v.no)
            if v.no in seen:
                raise EipError(f"VPP number {v.no} is taken or outside 1..{MAX_VPPS}")
            seen[v.no] = 0
        for c in self.cards:
            if c.vpp_no not in seen:
                raise EipError(f"card {c.name}: add VPP {c.vpp_no} first")
            check_card(c.name, c.kind)
            seen[c.vpp_no] += 1
            if seen[c.vpp_no] > MAX_CARDS_PER_VPP:
                raise EipError(f"VPP {c.vpp_no} is full ({MAX_CARDS_PER_VPP} cards)")

    def index_of(self) -> dict[str, tuple[int, int]]:
        """Card name -> (VPP number, k): card k of its VPP, k from 1."""
        count: dict[int, int] = {}
        out = {}
        for c in self.cards:
            count[c.vpp_no] = count.get(c.vpp_no, 0) + 1
            out[c.name] = (c.vpp_no, count[c.vpp_no])
        return out

    def mac_of(self) -> dict[str, str]:
        return {n: card_mac(no, k) for n, (no, k) in self.index_of().items()}

    def ip_of(self) -> dict[str, str]:
        return {n: card_ip(no, k) for n, (no, k) in self.index_of().items()}

    def names(self, kinds=None) -> tuple[str, ...]:
        """Card names in order, optionally only of some kinds."""
        return tuple(c.name for c in self.cards if kinds is None or c.kind in kinds)
