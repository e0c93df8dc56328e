"""Unit tests of the fast codec: golden bytes from the spec tables, round trips, malformed input, errors."""

import socket
import struct

import pytest

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    FeeNotice,
    LimitExceeded,
    OfferOption,
    Packet,
    PoolFill,
    PoolOrder,
    PriceNotice,
    Receipt,
    RejectOption,
    RequestOption,
    ScheduleOption,
    Signature,
    StaticLimitNotice,
    UnknownOption,
    Unreachable,
)
from tests.strategies import fix_checksums

T = 1_780_308_000
MAC_A = "02:00:00:00:01:01"
MAC_B = "02:00:00:00:02:01"
EIP, TCP = 20, 44  # offsets of Energy-IP and of the transport from the IPv4 header
REC = TCP + 24  # first record when there are no options


def _csum(data: bytes) -> int:
    """RFC 1071 written out independently of eip.protocol.checksum."""
    if len(data) % 2:
        data += b"\0"
    total = 0
    for k in range(0, len(data), 2):
        total += (data[k] << 8) | data[k + 1]
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _with_csum(header: bytes, at: int, csum: int) -> bytes:
    return header[:at] + struct.pack("!H", csum) + header[at + 2 :]


def _datagram(src, dst, dscp, ident, ttl, eip_fields, nh, transport, tcp_csum_at=None):
    """IPv4 (section 3) + Energy-IP (table of section 4) + transport with its checksum filled in."""
    s4, d4 = socket.inet_aton(src), socket.inet_aton(dst)
    if tcp_csum_at is not None:  # Energy-TCP: pseudo-header of R6.3
        pseudo = s4 + d4 + struct.pack("!BBH", 0, 253, len(transport))
        transport = _with_csum(transport, tcp_csum_at, _csum(pseudo + transport))
    else:  # control message: R5.2
        transport = _with_csum(transport, 2, _csum(transport))
    etype, eflags, mac, node, period, limit = eip_fields
    eip = struct.pack(
        "!BBBB6sHIII", 0x16, etype, eflags, nh, bytes.fromhex(mac.replace(":", "")), 0,
        node, period, limit,
    )  # fmt: skip
    eip = _with_csum(eip, 10, _csum(eip))
    total = 20 + len(eip) + len(transport)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, dscp << 2, total, ident, 0x4000, ttl, 253, 0, s4, d4)
    ip = _with_csum(ip, 10, _csum(ip))
    return ip + eip + transport


# ------------------------------------------------------------------------------- golden packets

REQUEST = Packet(
    "10.2.0.21",
    "10.1.0.11",
    EnergyIp(0, 0, MAC_B, 2, 5, 2000),
    EnergyTcp(
        49152, 10, 1000, 0, c.ETCP_SYN | c.ETCP_URG, 2000, 1,
        (RequestOption(1500, T, T + 7200, T + 9000, c.BEE_HEAT, 1),),
    ),
    dscp=c.DSCP_EMERGENCY,
    ident=7,
)  # fmt: skip


def _request_golden() -> bytes:
    opt = struct.pack("!BBIIIIBB", 2, 20, 1500, T, T + 7200, T + 9000, 2, 1)
    tcp = struct.pack("!HHIIBBHIHH", 49152, 10, 1000, 0, 11 << 4, 0x22, 0, 2000, 1, 0) + opt
    return _datagram(
        "10.2.0.21", "10.1.0.11", 46, 7, 64, (0, 0, MAC_B, 2, 5, 2000), 6, tcp, tcp_csum_at=14
    )


HEAT = Bee(1, c.BEE_HEAT, 6000, 210, 1, 8000, 100, 0, 0, 1000, 550_000, T, T + 600)
HEAT2 = Bee(0, c.BEE_HEAT, 0, 250, 2, 12000, 50, 0, 0, 250, -10, T + 600, T + 1200)
DATA = Packet(
    "10.1.0.11",
    "10.2.0.21",
    EnergyIp(c.BEE_HEAT, c.EIP_FLAG_MOV, MAC_A, 3, 5, 5000),
    EnergyTcp(10, 49152, 5001, 1001, c.ETCP_ACK | c.ETCP_PSH, 4000, 0,
              (ScheduleOption(1, T, 600, 2, 1250),), (HEAT, HEAT2)),
    dscp=8,
    ttl=63,
    ident=0x1234,
)  # fmt: skip


