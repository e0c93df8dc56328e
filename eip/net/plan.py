"""A network plan: the plain description of an emulated Energy Internet that every part shares.

A Mininet topology (graph only, `topologies/`) is turned into a `NetworkPlan` without running anything:
which cards sit on which switch port with which MAC and Energy IP, which VPP router serves each Energy
LAN, and the WAN between routers. The network builder starts it; the controller reads it (as JSON) to
install forwarding, the firewall and the limits.

Conventions (eip/addressing.py, also in docs/network.md): VPP number i has LAN 10.i.0.0/24, its router 10.i.0.254 and WAN
address 10.0.0.i/24; card k of VPP i has 10.i.0.(10+k) and MAC 02:00:00:00:ii:kk (hex); router i has MACs
02:00:00:fe:ii:01 (LAN) and 02:00:00:fe:ii:02 (WAN). Topology nodes carry `role` ('card' or 'router')
and these values in their Mininet params, with explicit port numbers on every link.
"""

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eip.addressing import (
    WAN_DPID,
    WAN_SUBNET,
    card_ip,
    card_mac,
    lan_subnet,
    router_gateway,
    router_lan_mac,
    router_wan_ip,
    router_wan_mac,
)
from eip.errors import EipError


@dataclass(frozen=True)
class CardNode:
    """A resource with its Energy Internet Card, plugged into an Energy LAN switch port."""

    name: str
    kind: str  # load, pv, wind, storage, ev, plant
    mac: str
    ip: str  # Energy IP, without prefix
    vpp: str
    switch: str
    port: int
    gateway: str  # the VPP router's LAN address
    bus: int = 0  # grid bus: the pandapower bus index (node param `bus`; 0 if none)


@dataclass(frozen=True)
class RouterPort:
    switch: str
    port: int
    mac: str
    ip: str  # with prefix, e.g. 10.1.0.254/24
    ifname: str


@dataclass(frozen=True)
class RouterNode:
    """A VPP's Energy Internet router: a Linux router between its Energy LAN and the WAN."""

    name: str
    vpp: str
    lan: RouterPort
    wan: RouterPort | None


@dataclass(frozen=True)
class SwitchNode:
    name: str
    dpid: int
    role: str  # "lan" or "wan"
    vpp: str = ""


@dataclass(frozen=True)
class SwitchLink:
    """A link between two switches (e.g. a LAN switch to a WAN switch in a tree)."""

    a: str
    a_port: int
    b: str
    b_port: int


