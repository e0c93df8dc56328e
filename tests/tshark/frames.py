"""Energy Internet test frames built with struct straight from docs/protocol.md.

Used when eip.sample (and the codec behind it) is not importable, and as the base of the malformed
captures: every message kind and every record kind, with valid checksums.
"""

import struct

from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum

T0 = 1_780_308_000  # 2026-06-01T10:00:00Z
T1 = T0 + 7200


def mac(text: str) -> bytes:
    return bytes(int(x, 16) for x in text.split(":"))


def ip4(text: str) -> bytes:
    return bytes(int(x) for x in text.split("."))


def bee(bee_type=1, flags=0, green=0, carbon=0, attrs=(0, 0, 0, 0, 0), qty=1, price=0, s=T0, e=T1):
    return struct.pack(
        "!BBHBBHI5iIiII", 1, flags, 48, bee_type, 0, green, carbon, *attrs, qty, price, s, e
    )


def order(oid=1, side=1, bee_type=1, action=1, qty=1, price=0, s=T0, e=T1, min_green=0):
    return struct.pack(
        "!BBHIBBBBIiIIHH", 2, 0, 32, oid, side, bee_type, action, 0, qty, price, s, e, min_green, 0
    )


def fill(
    oid=1, peer_mac="00:00:00:00:00:00", status=1, peer_ip="0.0.0.0", qty=0, price=0, s=T0, e=T1
):
    return struct.pack(
        "!BBHI6sBB4sIiII", 3, 0, 36, oid, mac(peer_mac), status, 0, ip4(peer_ip), qty, price, s, e
    )


def opt_request(qty, s=T0, e=T1, deadline=T1, bee_type=1, prio=0):
    return struct.pack("!BBIIIIBB", 2, 20, qty, s, e, deadline, bee_type, prio)


def opt_offer(qty, s=T0, e=T1, deadline=T1, bee_type=6, prio=0):
    return struct.pack("!BBIIIIBB", 5, 20, qty, s, e, deadline, bee_type, prio)


def sig(start, end, signature=bytes(range(64)), kind=4):
    """A SIG (kind 4) or RCPT (kind 5) record of section 7.4."""
    return struct.pack("!BBHII64s", kind, 0, 76, start, end, signature)


def opt_reject(reason, retry):
    return struct.pack("!BBHI", 3, 8, reason, retry)


def opt_schedule(mode, start, slot, n, per):
    return struct.pack("!BBBBIHHI", 4, 16, mode, 0, start, slot, n, per)


def segment(src, dst, sport, dport, seq, ack, flags, window, options=b"", records=b"", urgent=0):
    if len(options) % 4:
        options += b"\x00" * (4 - len(options) % 4)
    doff = 6 + len(options) // 4
    hdr = struct.pack("!HHIIBBHIHH", sport, dport, seq, ack, doff << 4, flags, 0, window, urgent, 0)
    seg = bytearray(hdr + options + records)
    pseudo = ip4(src) + ip4(dst) + struct.pack("!BBH", 0, 253, len(seg))
    struct.pack_into("!H", seg, 14, internet_checksum(pseudo + bytes(seg)))
    return bytes(seg)


def energy_ip(origin, nh, energy_type=0, flags=0, node=0, period=5, limit=c.NO_LIMIT):
    hdr = bytearray(
        struct.pack(
            "!BBBB6sHIII", 0x16, energy_type, flags, nh, mac(origin), 0, node, period, limit
        )
    )
    struct.pack_into("!H", hdr, 10, internet_checksum(bytes(hdr)))
    return bytes(hdr)


def control(ctype, code, value, body):
    msg = bytearray(struct.pack("!BBHI", ctype, code, 0, value) + body)
    struct.pack_into("!H", msg, 2, internet_checksum(bytes(msg)))
    return bytes(msg)


def ipv4(src, dst, payload, dscp=0):
    hdr = bytearray(
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            dscp << 2,
            20 + len(payload),
            1,
            0x4000,
            64,
            253,
            0,
            ip4(src),
            ip4(dst),
        )
    )
    struct.pack_into("!H", hdr, 10, internet_checksum(bytes(hdr)))
    return bytes(hdr) + payload


def frame(src_mac, dst_mac, datagram):
    return mac(dst_mac) + mac(src_mac) + b"\x08\x00" + datagram


def tcp_frame(
    src,
    dst,
    sport,
    dport,
    seq,
    ack,
    flags,
    window,
    options=b"",
    records=b"",
    urgent=0,
    energy_type=0,
    eip_flags=0,
    origin="02:00:00:00:01:01",
    limit=c.NO_LIMIT,
    dscp=8,
):
    seg = segment(src, dst, sport, dport, seq, ack, flags, window, options, records, urgent)
    dgram = ipv4(src, dst, energy_ip(origin, 6, energy_type, eip_flags, 3, 5, limit) + seg, dscp)
    return frame(origin, "02:00:00:00:02:01", dgram)


def ctl_frame(src, dst, msg, origin="02:00:00:00:00:fe", eip_flags=1):
    dgram = ipv4(src, dst, energy_ip(origin, 1, 0, eip_flags) + msg, 48)
    return frame(origin, "02:00:00:00:01:01", dgram)