def _bee_bytes(b: Bee) -> bytes:
    """A BEE record per the diagram of section 7.1."""
    return struct.pack(
        "!BBHBBHIiiiiiIiII", 1, b.flags, 48, b.bee_type, 0, b.green_ratio_bp, b.carbon_mg_per_unit,
        b.attr1, b.attr2, b.attr3, b.attr4, b.attr5, b.quantity, b.price_micro_per_kbee,
        b.start_s, b.end_s,
    )  # fmt: skip


def _data_golden() -> bytes:
    opt = struct.pack("!BBBBIHHI", 4, 16, 1, 0, T, 600, 2, 1250)
    recs = _bee_bytes(HEAT) + _bee_bytes(HEAT2)
    tcp = struct.pack("!HHIIBBHIHH", 10, 49152, 5001, 1001, 10 << 4, 0x18, 0, 4000, 0, 0)
    return _datagram(
        "10.1.0.11", "10.2.0.21", 8, 0x1234, 63, (2, 4, MAC_A, 3, 5, 5000), 6, tcp + opt + recs, 14
    )


SIG_BYTES = bytes(range(100, 164))
RCPT_BYTES = bytes(range(164, 228))
SIGNED = Packet(
    "10.1.0.11",
    "10.2.0.21",
    EnergyIp(c.BEE_HEAT, 0, MAC_A, 3, 5, 5000),
    EnergyTcp(10, 49152, 5001, 1001, c.ETCP_ACK | c.ETCP_PSH, 4000, 0, (),
              (HEAT, HEAT2, Signature(0, 4001, 6251, SIG_BYTES))),
    dscp=8,
    ident=9,
)  # fmt: skip
RECEIPT = Packet(
    "10.2.0.21",
    "10.1.0.11",
    EnergyIp(0, 0, MAC_B, 2, 5, 2000),
    EnergyTcp(49152, 10, 1001, 6251, c.ETCP_ACK, 2000, 0, (),
              (Receipt(0, 4001, 5001, SIG_BYTES[::-1]), Receipt(0, 5001, 6251, RCPT_BYTES))),
    dscp=8,
    ident=10,
)  # fmt: skip


def _sig_bytes(kind: int, start: int, end: int, signature: bytes) -> bytes:
    """A SIG (kind 4) or RCPT (kind 5) record per the diagram of section 7.4."""
    return struct.pack("!BBHII", kind, 0, 76, start, end) + signature


def _signed_golden() -> bytes:
    recs = _bee_bytes(HEAT) + _bee_bytes(HEAT2) + _sig_bytes(4, 4001, 6251, SIG_BYTES)
    tcp = struct.pack("!HHIIBBHIHH", 10, 49152, 5001, 1001, 6 << 4, 0x18, 0, 4000, 0, 0)
    return _datagram(
        "10.1.0.11", "10.2.0.21", 8, 9, 64, (2, 0, MAC_A, 3, 5, 5000), 6, tcp + recs, 14
    )


def _receipt_golden() -> bytes:
    recs = _sig_bytes(5, 4001, 5001, SIG_BYTES[::-1]) + _sig_bytes(5, 5001, 6251, RCPT_BYTES)
    tcp = struct.pack("!HHIIBBHIHH", 49152, 10, 1001, 6251, 6 << 4, 0x10, 0, 2000, 0, 0)
    return _datagram(
        "10.2.0.21", "10.1.0.11", 8, 10, 64, (0, 0, MAC_B, 2, 5, 2000), 6, tcp + recs, 14
    )


