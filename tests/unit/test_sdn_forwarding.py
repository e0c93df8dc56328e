"""Forwarding, ARP flooding, the protocol-253 firewall, meter/barrier ordering and policing (fake switch)."""

import random

import pytest

from eip.sdn import ofmsg
from eip.sdn import pipeline as pl
from tests.unit.fakeswitch import FakeSwitch, OFError
from tests.unit.test_sdn_support import (
    arp_request,
    deliver,
    e_frame,
    ipv4_frame,
    make_limits,
    make_plan,
    poll_all,
    started,
)  # fmt: skip


@pytest.fixture
def net():
    ctl, fakes = started()
    cards = {c.name: c for c in ctl.plan.cards}
    return ctl, fakes, cards, {r.vpp: r for r in ctl.plan.routers}


def test_card_to_card_in_the_lan_goes_to_the_card_port(net):
    _, f, c, _ = net
    a, b = c["vpp1-0"], c["vpp1-1"]
    assert f["s1"].lookup(a.port, e_frame(a.mac, b.mac, a.ip, b.ip)) == (b.port,)
    assert f["s1"].lookup(b.port, e_frame(b.mac, a.mac, b.ip, a.ip)) == (a.port,)


def test_card_to_another_lan_goes_to_the_router_port_then_across_the_wan(net):
    _, f, c, r = net
    a, far = c["vpp1-0"], c["vpp2-1"]
    assert f["s1"].lookup(a.port, e_frame(a.mac, r["vpp1"].lan.mac, a.ip, far.ip)) == (
        r["vpp1"].lan.port,
    )
    # router 1 routes it: WAN switch to router 2, LAN 2 switch to the card
    wan_frame = e_frame(r["vpp1"].wan.mac, r["vpp2"].wan.mac, a.ip, far.ip)
    assert f["s0"].lookup(r["vpp1"].wan.port, wan_frame) == (r["vpp2"].wan.port,)
    lan_frame = e_frame(r["vpp2"].lan.mac, far.mac, a.ip, far.ip)
    assert f["s2"].lookup(r["vpp2"].lan.port, lan_frame) == (far.port,)


def test_other_ipv4_is_forwarded_so_dns_works(net):
    _, f, c, r = net
    a, b = c["vpp1-0"], c["vpp1-1"]
    assert f["s1"].lookup(a.port, ipv4_frame(a.mac, b.mac, a.ip, b.ip)) == (b.port,)
    assert f["s1"].lookup(a.port, ipv4_frame(a.mac, r["vpp1"].lan.mac, a.ip, "10.2.0.53")) == (
        1000,
    )
    # even from a port with no card (an unregistered host): only protocol 253 is policed
    assert f["s1"].lookup(7, ipv4_frame("02:00:00:00:99:99", b.mac, "10.1.0.99", b.ip)) == (b.port,)


def test_arp_floods_only_within_the_lan_and_to_the_router(net):
    _, f, c, r = net
    a = c["vpp1-0"]
    out = f["s1"].lookup(a.port, arp_request(a.mac, a.ip, "10.1.0.254"))
    assert sorted(out) == sorted([c["vpp1-1"].port, r["vpp1"].lan.port])
    out_wan = f["s0"].lookup(1, arp_request(r["vpp1"].wan.mac, "10.0.0.1", "10.0.0.2"))
    assert out_wan == (r["vpp2"].wan.port,)  # the WAN switch floods among router WAN ports only


def test_unknown_unicast_and_non_ip_are_dropped(net):
    _, f, c, _ = net
    a = c["vpp1-0"]
    assert f["s1"].lookup(a.port, e_frame(a.mac, "02:00:00:00:07:07", a.ip, "10.1.0.77")) == ()
    assert (
        f["s1"].lookup(
            a.port, b"\xff" * 6 + bytes.fromhex(a.mac.replace(":", "")) + b"\x86\xdd" + bytes(40)
        )
        == ()
    )


