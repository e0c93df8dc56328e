"""The OpenFlow pipeline of an Energy Internet switch, derived from a `NetworkPlan` (no state, no time).

Four tables (docs/controller.md has the full list of rules and priorities):

- table 0, classify: protocol 253 whose DSCP is a registered no-BEE codepoint (R3.3: SYN, ACK, pool,
  control) gets metadata UNMETERED; one rule per codepoint, the same on every switch;
- table 1, ingress: firewall and per-card export meter for protocol 253 (UNMETERED datagrams of a card
  pass its firewall and skip its meter and count); ARP and other IPv4 pass;
- table 2, accounting: one counted rule per card, hit only by packets its meter let through;
- table 3, forwarding: proactive L2 (eth_dst -> port), ARP broadcast flooded within the segment, the VPP
  uplink meter on the router's LAN port, and the islanding rules.

A *segment* is one broadcast domain: a VPP's Energy LAN (its LAN switches, cards, router LAN port) or
the WAN (WAN switches, router WAN ports). Links between switches of different segments are not used.
Cookies say what a rule is for: kind in bits 56..63, bit 63 set on the rules whose counters are polled.
"""

from collections import deque
from dataclasses import dataclass

from eip.net.plan import CardNode, NetworkPlan, RouterNode, SwitchNode
from eip.protocol.constants import DSCP_UNMETERED
from eip.sdn import ofmsg

T_CLASSIFY, T_INGRESS, T_ACCOUNT, T_FORWARD = 0, 1, 2, 3
BROADCAST = "ff:ff:ff:ff:ff:ff"
P253 = {"eth_type": ofmsg.ETH_TYPE_IPV4, "ip_proto": ofmsg.IP_PROTO_ENERGY}
# Metadata bit set by table 0 on protocol 253 that carries no BEE (by its DSCP, R3.3): not metered.
META_UNMETERED = 0x1
UNMETERED = {"metadata": (META_UNMETERED, META_UNMETERED)}
METERED = {"metadata": (0, META_UNMETERED)}

# Priorities
PRI_MISS, PRI_PASS, PRI_UNREG_ANY, PRI_PORT_DROP, PRI_TRUSTED, PRI_ALLOW, PRI_QUOTA = (
    0,
    100,
    150,
    200,
    250,
    300,
    400,
)
PRI_UNMETERED = 350  # a card's no-BEE datagrams: its firewall match, no meter, no count
PRI_L2, PRI_ARP_FLOOD, PRI_UPLINK, PRI_ISLAND_PUNT, PRI_ISLAND_LAN = 100, 150, 200, 300, 310
# With an ISP: a counted table-2 rule per card on its own switch (eth_dst = card, proto 253 -> its port),
# just above the L2 rule, so the controller meters what each card imports. With an energy server: its
# punt rule just above that.
PRI_IMPORT = PRI_L2 + 1
PRI_SDEN = PRI_IMPORT + 1
# A card whose static import limit of the period is used up: its metered protocol 253 goes to the
# controller (which answers the sender LimitExceeded static), above the import and server rules.
PRI_IMPORT_BLOCK = PRI_SDEN + 1

# Cookie kinds (bits 56..63); COUNTED marks the rules whose packet counts the controller polls.
COUNTED = 0x80 << 56
K_BASE, K_ALLOW, K_ISLAND, K_QUOTA, K_UNMETERED, K_IMPORT_BLOCK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
K_ACCT, K_SPOOF, K_UNREG, K_IMPORT = 0x81, 0x82, 0x83, 0x84
KIND_MASK = 0xFF << 56


def cookie(kind: int, a: int = 0, b: int = 0) -> int:
    """kind << 56 | a << 32 | b: a is a switch, card or VPP index, b a port number."""
    return kind << 56 | (a & 0xFFFFFF) << 32 | (b & 0xFFFFFFFF)


def cookie_parts(value: int) -> tuple[int, int, int]:
    return value >> 56 & 0xFF, value >> 32 & 0xFFFFFF, value & 0xFFFFFFFF


@dataclass(frozen=True)
class Dest:
    mac: str
    switch: str
    port: int