NOTICE = Packet(
    "10.0.0.1",
    "10.1.0.11",
    EnergyIp(0, c.EIP_FLAG_ISP, "02:00:00:00:00:01", 3, 5, c.NO_LIMIT),
    StaticLimitNotice(5, 7200, 5000, 3000),
    dscp=c.DSCP_ISP_CONTROL,
)
NOTICE_HEX = (
    "45c0 0044 0000 4000 40fd 24f1 0a00 0001 0a01 000b"  # IPv4, DSCP 48, DF, proto 253
    "1600 0101 0200 0000 0001 e6f5 0000 0003 0000 0005 ffff ffff"  # Energy-IP, ISP flag, nh 1
    "0100 c39a 0000 0000 0000 0005 0000 1c20 0000 1388 0000 0bb8"  # control type 1 + body
)
PRICE = NOTICE._replace(payload=PriceNotice(5, 556_000, 540_000))


def test_golden_request():
    assert codec.encode(REQUEST) == _request_golden()
    assert codec.decode(_request_golden()) == REQUEST


def test_golden_data_segment_with_bees():
    golden = _data_golden()
    assert len(golden) == 20 + 24 + 24 + 16 + 2 * 48
    assert codec.encode(DATA) == golden
    assert codec.decode(golden) == DATA


def test_golden_data_segment_with_sig():
    golden = _signed_golden()
    assert len(golden) == 20 + 24 + 24 + 2 * 48 + 76
    assert codec.encode(SIGNED) == golden
    assert codec.decode(golden) == SIGNED


def test_golden_ack_with_receipts():
    golden = _receipt_golden()
    assert len(golden) == 20 + 24 + 24 + 2 * 76
    assert codec.encode(RECEIPT) == golden
    assert codec.decode(golden) == RECEIPT


def test_offer_option_bytes():
    offer = OfferOption(500, T, T + 7200, T + 1800, c.BEE_FLEXIBILITY, 1)
    pkt = REQUEST._replace(payload=REQUEST.payload._replace(options=(offer,)))
    wire = codec.encode(pkt)
    assert wire[TCP + 24 : TCP + 44] == struct.pack("!BBIIIIBB", 5, 20, 500, T, T + 7200,
                                                    T + 1800, 6, 1)  # fmt: skip
    assert codec.decode(wire) == pkt


SIG_AT = REC + 96  # the SIG of SIGNED
RCPT_AT = REC  # the first RCPT of RECEIPT


@pytest.mark.parametrize(
    ("pkt", "at", "value", "field", "offset"),
    [
        (SIGNED, SIG_AT + 2, b"\x00\x48", "sig[2].length", SIG_AT + 2),
        (SIGNED, SIG_AT + 8, struct.pack("!I", 6250), "sig[2].end_seq", SIG_AT + 8),
        (SIGNED, SIG_AT + 4, struct.pack("!I", 5002), "sig[2].start_seq", SIG_AT + 4),
        (SIGNED, SIG_AT + 4, struct.pack("!I", 6251 + 2**31), "sig[2].start_seq", SIG_AT + 4),
        (SIGNED, REC + 48, b"\x04\x00\x00\x4c", "record[2].kind", REC + 124),  # misaligned
        (SIGNED, REC + 32, struct.pack("!I", 999), "sig[2].end_seq", SIG_AT + 8),
        (SIGNED, SIG_AT, b"\x05", "rcpt[2]", SIG_AT),
        (RECEIPT, TCP + 8, struct.pack("!I", 6250), "rcpt[1].end_seq", RCPT_AT + 76 + 8),
        (RECEIPT, TCP + 13, b"\x08", "rcpt[0]", RCPT_AT),
        (RECEIPT, RCPT_AT + 4, struct.pack("!I", 5002), "rcpt[0].start_seq", RCPT_AT + 4),
        (RECEIPT, RCPT_AT + 76, b"\x04", "rcpt[0]", RCPT_AT),  # RCPT next to a SIG
        (RECEIPT, RCPT_AT, b"\x04", "rcpt[1]", RCPT_AT + 76),
    ],
)
def test_sig_and_rcpt_rules_named_with_offset(pkt, at, value, field, offset):
    err = _edit(pkt, at, value)
    assert (err.field, err.offset) == (field, offset)


def test_golden_static_limit_notice():
    body = struct.pack("!BBHIIIII", 1, 0, 0, 0, 5, 7200, 5000, 3000)
    golden = _datagram("10.0.0.1", "10.1.0.11", 48, 0, 64, (0, 1, NOTICE.eip.origin_mac, 3, 5,
                                                             c.NO_LIMIT), 1, body)  # fmt: skip
    assert golden == bytes.fromhex(NOTICE_HEX)
    assert codec.encode(NOTICE) == golden
    assert codec.decode(golden) == NOTICE