@dataclass(frozen=True)
class NetworkPlan:
    name: str
    switches: tuple[SwitchNode, ...]
    cards: tuple[CardNode, ...]
    routers: tuple[RouterNode, ...]
    switch_links: tuple[SwitchLink, ...] = ()
    lans: dict = field(default_factory=dict)  # vpp -> subnet
    wan_subnet: str = WAN_SUBNET

    def card(self, name: str) -> CardNode:
        for card in self.cards:
            if card.name == name:
                return card
        raise EipError(f"unknown card {name!r} in network {self.name!r}")

    def router_of(self, vpp: str) -> RouterNode:
        for router in self.routers:
            if router.vpp == vpp:
                return router
        raise EipError(f"no router for VPP {vpp!r} in network {self.name!r}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json())

    @classmethod
    def from_json(cls, text: str) -> "NetworkPlan":
        try:
            d = json.loads(text)
            routers = tuple(
                RouterNode(r["name"], r["vpp"], RouterPort(**r["lan"]),
                           RouterPort(**r["wan"]) if r["wan"] else None)
                for r in d["routers"]
            )  # fmt: skip
            return cls(
                d["name"], tuple(SwitchNode(**s) for s in d["switches"]),
                tuple(CardNode(**c) for c in d["cards"]), routers,
                tuple(SwitchLink(**x) for x in d.get("switch_links", ())), d.get("lans", {}),
                d.get("wan_subnet", WAN_SUBNET),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as exc:
            raise EipError(f"not a network plan: {exc}") from None

    @classmethod
    def load(cls, path: str | Path) -> "NetworkPlan":
        try:
            return cls.from_json(Path(path).read_text())
        except OSError as exc:
            raise EipError(f"{path}: cannot read network plan: {exc}") from None


def plan_from_topo(topo, name: str = "") -> NetworkPlan:
    """Derive the plan from a Mininet Topo built with the conventions above (no Mininet run)."""
    switches, cards, routers, links = [], [], [], []
    lans: dict[str, str] = {}
    for node in topo.nodes():
        info = topo.nodeInfo(node)
        if topo.isSwitch(node):
            switches.append(SwitchNode(node, int(info["dpid"], 16), info.get("role", "lan"),
                                       info.get("vpp", "")))  # fmt: skip
    sw = {s.name for s in switches}
    for node in topo.nodes():
        info = topo.nodeInfo(node)
        role = info.get("role")
        if role == "card":
            ((switch, port),) = [(n2, topo.port(node, n2)[1]) for n2 in _neighbours(topo, node)]
            cards.append(CardNode(node, info["kind"], info["mac"], info["ip"].split("/")[0],
                                  info["vpp"], switch, port, info["gateway"],
                                  int(info.get("bus", 0))))  # fmt: skip
        elif role == "router":
            ports = {}
            for n2 in _neighbours(topo, node):
                _p_router, p_switch = topo.port(node, n2)
                link = topo.linkInfo(node, n2)
                params = link["params1"] if link["node1"] == node else link["params2"]
                ifname = link["intfName1"] if link["node1"] == node else link["intfName2"]
                side = "wan" if topo.nodeInfo(n2).get("role") == "wan" else "lan"
                ports[side] = RouterPort(n2, p_switch, params["mac"], params["ip"], ifname)
            routers.append(RouterNode(node, info["vpp"], ports["lan"], ports.get("wan")))
            lans[info["vpp"]] = info["lan_subnet"]
    for a, b, info in topo.links(withInfo=True):
        if a in sw and b in sw:
            links.append(SwitchLink(info["node1"], info["port1"], info["node2"], info["port2"]))
    return NetworkPlan(name or type(topo).__name__, tuple(switches), tuple(cards), tuple(routers),
                       tuple(links), lans)  # fmt: skip


def plan_from_case(case, name: str = "") -> NetworkPlan:
    """The plan of a study system's `CaseTopology` (eip/cases) without Mininet.

    Equal to `plan_from_topo` of a Topo built from it with `EnergyTopo.add_case` (a unit test checks
    this on every study system): the same names, ports, addresses and order.
    """
    vpps = sorted(case.vpps, key=lambda v: _natural(f"s{v.no}"))
    switches = [SwitchNode(f"s{v.no}", v.no, "lan", f"vpp{v.no}") for v in vpps]
    switches.append(SwitchNode("wan", WAN_DPID, "wan", ""))
    cards, index = [], case.index_of()
    for c in sorted(case.cards, key=lambda c: _natural(c.name)):
        no, k = index[c.name]
        cards.append(CardNode(c.name, c.kind, card_mac(no, k), card_ip(no, k), f"vpp{no}", f"s{no}",
                              k + 1, router_gateway(no), int(c.bus)))  # fmt: skip
    routers, lans = [], {}
    for v in sorted(case.vpps, key=lambda v: _natural(f"r{v.no}")):
        no, vpp = v.no, f"vpp{v.no}"
        lan = RouterPort(f"s{no}", 1, router_lan_mac(no), f"{router_gateway(no)}/24", f"r{no}-lan")
        wan = RouterPort("wan", no, router_wan_mac(no), f"{router_wan_ip(no)}/24", f"r{no}-wan")
        routers.append(RouterNode(f"r{no}", vpp, lan, wan))
        lans[vpp] = lan_subnet(no)
    return NetworkPlan(name or case.name, tuple(switches), tuple(cards), tuple(routers), (), lans)


def _natural(text: str) -> list:
    """Mininet's sort key (numbers by value), the order `Topo.nodes()` lists nodes in."""
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", text)]


def _neighbours(topo, node: str) -> list[str]:
    return [b if a == node else a for a, b in topo.links() if node in (a, b)]
