"""The switch meters and counts BEE only (docs/protocol.md R3.3): a card's SYN, ACK, pool and control
datagrams pass its firewall uncounted; its BEE data segments are counted and metered; a pure buyer
shows zero export. Run against the in-memory switch (tests/unit/fakeswitch.py)."""

import pytest

from eip.protocol import constants as c
from eip.protocol.codec import encode_frame
from eip.protocol.messages import segment_dscp
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, OfferOption, Packet, PoolOrder
from eip.sdn import ofmsg
from eip.sdn import pipeline as pl
from tests.unit.fakeswitch import FakeSwitch, OFError
from tests.unit.test_sdn_support import QUANTUM, make_limits, poll_all, started

CLASS_1 = c.PRIORITY_CLASSES[1]


class StaticIsp:
    """An ISP double that keeps the static limits: only so the controller installs its import rules."""

    def __init__(self, limits):
        self.limits = limits

    def period_boundary(self, period, exported, imported, elapsed_s):
        self.exported, self.imported = exported, imported

    def limit_table(self):
        return self.limits

    def dynamic_windows(self, exported, elapsed_s):
        return {}

    def status(self):
        return {}


def frame(src, dst, seg: EnergyTcp, dscp: int | None = None) -> bytes:
    """`seg` from card src to card dst, marked by segment_dscp (class 1) unless `dscp` is given."""
    dscp = segment_dscp(seg, CLASS_1) if dscp is None else dscp
    bee_types = {r.bee_type for r in seg.records if type(r) is Bee}
    eip = EnergyIp(bee_types.pop() if bee_types else 0, 0, src.mac)
    return encode_frame(Packet(src.ip, dst.ip, eip, seg, dscp=dscp), src.mac, dst.mac)


def syn(seq=1):
    return EnergyTcp(
        49152, 10, seq, 0, c.ETCP_SYN, 1000, options=(OfferOption(100, 0, 0, 0, 1, 1),)
    )


def ack(seq=1):
    return EnergyTcp(10, 49152, seq, 5, c.ETCP_ACK, 1000)


def pool_order(seq=1):
    order = PoolOrder(order_id=seq, side=2, quantity=100, price_micro_per_kbee=10)
    return EnergyTcp(
        49153, c.PORT_BEE_POOL, seq, 0, c.ETCP_ACK | c.ETCP_PSH, 1000, records=(order,)
    )


def bee(seq=1):
    return EnergyTcp(49152, 10, seq, 1, c.ETCP_ACK, 1000, records=(Bee(quantity=QUANTUM),))


@pytest.fixture
def net():
    limits = make_limits(export_bee=6000)  # 10 BEE quantum: 10 pktps, burst 3
    ctl, f = started(limits=limits, isp=StaticIsp(limits))
    return ctl, f, ctl.plan.cards[0], ctl.plan.cards[1]


def cards(ctl):
    return ctl.status()["cards"]


def test_the_codepoints_follow_r3_3():
    assert segment_dscp(bee(), CLASS_1) == 10 and segment_dscp(ack(), CLASS_1) == 8
    assert segment_dscp(bee(), c.DSCP_EMERGENCY) == 44
    assert segment_dscp(syn(), c.DSCP_EMERGENCY) == 46
    assert (
        segment_dscp(ack(), 10) == 8
    )  # a BEE codepoint handed for a control segment drops its mark
    assert c.DSCP_BEE.isdisjoint(c.DSCP_UNMETERED)
    assert 0 not in c.DSCP_UNMETERED  # unmarked traffic is metered


def test_control_segments_of_a_card_pass_and_are_not_counted(net):
    ctl, f, a, b = net
    sw = f[a.switch]
    for k in range(50):  # far above the meter's 10 pktps, all at t = 0
        for seg in (syn(k), ack(k), pool_order(k)):
            assert sw.lookup(a.port, frame(a, b, seg), 0.0) == (b.port,), seg
    poll_all(ctl, f, 1.0)
    st = cards(ctl)
    assert st[a.name]["used_bee"] == st[a.name]["exported_bee"] == 0
    assert st[b.name]["imported_bee"] == st[b.name]["import_used_bee"] == 0
    assert sw.meters[ctl.topo.card_meter(0)].passed == 0  # the meter never saw them


def test_bee_segments_are_counted_and_metered(net):
    ctl, f, a, b = net
    sw = f[a.switch]
    out = [sw.lookup(a.port, frame(a, b, bee(k)), 0.0) for k in range(20)]
    passed = sum(o == (b.port,) for o in out)
    assert passed == 3  # the meter's burst at t = 0: the rest are dropped
    poll_all(ctl, f, 1.0)
    st = cards(ctl)
    assert st[a.name]["used_bee"] == st[a.name]["exported_bee"] == 3 * QUANTUM
    assert st[b.name]["imported_bee"] == 3 * QUANTUM


