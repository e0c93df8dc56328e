"""Conformance, section 6: Energy-TCP."""

import pytest

from eip.errors import DecodeError, EncodeError
from eip.etcp.window import fair_shares, records_that_fit, usable_window
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum
from eip.protocol.messages import (
    accept_segment,
    classify,
    is_offer,
    offer_segment,
    reject_segment,
    request_option,
    request_segment,
    seq_units,
    transfer_option,
    window_update_applies,
    window_update_segment,
)
from eip.protocol.model import (
    EnergyIp,
    EnergyTcp,
    OfferOption,
    Packet,
    PoolOrder,
    Receipt,
    RejectOption,
    RequestOption,
    Signature,
    UnknownOption,
)
from eip.sample import sample_exchange
from tests.conformance.helpers import (
    REC,
    TCP,
    bee,
    data_packet,
    fix_checksums,
    request_packet,
    wire,
)
from tests.unit.etcp_sim import Sim, max_burst_bee


def _error(buf) -> DecodeError:
    with pytest.raises(DecodeError) as err:
        codec.decode(bytes(buf))
    return err.value


def test_r6_1_data_offset():
    buf = wire(data_packet())
    assert buf[TCP + 12] >> 4 == 6
    buf[TCP + 12] = 5 << 4
    assert _error(fix_checksums(buf)).field == "energy_tcp.dataofs"
    buf = wire(data_packet(energy_type=0, records=()))  # a pure ACK: 24 bytes of segment
    buf[TCP + 12] = 15 << 4  # a 60-byte header does not fit
    err = _error(fix_checksums(buf))
    assert err.field == "energy_tcp.dataofs" and err.offset == TCP + 12


def test_r6_2_flags_reserved_bit_ignored():
    pkt = data_packet()
    buf = wire(pkt)
    buf[TCP + 13] |= 0x80
    assert codec.decode(fix_checksums(buf)).payload.flags == pkt.payload.flags


def test_r6_3_checksum_over_pseudo_header():
    buf = wire(data_packet())
    seg = bytes(buf[TCP:])
    pseudo = bytes(buf[12:20]) + bytes([0, 253]) + len(seg).to_bytes(2, "big")
    zeroed = seg[:14] + b"\0\0" + seg[16:]
    assert int.from_bytes(seg[14:16], "big") == internet_checksum(pseudo + zeroed)
    moved = bytearray(buf)
    moved[15] = 99  # another source address: the pseudo-header no longer matches
    fix_ip_only = bytearray(moved)
    fix_ip_only[10:12] = b"\0\0"
    fix_ip_only[10:12] = internet_checksum(fix_ip_only[:20]).to_bytes(2, "big")
    assert _error(fix_ip_only).field == "energy_tcp.checksum"


def test_r6_4_sequence_counts_bee_units():
    assert seq_units(data_packet(bee(quantity=300), bee(quantity=200)).payload) == 500
    assert seq_units(request_packet().payload) == 1
    assert seq_units(EnergyTcp(flags=c.ETCP_FIN | c.ETCP_ACK)) == 1
    assert seq_units(EnergyTcp(flags=c.ETCP_ACK, records=(PoolOrder(quantity=800),))) == 1
    signed = data_packet(bee(quantity=300), Signature(0, 5001, 5301, bytes(64))).payload
    assert seq_units(signed) == 300  # SIG and RCPT occupy no sequence numbers
    assert seq_units(EnergyTcp(flags=c.ETCP_ACK, records=(Receipt(0, 1, 2, bytes(64)),))) == 0
    # In the sample, each side's next segment starts where the previous one's units end.
    next_seq = {}
    for _s, _d, pkt in sample_exchange():
        seg = pkt.payload
        if not isinstance(seg, EnergyTcp) or seg.flags & (c.ETCP_WUP | c.ETCP_RST):
            continue
        key = (pkt.src, seg.sport, pkt.dst, seg.dport)
        if key in next_seq:
            assert seg.seq == next_seq[key]
        next_seq[key] = seg.seq + seq_units(seg)


def test_r6_5_window_is_the_dynamic_limit():
    assert usable_window(1000, 1600, peer_window=1000) == 400
    assert usable_window(1000, 1600, peer_window=1000, cwnd_units=500) == 0
    assert usable_window(2**32 - 100, 100, peer_window=1000) == 800  # sequence wrap
    assert records_that_fit([300, 300, 300], 700) == 2  # a BEE is never split
    # The ISP's window (R6.10) is a rate, not BEE in flight: it does not enter the in-flight limit.
    sim = Sim(seed=3, window_a=50, window_b=50)
    sim.open_offer(quantity=400, quantum=10)
    sim.a.conn.set_isp_window(10**6, 0.0)
    sim.run()
    assert sim.a.max_in_flight == 50  # the peer's window, used in full and never passed
    # The sample never has more BEE in flight than the receiver's last window.
    window = {}
    for _s, _d, pkt in sample_exchange():
        seg = pkt.payload
        if isinstance(seg, EnergyTcp) and not seg.flags & c.ETCP_WUP:
            if seg.records and (pkt.dst, pkt.src) in window:
                assert seq_units(seg) <= window[(pkt.dst, pkt.src)]
            window[(pkt.src, pkt.dst)] = seg.window