def test_golden_price_notice():
    body = struct.pack("!BBHIIii", 4, 0, 0, 0, 5, 556_000, 540_000)
    golden = _datagram("10.0.0.1", "10.1.0.11", 48, 0, 64, (0, 1, NOTICE.eip.origin_mac, 3, 5,
                                                             c.NO_LIMIT), 1, body)  # fmt: skip
    assert len(golden) == 20 + 24 + 8 + c.PRICE_BODY_LEN
    assert codec.encode(PRICE) == golden
    assert codec.decode(golden) == PRICE


def test_encode_transport_and_frame():
    wire = codec.encode(DATA)
    assert codec.encode_transport(DATA) == wire[20:]
    frame = codec.encode_frame(DATA, MAC_A, "02:00:00:00:ff:01")
    assert frame == bytes.fromhex("02000000ff010200000001010800") + wire
    assert codec.decode_frame(frame) == ("02:00:00:00:ff:01", MAC_A, DATA)
    tagged = frame[:12] + b"\x81\x00\x00\x05" + frame[12:]
    assert codec.decode_frame(tagged) == ("02:00:00:00:ff:01", MAC_A, DATA)


# ---------------------------------------------------------------------------------- round trips

ORDER = PoolOrder(0, 77, 2, c.BEE_GAS, 1, 300, 480_000, T, T + 3600, 2500)
FILL = PoolFill(0, 77, "02:00:00:00:03:01", 2, "10.3.0.31", 300, 480_000, T, T + 3600)
MIXED = Bee(0, c.BEE_FLEXIBILITY, 0, 0, 20000, 0, 0, 0, 0, 5000, 100, T, T + 900)


@pytest.mark.parametrize(
    "pkt",
    [
        REQUEST,
        DATA,
        NOTICE,
        PRICE,
        NOTICE._replace(payload=PriceNotice(2**32 - 1, -(2**31), -1)),
        NOTICE._replace(payload=FeeNotice(2**32 - 1, 2**32 - 1, 0)),
        DATA._replace(eip=DATA.eip._replace(energy_type=0), payload=DATA.payload._replace(
            records=(HEAT, ORDER, FILL, MIXED), options=())),
        DATA._replace(eip=DATA.eip._replace(energy_type=0, options=b"\x01\x02\x03\x04" * 2),
                      payload=DATA.payload._replace(records=(ORDER, FILL))),
        DATA._replace(eip=DATA.eip._replace(energy_type=0), payload=EnergyTcp(
            1, 2, 3, 4, c.ETCP_RST | c.ETCP_ACK, 0, 0,
                                        (RejectOption(2, 600), UnknownOption(200, b"xyz")))),
        DATA._replace(eip=DATA.eip._replace(energy_type=0), payload=EnergyTcp(
            0, 0, 0, 0, c.ETCP_WUP, 9000)),
        NOTICE._replace(payload=LimitExceeded(1, 4000, codec.encode(DATA)[:76])),
        NOTICE._replace(payload=Unreachable(4, b"\x45odd")),
    ],
    ids=["request", "data", "notice", "price", "price-negative", "fee", "mixed", "eip-options", "reject",
         "wup", "exceeded", "unr"],
)  # fmt: skip
def test_round_trip(pkt):
    wire = codec.encode(pkt)
    assert codec.decode(wire) == pkt
    assert codec.decode(bytearray(wire) + b"\0" * 10) == pkt  # Ethernet padding ignored (R3.5)


# ------------------------------------------------------------------------------ malformed input


def _err(data) -> DecodeError:
    with pytest.raises(DecodeError) as info:
        codec.decode(bytes(data))
    return info.value


def _edit(pkt: Packet, at: int, value: bytes, fix: bool = True) -> DecodeError:
    buf = bytearray(codec.encode(pkt))
    buf[at : at + len(value)] = value
    return _err(fix_checksums(buf) if fix else buf)