def local_frames() -> list[bytes]:
    """One frame per message kind, every record kind and every BEE type, valid checksums."""
    pv, load, isp = "10.1.0.11", "10.2.0.21", "10.0.0.254"
    ack, syn, fin, rst, psh, urg, wup = 0x10, 0x02, 0x01, 0x04, 0x08, 0x20, 0x40
    data1 = tcp_frame(
        pv,
        load,
        10,
        49152,
        5001,
        1001,
        ack | psh,
        4000,
        records=bee(1, green=10000, qty=500, price=420000) * 2,
        energy_type=1,
        limit=5000,
    )
    mixed = (
        bee(2, 0, 3000, 60, (1, 8000, 100, 0, 0), 300, 200000)
        + bee(3, 0, 0, 10, (1, 1013250, 500, 0, 0), 200, 300000)
        + bee(4, 0, 10000, 0, (0, 0, 0, 0, 0), 400, 30000)
        + bee(5, 0, 0, 0, (0, 0, 0, 0, 0), 150, -60000)
        + bee(6, 1, 0, 1, (20000, 0, 0, 0, 0), 100, 10000)
    )
    quoted = data1[14 : 14 + 20 + 24 + 8]
    return [
        ctl_frame(isp, pv, control(1, 0, 0, struct.pack("!IIII", 5, 7200, 5000, 3000))),
        ctl_frame(isp, pv, control(4, 0, 0, struct.pack("!Iii", 5, 556000, -12000))),  # R5.7
        tcp_frame(load, pv, 49152, 10, 1000, 0, syn, 2000, opt_request(2500, prio=1)),
        tcp_frame(pv, load, 10, 49152, 5000, 1001, syn | ack, 4000, opt_request(2150, prio=1)),
        tcp_frame(load, pv, 49152, 10, 1001, 5001, ack, 2000),
        data1,
        tcp_frame(
            isp, load, 0, 0, 0, 0, wup, 1200, eip_flags=1, origin="02:00:00:00:00:fe", dscp=48
        ),
        tcp_frame(pv, load, 10, 49152, 6001, 1001, ack | psh, 4000, records=mixed),
        tcp_frame(
            "10.0.0.253", load, 1, 49153, 300, 41, ack, 1000, opt_schedule(2, T0, 600, 12, 10)
        ),
        tcp_frame(pv, "10.2.0.22", 10, 49200, 0, 7001, rst | ack, 0, opt_reject(2, 600)),
        tcp_frame(
            "10.2.0.22",
            "10.0.0.253",
            49201,
            1,
            9000,
            0,
            syn | urg,
            8000,
            opt_request(8000),
            urgent=2,
            dscp=46,
        ),
        tcp_frame(
            load,
            "10.1.0.254",
            49154,
            2,
            20,
            70,
            ack | psh,
            100,
            records=order(17, 2, 1, 1, 800, 450000, min_green=5000),
        ),
        tcp_frame(
            "10.1.0.254",
            load,
            2,
            49154,
            70,
            21,
            ack | psh,
            100,
            records=fill(17, "02:00:00:00:01:01", 1, pv, 500, 420000),
        ),
        ctl_frame("10.2.0.254", pv, control(2, 1, 1200, quoted), eip_flags=0),
        ctl_frame("10.2.0.254", "10.2.0.22", control(3, 4, 0, quoted), eip_flags=0),
        tcp_frame(pv, load, 10, 49152, 7151, 1001, fin | ack, 4000),
        # Offer, signed delivery (BEE + SIG) and its receipt (ACK + RCPT), section 7.4.
        tcp_frame(pv, load, 49160, 10, 3000, 0, syn, 1000, opt_offer(500, prio=1)),
        tcp_frame(
            pv,
            load,
            49160,
            10,
            3001,
            8001,
            ack | psh,
            1000,
            records=bee(6, 1, 0, 0, (15000, 0, 0, 0, 0), 500, 12000) + sig(2001, 3501),
            energy_type=6,
        ),
        tcp_frame(
            load, pv, 10, 49160, 8001, 3501, ack, 500, records=sig(2001, 3501, bytes(64), kind=5)
        ),
    ]


def write_pcap(path, frames, orig_lens=None) -> None:
    """Classic libpcap, Ethernet link type, microsecond timestamps one millisecond apart."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, data in enumerate(frames):
            orig = orig_lens[i] if orig_lens and orig_lens[i] else len(data)
            out.write(struct.pack("<IIII", T0 + i // 1000, i % 1000 * 1000, len(data), orig))
            out.write(data)


def fix_checksums(data: bytes, energy: bool = True) -> bytes:
    """Recompute the IPv4 length and checksum after an edit, and with `energy` the Energy checksums."""
    buf = bytearray(data)
    ip = 14
    ihl = (buf[ip] & 0x0F) * 4
    struct.pack_into("!H", buf, ip + 2, len(buf) - ip)
    struct.pack_into("!H", buf, ip + 10, 0)
    struct.pack_into("!H", buf, ip + 10, internet_checksum(bytes(buf[ip : ip + ihl])))
    e = ip + ihl
    if not energy or len(buf) < e + 24:
        return bytes(buf)
    hlen = (buf[e] & 0x0F) * 4
    if hlen < 24 or e + hlen > len(buf):
        return bytes(buf)
    struct.pack_into("!H", buf, e + 10, 0)
    struct.pack_into("!H", buf, e + 10, internet_checksum(bytes(buf[e : e + hlen])))
    t = e + hlen
    if buf[e + 3] == 1 and len(buf) >= t + 8:
        struct.pack_into("!H", buf, t + 2, 0)
        struct.pack_into("!H", buf, t + 2, internet_checksum(bytes(buf[t:])))
    elif buf[e + 3] == 6 and len(buf) >= t + 24:
        struct.pack_into("!H", buf, t + 14, 0)
        pseudo = bytes(buf[ip + 12 : ip + 20]) + struct.pack("!BBH", 0, 253, len(buf) - t)
        struct.pack_into("!H", buf, t + 14, internet_checksum(pseudo + bytes(buf[t:])))
    return bytes(buf)
