"""The pieces of `eip conformance --dut-cmd` that need no namespace: the packet mutations its tests
inject, the tester card's send filter, the broken cards' receive filters, the feature file, and the
card's reason-8 answer to a SYN without an option (a defect the DUT suite found in eip's card)."""

import hashlib
import time
from types import SimpleNamespace

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eip.card.actions import Transmit
from eip.card.faults import FAULTS, rx_filter
from eip.conformance import isp_suite
from eip.conformance.device import ALL_TESTS, ROLES, isp_notice_frames, load_features
from eip.conformance.dut import DUT_IP, DUT_MAC, FORGED_IP, TESTER_IP, TESTER_MAC, Mutator
from eip.errors import DecodeError, EipError
from eip.protocol import codec, mutate
from eip.protocol import constants as c
from eip.protocol.messages import (
    offer_segment,
    refused_syn,
    segment_dscp,
    window_update_segment,
)
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    OfferOption,
    Packet,
    RejectOption,
    Signature,
)
from eip.protocol.signing import delivery_message, records_digest
from tests.conformance.helpers import MAC_PV, bee, data_packet
from tests.unit.test_card_node import IPS, MACS, Bench, ipv4

SRC, DST = "10.0.1.1", "10.0.2.1"
# what the tests read from a bench: its addresses
BENCH = SimpleNamespace(tester_ip=TESTER_IP, dut_ip=DUT_IP, tester_mac=TESTER_MAC, dut_mac=DUT_MAC,
                        forged_ip=FORGED_IP)  # fmt: skip
MAC_LOAD = "02:00:00:00:02:01"


def offer_payload(src=IPS["a"], dst=IPS["b"], mac=MACS["a"]) -> tuple[bytes, EnergyTcp]:
    opt = OfferOption(quantity=50, end_s=int(time.time()) + 3600)
    seg = offer_segment(40000, c.PORT_DELIVERY, 1234, 1000, opt)
    pkt = Packet(src, dst, EnergyIp(0, 0, mac), seg, dscp=segment_dscp(seg, c.PRIORITY_CLASSES[1]))
    return codec.encode_transport(pkt), seg


def field_of(datagram: bytes) -> str:
    with pytest.raises(DecodeError) as err:
        codec.decode(datagram)
    return err.value.field


def test_each_mutation_breaks_exactly_the_rule_it_is_named_for():
    payload, _seg = offer_payload(SRC, DST)
    assert codec.decode(ipv4(SRC, DST, 8, payload)).payload.options  # the original decodes
    assert field_of(ipv4(SRC, DST, 8, mutate.bad_tcp_checksum(payload))) == "energy_tcp.checksum"
    assert field_of(ipv4(SRC, DST, 8, mutate.wrong_version(payload, SRC, DST))) == (
        "energy_ip.version"
    )
    assert field_of(ipv4(SRC, DST, 8, mutate.without_options(payload, SRC, DST))) == (
        "energy_tcp.options"
    )
    cut = mutate.truncated(payload)
    assert len(cut) == len(payload) - 9
    assert field_of(ipv4(SRC, DST, 8, cut)).startswith("energy_tcp")


def test_a_forged_data_segment_decodes_but_claims_twice_the_bee_and_its_signature_fails():
    key = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"forger").digest())
    bees = (bee(quantity=40), bee(quantity=60))

    def signed(start, end, b):
        return delivery_message(MAC_PV, MAC_LOAD, 10, 49152, 5000, start, end, records_digest(b))

    sig = Signature(0, 5001, 5101, key.sign(signed(5001, 5101, bees)))
    pkt = data_packet(*bees, sig)
    payload = codec.encode_transport(pkt)
    assert mutate.has_record(payload, c.REC_BEE) and not mutate.has_record(payload, c.REC_RCPT)
    forged = mutate.forged_signature(payload, pkt.src, pkt.dst)
    after = codec.decode(ipv4(pkt.src, pkt.dst, pkt.dscp, forged)).payload  # every checksum valid
    got = tuple(r for r in after.records if isinstance(r, Bee))
    assert [b.quantity for b in got] == [80, 120]
    fsig = after.records[-1]
    assert (fsig.start_seq, fsig.end_seq) == (5001, 5201)  # the range stretched to the claim
    key.public_key().verify(sig.signature, signed(5001, 5101, bees))  # the original verifies
    with pytest.raises(InvalidSignature):
        key.public_key().verify(fsig.signature, signed(5001, 5201, got))


