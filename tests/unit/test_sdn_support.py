"""Support for the SDN tests (no tests here): a hand-built NetworkPlan (2 VPPs x 2 cards, a WAN switch), limits and frame builders for the SDN tests.

card vpp1-0 (s1:1)  card vpp1-1 (s1:2)         card vpp2-0 (s2:1)  card vpp2-1 (s2:2)
          \\        /                                   \\        /
           s1 (dpid 1) --10-- r1 --1-- s0 (dpid 16, WAN) --2-- r2 --10-- s2 (dpid 2)
"""

from eip.net import plan as p
from eip.protocol.codec import encode_frame
from eip.protocol.messages import segment_dscp
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, Packet
from eip.sdn.controller import EnergyController
from eip.sdn.limits import LimitTable
from tests.unit.fakeswitch import FakeSwitch

DPID = {"s1": 1, "s2": 2, "s0": 16}
QUANTUM = 10
PERIOD_S = 60.0


def make_plan(n_vpps: int = 2, n_cards: int = 2) -> p.NetworkPlan:
    switches = [p.SwitchNode("s0", 16, "wan")]
    cards, routers = [], []
    for i in range(1, n_vpps + 1):
        sw = f"s{i}"
        switches.append(p.SwitchNode(sw, i, "lan", f"vpp{i}"))
        for k in range(n_cards):
            cards.append(
                p.CardNode(
                    f"vpp{i}-{k}",
                    "load",
                    p.card_mac(i, k),
                    p.card_ip(i, k),
                    f"vpp{i}",
                    sw,
                    k + 1,
                    f"10.{i}.0.254",
                )
            )
        lan = p.RouterPort(sw, 1000, p.router_lan_mac(i), f"10.{i}.0.254/24", f"r{i}-eth0")
        wan = p.RouterPort("s0", i, p.router_wan_mac(i), f"10.0.0.{i}/24", f"r{i}-eth1")
        routers.append(p.RouterNode(f"r{i}", f"vpp{i}", lan, wan))
    lans = {f"vpp{i}": p.lan_subnet(i) for i in range(1, n_vpps + 1)}
    return p.NetworkPlan("hand", tuple(switches), tuple(cards), tuple(routers), (), lans)


def make_limits(
    export_bee: int = 6000, period_s: float = PERIOD_S, vpp_bee: int | None = None
) -> LimitTable:
    d = {
        "period_s": period_s,
        "quantum_bee": QUANTUM,
        "default": {"export_bee": export_bee, "import_bee": 5000},
    }
    if vpp_bee is not None:
        d["vpps"] = {f"vpp{i}": {"export_bee": vpp_bee} for i in range(1, 11)}
    return LimitTable.from_mapping(d)


def started(plan=None, limits=None, now: float = 0.0, **kw):
    """A controller with every switch up and its messages applied: (controller, {name: FakeSwitch})."""
    plan = plan or make_plan()
    ctl = EnergyController(plan, limits or make_limits(), **kw)
    fakes = {s.name: FakeSwitch(s.dpid) for s in plan.switches}
    deliver(fakes, ctl.tick(now))
    for s in plan.switches:
        deliver(fakes, ctl.switch_up(s.dpid, now))
    return ctl, fakes


def deliver(fakes: dict, items, strict: bool = True) -> None:
    by_dpid = {f.dpid: f for f in fakes.values()}
    for dpid, msg in items:
        by_dpid[dpid].apply(msg, strict)


def data_packet(src_ip: str, dst_ip: str, origin_mac: str, seq: int = 1) -> Packet:
    bee = Bee(quantity=QUANTUM, start_s=0, end_s=1)
    seg = EnergyTcp(49152, 7000, seq, 0, 0x10, 1000, records=(bee,))
    return Packet(src_ip, dst_ip, EnergyIp(1, 0, origin_mac), seg, dscp=segment_dscp(seg, 8))


def e_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, seq: int = 1) -> bytes:
    return encode_frame(data_packet(src_ip, dst_ip, src_mac, seq), src_mac, dst_mac)


def ipv4_frame(src_mac: str, dst_mac: str, src_ip: str, dst_ip: str, proto: int = 17) -> bytes:
    """A minimal IPv4 frame of another protocol (e.g. UDP for DNS)."""
    ip = (
        bytes([0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, proto, 0, 0])
        + bytes(map(int, src_ip.split(".")))
        + bytes(map(int, dst_ip.split(".")))
    )
    return _eth(dst_mac, src_mac, 0x0800) + ip + bytes(8)


def arp_request(src_mac: str, src_ip: str, target_ip: str) -> bytes:
    body = bytes.fromhex("0001080006040001") + bytes.fromhex(src_mac.replace(":", ""))
    body += bytes(map(int, src_ip.split("."))) + bytes(6) + bytes(map(int, target_ip.split(".")))
    return _eth("ff:ff:ff:ff:ff:ff", src_mac, 0x0806) + body


def _eth(dst: str, src: str, etype: int) -> bytes:
    return (
        bytes.fromhex(dst.replace(":", ""))
        + bytes.fromhex(src.replace(":", ""))
        + etype.to_bytes(2, "big")
    )


def poll_all(ctl, fakes, now):
    """One poll: the controller's flow-stats requests answered by the fake switches, its answers applied."""
    by_dpid = {x.dpid: x for x in fakes.values()}
    out = []
    for dpid, req in ctl.poll(now):
        out += ctl.flow_stats(dpid, by_dpid[dpid].flow_stats_reply(req), now)
    deliver(fakes, out)
    return out
