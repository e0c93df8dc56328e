"""Conformance, section 3: carriage in IPv4 protocol 253."""

import pytest

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import segment_dscp, window_update_segment
from eip.protocol.model import PoolFill, PoolOrder
from tests.conformance.helpers import bee, data_packet, fix_checksums, wire
from tests.unit.test_card_dscp import RemarkingBench, transfer


def test_r3_1_ip_protocol_253():
    buf = wire(data_packet())
    assert buf[9] == 253 and buf[0] >> 4 == 4
    buf[9] = 17
    with pytest.raises(DecodeError) as err:
        codec.decode(fix_checksums(buf))
    assert err.value.field == "ipv4.protocol" and err.value.offset == 9


def test_r3_2_addresses_are_energy_ip_addresses():
    pkt = data_packet()
    buf = wire(pkt)
    assert bytes(buf[12:16]) == bytes([10, 1, 0, 11]) and bytes(buf[16:20]) == bytes([10, 2, 0, 21])
    moved = pkt._replace(src="10.3.0.40")  # the card moved: new address, same origin MAC
    got = codec.decode(codec.encode(moved))
    assert got.src == "10.3.0.40" and got.eip.origin_mac == pkt.eip.origin_mac


def test_r3_3_dscp_carries_the_priority_class_and_whether_bee_rides():
    assert c.PRIORITY_CLASSES == {0: 0, 1: 8, 2: 16, 3: 24, 4: 32, 5: 40}
    assert c.BEE_PRIORITY_CLASSES == {0: 2, 1: 10, 2: 18, 3: 26, 4: 34, 5: 42}
    assert (c.DSCP_EMERGENCY, c.DSCP_EMERGENCY_BEE, c.DSCP_ISP_CONTROL) == (46, 44, 48)
    data = data_packet().payload
    control = [
        data._replace(records=()),  # pure ACK
        data._replace(flags=c.ETCP_SYN, records=()),
        data._replace(flags=c.ETCP_FIN | c.ETCP_ACK, records=()),
        data._replace(records=(PoolOrder(quantity=5),)),
        data._replace(records=(PoolFill(quantity=5),)),
        window_update_segment(1000),
    ]
    for k, cls in c.PRIORITY_CLASSES.items():
        assert segment_dscp(data, cls) == c.BEE_PRIORITY_CLASSES[k] == cls + 2
        assert all(segment_dscp(seg, cls) == cls for seg in control)
    assert segment_dscp(data, c.DSCP_EMERGENCY) == 44
    assert segment_dscp(control[1], c.DSCP_EMERGENCY) == 46
    assert segment_dscp(data, c.BEE_PRIORITY_CLASSES[3]) == 26  # marking is idempotent
    assert segment_dscp(control[0], c.BEE_PRIORITY_CLASSES[3]) == 24
    buf = wire(data_packet()._replace(dscp=segment_dscp(data, c.DSCP_EMERGENCY)))
    assert buf[1] == 44 << 2 and buf[1] & 0x03 == 0  # emergency with BEE, ECN zero
    buf[1] = (63 << 2) | 0x03  # any DSCP (and ECN) is accepted by the codec
    assert codec.decode(fix_checksums(buf)).dscp == 63


def test_r3_4_dont_fragment_and_no_fragments():
    buf = wire(data_packet())
    assert int.from_bytes(buf[6:8], "big") == c.IPV4_FLAG_DF
    for frag in (0x2000, 0x0001, 0x4001):  # MF, or a fragment offset
        bad = bytearray(buf)
        bad[6:8] = frag.to_bytes(2, "big")
        with pytest.raises(DecodeError) as err:
            codec.decode(fix_checksums(bad))
        assert err.value.offset == 6
    with pytest.raises(EncodeError, match="total_length"):
        codec.encode(data_packet(*[bee()] * 30))  # 30 BEEs exceed 1500 bytes
    assert len(codec.encode(data_packet(*[bee()] * 29))) <= c.MTU


def test_r3_5_total_length_and_header_checksum():
    pkt = data_packet()
    buf = wire(pkt)
    assert codec.decode(bytes(buf) + b"\0" * 6) == pkt  # Ethernet padding ignored
    with pytest.raises(DecodeError) as err:
        codec.decode(bytes(buf[:-1]))
    assert err.value.field == "ipv4.total_length"
    buf[10] ^= 0xFF
    with pytest.raises(DecodeError) as err:
        codec.decode(bytes(buf))
    assert err.value.field == "ipv4.checksum"


def test_r3_6_bee_is_credited_only_under_a_bee_codepoint(tmp_path):
    for dscp, credited in ((c.PRIORITY_CLASSES[1], 0), (0, 0), (c.BEE_PRIORITY_CLASSES[2], 500)):
        bench = RemarkingBench(tmp_path / str(dscp), "a", lambda _d, _s, dscp=dscp: dscp)
        transfer(bench, 500)
        bench.run()
        assert bench.credited("b") == credited, dscp
        assert ("unmarked_bee" in bench.nodes["b"].stats) == (credited == 0)
        bench.close()
