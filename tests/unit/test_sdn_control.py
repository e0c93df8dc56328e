"""Quotas per period, static-limit notices, dynamic limits (WUP), islanding, and robustness of the logic."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from eip.protocol import constants as c
from eip.protocol.codec import decode_frame
from eip.protocol.model import EnergyTcp, LimitExceeded, StaticLimitNotice, Unreachable
from eip.protocol.path import quote
from eip.sdn import pipeline as pl
from eip.sdn.limits import LimitTable
from tests.unit.test_sdn_support import (
    QUANTUM,
    deliver,
    e_frame,
    make_limits,
    make_plan,
    poll_all,
    started,
)

ISP_IP, ISP_MAC = "10.0.0.254", "02:00:00:00:00:fe"


def send_stream(ctl, f, card, dst, rate_pps, t0, t1):
    """The card sends at rate_pps from t0 to t1 while the controller polls every poll_s; returns frames passed."""
    sw = f[card.switch]
    frame = e_frame(card.mac, dst.mac, card.ip, dst.ip)
    passed, k = 0, 0
    while True:
        t = t0 + k / rate_pps
        if t >= t1:
            return passed
        poll_all(ctl, f, t)
        passed += sw.lookup(card.port, frame, t) == (dst.port,)
        k += 1


def isp_packets(fake, port):
    return [decode_frame(data) for p, data in fake.packet_outs if p == port]


def test_quota_blocks_the_card_within_the_bound_and_tells_it_limit_exceeded():
    ctl, f = started(limits=make_limits(export_bee=6000))  # 10 pktps, burst 3, quota 600 segments
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    deliver(f, ctl.set_dynamic_limit(a.name, 500, 0.0))  # the ISP lets it send 50 pktps
    passed = send_stream(ctl, f, a, b, 80, 0.0, 30.0)
    q = ctl.status()["cards"][a.name]
    # bound (docs/controller.md): passed BEE < quota + quantum x max(0, burst - rate x poll_s); burst 13 < 50 x 0.5
    assert passed * QUANTUM <= 6000
    assert passed * QUANTUM >= 6000 - 50 * QUANTUM * 2 * 0.5  # blocked no earlier than the margin
    assert q["blocked"] and q["quota_blocks"] == 1
    assert len(f["s1"].flows(pl.T_INGRESS, pl.cookie(pl.K_QUOTA, 0))) == 1
    # the next packet is punted; the answer is a LimitExceeded (quota) quoting it, from the ISP
    frame = e_frame(a.mac, b.mac, a.ip, b.ip, seq=99)
    assert f["s1"].lookup(a.port, frame, 30.0) == ("controller",)
    ((dpid, po),) = ctl.packet_in(1, a.port, frame, 30.0)
    assert dpid == 1 and po.actions[0].port == a.port
    dst_mac, src_mac, pkt = decode_frame(po.data)
    assert (dst_mac, src_mac, pkt.src, pkt.dst) == (a.mac, ISP_MAC, ISP_IP, a.ip)
    assert pkt.eip.flags & c.EIP_FLAG_ISP and pkt.dscp == c.DSCP_ISP_CONTROL
    assert pkt.payload == LimitExceeded(c.EXCEEDED_QUOTA, 6000, quote(frame[14:]))
    # other cards are not affected
    assert f["s1"].lookup(b.port, e_frame(b.mac, a.mac, b.ip, a.ip), 30.0) == (a.port,)


def test_a_zero_quota_blocks_from_the_first_poll_without_counting_a_block():
    """A card whose quota is 0 BEE (a load: it cannot export) is blocked at once; that is its limit,
    not a quota it used up, so quota_blocks stays 0 until it does send."""
    ctl, f = started(limits=make_limits(export_bee=0))
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    for period in range(3):  # each period starts unblocked and is blocked again at its first poll
        deliver(f, ctl.tick(period * 60.0))
        poll_all(ctl, f, period * 60.0 + 1.0)
        q = ctl.status()["cards"][a.name]
        assert q["blocked"] and q["quota_blocks"] == 0, (period, q)
    assert len(f["s1"].flows(pl.T_INGRESS, pl.cookie(pl.K_QUOTA, 0))) == 1
    # a BEE segment it tries anyway goes to the controller, which answers LimitExceeded
    frame = e_frame(a.mac, b.mac, a.ip, b.ip, seq=7)
    assert f["s1"].lookup(a.port, frame, 121.5) == ("controller",)


def test_sending_at_the_static_meter_rate_all_period_stays_within_the_quota():
    ctl, f = started(limits=make_limits(export_bee=6000))
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    passed = send_stream(ctl, f, a, b, 10, 0.0, 60.0)
    assert 6000 - 100 <= passed * QUANTUM <= 6000
    assert ctl.status()["cards"][a.name]["blocked"]


def test_next_period_lifts_the_block_resets_usage_and_sends_static_limit_notices():
    ctl, f = started(limits=make_limits(export_bee=6000))
    a, b = ctl.plan.cards[0], ctl.plan.cards[1]
    deliver(f, ctl.set_dynamic_limit(a.name, 1000, 0.0))
    send_stream(ctl, f, a, b, 100, 0.0, 20.0)
    assert ctl.status()["cards"][a.name]["blocked"]
    for x in f.values():
        x.packet_outs.clear()
    assert ctl.tick(59.9) == []
    deliver(f, ctl.tick(60.0))
    assert f["s1"].flows(cookie=pl.K_QUOTA << 56, mask=pl.KIND_MASK) == []
    assert f["s1"].lookup(a.port, e_frame(a.mac, b.mac, a.ip, b.ip), 60.0) == (b.port,)
    st = ctl.status()
    assert (
        st["period"] == 1
        and st["cards"][a.name]["used_bee"] == 0
        and not st["cards"][a.name]["blocked"]
    )
    for card in ctl.plan.cards:
        ((dst_mac, src_mac, pkt),) = isp_packets(f[card.switch], card.port)
        assert (dst_mac, src_mac, pkt.dst, pkt.src) == (card.mac, ISP_MAC, card.ip, ISP_IP)
        assert pkt.eip.flags == c.EIP_FLAG_ISP and pkt.eip.period == 1 and pkt.dscp == 48
        assert pkt.payload == StaticLimitNotice(1, 60, 6000, 5000)


def test_dynamic_limit_modifies_the_meter_and_sends_a_window_update():
    ctl, f = started()
    a = ctl.plan.cards[1]
    f["s1"].packet_outs.clear()  # the notices sent at switch_up
    out = ctl.set_dynamic_limit(a.mac, 355, 3.0)
    kinds = [type(m).__name__ for _, m in out]
    assert kinds == [
        "OFPMeterMod",
        "OFPBarrierRequest",
        "OFPPacketOut",
    ]  # meter confirmed before the WUP
    mm = out[0][1]
    assert (
        mm.command == 1 and mm.meter_id == ctl.topo.card_meter(1) and mm.bands[0].rate == 36
    )  # ceil(355/10)
    deliver(f, out)
    assert f["s1"].meters[ctl.topo.card_meter(1)].rate == 36
    ((dst_mac, _, pkt),) = isp_packets(f["s1"], a.port)
    assert dst_mac == a.mac and pkt.src == ISP_IP and pkt.dst == a.ip
    assert pkt.eip.flags & c.EIP_FLAG_ISP and pkt.eip.origin_mac == ISP_MAC
    assert isinstance(pkt.payload, EnergyTcp) and pkt.payload.flags == c.ETCP_WUP
    assert (pkt.payload.window, pkt.payload.sport, pkt.payload.dport) == (355, 0, 0)
    assert ctl.status()["cards"][a.name]["rate_pktps"] == 36
    assert ctl.set_dynamic_limit("no-such-card", 5, 3.0) == []


def test_islanding_answers_cross_lan_traffic_with_unreachable_islanded_and_rejoin_restores():
    ctl, f = started(limits=make_limits(vpp_bee=60000))
    a, b, far = ctl.plan.cards[0], ctl.plan.cards[1], ctl.plan.cards[2]
    r1, r2 = ctl.plan.routers
    out_frame = e_frame(a.mac, r1.lan.mac, a.ip, far.ip)
    assert f["s1"].lookup(a.port, out_frame, 0.0) == (r1.lan.port,)
    deliver(f, ctl.port_status(16, r1.wan.port, False, 1.0))
    assert ctl.status()["islanded"] == ["vpp1"]
    assert f["s1"].lookup(a.port, out_frame, 1.0) == ("controller",)
    ((dpid, po),) = ctl.packet_in(1, a.port, out_frame, 1.0)
    dst_mac, _, pkt = decode_frame(po.data)
    assert dpid == 1 and po.actions[0].port == a.port and dst_mac == a.mac and pkt.dst == a.ip
    assert pkt.payload == Unreachable(c.UNREACH_ISLANDED, quote(out_frame[14:]))
    assert pkt.eip.flags & c.EIP_FLAG_ISP
    # inside the island: to the router itself and card to card still work
    to_router = e_frame(a.mac, r1.lan.mac, a.ip, "10.1.0.254")
    assert f["s1"].lookup(a.port, to_router, 1.0) == (r1.lan.port,)
    assert f["s1"].lookup(a.port, e_frame(a.mac, b.mac, a.ip, b.ip), 1.0) == (b.port,)
    # entering: router 2 forwards towards router 1's WAN address, answered back through router 2
    in_frame = e_frame(r2.wan.mac, r1.wan.mac, far.ip, a.ip)
    assert f["s0"].lookup(r2.wan.port, in_frame, 1.0) == ("controller",)
    ((dpid, po),) = ctl.packet_in(16, r2.wan.port, in_frame, 1.0)
    dst_mac, _, pkt = decode_frame(po.data)
    assert dpid == 16 and dst_mac == r2.wan.mac and pkt.dst == far.ip and pkt.payload.code == 4
    # no error in answer to a control message (R5.5)
    ctl_frame = po.data[:6] + bytes.fromhex(a.mac.replace(":", "")) + po.data[12:]
    assert ctl.packet_in(1, a.port, ctl_frame, 1.0) == []
    deliver(f, ctl.port_status(16, r1.wan.port, True, 2.0))
    assert ctl.status()["islanded"] == []
    assert f["s1"].lookup(a.port, out_frame, 2.0) == (r1.lan.port,)
    assert f["s0"].lookup(r2.wan.port, in_frame, 2.0) == (r1.wan.port,)
    assert f["s1"].flows(cookie=pl.cookie(pl.K_ISLAND, 0)) == []


def test_island_rules_survive_a_switch_reconnect():
    ctl, f = started()
    deliver(f, ctl.port_status(16, 1, False, 1.0))
    deliver(f, ctl.switch_up(1, 2.0))
    a, far = ctl.plan.cards[0], ctl.plan.cards[2]
    frame = e_frame(a.mac, ctl.plan.routers[0].lan.mac, a.ip, far.ip)
    assert f["s1"].lookup(a.port, frame, 2.0) == ("controller",)


def test_status_is_json_serialisable():
    ctl, f = started()
    poll_all(ctl, f, 0.0)
    s = json.loads(json.dumps(ctl.status()))
    assert s["cards"]["vpp1-0"]["quota_bee"] == 6000 and s["switches"]["s0"]["up"] is True


def test_poll_respects_the_interval():
    ctl, _ = started()
    assert len(ctl.poll(0.0)) == 3
    assert ctl.poll(0.3) == []
    reqs = ctl.poll(0.5)
    assert len(reqs) == 3 and all(m.cookie == m.cookie_mask == pl.COUNTED for _, m in reqs)


def test_unknown_switches_and_ports_are_ignored():
    ctl, _ = started()
    assert ctl.switch_up(99, 0.0) == [] and ctl.packet_in(99, 1, b"", 0.0) == []
    assert ctl.port_status(99, 1, False, 0.0) == [] and ctl.flow_stats(99, [], 0.0) == []
    assert ctl.packet_in(1, 1, b"\x00" * 10, 0.0) == []


frames = st.one_of(
    st.binary(max_size=200),
    st.builds(
        lambda head, tail: head + tail,
        st.sampled_from(
            [e_frame("02:00:00:00:01:00", "02:00:00:fe:01:01", "10.1.0.10", "10.2.0.10")[:34]]
        ),
        st.binary(max_size=80),
    ),
)


class FakeStats:
    def __init__(self, cookie, packet_count):
        self.cookie, self.packet_count = cookie, packet_count


@settings(max_examples=150, deadline=None)
@given(
    dpid=st.sampled_from([1, 2, 16, 3, 0]), port=st.integers(-1, 2**32), data=frames,
    up=st.booleans(), now=st.floats(-10, 1e6, allow_nan=False),
    stats=st.lists(st.builds(FakeStats, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)), max_size=5),
    window=st.integers(-5, 2**33),
)  # fmt: skip
def test_random_input_never_raises(dpid, port, data, up, now, stats, window):
    ctl, f = started(now=0.0)
    for items in (
        ctl.packet_in(dpid, port, data, now), ctl.port_status(dpid, port, up, now),
        ctl.flow_stats(dpid, stats, now), ctl.set_dynamic_limit("vpp1-0", window, now),
        ctl.tick(now), ctl.poll(now), ctl.switch_up(dpid, now),
    ):  # fmt: skip
        assert isinstance(items, list)
    json.dumps(ctl.status())
    assert isinstance(f["s1"].lookup(port, data, 0.0), tuple)


def test_controller_works_without_vpp_limits_or_wan():
    plan = make_plan(n_vpps=1, n_cards=1)
    ctl, f = started(
        plan,
        LimitTable.from_mapping(
            {"period_s": 1, "quantum_bee": 1, "default": {"export_bee": 5, "import_bee": 5}}
        ),
    )
    assert ctl.status()["cards"]["vpp1-0"]["rate_pktps"] == 5
    assert len(f["s1"].meters) == 2