class Topology:
    """Indexes of a plan: ports of each switch, segments, L2 next hops, meter ids."""

    def __init__(self, plan: NetworkPlan):
        self.plan = plan
        self.switches = {s.name: s for s in plan.switches}
        self.by_dpid = {s.dpid: s for s in plan.switches}
        self.sw_index = {s.name: i for i, s in enumerate(plan.switches)}
        self.card_index = {c.mac.lower(): i for i, c in enumerate(plan.cards)}
        self.cards_on = {
            s.name: [c for c in plan.cards if c.switch == s.name] for s in plan.switches
        }
        self.vpp_index = {r.vpp: j for j, r in enumerate(plan.routers)}
        n_cards, n_vpps = len(plan.cards), len(plan.routers)
        self.punt_meter = 1 + n_cards + n_vpps  # same id on every switch
        self.segment = {s.name: self._segment_of(s) for s in plan.switches}
        self.router_ports: dict[str, dict[int, tuple[RouterNode, str]]] = {
            s: {} for s in self.switches
        }
        for r in plan.routers:
            for side, rp in (("lan", r.lan), ("wan", r.wan)):
                if rp is not None and rp.switch in self.switches:
                    self.router_ports[rp.switch][rp.port] = (r, side)
        self.links: dict[str, dict[int, str]] = {
            s: {} for s in self.switches
        }  # same-segment links only
        for link in plan.switch_links:
            if (
                link.a in self.switches
                and link.b in self.switches
                and self.segment[link.a] == self.segment[link.b]
            ):
                self.links[link.a][link.a_port] = link.b
                self.links[link.b][link.b_port] = link.a
        self.tree_ports = self._spanning_tree()

    @staticmethod
    def _segment_of(s: SwitchNode) -> str:
        return "wan" if s.role == "wan" else f"lan:{s.vpp}"

    def card_meter(self, card_no: int) -> int:
        return 1 + card_no

    def vpp_meter(self, vpp_no: int) -> int:
        return 1 + len(self.plan.cards) + vpp_no

    def known_ports(self, sw: str) -> set[int]:
        return (
            {c.port for c in self.cards_on[sw]} | set(self.router_ports[sw]) | set(self.links[sw])
        )

    def dests(self, seg: str) -> list[Dest]:
        """Every MAC an L2 rule forwards to in a segment."""
        out = [
            Dest(c.mac.lower(), c.switch, c.port)
            for c in self.plan.cards
            if self.segment.get(c.switch) == seg
        ]
        for sw, ports in self.router_ports.items():
            if self.segment[sw] == seg:
                for port, (r, side) in ports.items():
                    out.append(Dest((r.lan if side == "lan" else r.wan).mac.lower(), sw, port))
        return out

    def next_hops(self, src: str) -> dict[str, int]:
        """Switch name -> the port of `src` towards it, over same-segment links (BFS)."""
        hops: dict[str, int] = {src: 0}
        queue = deque([src])
        while queue:
            sw = queue.popleft()
            for port, peer in sorted(self.links[sw].items()):
                if peer not in hops:
                    hops[peer] = port if sw == src else hops[sw]
                    queue.append(peer)
        return hops

    def _spanning_tree(self) -> dict[str, set[int]]:
        """The link ports of a BFS tree of each segment: ARP floods along it, so loops do not matter."""
        tree: dict[str, set[int]] = {s: set() for s in self.switches}
        seen: set[str] = set()
        for root in sorted(self.switches):
            if root in seen:
                continue
            seen.add(root)
            queue = deque([root])
            while queue:
                sw = queue.popleft()
                for port, peer in sorted(self.links[sw].items()):
                    if peer not in seen:
                        seen.add(peer)
                        tree[sw].add(port)
                        back = [p for p, s2 in self.links[peer].items() if s2 == sw]
                        tree[peer].add(min(back))
                        queue.append(peer)
        return tree

    def flood_ports(self, sw: str) -> list[int]:
        seg_ports = (
            {c.port for c in self.cards_on[sw]} | set(self.router_ports[sw]) | self.tree_ports[sw]
        )
        return sorted(seg_ports)


# ------------------------------------------------------------------------------------------- flows