def test_the_card_rejects_a_syn_without_an_option_with_reason_8(tmp_path):
    payload, seg = offer_payload()
    stripped = mutate.without_options(payload, IPS["a"], IPS["b"])
    datagram = ipv4(IPS["a"], IPS["b"], 8, stripped)
    src, dst, header = refused_syn(datagram, "energy_tcp.options")
    assert (src, dst, header.sport, header.seq) == (IPS["a"], IPS["b"], seg.sport, seg.seq)
    assert refused_syn(datagram, "energy_tcp.checksum") is None  # only an option refusal
    bench = Bench(tmp_path)
    node = bench.nodes["b"]
    out = [a for a in node.on_datagram(datagram, bench.now) + node.flush() if type(a) is Transmit]
    assert [a.dst_ip for a in out] == [IPS["a"]]
    reply = codec.decode(ipv4(IPS["b"], IPS["a"], out[0].dscp, out[0].data)).payload
    assert reply.flags & c.ETCP_RST and reply.ack == (seg.seq + 1) & 0xFFFFFFFF
    assert [o.reason for o in reply.options if isinstance(o, RejectOption)] == [c.REJECT_MALFORMED]
    assert node.stats["malformed"] == 1 and node.stats["rejected_in"] == 1
    bench.close()


def test_the_tester_card_filter_injects_one_fault_at_a_time():
    pkt = data_packet(bee(quantity=10))
    data = Transmit(pkt.dst, codec.encode_transport(pkt), pkt.dscp)
    control = Transmit(DST, offer_payload(SRC, DST)[0], 8)
    m = Mutator()
    assert m(data) == [data] and m(control) == [control]
    m.set("duplicate")
    assert m(data) == [data, data] and m(control) == [control] and m.injected == 1
    m.set("unmark")
    (unmarked,) = m(data)
    assert unmarked.dscp not in c.DSCP_BEE and unmarked.data == data.data
    m.set("forge-once")
    (forged,) = m(data)
    assert forged.data != data.data and m(data) == [data]  # once, then the real segment
    assert m.mode is None


def test_a_broken_card_filter_undoes_exactly_its_check():
    payload, _seg = offer_payload(SRC, DST)
    bad = ipv4(SRC, DST, 8, mutate.bad_tcp_checksum(payload))
    assert codec.decode(rx_filter("accept-bad-checksum")(bad)).payload.options
    v2 = ipv4(SRC, DST, 8, mutate.wrong_version(payload, SRC, DST))
    assert codec.decode(rx_filter("accept-any-version")(v2)).payload.options
    unmarked = ipv4(SRC, DST, 0, payload)
    assert codec.decode(rx_filter("credit-unmarked")(unmarked)).dscp in c.DSCP_BEE
    unflagged = codec.encode(isp_suite.isp_packet(BENCH, isp_suite.notice(7), flags=0))
    assert codec.decode(rx_filter("isp-flag-ignored")(unflagged)).eip.flags & c.EIP_FLAG_ISP
    flagged = codec.encode(isp_suite.isp_packet(BENCH, isp_suite.notice(7)))
    assert rx_filter("isp-flag-ignored")(flagged) == flagged
    wup = codec.encode(isp_suite.isp_packet(BENCH, window_update_segment(50), flags=0))
    assert rx_filter("isp-flag-ignored")(wup) == wup  # window updates are left alone
    assert rx_filter("window-update-ignored")(wup) is None
    assert rx_filter("window-update-ignored")(bad) == bad and rx_filter("window-update-ignored")(
        unflagged) == unflagged  # fmt: skip
    assert {rule for rule, _f in FAULTS.values()} <= {
        t.rule for t in ALL_TESTS
    }  # each one is tested
    with pytest.raises(EipError, match=r"unknown fault 'nope'.*accept-any-version"):
        rx_filter("nope")


def test_the_feature_file_declares_roles_and_names_what_is_wrong(tmp_path):
    assert load_features(None) == set(ROLES) == {"receiver", "sender", "isp-client"}
    f = tmp_path / "features.yaml"
    f.write_text("roles: [receiver]\n")
    assert load_features(f) == {"receiver"}
    f.write_text("roles: [receiver, pool]\n")
    with pytest.raises(EipError, match="unknown role 'pool'"):
        load_features(f)
    f.write_text("roles: [receiver]\noptions: [x]\n")
    with pytest.raises(EipError, match="options"):
        load_features(f)
    with pytest.raises(EipError):
        load_features(tmp_path / "missing.yaml")