def test_unmarked_and_unregistered_codepoints_are_metered(net):
    ctl, f, a, b = net
    sw = f[a.switch]
    for k, dscp in enumerate(
        (0, 1, 12, 63)
    ):  # a raw sender's default, and values R3.3 does not name
        assert sw.lookup(a.port, frame(a, b, ack(k), dscp=dscp), 10.0 + k) == (b.port,)
    poll_all(ctl, f, 20.0)
    assert cards(ctl)[a.name]["exported_bee"] == 4 * QUANTUM


def test_a_pure_buyer_shows_zero_export(net):
    ctl, f, seller, buyer = net
    sw = f[seller.switch]
    t = 0.0
    for k in range(30):  # the buyer's orders and ACKs, the seller's BEE at its meter's rate
        t = k * 0.2
        assert sw.lookup(buyer.port, frame(buyer, seller, pool_order(k)), t) == (seller.port,)
        assert sw.lookup(seller.port, frame(seller, buyer, bee(k)), t) == (buyer.port,)
        assert sw.lookup(buyer.port, frame(buyer, seller, ack(k)), t) == (seller.port,)
        poll_all(ctl, f, t)
    poll_all(ctl, f, t + 1.0)
    st = cards(ctl)
    assert st[buyer.name]["exported_bee"] == 0 and st[buyer.name]["quota_blocks"] == 0
    assert st[seller.name]["exported_bee"] == 30 * QUANTUM
    assert st[buyer.name]["imported_bee"] == 30 * QUANTUM
    assert st[seller.name]["imported_bee"] == 0


def test_the_firewall_still_binds_control_segments_to_the_card(net):
    _ctl, f, a, b = net
    sw = f[a.switch]
    spoofed = encode_frame(
        Packet("10.9.9.9", b.ip, EnergyIp(0, 0, a.mac), ack(), dscp=CLASS_1), a.mac, b.mac
    )
    assert sw.lookup(a.port, spoofed, 0.0) == ()  # wrong source IP: dropped, no-BEE mark or not
    assert sw.lookup(b.port, frame(a, b, ack()), 0.0) == ()  # a's MAC from b's port


def test_a_quota_blocked_card_still_acknowledges_and_orders(net):
    ctl, f, a, b = net
    sw = f[a.switch]
    a_state = ctl.cards[a.mac.lower()]
    a_state.period_packets = 600  # its quota used up, late in the period (its meter passes 10/s)
    poll_all(ctl, f, 59.0)
    assert cards(ctl)[a.name]["blocked"]
    assert sw.lookup(a.port, frame(a, b, bee(1)), 59.5) == ("controller",)  # BEE: punted
    assert sw.lookup(a.port, frame(a, b, ack(1)), 59.5) == (b.port,)
    assert sw.lookup(a.port, frame(a, b, pool_order(1)), 59.5) == (b.port,)


def test_packets_its_meter_dropped_do_not_use_up_a_cards_quota(net):
    """OVS userspace also counts what a meter dropped: the quota check caps the count by the meter."""
    ctl, f, a, _ = net
    ctl.cards[a.mac.lower()].period_packets = 5000  # a flood at t = 1 s, counted raw
    poll_all(ctl, f, 1.0)
    assert not cards(ctl)[a.name]["blocked"]  # its meter passed at most 10 x 1 + 3 of 600
    ctl.cards[a.mac.lower()].period_packets = 5000
    poll_all(ctl, f, 59.0)  # 10 x 59 + 3 may have passed: with two polls of margin, blocked
    assert cards(ctl)[a.name]["blocked"]


def test_the_fake_switch_refuses_what_ovs_refuses():
    sw = FakeSwitch(1)
    with pytest.raises(OFError, match="OFPBMC_BAD_PREREQ"):
        sw.apply(ofmsg.flow_add(0, 1, {"in_port": 1, "ip_dscp": 8, "eth_type": 0x0806}))
    with pytest.raises(OFError, match="OFPBMC_BAD_VALUE"):
        sw.apply(ofmsg.flow_add(0, 1, {**pl.P253, "ip_dscp": 64}))
    sw.apply(ofmsg.flow_add(0, 1, {**pl.P253, "ip_dscp": 8}, actions=[ofmsg.output(2)]))
    assert sw.flows(0)[0].match["ip_dscp"] == 8