@pytest.mark.parametrize(
    "pkt",
    [REQUEST, DATA, NOTICE, PRICE, SIGNED, RECEIPT],
    ids=["request", "data", "notice", "price", "sig", "rcpt"],
)
def test_truncation_at_every_length(pkt):
    wire = codec.encode(pkt)
    for n in range(len(wire)):
        err = _err(wire[:n])
        assert (err.field, err.offset) == (("ipv4", 0) if n < 20 else ("ipv4.total_length", 2))


@pytest.mark.parametrize(
    ("at", "field", "offset"),
    [(10, "ipv4.checksum", 10), (EIP + 10, "energy_ip.checksum", EIP + 10),
     (TCP + 14, "energy_tcp.checksum", TCP + 14), (REC + 32, "energy_tcp.checksum", TCP + 14)],
)  # fmt: skip
def test_bad_checksums(at, field, offset):
    buf = bytearray(codec.encode(DATA))
    buf[at] ^= 0x40
    err = _err(buf)
    assert (err.field, err.offset) == (field, offset)


def test_bad_control_checksum():
    err = _edit(NOTICE, TCP + 3, b"\x00", fix=False)
    assert (err.field, err.offset) == ("control.checksum", TCP + 2)


@pytest.mark.parametrize(
    ("at", "value", "field", "offset"),
    [
        (0, b"\x65", "ipv4.version", 0),
        (0, b"\x44", "ipv4.ihl", 0),
        (2, b"\x05\xe0", "ipv4.total_length", 2),
        (6, b"\x60\x00", "ipv4.flags", 6),
        (6, b"\x40\x10", "ipv4.fragment_offset", 6),
        (9, b"\x06", "ipv4.protocol", 9),
        (EIP, b"\x26", "energy_ip.version", EIP),
        (EIP, b"\x15", "energy_ip.hlen", EIP),
        (EIP + 1, b"\x07", "energy_ip.energy_type", EIP + 1),
        (EIP + 1, b"\x01", "energy_ip.energy_type", EIP + 1),
        (EIP + 3, b"\x07", "energy_ip.next_header", EIP + 3),
        (TCP + 12, b"\x50", "energy_tcp.dataofs", TCP + 12),
        (TCP + 13, b"\x14", "energy_tcp.records", TCP + 40),
        (TCP + 20, b"\x00\x01", "energy_tcp.urgent", TCP + 20),
        (TCP + 24, b"\x04\x28", "energy_tcp.options[0].length", TCP + 25),
        (TCP + 24, b"\x04\x01", "energy_tcp.options[0].length", TCP + 25),
        (TCP + 24, b"\x04\x0c", "energy_tcp.options[0].length", TCP + 25),
        (TCP + 40, b"\x09", "record[0].kind", TCP + 40),
        (TCP + 42, b"\x00\x2c", "bee[0].length", TCP + 42),
        (TCP + 40 + 4, b"\x00", "bee[0].bee_type", TCP + 44),
        (TCP + 40 + 4, b"\x07", "bee[0].bee_type", TCP + 44),
        (TCP + 40 + 6, b"\x27\x11", "bee[0].green_ratio_bp", TCP + 46),
        (TCP + 88 + 32, b"\x00\x00\x00\x00", "bee[1].quantity", TCP + 120),
        (TCP + 40 + 40, b"\xff\xff\xff\xff", "bee[0].end_s", TCP + 84),
    ],
)
def test_malformed_fields_named_with_offset(at, value, field, offset):
    err = _edit(DATA, at, value)
    assert (err.field, err.offset) == (field, offset)


def test_partial_record_and_odd_record_bytes():
    buf = bytearray(codec.encode(DATA))
    buf[2:4] = struct.pack("!H", len(buf) - 6)  # cut the last BEE short
    err = _err(fix_checksums(buf[:-6]))
    assert (err.field, err.offset) == ("bee[1].length", TCP + 90)
    buf = bytearray(codec.encode(DATA)) + b"\x01\x00"  # 2 stray bytes after the records
    buf[2:4] = struct.pack("!H", len(buf))
    err = _err(fix_checksums(buf))
    assert (err.field, err.offset) == ("record[2]", TCP + 136)