def test_every_device_test_names_a_rule_of_the_spec_and_negatives_outnumber_positives():
    from eip.conformance.rules import SPEC, load_rules

    rules = load_rules(SPEC)
    tests = ALL_TESTS
    assert len({t.test_id for t in tests}) == len(tests)
    assert all(t.rule in rules for t in tests), [t.rule for t in tests if t.rule not in rules]
    for role in ROLES:
        mine = [t for t in tests if t.role == role]
        negative = sum(t.negative for t in mine)
        assert negative >= len(mine) - negative, role


def _data(t: float, seq: int, quantity: int = 10) -> tuple[float, Packet]:
    seg = EnergyTcp(
        40000, c.PORT_DELIVERY, seq, 1, c.ETCP_ACK, 0, records=(Bee(quantity=quantity),)
    )
    return t, Packet(DUT_IP, TESTER_IP, EnergyIp(c.BEE_ELECTRICITY, 0, MAC_PV), seg)


def test_the_window_update_check_allows_the_rate_and_its_burst_and_nothing_more():
    # 200 BEE/s in 10-BEE records: one every 0.05 s is the rate exactly
    paced = [_data(i * 0.05, 1 + 10 * i) for i in range(40)]
    assert isp_suite.pace_problem(paced, 200) is None
    assert isp_suite.data_bee(paced) == 400
    # retransmissions are not new BEE: the same 40 segments again, right after, are still paced
    assert isp_suite.data_bee(paced + [_data(2.0, 1 + 10 * i) for i in range(40)]) == 400
    assert isp_suite.pace_problem(paced + [_data(2.0, 1 + 10 * i) for i in range(40)], 200) is None
    # twice the rate breaks it past the burst (one record or 0.05 s, plus 0.1 s of timestamps)
    fast = [_data(i * 0.025, 1 + 10 * i) for i in range(40)]
    problem = isp_suite.pace_problem(fast, 200)
    assert problem and "200 BEE/s allows" in problem
    assert isp_suite.pace_problem([], 200) == "the DUT sent no data"


def test_the_isp_tests_send_what_they_say(tmp_path):
    from eip.pcap import write_pcap

    good = isp_suite.isp_packet(BENCH, isp_suite.notice(4242, export_bee=3333))
    back = codec.decode(codec.encode(good))
    assert back.eip.flags & c.EIP_FLAG_ISP and back.eip.node_id == isp_suite.ISP_NODE
    assert back.payload.export_limit == 3333 and back.dscp == c.DSCP_ISP_CONTROL
    unflagged = isp_suite.isp_packet(BENCH, isp_suite.notice(1), flags=0)
    forged = isp_suite.isp_packet(BENCH, isp_suite.notice(2), src=BENCH.forged_ip)
    from_dut = good._replace(src=DUT_IP, dst=TESTER_IP)
    frames = [codec.encode_frame(p, "02:00:00:00:77:01", "02:00:00:00:77:02")
              for p in (good, unflagged, forged, from_dut, good)]  # fmt: skip
    write_pcap(tmp_path / "s.pcap", frames)
    assert isp_notice_frames(tmp_path / "s.pcap", TESTER_IP) == [
        1,
        5,
    ]  # the ISP's flagged notices only
    # the bad-length notice: 20 bytes of body, checksums valid, refused by a conforming decoder
    payload = bytearray(codec.encode_transport(good)) + bytes(4)
    bad = ipv4(
        TESTER_IP,
        DUT_IP,
        c.DSCP_ISP_CONTROL,
        bytes(mutate.fix_transport(payload, TESTER_IP, DUT_IP)),
    )
    with pytest.raises(DecodeError, match=r"R5\.3|16"):
        codec.decode(bad)


def test_a_broken_card_keeps_every_check_but_the_one_it_breaks():
    payload, _seg = offer_payload(SRC, DST)
    v2_bad_sum = ipv4(SRC, DST, 8, mutate.bad_tcp_checksum(mutate.wrong_version(payload, SRC, DST)))
    assert field_of(rx_filter("accept-any-version")(v2_bad_sum)) == "energy_tcp.checksum"
    bad = ipv4(SRC, DST, 0, mutate.bad_tcp_checksum(payload))
    assert field_of(rx_filter("credit-unmarked")(bad)) == "energy_tcp.checksum"
    assert field_of(rx_filter("accept-bad-checksum")(ipv4(SRC, DST, 8, mutate.wrong_version(
        payload, SRC, DST)))) == "energy_ip.version"  # fmt: skip