def base_flows(topo: Topology, sw: str, vpp_limited: set[str]) -> list:
    """Every static rule of one switch (everything but quota blocks, islanding and unregistered ports)."""
    i = topo.sw_index[sw]
    base = cookie(K_BASE, i)
    add = ofmsg.flow_add
    flows = classify_flows(base)
    flows += [
        add(T_INGRESS, PRI_MISS, {}, cookie=base),
        add(T_INGRESS, PRI_PASS, {"eth_type": ofmsg.ETH_TYPE_ARP}, goto=T_ACCOUNT, cookie=base),
        add(T_INGRESS, PRI_PASS, {"eth_type": ofmsg.ETH_TYPE_IPV4}, goto=T_ACCOUNT, cookie=base),
        add(T_INGRESS, PRI_UNREG_ANY, P253, cookie=cookie(K_UNREG, i, 0)),
        add(T_ACCOUNT, PRI_MISS, {}, goto=T_FORWARD, cookie=base),
        add(T_FORWARD, PRI_MISS, {}, cookie=base),
    ]
    for c in topo.cards_on[sw]:
        n = topo.card_index[c.mac.lower()]
        flows.append(
            add(
                T_INGRESS,
                PRI_PORT_DROP,
                {"in_port": c.port, **P253},
                cookie=cookie(K_SPOOF, i, c.port),
            )
        )
        flows.append(
            add(
                T_INGRESS,
                PRI_ALLOW,
                card_match(c),
                goto=T_ACCOUNT,
                meter_id=topo.card_meter(n),
                cookie=cookie(K_ALLOW, n),
            )
        )
        flows.append(
            add(
                T_INGRESS,
                PRI_UNMETERED,
                {**card_match(c), **UNMETERED},
                goto=T_FORWARD,
                cookie=cookie(K_UNMETERED, n),
            )
        )
        flows.append(
            add(T_ACCOUNT, PRI_PASS, card_match(c), goto=T_FORWARD, cookie=cookie(K_ACCT, n))
        )
    for port in sorted(set(topo.router_ports[sw]) | set(topo.links[sw])):
        flows.append(
            add(T_INGRESS, PRI_TRUSTED, {"in_port": port, **P253}, goto=T_ACCOUNT, cookie=base)
        )
    flood = [ofmsg.output(p) for p in topo.flood_ports(sw)]
    if flood:
        arp = {"eth_type": ofmsg.ETH_TYPE_ARP, "eth_dst": BROADCAST}
        flows.append(add(T_FORWARD, PRI_ARP_FLOOD, arp, actions=flood, cookie=base))
    hops = topo.next_hops(sw)
    for d in topo.dests(topo.segment[sw]):
        port = d.port if d.switch == sw else hops.get(d.switch)
        if port is None:
            continue  # not connected to this switch inside the segment
        flows.append(
            add(T_FORWARD, PRI_L2, {"eth_dst": d.mac}, actions=[ofmsg.output(port)], cookie=base)
        )
    for r, side in topo.router_ports[sw].values():
        if side == "lan" and r.vpp in vpp_limited:
            flows.append(uplink_flow(topo, r, PRI_UPLINK, METERED, base))
    return flows


def classify_flows(base_cookie: int) -> list:
    """Table 0: one rule per no-BEE codepoint (exact ip_dscp; OpenFlow 1.3 cannot mask it) that sets
    UNMETERED; everything else, DSCP 0 and unregistered values too, goes on as metered."""
    add = ofmsg.flow_add
    flows = [
        add(T_CLASSIFY, PRI_PASS, {**P253, "ip_dscp": dscp}, metadata=UNMETERED["metadata"],
            goto=T_INGRESS, cookie=base_cookie)
        for dscp in sorted(DSCP_UNMETERED)
    ]  # fmt: skip
    return [*flows, add(T_CLASSIFY, PRI_MISS, {}, goto=T_INGRESS, cookie=base_cookie)]


def card_match(c: CardNode) -> dict:
    return {"in_port": c.port, "eth_src": c.mac.lower(), **P253, "ipv4_src": c.ip}


def uplink_flow(
    topo: Topology,
    r: RouterNode,
    priority: int,
    extra: dict,
    cookie_value: int,
    limited: bool = True,
):
    """Protocol 253 from the LAN to the router, through the VPP uplink meter when the VPP has a limit."""
    meter = topo.vpp_meter(topo.vpp_index[r.vpp]) if limited else None
    m = {"eth_dst": r.lan.mac.lower(), **P253, **extra}
    return ofmsg.flow_add(
        T_FORWARD,
        priority,
        m,
        actions=[ofmsg.output(r.lan.port)],
        meter_id=meter,
        cookie=cookie_value,
    )


