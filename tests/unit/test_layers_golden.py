"""Golden tests of the Scapy layers: build equals hand-derived bytes, dissect gives every field.

The hex below is derived by hand from docs/protocol.md (struct layouts of sections 4-7, RFC 1071
checksums); ``test_golden_checksums_verify`` re-checks each checksum with an independent helper.
"""

import socket
import struct

import pytest
from scapy.layers.inet import IP
from scapy.packet import NoPayload, Raw, raw

from eip.errors import DecodeError
from eip.protocol import model
from eip.protocol.constants import NO_LIMIT
from eip.protocol.layers import (
    BEE,
    BEEPoolFill,
    BEEPoolOrder,
    BEEReceipt,
    BEESignature,
    EnergyControl,
    EnergyIP,
    EnergyPrice,
    EnergyQuote,
    EnergyStaticLimit,
    EnergyTCP,
    ETCPOptEOL,
    ETCPOptNop,
    ETCPOptOffer,
    ETCPOptReject,
    ETCPOptRequest,
    ETCPOptSchedule,
    ETCPOptUnknown,
)
from eip.protocol.layers.convert import from_scapy, to_scapy


def rfc1071(data: bytes) -> int:
    """Internet checksum, written out independently of eip.protocol.checksum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


CARD, SERVER, ISP = "10.0.0.1", "10.0.1.1", "10.0.255.254"
CMAC, SMAC, IMAC = "02:00:00:00:00:01", "02:00:00:00:01:01", "02:00:00:00:ff:fe"
T0 = 1_700_000_000

EIP_ALONE = bytes.fromhex(
    "16010506020000000001cf3e000000070000002a00001388"  # Energy-IP, 24 bytes
)
EIP_OPTIONS = bytes.fromhex(
    "17000201020000000001427f000000070000002a000004b0"  # Energy-IP, 28 bytes
    "deadbeef"
)
STATIC_LIMIT = bytes.fromhex(
    "45c000440001400040fd24fd0a00fffe0a000001"  # IPv4, 20 bytes
    "1600010102000000fffee6ce000000070000002affffffff"  # Energy-IP, 24 bytes
    "0100c375000000000000002a00001c200000138800000bb8"  # control, 24 bytes
)
PRICE = bytes.fromhex(
    "45c00040001a400040fd24e80a00fffe0a000001"  # IPv4, 20 bytes
    "1600010102000000fffee6ce000000070000002affffffff"  # Energy-IP, 24 bytes
    "0400aecc000000000000002a00087be0ffffd120"  # control, 20 bytes: sell price -12000
)
LIMIT_EXCEEDED = bytes.fromhex(
    "45c000410002400040fd24ff0a00fffe0a000001"  # IPv4, 20 bytes
    "1600010102000000fffee6ce000000070000002affffffff"  # Energy-IP, 24 bytes
    "02010a89000007d0404142434445464748494a4b4c"  # control, 21 bytes
)
UNREACHABLE = bytes.fromhex(
    "45c0003c0003400040fd25030a00fffe0a000001"  # IPv4, 20 bytes
    "1600010102000000fffee6ce000000070000002affffffff"  # Energy-IP, 24 bytes
    "0304ece7000000000102030405060708"  # control, 16 bytes
)
REQUEST = bytes.fromhex(
    "45400058000a400040fd245e0a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c00000010000006400000000b0022e990000271000000000"  # Energy-TCP, 44 bytes
    "0214000013886553f1006553ff106553ed180102"
)
ACCEPT = bytes.fromhex(
    "45400058000b400040fd245d0a0001010a000001"  # IPv4, 20 bytes
    "16000006020000000101e6c5000000090000002affffffff"  # Energy-IP, 24 bytes
    "0001c000000001f400000065b012384c00001f4000000000"  # Energy-TCP, 44 bytes
    "021400000fa06553f1006553ff106553ed180102"
)
REJECT = bytes.fromhex(
    "4540004c000c400040fd24680a0001010a000001"  # IPv4, 20 bytes
    "16000006020000000101e6c5000000090000002affffffff"  # Energy-IP, 24 bytes
    "0001c00000000000000000658014a4030000000000000000"  # Energy-TCP, 32 bytes
    "0308000200000258"
)
EMERGENCY = bytes.fromhex(
    "45b80058000d400040fd23e30a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c00100010000000700000000b022470d0000271000010000"  # Energy-TCP, 44 bytes
    "0214000003206553f1006553f3586553f1000101"
)
DATA = bytes.fromhex(
    "45400104000e400040fd23ae0a0001010a000001"  # IPv4, 20 bytes
    "16000006020000000101e6c5000000090000002affffffff"  # Energy-IP, 24 bytes
    "0001c000000001f50000006560186e380000232800000000"  # Energy-TCP, 24 bytes
    "010000300100177000000226000000000000000000000000"  # BEE electricity, 48 bytes
    "0000000000000000000003e8000864706553f1006553ff10"
    "0101003002000000000000780000000100001f4000000064"  # BEE heat, 48 bytes
    "0000000000000000000007d0000493e06553f1006553ff10"
    "01000030030009c4000000c800000001000f760200000064"  # BEE gas, 48 bytes
    "0000000000000000000005dcfffffc186553f13c65540d20"
    "01000030060000000000000000004e200000000000000000"  # BEE flexibility, 48 bytes
    "000000000000000000002710000000006553f1006553f484"
)
SCHEDULE = bytes.fromhex(
    "45400054000f400040fd245d0a0001010a000001"  # IPv4, 20 bytes
    "16000006020000000101e6c5000000090000002affffffff"  # Energy-IP, 24 bytes
    "0001c000000001f500000065a01001060000232800000000"  # Energy-TCP, 40 bytes
    "041002006553f35803840004000000fa"
)
POOL_ORDER = bytes.fromhex(
    "450000640010400040fd248c0a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c00200020000000100000001601896d70000006400000000"  # Energy-TCP, 24 bytes
    "020000200000004d0201010000000bb8000753006553f100"  # pool order, 32 bytes
    "6553ff1013880000"
)
POOL_FILL = bytes.fromhex(
    "450000680011400040fd24870a0001010a000001"  # IPv4, 20 bytes
    "16000006020000000101e6c5000000090000002affffffff"  # Energy-IP, 24 bytes
    "0002c002000000010000000260189c450000006400000000"  # Energy-TCP, 24 bytes
    "030000240000004d02000000000902000a00020900000bb8"  # pool fill, 36 bytes
    "000753006553f1006553ff10"
)
ACK = bytes.fromhex(
    "454000440012400040fd246a0a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c00000010000006500003a996010738000001b5800000000"  # Energy-TCP, 24 bytes
)
WINDOW_UPDATE = bytes.fromhex(
    "45c000440013400040fd24eb0a00fffe0a000001"  # IPv4, 20 bytes
    "1600010602000000fffee6c9000000070000002affffffff"  # Energy-IP, 24 bytes
    "00000000000000000000000060405bca00002ee000000000"  # Energy-TCP, 24 bytes
)
FIN = bytes.fromhex(
    "454000440014400040fd24680a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c00000010000006500003a996011737f00001b5800000000"  # Energy-TCP, 24 bytes
)
ODD_OPTIONS = bytes.fromhex(
    "4500004c0015400040fd249f0a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c000000100000005000000068010e90e0000000100000000"  # Energy-TCP, 32 bytes
    "010904aabb000000"
)
DELIVERY_SINGLE = bytes.fromhex(
    "452000740016400040fd24560a0001010a000001"  # IPv4, 20 bytes
    "16050006020000000101e6c0000000090000002affffffff"  # Energy-IP, 24 bytes
    "0001c00000000011000000036010af30000001f400000000"  # Energy-TCP, 24 bytes
    "0100003005000000000003e8000000000000000000000000"  # BEE carbon-right, 48 bytes
    "0000000000000000000000fa03b20b806553f10065554280"
)
SIGNED_DATA = bytes.fromhex(
    "454000c00017400040fd23e90a0001010a000001"  # IPv4, 20 bytes
    "16010006020000000101e6c4000000090000002affffffff"  # Energy-IP, 24 bytes
    "0001c000000001f500000065601864bf0000232800000000"  # Energy-TCP, 24 bytes
    "010000300100177000000226000000000000000000000000"  # BEE electricity, 48 bytes
    "0000000000000000000003e8000864706553f1006553ff10"
    "0400004c000001f5000005dd"  # SIG [501, 1501), 76 bytes
    "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
    "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
)
RECEIPT_ACK = bytes.fromhex(
    "454000900018400040fd24180a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c000000100000065000005dd60109eb600001b5800000000"  # Energy-TCP, 24 bytes
    "0500004c000001f5000005dd"  # RCPT [501, 1501), 76 bytes
    "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
    "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"
)
OFFER = bytes.fromhex(
    "454000580019400040fd244f0a0000010a000101"  # IPv4, 20 bytes
    "16000006020000000001d43f000000070000002a00001388"  # Energy-IP, 24 bytes
    "c0000001000000c800000000b0022bae0000271000000000"  # Energy-TCP, 44 bytes
    "0514000003206553f1006553ff106553f8080601"
)

# Expected layers of each golden packet: (class, {every field of the class: value}). Fields in
# COMPUTED are left to the layer (None) when building, and must be dissected to the given value.
COMPUTED = {
    IP: {"ihl", "len", "chksum", "proto"},
    EnergyIP: {"hlen", "nh", "chksum"},
    EnergyTCP: {"dataofs", "chksum"},
    EnergyControl: {"chksum"},
    ETCPOptUnknown: {"length"},
}


def ip_(tos, length, ident, chksum, src, dst):
    return IP, {
        "version": 4,
        "ihl": 5,
        "tos": tos,
        "len": length,
        "id": ident,
        "flags": 0x2,
        "frag": 0,
        "ttl": 64,
        "proto": 253,
        "chksum": chksum,
        "src": src,
        "dst": dst,
        "options": [],
    }


def eip_(energy_type, flags, nh, origin_mac, chksum, node_id, period, static_limit):
    return EnergyIP, {
        "version": 1,
        "hlen": 6,
        "energy_type": energy_type,
        "flags": flags,
        "nh": nh,
        "origin_mac": origin_mac,
        "chksum": chksum,
        "node_id": node_id,
        "period": period,
        "static_limit": static_limit,
        "options": b"",
    }


def card_eip(chksum=0xD43F):
    return eip_(0, 0, 6, CMAC, chksum, 7, 42, 5000)


def server_eip(energy_type=0, chksum=0xE6C5):
    return eip_(energy_type, 0, 6, SMAC, chksum, 9, 42, NO_LIMIT)


def isp_eip(nh, chksum):
    return eip_(0, 0x01, nh, IMAC, chksum, 7, 42, NO_LIMIT)


def etcp_(sport, dport, seq, ack, dataofs, flags, chksum, window, urgent=0, options=()):
    return EnergyTCP, {
        "sport": sport,
        "dport": dport,
        "seq": seq,
        "ack": ack,
        "dataofs": dataofs,
        "reserved": 0,
        "flags": flags,
        "chksum": chksum,
        "window": window,
        "urgent": urgent,
        "reserved2": 0,
        "options": list(options),
    }


def control_(type_, code, chksum, value):
    return EnergyControl, {"type": type_, "code": code, "chksum": chksum, "value": value}


def opt_request(quantity, start_s, end_s, deadline_s, bee_type, priority):
    return ETCPOptRequest, {
        "kind": 2,
        "length": 20,
        "quantity": quantity,
        "start_s": start_s,
        "end_s": end_s,
        "deadline_s": deadline_s,
        "bee_type": bee_type,
        "priority": priority,
    }


def bee_(flags, bee_type, green, carbon, attrs, quantity, price, start_s, end_s):
    fields = {"kind": 1, "flags": flags, "length": 48, "bee_type": bee_type, "reserved": 0}
    fields.update(green_ratio_bp=green, carbon_mg_per_unit=carbon)
    fields.update({f"attr{i}": v for i, v in enumerate(attrs, 1)})
    fields.update(quantity=quantity, price_micro_per_kbee=price, start_s=start_s, end_s=end_s)
    return BEE, fields


def sig_(cls, kind, start_seq, end_seq, signature):
    fields = {"kind": kind, "flags": 0, "length": 76, "start_seq": start_seq, "end_seq": end_seq}
    return cls, {**fields, "signature": signature}


SIG_BYTES, RCPT_BYTES = bytes(range(0x80, 0xC0)), bytes(range(0xC0, 0x100))
REQUEST_OPT = opt_request(5000, T0, T0 + 3600, T0 - 1000, 1, 2)
CASES = {
    "static_limit": (
        STATIC_LIMIT,
        [
            ip_(48 << 2, 68, 1, 0x24FD, ISP, CARD),
            isp_eip(1, 0xE6CE),
            control_(1, 0, 0xC375, 0),
            (
                EnergyStaticLimit,
                {"period": 42, "period_s": 7200, "export_limit": 5000, "import_limit": 3000},
            ),
        ],
    ),
    "price": (
        PRICE,
        [
            ip_(48 << 2, 64, 26, 0x24E8, ISP, CARD),
            isp_eip(1, 0xE6CE),
            control_(4, 0, 0xAECC, 0),
            (
                EnergyPrice,
                {
                    "period": 42,
                    "buy_price_micro_per_kbee": 556000,
                    "sell_price_micro_per_kbee": -12000,
                },
            ),
        ],
    ),
    "limit_exceeded": (
        LIMIT_EXCEEDED,
        [
            ip_(48 << 2, 65, 2, 0x24FF, ISP, CARD),
            isp_eip(1, 0xE6CE),
            control_(2, 1, 0x0A89, 2000),
            (EnergyQuote, {"quoted": bytes(range(0x40, 0x4D))}),
        ],
    ),
    "unreachable": (
        UNREACHABLE,
        [
            ip_(48 << 2, 60, 3, 0x2503, ISP, CARD),
            isp_eip(1, 0xE6CE),
            control_(3, 4, 0xECE7, 0),
            (EnergyQuote, {"quoted": bytes.fromhex("0102030405060708")}),
        ],
    ),
    "request": (
        REQUEST,
        [
            ip_(16 << 2, 88, 10, 0x245E, CARD, SERVER),
            card_eip(),
            etcp_(49152, 1, 100, 0, 11, 0x02, 0x2E99, 10000, options=[REQUEST_OPT]),
        ],
    ),
    "accept": (
        ACCEPT,
        [
            ip_(16 << 2, 88, 11, 0x245D, SERVER, CARD),
            server_eip(),
            etcp_(
                1,
                49152,
                500,
                101,
                11,
                0x12,
                0x384C,
                8000,
                options=[opt_request(4000, T0, T0 + 3600, T0 - 1000, 1, 2)],
            ),
        ],
    ),
    "reject": (
        REJECT,
        [
            ip_(16 << 2, 76, 12, 0x2468, SERVER, CARD),
            server_eip(),
            etcp_(
                1,
                49152,
                0,
                101,
                8,
                0x14,
                0xA403,
                0,
                options=[
                    (ETCPOptReject, {"kind": 3, "length": 8, "reason": 2, "retry_after_s": 600})
                ],
            ),
        ],
    ),
    "emergency": (
        EMERGENCY,
        [
            ip_(46 << 2, 88, 13, 0x23E3, CARD, SERVER),
            card_eip(),
            etcp_(
                49153,
                1,
                7,
                0,
                11,
                0x22,
                0x470D,
                10000,
                urgent=1,
                options=[opt_request(800, T0, T0 + 600, T0, 1, 1)],
            ),
        ],
    ),
    "data": (
        DATA,
        [
            ip_(16 << 2, 260, 14, 0x23AE, SERVER, CARD),
            server_eip(),
            etcp_(1, 49152, 501, 101, 6, 0x18, 0x6E38, 9000),
            bee_(0, 1, 6000, 550, (0, 0, 0, 0, 0), 1000, 550000, T0, T0 + 3600),
            bee_(1, 2, 0, 120, (1, 8000, 100, 0, 0), 2000, 300000, T0, T0 + 3600),
            bee_(0, 3, 2500, 200, (1, 1013250, 100, 0, 0), 1500, -1000, T0 + 60, T0 + 7200),
            bee_(0, 6, 0, 0, (20000, 0, 0, 0, 0), 10000, 0, T0, T0 + 900),
        ],
    ),
    "delivery_single": (
        DELIVERY_SINGLE,
        [
            ip_(8 << 2, 116, 22, 0x2456, SERVER, CARD),
            server_eip(energy_type=5, chksum=0xE6C0),
            etcp_(1, 49152, 17, 3, 6, 0x10, 0xAF30, 500),
            bee_(0, 5, 0, 1000, (0, 0, 0, 0, 0), 250, 62000000, T0, T0 + 86400),
        ],
    ),
    "signed_data": (
        SIGNED_DATA,
        [
            ip_(16 << 2, 192, 23, 0x23E9, SERVER, CARD),
            server_eip(energy_type=1, chksum=0xE6C4),
            etcp_(1, 49152, 501, 101, 6, 0x18, 0x64BF, 9000),
            bee_(0, 1, 6000, 550, (0, 0, 0, 0, 0), 1000, 550000, T0, T0 + 3600),
            sig_(BEESignature, 4, 501, 1501, SIG_BYTES),
        ],
    ),
    "receipt_ack": (
        RECEIPT_ACK,
        [
            ip_(16 << 2, 144, 24, 0x2418, CARD, SERVER),
            card_eip(),
            etcp_(49152, 1, 101, 1501, 6, 0x10, 0x9EB6, 7000),
            sig_(BEEReceipt, 5, 501, 1501, RCPT_BYTES),
        ],
    ),
    "offer": (
        OFFER,
        [
            ip_(16 << 2, 88, 25, 0x244F, CARD, SERVER),
            card_eip(),
            etcp_(
                49152,
                1,
                200,
                0,
                11,
                0x02,
                0x2BAE,
                10000,
                options=[
                    (
                        ETCPOptOffer,
                        {
                            "kind": 5,
                            "length": 20,
                            "quantity": 800,
                            "start_s": T0,
                            "end_s": T0 + 3600,
                            "deadline_s": T0 + 1800,
                            "bee_type": 6,
                            "priority": 1,
                        },
                    )
                ],
            ),
        ],
    ),
    "schedule": (
        SCHEDULE,
        [
            ip_(16 << 2, 84, 15, 0x245D, SERVER, CARD),
            server_eip(),
            etcp_(
                1,
                49152,
                501,
                101,
                10,
                0x10,
                0x0106,
                9000,
                options=[
                    (
                        ETCPOptSchedule,
                        {
                            "kind": 4,
                            "length": 16,
                            "mode": 2,
                            "reserved": 0,
                            "start_s": T0 + 600,
                            "slot_s": 900,
                            "n_slots": 4,
                            "bee_per_slot": 250,
                        },
                    )
                ],
            ),
        ],
    ),
    "pool_order": (
        POOL_ORDER,
        [
            ip_(0, 100, 16, 0x248C, CARD, SERVER),
            card_eip(),
            etcp_(49154, 2, 1, 1, 6, 0x18, 0x96D7, 100),
            (
                BEEPoolOrder,
                {
                    "kind": 2,
                    "flags": 0,
                    "length": 32,
                    "order_id": 77,
                    "side": 2,
                    "bee_type": 1,
                    "action": 1,
                    "reserved": 0,
                    "quantity": 3000,
                    "price_micro_per_kbee": 480000,
                    "start_s": T0,
                    "end_s": T0 + 3600,
                    "min_green_ratio_bp": 5000,
                    "reserved2": 0,
                },
            ),
        ],
    ),
    "pool_fill": (
        POOL_FILL,
        [
            ip_(0, 104, 17, 0x2487, SERVER, CARD),
            server_eip(),
            etcp_(2, 49154, 1, 2, 6, 0x18, 0x9C45, 100),
            (
                BEEPoolFill,
                {
                    "kind": 3,
                    "flags": 0,
                    "length": 36,
                    "order_id": 77,
                    "peer_mac": "02:00:00:00:00:09",
                    "status": 2,
                    "reserved": 0,
                    "peer_ip": "10.0.2.9",
                    "quantity": 3000,
                    "price_micro_per_kbee": 480000,
                    "start_s": T0,
                    "end_s": T0 + 3600,
                },
            ),
        ],
    ),
    "ack": (
        ACK,
        [
            ip_(16 << 2, 68, 18, 0x246A, CARD, SERVER),
            card_eip(),
            etcp_(49152, 1, 101, 15001, 6, 0x10, 0x7380, 7000),
        ],
    ),
    "window_update": (
        WINDOW_UPDATE,
        [
            ip_(48 << 2, 68, 19, 0x24EB, ISP, CARD),
            isp_eip(6, 0xE6C9),
            etcp_(0, 0, 0, 0, 6, 0x40, 0x5BCA, 12000),
        ],
    ),
    "fin": (
        FIN,
        [
            ip_(16 << 2, 68, 20, 0x2468, CARD, SERVER),
            card_eip(),
            etcp_(49152, 1, 101, 15001, 6, 0x11, 0x737F, 7000),
        ],
    ),
    "odd_options": (
        ODD_OPTIONS,
        [
            ip_(0, 76, 21, 0x249F, CARD, SERVER),
            card_eip(),
            etcp_(
                49152,
                1,
                5,
                6,
                8,
                0x10,
                0xE90E,
                1,
                options=[
                    (ETCPOptNop, {"kind": 1}),
                    (ETCPOptUnknown, {"kind": 9, "length": 4, "data": b"\xaa\xbb"}),
                    (ETCPOptEOL, {"kind": 0}),
                ],
            ),
        ],
    ),
}


def build_layer(cls, fields):
    kwargs = {k: v for k, v in fields.items() if k not in COMPUTED.get(cls, ())}
    if cls is EnergyTCP:
        kwargs["options"] = [build_layer(c, f) for c, f in fields["options"]]
    return cls(**kwargs)


def build(layers):
    pkt = build_layer(*layers[0])
    for cls, fields in layers[1:]:
        pkt /= build_layer(cls, fields)
    return pkt


def check_layer(layer, cls, fields):
    assert type(layer) is cls
    assert set(fields) == {f.name for f in cls.fields_desc}, "expectation must list every field"
    for name, value in fields.items():
        got = layer.getfieldval(name)
        if cls is EnergyTCP and name == "options":
            assert len(got) == len(value)
            for opt, (opt_cls, opt_fields) in zip(got, value, strict=True):
                check_layer(opt, opt_cls, opt_fields)
                assert isinstance(opt.payload, NoPayload)
        else:
            assert got == value, f"{cls.__name__}.{name}: {got!r} != {value!r}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_build_matches_golden(name):
    golden, layers = CASES[name]
    assert raw(build(layers)) == golden


@pytest.mark.parametrize("name", sorted(CASES))
def test_dissect_golden_gives_every_field(name):
    golden, layers = CASES[name]
    layer = IP(golden)
    for cls, fields in layers:
        check_layer(layer, cls, fields)
        layer = layer.payload
    assert isinstance(layer, NoPayload)


@pytest.mark.parametrize("name", sorted(CASES))
def test_rebuild_of_dissected_golden_is_identical(name):
    golden, _ = CASES[name]
    pkt = IP(golden)
    assert raw(pkt) == golden
    layer = pkt
    while not isinstance(layer, NoPayload):  # back to defaults: recompute lengths, checksums
        for field in COMPUTED.get(type(layer), ()):
            delattr(layer, field)
        if isinstance(layer, EnergyTCP):
            for opt in layer.options:
                for field in COMPUTED.get(type(opt), ()):
                    delattr(opt, field)
        layer = layer.payload
    assert raw(pkt) == golden


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_checksums_verify(name):
    """Every checksum written into the golden hex verifies with the independent helper."""
    golden, _ = CASES[name]
    assert rfc1071(golden[:20]) == 0
    eip, upper = golden[20:44], golden[44:]
    assert rfc1071(eip) == 0
    if eip[3] == 6:
        src, dst = golden[12:16], golden[16:20]
        pseudo = struct.pack("!4s4sBBH", src, dst, 0, 253, len(upper))
        assert rfc1071(pseudo + upper) == 0
    else:
        assert rfc1071(upper) == 0


def test_energy_ip_alone_golden():
    layer = EnergyIP(
        energy_type=1,
        flags="ISP+MOV",
        nh=6,
        origin_mac=CMAC,
        node_id=7,
        period=42,
        static_limit=5000,
    )
    assert raw(layer) == EIP_ALONE
    assert rfc1071(EIP_ALONE) == 0
    _, fields = eip_(1, 0x05, 6, CMAC, 0xCF3E, 7, 42, 5000)
    check_layer(EnergyIP(EIP_ALONE), EnergyIP, fields)


def test_energy_ip_with_options_golden():
    layer = EnergyIP(flags="LIM", nh=1, origin_mac=CMAC, node_id=7, period=42, static_limit=1200)
    layer.options = bytes.fromhex("deadbeef")
    assert raw(layer) == EIP_OPTIONS
    assert rfc1071(EIP_OPTIONS) == 0
    _, fields = eip_(0, 0x02, 1, CMAC, 0x427F, 7, 42, 1200)
    fields.update(hlen=7, options=bytes.fromhex("deadbeef"))
    check_layer(EnergyIP(EIP_OPTIONS), EnergyIP, fields)


def test_energy_ip_next_header_and_ip_proto_follow_the_stack():
    assert raw(IP() / EnergyIP() / EnergyTCP())[9] == 253
    assert raw(EnergyIP() / EnergyTCP())[3] == 6
    assert raw(EnergyIP() / EnergyControl() / EnergyStaticLimit())[3] == 1
    assert raw(EnergyControl() / EnergyPrice())[0] == 4
    assert raw(EnergyControl() / EnergyQuote(quoted=b"x"))[0] == 3


def test_etcp_options_after_eol_are_dropped_and_rebuilt_as_zero_padding():
    header = struct.pack("!HHIIBBHIHH", 49152, 1, 0, 0, 7 << 4, 0x10, 0xBEEF, 0, 0, 0)
    segment = EnergyTCP(header + bytes.fromhex("0100ffff") + bytes.fromhex("0100002030"))
    assert [type(o) for o in segment.options] == [ETCPOptNop, ETCPOptEOL]
    assert all(isinstance(o.payload, NoPayload) for o in segment.options)
    segment.chksum = 0xBEEF  # drop Scapy's cache of the dissected bytes, force a rebuild
    assert raw(segment) == header + bytes.fromhex("01000000") + bytes.fromhex("0100002030")
    assert isinstance(segment.payload, Raw)  # a record with a wrong length is not dissected


def test_known_option_with_wrong_length_is_kept_as_unknown():
    header = struct.pack("!HHIIBBHIHH", 1, 2, 0, 0, 7 << 4, 0x10, 0, 0, 0, 0)
    segment = EnergyTCP(header + bytes.fromhex("0304abcd"))
    (opt,) = segment.options
    assert (type(opt), opt.kind, opt.length, opt.data) == (ETCPOptUnknown, 3, 4, b"\xab\xcd")
    assert raw(segment) == header + bytes.fromhex("0304abcd")
    packet = IP(src=CARD, dst=SERVER) / EnergyIP(origin_mac=CMAC) / segment
    with pytest.raises(DecodeError, match="kind 3 needs length 8"):
        from_scapy(IP(raw(packet)))


def test_answers_and_hashret():
    request, accept, reject = IP(REQUEST), IP(ACCEPT), IP(REJECT)
    data, ack, wup = IP(DATA), IP(ACK), IP(WINDOW_UPDATE)
    assert accept.answers(request)
    assert reject.answers(request)
    assert not request.answers(accept)
    assert not accept.answers(data)
    assert data[EnergyTCP].units() == 1000 + 2000 + 1500 + 10000
    assert ack.answers(data)  # ack 15001 = seq 501 + 14500 BEE units
    assert not wup.answers(request)
    assert accept.hashret() == request.hashret()
    assert data[EnergyTCP].hashret() == ack[EnergyTCP].hashret()


def test_sig_and_rcpt_occupy_no_sequence_numbers():
    data, ack = IP(SIGNED_DATA), IP(RECEIPT_ACK)
    assert data[EnergyTCP].units() == 1000 and data[BEESignature].units() == 0
    assert ack[EnergyTCP].units() == 0
    assert ack.answers(data)  # ack 1501 = seq 501 + 1000 BEE units
    assert data[BEESignature].mysummary() == "BEESignature [501,1501)"
    assert ack[BEEReceipt].mysummary() == "BEEReceipt [501,1501)"
    wrong = bytearray(SIGNED_DATA)
    wrong[-74:-72] = b"\x00\x48"  # SIG length 72: not dissected as a SIG
    assert isinstance(IP(bytes(wrong))[BEE].payload, Raw)


def test_summaries():
    pkt = IP(DATA)
    assert (
        pkt[EnergyIP].mysummary() == "Energy-IP 02:00:00:00:01:01 none period=42 limit=4294967295"
    )
    assert pkt[EnergyTCP].mysummary() == (
        "Energy-TCP 10.0.1.1:energy-server > 10.0.0.1:49152 PSH+ACK seq=501 ack=101 win=9000"
    )
    assert pkt[BEE].mysummary().startswith("BEE electricity qty=1000")
    assert IP(UNREACHABLE)[EnergyControl].mysummary() == (
        "Energy-IP control unreachable islanded value=0"
    )


MODELS = {
    "data": model.Packet(
        src=SERVER,
        dst=CARD,
        eip=model.EnergyIp(origin_mac=SMAC, node_id=9, period=42),
        payload=model.EnergyTcp(
            sport=1,
            dport=49152,
            seq=501,
            ack=101,
            flags=0x18,
            window=9000,
            records=(
                model.Bee(0, 1, 6000, 550, 0, 0, 0, 0, 0, 1000, 550000, T0, T0 + 3600),
                model.Bee(1, 2, 0, 120, 1, 8000, 100, 0, 0, 2000, 300000, T0, T0 + 3600),
                model.Bee(0, 3, 2500, 200, 1, 1013250, 100, 0, 0, 1500, -1000, T0 + 60, T0 + 7200),
                model.Bee(0, 6, 0, 0, 20000, 0, 0, 0, 0, 10000, 0, T0, T0 + 900),
            ),
        ),
        dscp=16,
        ident=14,
    ),
    "request": model.Packet(
        src=CARD,
        dst=SERVER,
        eip=model.EnergyIp(origin_mac=CMAC, node_id=7, period=42, static_limit=5000),
        payload=model.EnergyTcp(
            sport=49152,
            dport=1,
            seq=100,
            flags=0x02,
            window=10000,
            options=(model.RequestOption(5000, T0, T0 + 3600, T0 - 1000, 1, 2),),
        ),
        dscp=16,
        ident=10,
    ),
    "signed_data": model.Packet(
        src=SERVER,
        dst=CARD,
        eip=model.EnergyIp(energy_type=1, origin_mac=SMAC, node_id=9, period=42),
        payload=model.EnergyTcp(
            sport=1,
            dport=49152,
            seq=501,
            ack=101,
            flags=0x18,
            window=9000,
            records=(
                model.Bee(0, 1, 6000, 550, 0, 0, 0, 0, 0, 1000, 550000, T0, T0 + 3600),
                model.Signature(0, 501, 1501, SIG_BYTES),
            ),
        ),
        dscp=16,
        ident=23,
    ),
    "receipt_ack": model.Packet(
        src=CARD,
        dst=SERVER,
        eip=model.EnergyIp(origin_mac=CMAC, node_id=7, period=42, static_limit=5000),
        payload=model.EnergyTcp(
            sport=49152,
            dport=1,
            seq=101,
            ack=1501,
            flags=0x10,
            window=7000,
            records=(model.Receipt(0, 501, 1501, RCPT_BYTES),),
        ),
        dscp=16,
        ident=24,
    ),
    "offer": model.Packet(
        src=CARD,
        dst=SERVER,
        eip=model.EnergyIp(origin_mac=CMAC, node_id=7, period=42, static_limit=5000),
        payload=model.EnergyTcp(
            sport=49152,
            dport=1,
            seq=200,
            flags=0x02,
            window=10000,
            options=(model.OfferOption(800, T0, T0 + 3600, T0 + 1800, 6, 1),),
        ),
        dscp=16,
        ident=25,
    ),
    "static_limit": model.Packet(
        src=ISP,
        dst=CARD,
        eip=model.EnergyIp(flags=1, origin_mac=IMAC, node_id=7, period=42),
        payload=model.StaticLimitNotice(42, 7200, 5000, 3000),
        dscp=48,
        ident=1,
    ),
    "price": model.Packet(
        src=ISP,
        dst=CARD,
        eip=model.EnergyIp(flags=1, origin_mac=IMAC, node_id=7, period=42),
        payload=model.PriceNotice(42, 556000, -12000),
        dscp=48,
        ident=26,
    ),
    "limit_exceeded": model.Packet(
        src=ISP,
        dst=CARD,
        eip=model.EnergyIp(flags=1, origin_mac=IMAC, node_id=7, period=42),
        payload=model.LimitExceeded(code=1, limit=2000, quoted=bytes(range(0x40, 0x4D))),
        dscp=48,
        ident=2,
    ),
}
EXTRA_MODELS = [
    model.Packet(
        src="192.168.7.3",
        dst="192.168.9.200",
        eip=model.EnergyIp(
            energy_type=4,
            flags=0x06,
            origin_mac="02:aa:bb:cc:dd:ee",
            node_id=0xFFFFFFFF,
            period=1,
            static_limit=0,
            options=b"\x01\x02\x03\x04\x05\x06\x07\x08",
        ),
        payload=model.EnergyTcp(
            sport=2,
            dport=60000,
            seq=0xFFFFFFFF,
            ack=0x80000000,
            flags=0x38,
            window=0xFFFFFFFF,
            urgent=3,
            options=(
                model.RejectOption(reason=255, retry_after_s=1),
                model.ScheduleOption(mode=3, start_s=T0, slot_s=65535, n_slots=0, bee_per_slot=7),
                model.UnknownOption(kind=200, data=b"xyz"),
            ),
            records=(
                model.PoolOrder(1, 2**32 - 1, 2, 6, 3, 9, -(2**31), T0, T0, 10000),
                model.PoolFill(0, 5, "02:00:00:00:00:09", 5, "10.1.2.3", 8, 2**31 - 1, 0, 1),
                model.Bee(bee_type=4, quantity=2**32 - 1, attr4=-1, attr5=2**31 - 1),
            ),
        ),
        dscp=46,
        ttl=1,
        ident=0xFFFF,
    ),
    model.Packet(src="10.0.0.2", dst="10.0.0.3", eip=model.EnergyIp(), payload=model.Unreachable()),
    model.Packet(src="10.0.0.2", dst="10.0.0.3", eip=model.EnergyIp(), payload=model.EnergyTcp()),
]


@pytest.mark.parametrize("name", sorted(MODELS))
def test_to_scapy_matches_golden(name):
    assert raw(to_scapy(MODELS[name])) == CASES[name][0]
    assert from_scapy(IP(CASES[name][0])) == MODELS[name]


@pytest.mark.parametrize("m", list(MODELS.values()) + EXTRA_MODELS)
def test_model_round_trip(m):
    assert from_scapy(to_scapy(m)) == m
    assert from_scapy(IP(raw(to_scapy(m)))) == m


def test_price_notice_body_must_be_12_bytes():
    assert IP(PRICE)[EnergyPrice].mysummary() == "price period=42 buy=556000 sell=-12000"
    longer = IP(src=ISP, dst=CARD) / EnergyIP(flags=1) / EnergyControl(type=4) / EnergyPrice()
    with pytest.raises(DecodeError, match=r"R5\.7"):
        from_scapy(IP(raw(longer / Raw(b"xx"))))
    with pytest.raises(DecodeError, match=r"R5\.7"):
        from_scapy(IP(raw(IP(src=ISP, dst=CARD) / EnergyIP() / EnergyControl(type=4))))


def test_to_scapy_ipv4_header():
    pkt = IP(raw(to_scapy(EXTRA_MODELS[0])))
    assert (pkt.tos, int(pkt.flags), pkt.frag, pkt.ttl, pkt.id, pkt.proto) == (
        184,
        2,
        0,
        1,
        65535,
        253,
    )
    assert socket.inet_aton(pkt.src) == bytes([192, 168, 7, 3])