def test_firewall_passes_the_card_and_drops_spoofed_mac_ip_and_unregistered_ports_counted(net):
    ctl, f, c, _ = net
    a, b = c["vpp1-0"], c["vpp1-1"]
    deliver(f, ctl.port_desc(1, [(1, True), (2, True), (7, True), (1000, True)], 0.0))
    sw = f["s1"]
    assert sw.lookup(a.port, e_frame(a.mac, b.mac, a.ip, b.ip), 0.0) == (b.port,)
    assert (
        sw.lookup(a.port, e_frame("02:00:00:00:01:55", b.mac, a.ip, b.ip), 0.1) == ()
    )  # spoofed MAC
    assert sw.lookup(a.port, e_frame(a.mac, b.mac, "10.1.0.99", b.ip), 0.2) == ()  # spoofed IP
    assert (
        sw.lookup(a.port, e_frame(b.mac, b.mac, b.ip, b.ip), 0.3) == ()
    )  # another card's identity
    assert (
        sw.lookup(7, e_frame("02:00:00:00:99:99", b.mac, "10.1.0.99", b.ip), 0.4) == ()
    )  # unregistered port
    assert (
        sw.lookup(8, e_frame("02:00:00:00:99:98", b.mac, "10.1.0.98", b.ip), 0.5) == ()
    )  # port not yet known
    poll_all(ctl, f, 1.0)
    st = ctl.status()
    assert st["switches"]["s1"]["dropped_spoofed"] == {"1": 3, "2": 0}
    assert st["switches"]["s1"]["dropped_unregistered"] == {"0": 1, "7": 1}
    assert st["cards"]["vpp1-0"]["allowed_packets"] == 1
    assert st["cards"]["vpp1-0"]["used_bee"] == 10


# ------------------------------------------------------------------------------ barrier ordering


def split_at_barriers(msgs):
    parts, cur = [], []
    for m in msgs:
        if ofmsg.is_barrier(m):
            parts.append(cur)
            cur = []
        else:
            cur.append(m)
    return [*parts, cur]


def test_every_meter_is_added_then_a_barrier_then_the_flows_using_it():
    ctl, _ = started()
    msgs = [m for _, m in ctl.switch_up(1, 0.0)]
    added_at = {
        m.meter_id: i
        for i, m in enumerate(msgs)
        if type(m).__name__ == "OFPMeterMod" and m.command == 0
    }
    barriers = [i for i, m in enumerate(msgs) if ofmsg.is_barrier(m)]
    used = [
        (i, ofmsg.meter_of(m))
        for i, m in enumerate(msgs)
        if type(m).__name__ == "OFPFlowMod" and ofmsg.meter_of(m)
    ]
    assert (
        len(added_at) == 3 and len(used) == 2
    )  # punt meter (used later), two cards; no uplink limit here
    for i, meter in used:
        assert any(added_at[meter] < b < i for b in barriers), (
            f"flow {i} uses meter {meter} with no barrier after its add"
        )


def test_any_order_between_barriers_works_but_ignoring_barriers_fails():
    ctl, _ = started(limits=make_limits(vpp_bee=20000))
    msgs = [m for _, m in ctl.switch_up(1, 0.0)]
    rng = random.Random(4)
    for _ in range(20):  # a switch may reorder messages between barriers: every such order is fine
        sw = FakeSwitch(1)
        for part in split_at_barriers(msgs):
            for m in rng.sample(part, len(part)):
                sw.apply(m)
        assert len(sw.meters) == 4 and not sw.errors
    sw = FakeSwitch(1)
    for m in reversed(msgs):  # flows before their meters
        sw.apply(m, strict=False)
    assert {e.code for e in sw.errors} == {"OFPMMFC_UNKNOWN_METER"}
    with pytest.raises(OFError, match="UNKNOWN_METER"):
        FakeSwitch(1).apply(
            next(m for m in msgs if type(m).__name__ == "OFPFlowMod" and ofmsg.meter_of(m))
        )


