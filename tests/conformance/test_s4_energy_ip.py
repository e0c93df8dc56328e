"""Conformance, section 4: the Energy-IP header."""

import pytest

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum
from eip.protocol.model import Receipt, Signature, StaticLimitNotice
from eip.protocol.path import lower_static_limit, static_limit_of
from eip.sample import sample_exchange
from tests.conformance.helpers import EIP, bee, data_packet, fix_checksums, wire


def _decode_error(buf) -> DecodeError:
    with pytest.raises(DecodeError) as err:
        codec.decode(bytes(buf))
    return err.value


def test_r4_1_version_is_1():
    buf = wire(data_packet())
    assert buf[EIP] >> 4 == 1
    buf[EIP] = (2 << 4) | 6
    err = _decode_error(fix_checksums(buf))
    assert err.field == "energy_ip.version" and err.offset == EIP


def test_r4_2_header_length_and_future_options():
    pkt = data_packet()
    assert wire(pkt)[EIP] & 0x0F == 6
    with_opts = pkt._replace(eip=pkt.eip._replace(options=bytes(range(8))))
    buf = wire(with_opts)
    assert buf[EIP] & 0x0F == 8
    assert internet_checksum(buf[EIP : EIP + 32]) == 0  # options are covered by the checksum
    assert codec.decode(bytes(buf)) == with_opts  # and skipped to find Energy-TCP
    buf = wire(pkt)
    buf[EIP] = (1 << 4) | 5
    assert _decode_error(fix_checksums(buf)).field == "energy_ip.hlen"


def test_r4_3_energy_type_matches_the_bees():
    assert wire(data_packet(bee(bee_type=2)))[EIP + 1] == 2
    assert wire(data_packet(bee(bee_type=2), bee(bee_type=3)))[EIP + 1] == 0
    signed = data_packet(bee(bee_type=2), Signature(0, 5001, 5501, bytes(64)))
    assert wire(signed)[EIP + 1] == 2  # a SIG does not count, nor does a RCPT
    assert wire(data_packet(Receipt(0, 1, 1001, bytes(64)), energy_type=0))[EIP + 1] == 0
    with pytest.raises(EncodeError, match="energy_type"):
        codec.encode(data_packet(bee(bee_type=2), bee(bee_type=3), energy_type=2))
    buf = wire(data_packet(bee(bee_type=2)))
    buf[EIP + 1] = 1
    assert _decode_error(fix_checksums(buf)).field == "energy_ip.energy_type"
    buf[EIP + 1] = 7
    assert _decode_error(fix_checksums(buf)).field == "energy_ip.energy_type"


def test_r4_4_flags_isp_only_on_isp_packets_and_reserved_bits_ignored(tmp_path):
    for src, _dst, pkt in sample_exchange():
        assert bool(pkt.eip.flags & c.EIP_FLAG_ISP) == (src == "02:00:00:00:00:fe")
    pkt = data_packet()
    buf = wire(pkt)
    buf[EIP + 2] |= 0xF0
    assert codec.decode(fix_checksums(buf)).eip.flags == pkt.eip.flags
    # a card takes an ISP message only from its ISP's address, whatever its flag says
    from tests.unit.test_card_agent import IPS, LanBench

    bench = LanBench(tmp_path)
    bench.price("pv", 3, 500_000, 400_000, src=IPS["load"])  # ISP flag set, a card's address
    node = bench.nodes["pv"]
    assert node.price is None and node.stats["ignored"] == 1
    bench.price("pv", 3, 500_000, 400_000)
    assert node.price is not None


def test_r4_5_next_header_is_1_or_6():
    buf = wire(data_packet())
    assert buf[EIP + 3] == c.NH_ENERGY_TCP
    assert codec.encode(sample_exchange()[0][2])[EIP + 3] == c.NH_CONTROL
    buf[EIP + 3] = 17
    err = _decode_error(fix_checksums(buf))
    assert err.field == "energy_ip.next_header" and err.offset == EIP + 3


def test_r4_6_origin_mac_survives_hops():
    pkt = data_packet()
    buf = wire(pkt)
    lower_static_limit(buf, 100)
    assert codec.decode(bytes(buf)).eip.origin_mac == pkt.eip.origin_mac
    assert bytes(buf[EIP + 4 : EIP + 10]) == bytes.fromhex("020000000101")


def test_r4_7_node_and_period_follow_the_latest_notice():
    notices = {}
    checked = 0
    for _src, _dst, pkt in sample_exchange():
        if isinstance(pkt.payload, StaticLimitNotice):
            notices[pkt.dst] = pkt.payload
        elif pkt.src in notices:
            assert pkt.eip.period == notices[pkt.src].period
            assert pkt.eip.node_id != 0
            checked += 1
    assert checked >= 5


def test_r4_8_static_limit_is_only_lowered_by_hops():
    assert (
        wire(data_packet()._replace(eip=data_packet().eip._replace(static_limit=c.NO_LIMIT)))[
            EIP + 20 : EIP + 24
        ]
        == b"\xff\xff\xff\xff"
    )
    buf = wire(data_packet())
    assert static_limit_of(buf) == 5000
    assert not lower_static_limit(buf, 6000)  # never raised
    assert static_limit_of(buf) == 5000 and not buf[EIP + 2] & c.EIP_FLAG_LIM
    assert lower_static_limit(buf, 1200)
    got = codec.decode(bytes(buf))  # checksum recomputed, so it still decodes
    assert got.eip.static_limit == 1200 and got.eip.flags & c.EIP_FLAG_LIM


def test_r4_9_header_checksum_verified():
    buf = wire(data_packet())
    buf[EIP + 16] ^= 0x01  # period changed in flight, checksum not updated
    err = _decode_error(buf)
    assert err.field == "energy_ip.checksum" and err.offset == EIP + 10
