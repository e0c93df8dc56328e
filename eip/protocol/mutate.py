"""Byte-level changes to Energy Internet packets: checksum repair and the faults a test injects.

A test changes bytes of an encoded packet (a wrong version, a forged signature, a cut) and then
repairs the checksums it did not mean to break, so the receiver meets exactly one fault. Offsets
are those of docs/protocol.md: the Energy-IP header starts right after the IPv4 header.
"""

import socket

from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum


def fix_transport(buf: bytearray, src_ip: str, dst_ip: str) -> bytearray:
    """Recompute the Energy-IP and transport checksums of an IPv4 payload (Energy-IP onwards)."""
    hlen = (buf[0] & 0x0F) * 4
    buf[10:12] = b"\0\0"
    buf[10:12] = internet_checksum(buf[:hlen]).to_bytes(2, "big")
    t = hlen
    if buf[3] == c.NH_ENERGY_TCP:
        pseudo = socket.inet_aton(src_ip) + socket.inet_aton(dst_ip)
        pseudo += bytes([0, c.IP_PROTO_ENERGY]) + (len(buf) - t).to_bytes(2, "big")
        buf[t + 14 : t + 16] = b"\0\0"
        buf[t + 14 : t + 16] = internet_checksum(pseudo + bytes(buf[t:])).to_bytes(2, "big")
    elif buf[3] == c.NH_CONTROL:
        buf[t + 2 : t + 4] = b"\0\0"
        buf[t + 2 : t + 4] = internet_checksum(buf[t:]).to_bytes(2, "big")
    return buf


def fix_checksums(buf: bytearray) -> bytearray:
    """Recompute the IPv4, Energy-IP and transport checksums of a whole IPv4 datagram."""
    ihl = (buf[0] & 0x0F) * 4
    total = int.from_bytes(buf[2:4], "big")
    buf[10:12] = b"\0\0"
    buf[10:12] = internet_checksum(buf[:ihl]).to_bytes(2, "big")
    src, dst = socket.inet_ntoa(bytes(buf[12:16])), socket.inet_ntoa(bytes(buf[16:20]))
    buf[ihl:total] = fix_transport(bytearray(buf[ihl:total]), src, dst)
    return buf


def tcp_offset(payload: bytes) -> int:
    """Where the Energy-TCP header starts in an IPv4 payload."""
    return (payload[0] & 0x0F) * 4


def bad_tcp_checksum(payload: bytes) -> bytes:
    """The payload with its Energy-TCP checksum off by one (R6.3)."""
    buf = bytearray(payload)
    t = tcp_offset(buf)
    buf[t + 15] ^= 0x01
    return bytes(buf)


def wrong_version(payload: bytes, src_ip: str, dst_ip: str, version: int = 2) -> bytes:
    """The payload with Energy-IP version `version` and every checksum valid (R4.1)."""
    buf = bytearray(payload)
    buf[0] = (version << 4) | (buf[0] & 0x0F)
    return bytes(fix_transport(buf, src_ip, dst_ip))


def records(buf: bytes) -> list[tuple[int, int, int]]:
    """(offset, kind, length) of each record of an Energy-TCP segment in an IPv4 payload."""
    t = tcp_offset(buf)
    if len(buf) <= t + 12:
        return []
    o, out = t + (buf[t + 12] >> 4) * 4, []
    while o + 4 <= len(buf):
        kind, length = buf[o], int.from_bytes(buf[o + 2 : o + 4], "big")
        if length < 4 or o + length > len(buf):
            break
        out.append((o, kind, length))
        o += length
    return out


def forged_signature(payload: bytes, src_ip: str, dst_ip: str) -> bytes:
    """A data segment whose SIG record no longer verifies (its last signature byte flipped) and whose
    BEEs claim twice their quantity, the SIG's range stretched to match: a receiver that does not
    verify (R7.11) books more than was sent; every checksum is valid."""
    buf = bytearray(payload)
    extra, sig_at = 0, None
    for o, kind, _length in records(buf):
        if kind == c.REC_BEE:
            q = int.from_bytes(buf[o + 32 : o + 36], "big")
            buf[o + 32 : o + 36] = (2 * q).to_bytes(4, "big")
            extra += q
        elif kind == c.REC_SIG:
            sig_at = o
    if sig_at is not None:
        end = int.from_bytes(buf[sig_at + 8 : sig_at + 12], "big")
        buf[sig_at + 8 : sig_at + 12] = ((end + extra) & 0xFFFFFFFF).to_bytes(4, "big")
        buf[sig_at + c.RECORD_LENGTHS[c.REC_SIG] - 1] ^= 0x01
    return bytes(fix_transport(buf, src_ip, dst_ip))


def forged_receipts(payload: bytes, src_ip: str, dst_ip: str) -> bytes:
    """An acknowledgment whose RCPT records no longer verify (last signature byte flipped, R7.12);
    every checksum is valid."""
    buf = bytearray(payload)
    for o, kind, length in records(buf):
        if kind == c.REC_RCPT:
            buf[o + length - 1] ^= 0x01
    return bytes(fix_transport(buf, src_ip, dst_ip))


def has_record(payload: bytes, kind: int) -> bool:
    """Whether an Energy-TCP segment (an IPv4 payload) carries a record of `kind`."""
    if len(payload) < 24 or payload[3] != c.NH_ENERGY_TCP:
        return False
    return any(k == kind for _o, k, _n in records(payload))


def without_options(payload: bytes, src_ip: str, dst_ip: str) -> bytes:
    """The segment with its options removed (data offset 6), every checksum valid: a SYN without
    request or offer option, which no conforming encoder builds (R6.9)."""
    buf = bytearray(payload)
    t = tcp_offset(buf)
    doff = (buf[t + 12] >> 4) * 4
    buf[t + 12] = (6 << 4) | (buf[t + 12] & 0x0F)
    del buf[t + 24 : t + doff]
    return bytes(fix_transport(buf, src_ip, dst_ip))


def truncated(payload: bytes, cut: int = 9) -> bytes:
    """The payload without its last `cut` bytes (R8.1)."""
    return bytes(payload[: max(1, len(payload) - cut)])
