"""Conformance, section 5: Energy-IP control messages."""

import re

import pytest

from eip.errors import DecodeError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import (
    FeeNotice,
    LimitExceeded,
    PriceNotice,
    StaticLimitNotice,
    Unreachable,
)
from eip.protocol.path import error_for
from eip.sample import sample_exchange
from tests.conformance.helpers import (
    CTRL,
    EIP,
    data_packet,
    fee_packet,
    fix_checksums,
    notice_packet,
    price_packet,
    wire,
)


def _field(buf) -> str:
    with pytest.raises(DecodeError) as err:
        codec.decode(bytes(buf))
    return err.value.field


def test_r5_1_known_types_and_codes_only():
    buf = wire(notice_packet())
    buf[CTRL] = 9
    assert _field(fix_checksums(buf)) == "control.type"
    buf = wire(notice_packet())
    buf[CTRL + 1] = 1  # static-limit has only code 0
    assert _field(fix_checksums(buf)) == "control.code"


def test_r5_2_checksum_covers_header_and_body():
    buf = wire(notice_packet())
    buf[-1] ^= 0x01  # last byte of the body
    assert _field(buf) == "control.checksum"


def test_r5_3_static_limit_notice():
    pkt = notice_packet()
    buf = wire(pkt)
    assert len(buf) == CTRL + 8 + 16
    assert buf[EIP + 2] & c.EIP_FLAG_ISP and buf[EIP + 1] == 0
    assert codec.decode(bytes(buf)).payload == pkt.payload
    short = bytearray(buf[:-4])
    short[2:4] = len(short).to_bytes(2, "big")
    assert _field(fix_checksums(short)) == "control.body"


def test_r5_4_errors_quote_the_offending_headers():
    offending = codec.encode(data_packet())
    err = error_for(
        offending, LimitExceeded(c.EXCEEDED_STATIC, 1200), "10.2.0.254", "02:00:00:00:02:fe"
    )
    assert err.dst == "10.1.0.11" and err.payload.limit == 1200
    assert err.payload.quoted == offending[: 20 + 24 + 8]
    assert codec.decode(codec.encode(err)) == err
    for _s, _d, pkt in sample_exchange():
        if isinstance(pkt.payload, (LimitExceeded, Unreachable)):
            assert len(pkt.payload.quoted) == 20 + 24 + 8


def test_r5_5_no_error_about_an_error():
    control = codec.encode(notice_packet())
    assert (
        error_for(control, Unreachable(c.UNREACH_HOST), "10.2.0.254", "02:00:00:00:02:fe") is None
    )


def test_r5_6_islanded_code():
    assert c.UNREACHABLE_CODES[4] == "islanded"
    offending = codec.encode(data_packet())
    err = error_for(offending, Unreachable(c.UNREACH_ISLANDED), "10.2.0.254", "02:00:00:00:02:fe")
    buf = codec.encode(err)
    assert buf[CTRL] == c.CTRL_UNREACHABLE and buf[CTRL + 1] == 4
    assert codec.decode(buf).payload.code == c.UNREACH_ISLANDED


def body_length_is_exact(buf: bytearray, rule: str) -> None:
    """A 12-byte control body one word shorter, or one byte longer, is refused naming `rule`."""
    for cut in (4, 1):
        other = bytearray(buf[:-cut]) if cut == 4 else bytearray(buf) + b"\0"
        other[2:4] = len(other).to_bytes(2, "big")
        with pytest.raises(DecodeError, match=rf"must be 12 \({re.escape(rule)}\)") as err:
            codec.decode(bytes(fix_checksums(other)))
        assert err.value.field == "control.body"


def test_r5_7_price_notice():
    pkt = price_packet()
    buf = wire(pkt)
    assert len(buf) == CTRL + 8 + c.PRICE_BODY_LEN == CTRL + 20
    assert buf[CTRL : CTRL + 2] == bytes((c.CTRL_PRICE, 0)) and buf[CTRL + 4 : CTRL + 8] == bytes(4)
    assert buf[EIP + 2] & c.EIP_FLAG_ISP and buf[EIP + 1] == 0
    assert codec.decode(bytes(buf)).payload == PriceNotice(5, 556_000, -12_000)
    assert buf[-4:] == (-12_000).to_bytes(4, "big", signed=True)  # i32, network byte order
    low = price_packet(-(2**31), 2**31 - 1)
    assert codec.decode(codec.encode(low)) == low
    body_length_is_exact(buf, "R5.7")
    buf[CTRL + 1] = 1  # price has only code 0
    assert _field(fix_checksums(buf)) == "control.code"
    # The ISP sends each card its prices just before the card's static-limit notice.
    exchange = [pkt for _s, _d, pkt in sample_exchange()]
    for i, pkt in enumerate(exchange):
        if isinstance(pkt.payload, StaticLimitNotice):
            after = exchange[i - 1]
            assert isinstance(after.payload, PriceNotice) and after.dst == pkt.dst
            assert after.payload.period == pkt.payload.period
            assert after.eip.flags & c.EIP_FLAG_ISP and after.eip.energy_type == 0


def test_r5_8_fee_bill():
    pkt = fee_packet()
    buf = wire(pkt)
    assert len(buf) == CTRL + 8 + c.FEE_BODY_LEN == CTRL + 20
    assert buf[CTRL : CTRL + 2] == bytes((c.CTRL_FEE, 0)) and buf[CTRL + 4 : CTRL + 8] == bytes(4)
    assert buf[EIP + 2] & c.EIP_FLAG_ISP and buf[EIP + 1] == 0
    bill = codec.decode(bytes(buf)).payload
    assert bill == FeeNotice(5, 1200, 3800) and bill.fee_micro == 4560  # 1200 BEE x 3800 / 1000
    assert buf[-8:] == (1200).to_bytes(4, "big") + (3800).to_bytes(4, "big")  # u32, network order
    for cut in (4, 1):  # a shorter body, then one byte more than 12
        other = bytearray(buf[:-cut]) if cut == 4 else bytearray(buf) + b"\0"
        other[2:4] = len(other).to_bytes(2, "big")
        with pytest.raises(DecodeError, match=r"must be 12 \(R5\.8\)") as err:
            codec.decode(bytes(fix_checksums(other)))
        assert err.value.field == "control.body"
    buf[CTRL + 1] = 1  # a bill has only code 0
    assert _field(fix_checksums(buf)) == "control.code"
    # In the sample exchange a bill follows the card's static-limit notice of the same period.
    exchange = [pkt for _s, _d, pkt in sample_exchange()]
    bills = [i for i, p in enumerate(exchange) if isinstance(p.payload, FeeNotice)]
    assert bills
    for i in bills:
        before = exchange[i - 1]
        assert isinstance(before.payload, StaticLimitNotice) and before.dst == exchange[i].dst
        assert before.payload.period == exchange[i].payload.period