def quota_block_flow(topo: Topology, c: CardNode) -> object:
    """Above the allow rule: the card's metered protocol 253 goes to the controller (through the punt
    meter); its no-BEE datagrams (ACKs, pool orders) still pass."""
    n = topo.card_index[c.mac.lower()]
    return ofmsg.flow_add(
        T_INGRESS, PRI_QUOTA, {**card_match(c), **METERED}, actions=[ofmsg.output(ofmsg.CONTROLLER)],
        meter_id=topo.punt_meter, cookie=cookie(K_QUOTA, n),
    )  # fmt: skip


def import_flow(c: CardNode, n: int):
    """Counts the metered protocol 253 packets delivered to card number n (its imports: BEE-carrying
    or unmarked, R3.3), then forwards them; its no-BEE datagrams take the L2 rule."""
    return ofmsg.flow_add(
        T_FORWARD, PRI_IMPORT, {"eth_dst": c.mac.lower(), **P253, **METERED},
        actions=[ofmsg.output(c.port)], cookie=cookie(K_IMPORT, n),
    )  # fmt: skip


def import_block_flow(topo: Topology, c: CardNode):
    """Above card c's import rule: its metered protocol 253 (BEE coming in) goes to the controller
    through the punt meter; its no-BEE datagrams (SYN-ACKs, ACKs, fills) still reach it."""
    n = topo.card_index[c.mac.lower()]
    return ofmsg.flow_add(
        T_FORWARD, PRI_IMPORT_BLOCK, {"eth_dst": c.mac.lower(), **P253, **METERED},
        actions=[ofmsg.output(ofmsg.CONTROLLER)], meter_id=topo.punt_meter,
        cookie=cookie(K_IMPORT_BLOCK, n),
    )  # fmt: skip


def sden_punt_flow(server_ip: str, meter_id: int):
    """Protocol 253 to the energy server goes to the controller, through the server's own meter."""
    return ofmsg.flow_add(
        T_FORWARD, PRI_SDEN, {**P253, "ipv4_dst": server_ip},
        actions=[ofmsg.output(ofmsg.CONTROLLER)], meter_id=meter_id,
    )  # fmt: skip


def unregistered_port_flow(topo: Topology, sw: str, port: int):
    i = topo.sw_index[sw]
    return ofmsg.flow_add(
        T_INGRESS, PRI_PORT_DROP, {"in_port": port, **P253}, cookie=cookie(K_UNREG, i, port)
    )


def island_flows(topo: Topology, r: RouterNode, vpp_limited: bool) -> list[tuple[str, object]]:
    """(switch, flow) rules that isolate an islanded VPP: Energy traffic leaving or entering goes to the controller."""
    j = topo.vpp_index[r.vpp]
    ck = cookie(K_ISLAND, j)
    punt = {"actions": [ofmsg.output(ofmsg.CONTROLLER)], "meter_id": topo.punt_meter, "cookie": ck}
    lan_subnet = topo.plan.lans.get(r.vpp) or _subnet_of(r.lan.ip)
    net, mask = _net_mask(lan_subnet)
    flows = [
        (
            r.lan.switch,
            uplink_flow(topo, r, PRI_ISLAND_LAN, {"ipv4_dst": (net, mask)}, ck, vpp_limited),
        ),
        (
            r.lan.switch,
            ofmsg.flow_add(
                T_FORWARD, PRI_ISLAND_PUNT, {"eth_dst": r.lan.mac.lower(), **P253}, **punt
            ),
        ),
    ]
    if r.wan is not None:
        flows.append(
            (
                r.wan.switch,
                ofmsg.flow_add(
                    T_FORWARD, PRI_ISLAND_PUNT, {"eth_dst": r.wan.mac.lower(), **P253}, **punt
                ),
            )
        )
    return flows


def _subnet_of(ip_with_prefix: str) -> str:
    return ip_with_prefix if "/" in ip_with_prefix else ip_with_prefix + "/32"


def _net_mask(subnet: str) -> tuple[str, str]:
    import ipaddress

    net = ipaddress.ip_network(subnet, strict=False)
    return str(net.network_address), str(net.netmask)
