"""Conformance, section 7: BEE, pool order and pool fill records."""

import pytest

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.describe import bee_attributes
from eip.protocol.model import PoolFill, PoolOrder
from tests.conformance.helpers import REC, bee, data_packet, fix_checksums, wire


def _error(buf) -> DecodeError:
    with pytest.raises(DecodeError) as err:
        codec.decode(bytes(fix_checksums(buf)))
    return err.value


def test_r7_1_record_kind_and_length():
    buf = wire(data_packet())
    assert (buf[REC], int.from_bytes(buf[REC + 2 : REC + 4], "big")) == (1, 48)
    bad = bytearray(buf)
    bad[REC] = 9
    assert _error(bad).offset == REC
    bad = bytearray(buf)
    bad[REC + 2 : REC + 4] = (44).to_bytes(2, "big")
    assert _error(bad).field.endswith("length")


def test_r7_2_bee_type_1_to_6():
    buf = wire(data_packet(bee(bee_type=1)))
    for bad_type in (0, 7):
        bad = bytearray(buf)
        bad[REC + 4] = bad_type
        bad[21] = 0  # energy type none, so only the record is wrong
        err = _error(bad)
        assert err.field == "bee[0].bee_type" and err.offset == REC + 4


def test_r7_3_green_ratio_at_most_10000():
    assert codec.decode(codec.encode(data_packet(bee(green_ratio_bp=10000)))).payload.records[0]
    with pytest.raises(EncodeError, match="green"):
        codec.encode(data_packet(bee(green_ratio_bp=10001)))
    buf = wire(data_packet())
    buf[REC + 6 : REC + 8] = (10001).to_bytes(2, "big")
    assert _error(buf).field == "bee[0].green_ratio_bp"


def test_r7_4_quantity_at_least_one():
    with pytest.raises(EncodeError, match="quantity"):
        codec.encode(data_packet(bee(quantity=0)))
    buf = wire(data_packet())
    buf[REC + 32 : REC + 36] = bytes(4)
    assert _error(buf).field == "bee[0].quantity"
    assert c.BEE_UNITS == {1: "Wh", 2: "Wh", 3: "Wh", 4: "Wh", 5: "g", 6: "W"}


def test_r7_5_tbd_segments_ignored():
    elec = bee(attr1=7, attr5=-1)  # TBD for electricity
    got = codec.decode(codec.encode(data_packet(elec))).payload.records[0]
    assert got == elec  # not rejected
    assert bee_attributes(got) == {}  # and given no meaning
    heat = bee(bee_type=c.BEE_HEAT, attr1=1, attr2=8000, attr3=100, attr4=5)
    assert bee_attributes(heat) == {"media": 1, "temperature": 8000, "mass_flow": 100}
    assert bee_attributes(bee(bee_type=c.BEE_FLEXIBILITY, attr1=20000)) == {"ramp": 20000}


def test_r7_6_bee_time_frame():
    with pytest.raises(EncodeError):
        codec.encode(data_packet(bee(start_s=10, end_s=5)))
    buf = wire(data_packet())
    buf[REC + 40 : REC + 44] = (0xFFFFFFFF).to_bytes(4, "big")
    assert _error(buf).field == "bee[0].end_s"


def test_r7_7_store_flag_and_reserved_flags():
    stored = bee(flags=c.BEE_FLAG_STORE)
    assert codec.decode(codec.encode(data_packet(stored))).payload.records[0].flags == 1
    buf = wire(data_packet(stored))
    buf[REC + 1] |= 0x80
    assert codec.decode(bytes(fix_checksums(buf))).payload.records[0].flags == c.BEE_FLAG_STORE


def test_r7_8_order_and_fill_values():
    order = PoolOrder(0, 17, 2, 1, 1, 800, 450_000, 0, 10, 5000)
    fill = PoolFill(0, 17, "02:00:00:00:01:01", 2, "10.1.0.11", 500, 420_000, 0, 10)
    pkt = data_packet(order, fill)
    assert codec.decode(codec.encode(pkt)) == pkt
    for bad in (
        order._replace(side=3),
        order._replace(action=0),
        order._replace(quantity=0),
        order._replace(min_green_ratio_bp=10001),
    ):
        with pytest.raises(EncodeError):
            codec.encode(data_packet(bad))
    buf = wire(data_packet(order))
    buf[REC + 8] = 3  # side
    assert _error(buf).field.startswith("order[0]")
    buf = wire(data_packet(fill))
    buf[REC + 14] = 9  # status
    assert _error(buf).field.startswith("fill[0]")