def test_r6_6_urgent_only_with_urg():
    with pytest.raises(EncodeError, match="urgent"):
        codec.encode(data_packet(urgent=3))
    buf = wire(data_packet())
    buf[TCP + 20 : TCP + 22] = (3).to_bytes(2, "big")
    assert _error(fix_checksums(buf)).field == "energy_tcp.urgent"
    emergency = request_segment(49201, 1, 9000, 8000, RequestOption(100, 0, 0, 0, 1, 0), 2)
    assert emergency.flags & c.ETCP_URG and emergency.urgent == 2


def test_r6_7_whole_records_and_not_on_syn():
    with pytest.raises(EncodeError):
        codec.encode(data_packet(flags=c.ETCP_SYN, options=(RequestOption(1, 0, 0, 0, 1, 0),)))
    buf = wire(data_packet(bee(), bee()))
    cut = bytearray(buf[:-10])  # a partial record
    cut[2:4] = len(cut).to_bytes(2, "big")
    assert _error(fix_checksums(cut)).field.startswith(("record", "bee"))
    # A data segment needs a BEE, order or fill record: a SIG alone is not one; RCPTs alone are an ACK.
    with pytest.raises(EncodeError, match=r"R6\.7"):
        codec.encode(data_packet(Signature(0, 5001, 5001, bytes(64)), energy_type=0))
    ack = data_packet(Receipt(0, 1, 1001, bytes(64)), energy_type=0)
    assert classify(codec.decode(codec.encode(ack)).payload) == "ack"
    assert classify(data_packet(bee(), Signature(0, 5001, 5501, bytes(64))).payload) == "data"


def test_r6_8_options_tlv_rules():
    pkt = data_packet(options=(UnknownOption(200, b"\x01\x02"),))
    assert codec.decode(codec.encode(pkt)) == pkt  # unknown kind skipped by length, kept
    buf = wire(request_packet())
    opt = TCP + 24
    assert buf[opt] == c.OPT_REQUEST and buf[opt + 1] == 20
    buf[opt + 1] = 1  # length below 2
    assert _error(fix_checksums(buf)).field.startswith("energy_tcp.options")
    buf = wire(request_packet())
    buf[opt + 1] = 24  # runs past the options area
    assert _error(fix_checksums(buf)).field.startswith("energy_tcp.options")
    buf = wire(data_packet(options=(RejectOption(2, 60),)))  # 8 bytes: no padding
    assert buf[TCP + 12] >> 4 == 8


def test_r6_9_syn_has_one_request_or_offer_and_accept_grants_no_more(tmp_path):
    req = request_packet().payload
    assert classify(req) == "request" and not is_offer(req)
    acc = accept_segment(req, 5000, 4000, 1000)
    assert classify(acc) == "accept" and acc.ack == req.seq + 1
    assert acc.options[0].quantity == 1000
    with pytest.raises(EncodeError):
        accept_segment(req, 5000, 4000, 1501)
    with pytest.raises(EncodeError):
        codec.encode(request_packet()._replace(payload=req._replace(options=())))
    buf = wire(request_packet())
    buf[TCP + 24] = 200  # the request option becomes an unknown option: no request left
    assert _error(fix_checksums(buf)).field.startswith("energy_tcp")
    # An Offer: the requester delivers; its Accept echoes the offer option with what is taken.
    offer = OfferOption(500, 0, 10, 10, c.BEE_FLEXIBILITY, 1)
    off = offer_segment(49160, 10, 3000, 1000, offer)
    assert classify(off) == "offer" and is_offer(off) and transfer_option(off) == offer
    assert request_option(off) == offer  # the old name still finds the SYN's option
    assert classify(offer_segment(49160, 10, 3000, 1000, offer, emergency=1)) == "emergency-offer"
    acc = accept_segment(off, 8000, 500, 400)
    assert classify(acc) == "accept" and acc.options == (offer._replace(quantity=400),)
    with pytest.raises(EncodeError):
        accept_segment(off, 8000, 500, 501)
    pkt = request_packet()._replace(payload=off)
    buf = wire(pkt)
    assert buf[TCP + 24 : TCP + 26] == bytes((c.OPT_OFFER, 20))
    assert codec.decode(bytes(buf)) == pkt
    with pytest.raises(EncodeError, match=r"R6\.9"):  # not both
        codec.encode(pkt._replace(payload=off._replace(options=(offer, request_option(req)))))
    buf = wire(request_packet())
    buf[TCP + 24] = c.OPT_OFFER  # an offer instead of the request still makes a valid SYN
    assert isinstance(codec.decode(bytes(fix_checksums(buf))).payload.options[0], OfferOption)
    # a card rejects an offer of nothing as malformed
    from tests.unit.test_card_node import Bench, ipv4

    bench = Bench(tmp_path)
    bench.control("a", "c1", op="transfer", to="b", quantity=100)
    syn = next(t for who, t in bench.sent if who == "a")
    pkt = codec.decode(ipv4("10.1.0.1", "10.1.0.2", syn.dscp, syn.data))
    empty = pkt.payload._replace(seq=pkt.payload.seq + 1,
                                 options=(transfer_option(pkt.payload)._replace(quantity=0),))  # fmt: skip
    raw = codec.encode_transport(pkt._replace(payload=empty))
    b = bench.nodes["b"]
    out = b.on_datagram(ipv4("10.1.0.1", "10.1.0.2", syn.dscp, raw), bench.now) + b.flush()
    (rst,) = [codec.decode(ipv4("10.1.0.2", "10.1.0.1", t.dscp, t.data)).payload for t in out]
    assert [o.reason for o in rst.options] == [c.REJECT_MALFORMED]
    bench.close()