def test_control_errors():
    assert _edit(NOTICE, TCP, b"\x09").field == "control.type"
    err = _edit(NOTICE, TCP + 1, b"\x01")
    assert (err.field, err.offset) == ("control.code", TCP + 1)
    buf = bytearray(codec.encode(NOTICE))[:-4]
    buf[2:4] = struct.pack("!H", len(buf))
    err = _err(fix_checksums(buf))
    assert (err.field, err.offset) == ("control.body", TCP + 8)
    assert _edit(NOTICE, EIP + 1, b"\x01").field == "energy_ip.energy_type"


@pytest.mark.parametrize("extra", [-4, -1, 1, 4])
def test_price_notice_body_must_be_12_bytes(extra):
    buf = bytearray(codec.encode(PRICE))
    buf = buf[:extra] if extra < 0 else buf + bytes(extra)
    buf[2:4] = struct.pack("!H", len(buf))
    err = _err(fix_checksums(buf))
    assert (err.field, err.offset) == ("control.body", TCP + 8)
    assert "must be 12 (R5.7)" in err.reason
    assert _edit(PRICE, TCP + 1, b"\x01").field == "control.code"


def test_syn_rules():
    err = _edit(REQUEST, TCP + 24, b"\x00")  # request option turned into end of list
    assert (err.field, err.offset) == ("energy_tcp.options", TCP + 24)
    err = _edit(REQUEST, TCP + 24 + 10, b"\x00\x00\x00\x00")  # end_s of the request option
    assert (err.field, err.offset) == ("energy_tcp.options[0].end_s", TCP + 34)


def test_headers_running_past_the_datagram():
    assert _edit(NOTICE, EIP, b"\x1f").field == "energy_ip.hlen"  # 60 bytes > 48 left
    err = _edit(REQUEST, TCP + 12, b"\xf0")  # 60 bytes > 44 left
    assert (err.field, err.offset) == ("energy_tcp.dataofs", TCP + 12)


def test_order_and_fill_rules():
    pkt = DATA._replace(eip=DATA.eip._replace(energy_type=0),
                        payload=DATA.payload._replace(options=(), records=(ORDER, FILL)))  # fmt: skip
    assert _edit(pkt, REC + 8, b"\x03").field == "order[0].side"
    assert _edit(pkt, REC + 10, b"\x04").field == "order[0].action"
    assert _edit(pkt, REC + 12, b"\0\0\0\0").field == "order[0].quantity"
    assert _edit(pkt, REC + 28, b"\x27\x11").field == "order[0].min_green_ratio_bp"
    err = _edit(pkt, REC + 32 + 14, b"\x06")
    assert (err.field, err.offset) == ("fill[1].status", REC + 46)


def test_reserved_bits_ignored():
    buf = bytearray(codec.encode(DATA))
    buf[1] |= 0x03  # ECN
    buf[EIP + 2] |= 0xF8  # Energy-IP flags
    buf[TCP + 12] |= 0x0F  # data offset reserved nibble
    buf[TCP + 13] |= 0x80  # Energy-TCP flag 0x80
    buf[TCP + 22 : TCP + 24] = b"\xff\xff"
    buf[TCP + 40 + 1] |= 0xFE  # BEE flags other than STORE
    buf[TCP + 40 + 5] = 0xAA  # BEE reserved byte
    buf[TCP + 40 + 24 : TCP + 40 + 32] = b"\x7f" * 8  # TBD segments are kept (R7.5)
    got = codec.decode(fix_checksums(buf))
    want = DATA.payload.records[0]._replace(attr4=0x7F7F7F7F, attr5=0x7F7F7F7F)
    assert got._replace(payload=got.payload._replace(records=())) == DATA._replace(
        payload=DATA.payload._replace(records=())
    )
    assert got.payload.records == (want, HEAT2)


def test_options_nop_unknown_and_eol():
    pkt = DATA._replace(payload=DATA.payload._replace(options=()))
    buf = bytearray(codec.encode(pkt))
    opts = b"\x01\x01\xc8\x04ab\x00\x07"  # nop, nop, unknown 200 "ab", end of list, ignored byte
    buf[TCP + 12] = 8 << 4
    buf[TCP + 24 : TCP + 24] = opts
    buf[2:4] = struct.pack("!H", len(buf))
    got = codec.decode(fix_checksums(buf))
    assert got.payload.options == (UnknownOption(200, b"ab"),)


