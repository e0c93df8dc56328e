"""Conformance, section 3: carriage in IPv4 protocol 253."""

import pytest

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol import constants as c
from tests.conformance.helpers import bee, data_packet, fix_checksums, wire


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


def test_r3_3_dscp_carries_the_priority_class():
    assert c.PRIORITY_CLASSES == {0: 0, 1: 8, 2: 16, 3: 24, 4: 32, 5: 40}
    buf = wire(data_packet()._replace(dscp=c.DSCP_EMERGENCY))
    assert buf[1] == 46 << 2 and buf[1] & 0x03 == 0  # EF, ECN zero
    buf[1] = (63 << 2) | 0x03  # any DSCP (and ECN) is accepted
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
