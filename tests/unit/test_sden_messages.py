"""SDEN decisions and schedules as Energy-TCP segments, decoded back through eip.protocol.codec."""

from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import classify, request_segment
from eip.protocol.model import EnergyIp, Packet, RejectOption, RequestOption, ScheduleOption
from eip.sden.agents import Buffer, Source
from eip.sden.packets import PacketSpec, Profile
from eip.sden.server import MODE_DELIVER, MODE_DRAW, EnergyServer

T0 = 1_700_000_400  # a slot boundary
SP = PacketSpec(epoch_s=T0)
CLIENT, SERVER = "10.2.0.21", "10.1.0.1"


def wire(src, dst, seg, dscp=0):
    """Encode in an Energy-IP packet and decode it again."""
    eip = EnergyIp(0, 0, "02:00:00:00:00:02", 2, 0)  # no BEE records: energy type 0 (R4.3)
    pkt = Packet(src, dst, eip, seg, dscp)
    return codec.decode(codec.encode(pkt)).payload


def make_server():
    buf = Buffer("bat", 20, 4, 4, soc_packets=4)
    return EnergyServer(
        SP, horizon_slots=6, sources=(Source("pv", Profile((2,) * 6)),), buffers=(buf,)
    )


def syn(quantity_wh, deadline_slot, emergency=0):
    end = SP.slot_end_s(deadline_slot)
    opt = RequestOption(quantity_wh, T0, end, end, c.BEE_ELECTRICITY, 0)
    return wire(
        CLIENT, SERVER, request_segment(49152, c.PORT_ENERGY_SERVER, 5000, 300, opt, emergency)
    )


def test_accept_carries_the_granted_quantity_in_bee():
    srv = make_server()
    request = syn(55, 2)
    d = srv.request(T0, "c1", request.options[0])
    got = wire(SERVER, CLIENT, d.segment(request, isn=7000, window=100))
    assert classify(got) == "accept"
    assert (got.sport, got.dport, got.seq, got.ack) == (c.PORT_ENERGY_SERVER, 49152, 7000, 5001)
    assert got.flags == c.ETCP_SYN | c.ETCP_ACK
    end = SP.slot_end_s(2)
    assert got.options == (RequestOption(55, T0, end, end, c.BEE_ELECTRICITY, 0),)
    assert d.packets == 6  # 55 Wh in 10 Wh packets


def test_reject_carries_reason_and_retry_after():
    srv = make_server()
    assert srv.request(T0, "c1", syn(120, 5).options[0]).accepted  # 12 of 12 supply packets
    request = syn(200, 5)
    d = srv.request(T0, "c2", request.options[0])
    got = wire(SERVER, CLIENT, d.segment(request))
    assert classify(got) == "reject"
    assert got.flags == c.ETCP_RST | c.ETCP_ACK
    assert got.options == (RejectOption(4, 0),)  # 20 > 12 supply + 4 buffer: no window fits


def test_reject_for_short_supply_has_a_positive_retry_after():
    srv = make_server()
    assert srv.request(T0, "c1", syn(120, 4).options[0]).accepted  # 10 supply + 2 of 4 buffer
    request = syn(40, 4)
    d = srv.request(T0, "c2", request.options[0])
    got = wire(SERVER, CLIENT, d.segment(request))
    (opt,) = got.options
    assert (opt.reason, opt.retry_after_s) == (1, SP.slot_s)


def test_emergency_request_round_trips_and_is_served_first():
    srv = make_server()
    srv.request(T0, "c1", syn(20, 5).options[0])
    request = syn(20, 5, emergency=1)
    assert classify(request) == "emergency-request" and request.urgent == 1
    d = srv.request(T0, "e", request.options[0], emergency_code=request.urgent)
    assert classify(wire(SERVER, CLIENT, d.segment(request))) == "accept"
    delivers = [a for a in srv.allocate(T0) if a.mode == MODE_DELIVER]
    assert [(a.agent_id, a.packets) for a in delivers] == [("e", 2)]


def test_schedule_segments_for_delivery_and_draw():
    srv = make_server()
    srv.request(T0, "c1", syn(60, 0).options[0])  # 6 packets in slot 0: 2 supply + 4 buffer
    allocs = srv.allocate(T0)
    by_mode = {a.mode: a for a in allocs}
    deliver = wire(
        SERVER, CLIENT, srv.schedule_segment(by_mode[MODE_DELIVER], dport=49152, seq=1, ack=2)
    )
    assert classify(deliver) == "schedule"
    assert (deliver.flags, deliver.sport, deliver.dport, deliver.seq, deliver.ack) == (
        c.ETCP_ACK,
        1,
        49152,
        1,
        2,
    )
    assert deliver.options == (ScheduleOption(1, T0, 600, 1, 60),)
    draw = wire(SERVER, "10.3.0.5", srv.schedule_segment(by_mode[MODE_DRAW]))
    assert draw.options == (ScheduleOption(3, T0, 600, 1, 40),)
    assert draw.dport == c.PORT_DELIVERY