def test_ipv4_options_skipped_and_wup_numbers_ignored():
    wire = codec.encode(DATA)
    ip = bytearray(wire[:20]) + b"\x01\x01\x01\x00"
    ip[0] = 0x46
    buf = fix_checksums(bytearray(ip + wire[20:]))
    buf[2:4] = struct.pack("!H", len(buf))
    assert codec.decode(fix_checksums(buf)) == DATA
    wup = DATA._replace(eip=DATA.eip._replace(energy_type=0),
                        payload=EnergyTcp(0, 0, 0, 0, c.ETCP_WUP, 9000))  # fmt: skip
    buf = bytearray(codec.encode(wup))
    buf[TCP + 4 : TCP + 8] = b"\0\0\0\x09"
    assert codec.decode(fix_checksums(buf)) == wup


def test_decode_frame_errors():
    with pytest.raises(DecodeError) as info:
        codec.decode_frame(b"\x02" * 12 + b"\x86\xdd" + codec.encode(DATA))
    assert (info.value.field, info.value.offset) == ("ethernet.type", 12)
    with pytest.raises(DecodeError) as info:
        codec.decode_frame(b"\x02" * 10)
    assert info.value.field == "ethernet"


def test_oversized_datagram():
    buf = bytearray(codec.encode(DATA)) + bytes(1500)
    buf[2:4] = struct.pack("!H", len(buf))
    err = _err(fix_checksums(buf))
    assert (err.field, err.offset) == ("ipv4.total_length", 2)


# ---------------------------------------------------------------------------------- EncodeError


def _bees(*bees):
    types = {b.bee_type for b in bees}
    etype = types.pop() if len(types) == 1 else 0
    return DATA._replace(eip=DATA.eip._replace(energy_type=etype),
                         payload=DATA.payload._replace(records=bees))  # fmt: skip


def _seg(**kw):
    return DATA._replace(payload=DATA.payload._replace(**kw))


def _signed(sig):
    return SIGNED._replace(payload=SIGNED.payload._replace(records=(HEAT, HEAT2, sig)))