def test_switch_reconnect_reinstalls_the_same_tables(net):
    ctl, f, _, _ = net
    before = sorted(
        (e.table, e.priority, sorted(e.match.items()), e.cookie) for e in f["s1"].entries
    )
    deliver(f, ctl.switch_up(1, 5.0))
    after = sorted(
        (e.table, e.priority, sorted(e.match.items()), e.cookie) for e in f["s1"].entries
    )
    assert before == after and len(f["s1"].meters) == 3


# ---------------------------------------------------------------------------------- meters


def test_card_meter_rate_and_burst_come_from_the_static_limit():
    ctl, f = started(limits=make_limits(export_bee=6000, vpp_bee=24000))
    n = ctl.topo.card_index[ctl.plan.cards[0].mac]
    meter = f["s1"].meters[ctl.topo.card_meter(n)]
    assert (meter.rate, meter.burst) == (10, 3)  # 6000 / 60 / 10 pktps, burst ceil(10 x 0.25)
    uplink = f["s1"].meters[ctl.topo.vpp_meter(0)]
    assert (uplink.rate, uplink.burst) == (40, 10)
    assert f["s0"].meters.keys() == {ctl.topo.punt_meter}


def test_policing_passes_rate_times_time_plus_burst():
    ctl, f = started(limits=make_limits(export_bee=6000))  # 10 pktps, burst 3
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    frame = e_frame(a.mac, b.mac, a.ip, b.ip)
    passed = sum(
        bool(f["s1"].lookup(a.port, frame, k / 100)) for k in range(500)
    )  # 100 pktps for 5 s
    assert passed == pytest.approx(10 * 5 + 3, abs=1)
    acct = f["s1"].flows(pl.T_ACCOUNT, pl.cookie(pl.K_ACCT, 0))
    assert (
        acct[0].packet_count == passed
    )  # the accounting table sees only what the meter let through


def test_vpp_uplink_meter_polices_traffic_leaving_the_vpp():
    ctl, f = started(
        limits=make_limits(export_bee=60000, vpp_bee=6000)
    )  # cards 100 pktps, uplink 10
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    r = ctl.plan.routers[0]
    out = [
        f["s1"].lookup(a.port, e_frame(a.mac, r.lan.mac, a.ip, "10.2.0.10"), k / 50)
        for k in range(100)
    ]
    assert sum(o == (r.lan.port,) for o in out) == pytest.approx(10 * 2 + 3, abs=1)
    inside = [
        f["s1"].lookup(a.port, e_frame(a.mac, b.mac, a.ip, b.ip), 2 + k / 50) for k in range(100)
    ]
    assert all(o == (b.port,) for o in inside[:50])  # LAN traffic is not on the uplink meter


def test_message_counts_for_a_200_card_plan():
    plan = make_plan(n_vpps=10, n_cards=20)
    ctl, f = started(plan, make_limits(vpp_bee=100000))
    lan = ctl.switch_up(1, 0.0)
    kinds = [type(m).__name__ for _, m in lan]
    # 20 cards: 2 deletes, 3 barriers... see docs/controller.md
    assert kinds.count("OFPMeterMod") == 2 + 20 + 1  # delete-all, punt, 20 cards, uplink
    assert kinds.count("OFPBarrierRequest") == 2
    assert (
        kinds.count("OFPFlowMod") == 1 + 6 + 8 + 4 * 20 + 1 + 1 + 21 + 1
    )  # delete, base, classify (7 no-BEE codepoints + miss), per card, trusted, ARP, L2, uplink
    assert kinds.count("OFPPacketOut") == 20  # static-limit notices
    wan = [type(m).__name__ for _, m in ctl.switch_up(16, 0.0)]
    assert wan.count("OFPFlowMod") == 1 + 6 + 8 + 10 + 1 + 10
    assert len(ctl.poll(0.0)) == 11
    assert sum(len(x.entries) for x in f.values()) == 10 * 118 + 35
