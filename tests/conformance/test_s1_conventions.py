"""Conformance, section 1: byte order, reserved fields, checksums, time frames."""

import pytest

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol.checksum import internet_checksum
from tests.conformance.helpers import REC, TCP, bee, data_packet, fix_checksums, wire


def test_r1_1_big_endian_and_signed_fields():
    buf = wire(data_packet(bee(quantity=0x01020304, price_micro_per_kbee=-2), seq=0x0A0B0C0D))
    assert buf[TCP + 4 : TCP + 8] == bytes.fromhex("0a0b0c0d")
    assert buf[REC + 32 : REC + 36] == bytes.fromhex("01020304")
    assert buf[REC + 36 : REC + 40] == bytes.fromhex("fffffffe")  # two's complement


def test_r1_2_reserved_fields_sent_as_zero_and_ignored_on_receipt():
    pkt = data_packet()
    buf = wire(pkt)
    assert buf[TCP + 12] & 0x0F == 0 and buf[TCP + 22 : TCP + 24] == b"\0\0"
    assert buf[REC + 5] == 0
    buf[TCP + 12] |= 0x0F  # Energy-TCP reserved nibble
    buf[TCP + 22 : TCP + 24] = b"\xff\xff"  # Energy-TCP reserved word
    buf[REC + 5] = 0xAA  # BEE reserved byte
    assert codec.decode(fix_checksums(buf)) == pkt


def test_r1_3_internet_checksum_rfc1071():
    # RFC 1071 section 3 example: the sum of these words is 0xddf2, the checksum its complement.
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert internet_checksum(bytes.fromhex("0001f203f4f5f6f7220d")) == 0
    assert internet_checksum(b"\x01") == internet_checksum(b"\x01\x00")  # odd byte padded
    buf = wire(data_packet())
    assert internet_checksum(buf[:20]) == 0  # every covered region of a built packet sums to 0
    assert internet_checksum(buf[20:44]) == 0


def test_r1_4_time_frame_end_not_before_start():
    with pytest.raises(EncodeError, match="end_s"):
        codec.encode(data_packet(bee(start_s=100, end_s=99)))
    buf = wire(data_packet(bee(start_s=100, end_s=100)))
    buf[REC + 44 : REC + 48] = (99).to_bytes(4, "big")
    with pytest.raises(DecodeError) as err:
        codec.decode(fix_checksums(buf))
    assert err.value.field.endswith("end_s")