@pytest.mark.parametrize(
    ("pkt", "field"),
    [
        (_bees(HEAT, HEAT, HEAT._replace(bee_type=9)), "bee[2].bee_type"),
        (_bees(HEAT, HEAT._replace(quantity=0)), "bee[1].quantity"),
        (_bees(HEAT._replace(green_ratio_bp=10001)), "bee[0].green_ratio_bp"),
        (_bees(HEAT._replace(end_s=T - 1)), "bee[0].end_s"),
        (_bees(HEAT._replace(flags=2)), "bee[0].flags"),
        (_bees(HEAT, HEAT._replace(price_micro_per_kbee=2**31)), "bee[1].price_micro_per_kbee"),
        (_bees(HEAT._replace(attr2=-(2**31) - 1)), "bee[0].attr2"),
        (_bees(HEAT._replace(quantity=1.5)), "bee[0].quantity"),
        (_bees(*[HEAT] * 30), "ipv4.total_length"),
        (DATA._replace(eip=DATA.eip._replace(energy_type=1)), "energy_ip.energy_type"),
        (_bees(HEAT, MIXED)._replace(eip=DATA.eip), "energy_ip.energy_type"),
        (_seg(flags=c.ETCP_SYN, options=()), "energy_tcp.options"),
        (_seg(flags=c.ETCP_SYN, options=REQUEST.payload.options * 2), "energy_tcp.options"),
        (_seg(flags=c.ETCP_SYN, options=REQUEST.payload.options), "energy_tcp.records"),
        (_seg(flags=c.ETCP_RST), "energy_tcp.records"),
        (_seg(flags=c.ETCP_WUP, records=()), "energy_tcp.seq"),
        (_seg(flags=0x90), "energy_tcp.flags"),
        (_seg(urgent=3), "energy_tcp.urgent"),
        (_seg(sport=70000), "energy_tcp.sport"),
        (_seg(window=-1), "energy_tcp.window"),
        (_seg(options=(UnknownOption(2, b"x"),)), "energy_tcp.options[0].kind"),
        (_seg(options=(RejectOption(), RequestOption(end_s=-1))), "energy_tcp.options[1].end_s"),
        (_seg(options=(RejectOption(reason=65536),)), "energy_tcp.options[0].reason"),
        (_seg(options=(UnknownOption(9, bytes(40)),)), "energy_tcp.options"),
        (_seg(records=(ORDER._replace(side=3),)), "order[0].side"),
        (_seg(records=(FILL._replace(peer_ip="10.0.0"),)), "fill[0].peer_ip"),
        (_seg(records=(FILL._replace(peer_mac="02:00"),)), "fill[0].peer_mac"),
        (_seg(records=("bee",)), "energy_tcp.records[0]"),
        (_signed(Signature(0, 4001, 6251, bytes(65))), "sig[2].signature"),
        (_signed(Signature(0, 4001, 6251, "sig")), "sig[2].signature"),
        (_signed(Signature(0, 4001, 2**32, SIG_BYTES)), "sig[2].end_seq"),
        (_signed(Signature(256, 4001, 6251, SIG_BYTES)), "sig[2].flags"),
        (RECEIPT._replace(payload=RECEIPT.payload._replace(seq=-1)), "energy_tcp.seq"),
        (RECEIPT._replace(payload=RECEIPT.payload._replace(records=(Receipt(0, 1, 2, None),))),
         "rcpt[0].signature"),
        (_seg(options=(UnknownOption(5, b"x"),)), "energy_tcp.options[0].kind"),
        (_seg(flags=c.ETCP_SYN, records=(), options=(REQUEST.payload.options[0], OfferOption())),
         "energy_tcp.options"),
        (DATA._replace(src="10.0.0.256"), "ipv4.src"),
        (DATA._replace(dst=None), "ipv4.dst"),
        (DATA._replace(dscp=64), "ipv4.dscp"),
        (DATA._replace(ttl=256), "ipv4.ttl"),
        (DATA._replace(ident=-1), "ipv4.ident"),
        (DATA._replace(eip=DATA.eip._replace(flags=8)), "energy_ip.flags"),
        (DATA._replace(eip=DATA.eip._replace(node_id=2**32)), "energy_ip.node_id"),
        (DATA._replace(eip=DATA.eip._replace(origin_mac="zz:00:00:00:00:00")),
         "energy_ip.origin_mac"),
        (DATA._replace(eip=DATA.eip._replace(options=b"abc")), "energy_ip.options"),
        (NOTICE._replace(payload=StaticLimitNotice(period=-5)), "control.period"),
        (NOTICE._replace(payload=PriceNotice(period=2**32)), "control.period"),
        (NOTICE._replace(payload=PriceNotice(buy_price_micro_per_kbee=2**31)),
         "control.buy_price_micro_per_kbee"),
        (NOTICE._replace(payload=PriceNotice(sell_price_micro_per_kbee=-(2**31) - 1)),
         "control.sell_price_micro_per_kbee"),
        (NOTICE._replace(payload=PriceNotice(sell_price_micro_per_kbee=0.5)),
         "control.sell_price_micro_per_kbee"),
        (NOTICE._replace(payload=FeeNotice(usage_bee=-1)), "control.usage_bee"),
        (NOTICE._replace(payload=FeeNotice(rate_micro_per_kbee=2**32)),
         "control.rate_micro_per_kbee"),
        (NOTICE._replace(payload=LimitExceeded(code=3)), "control.code"),
        (NOTICE._replace(payload=Unreachable(quoted="text")), "control.quoted"),
        (NOTICE._replace(eip=NOTICE.eip._replace(energy_type=1)), "energy_ip.energy_type"),
        (NOTICE._replace(payload=HEAT), "payload"),
    ],
)  # fmt: skip
def test_encode_errors_name_the_field(pkt, field):
    with pytest.raises(EncodeError) as info:
        codec.encode(pkt)
    assert info.value.field == field


def test_encode_frame_bad_mac():
    with pytest.raises(EncodeError) as info:
        codec.encode_frame(DATA, "02:00:00:00:00", MAC_B)
    assert info.value.field == "ethernet.src"