def test_r6_10_window_update_only_from_the_isp():
    wup = window_update_segment(1200)
    assert (wup.sport, wup.dport, wup.seq, wup.ack, wup.window) == (0, 0, 0, 0, 1200)
    isp = Packet("10.0.0.254", "10.2.0.21", EnergyIp(0, c.EIP_FLAG_ISP, "02:00:00:00:00:fe"), wup)
    assert window_update_applies(codec.decode(codec.encode(isp)))
    assert not window_update_applies(isp._replace(eip=isp.eip._replace(flags=0)))
    with pytest.raises(EncodeError):
        codec.encode(isp._replace(payload=wup._replace(seq=5)))
    # The window of a WUP is a rate, BEE per second: a connection's send rate is min(own power, ISP rate).
    sim = Sim(seed=4, window_a=500, window_b=500)
    sim.open_offer(quantity=300, quantum=10)
    sim.a.conn.set_power(200.0, 0.0)
    sim.a.conn.set_isp_window(100, 0.0)
    assert sim.a.conn.rate_bee_per_s == 100
    sim.run()
    sends = sim.sent_bee(sim.a)
    assert max_burst_bee(sends, 100) <= 10 + 1e-6 and 2.5 < sends[-1][0] < 3.1
    # With both ports 0 it limits the card as an aggregate: shares of one rate never sum past it.
    assert sum(fair_shares(100, {"x": None, "y": None, "z": 10}).values()) == 100
    assert fair_shares(100, {"x": None, "y": 20}) == {"x": 80, "y": 20}


def test_r6_11_reject_carries_reason_and_retry_after():
    req = request_packet().payload
    rej = reject_segment(req, 1, 600)
    assert classify(rej) == "reject" and rej.options == (RejectOption(1, 600),)
    assert rej.ack == req.seq + 1 and (rej.sport, rej.dport) == (req.dport, req.sport)
    with pytest.raises(EncodeError):
        reject_segment(req, 99, 600)
    assert c.EMERGENCY_CODES[2] == "escalation"
    assert REC == TCP + 24


def test_r6_12_an_offer_naming_a_transfer_the_receiver_holds_is_rejected(tmp_path):
    from tests.unit.test_card_node import Bench, ipv4

    bench = Bench(tmp_path)
    bench.control("a", "c1", op="transfer", to="b", quantity=300)
    bench.run(until=lambda: "c1" in bench.answers)
    bench.run()
    syn = next(t for who, t in bench.sent if who == "a")
    offer = codec.decode(ipv4("10.1.0.1", "10.1.0.2", syn.dscp, syn.data)).payload
    assert offer.flags == c.ETCP_SYN and transfer_option(offer) is not None
    b = bench.nodes["b"]
    out = b.on_datagram(ipv4("10.1.0.1", "10.1.0.2", syn.dscp, syn.data), bench.now) + b.flush()
    (rst,) = [codec.decode(ipv4("10.1.0.2", "10.1.0.1", t.dscp, t.data)).payload for t in out]
    assert rst.flags & c.ETCP_RST and [o.reason for o in rst.options] == [c.REJECT_MALFORMED]
    assert bench.credited("b") == 300  # the finished transfer stays as it was
    bench.close()
