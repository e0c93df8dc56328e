"""Seeded mutations of Energy Internet datagrams, and the record of one fuzzing run (eip/reliability/fuzz.py).

Mutations: bit flips, byte sets to boundary values, truncations, extensions, insertions and deletions,
field-aware sets of lengths, kinds, flags and types (IPv4, Energy-IP, Energy-TCP, options, records,
control), splices of two datagrams; then, most of the time, lengths and the three checksums are repaired
so the mutation reaches the code behind the checksum checks.
"""

import random
import struct
from collections import Counter
from dataclasses import dataclass, field

from eip.protocol.checksum import internet_checksum

IP = 0  # offsets inside an IPv4 datagram
INTERESTING8 = (0, 1, 2, 3, 4, 5, 6, 7, 0x0F, 0x10, 0x3F, 0x40, 0x7F, 0x80, 0xF0, 0xFE, 0xFF)
INTERESTING16 = (0, 1, 2, 3, 4, 8, 20, 23, 24, 44, 47, 48, 0x7FFF, 0x8000, 1500, 1501, 0xFFFF)
INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 10_000, 10_001)


def seed_datagrams() -> list[bytes]:
    """The IPv4 datagrams of the sample exchange (every message kind), without Ethernet."""
    from eip.sample import sample_frames

    return [f[14:] for f in sample_frames() if f[12:14] == b"\x08\x00"]


# ---------------------------------------------------------------------------------- layout helpers


def layout(buf) -> dict:
    """Offsets of the headers of a (possibly broken) datagram, as far as they can be read."""
    out = {}
    if len(buf) < 20:
        return out
    e = (buf[0] & 0x0F) * 4
    out["e"] = e
    if len(buf) < e + 24:
        return out
    hlen = (buf[e] & 0x0F) * 4
    t = e + max(hlen, 24)
    out["t"], out["nh"] = t, buf[e + 3]
    if buf[e + 3] == 6 and len(buf) >= t + 24:
        doff = (buf[t + 12] >> 4) * 4
        out["opts"] = (t + 24, t + max(doff, 24))
        recs, r = [], t + max(doff, 24)
        while r + 4 <= len(buf) and len(recs) < 40:
            recs.append(r)
            n = struct.unpack_from("!H", buf, r + 2)[0]
            if n < 4:
                break
            r += n
        out["recs"] = recs
    return out


def repair(buf: bytearray, length: bool = True) -> bytearray:
    """Recompute the IPv4 total length (if `length`) and the IPv4, Energy-IP and transport checksums."""
    n = len(buf)
    if n < 20:
        return buf
    ihl = (buf[0] & 0x0F) * 4
    if length:
        struct.pack_into("!H", buf, 2, min(n, 0xFFFF))
    if 20 <= ihl <= n:
        struct.pack_into("!H", buf, 10, 0)
        struct.pack_into("!H", buf, 10, internet_checksum(buf[:ihl]))
    e = ihl
    if n < e + 24:
        return buf
    hlen = (buf[e] & 0x0F) * 4
    if hlen < 24 or e + hlen > n:
        return buf
    struct.pack_into("!H", buf, e + 10, 0)
    struct.pack_into("!H", buf, e + 10, internet_checksum(buf[e : e + hlen]))
    t = e + hlen
    total = min(struct.unpack_from("!H", buf, 2)[0], n)
    if buf[e + 3] == 1 and total >= t + 8:
        struct.pack_into("!H", buf, t + 2, 0)
        struct.pack_into("!H", buf, t + 2, internet_checksum(buf[t:total]))
    elif buf[e + 3] == 6 and total >= t + 24:
        struct.pack_into("!H", buf, t + 14, 0)
        pseudo = bytes(buf[12:20]) + struct.pack("!BBH", 0, 253, total - t)
        struct.pack_into("!H", buf, t + 14, internet_checksum(pseudo + bytes(buf[t:total])))
    return buf


# --------------------------------------------------------------------------------------- mutator


class Mutator:
    """Deterministic (seeded) mutations of seed datagrams; `next()` gives (operation, datagram)."""

    def __init__(self, seeds: list[bytes], seed: int = 1, repair_p: float = 0.75):
        self.seeds = [bytes(s) for s in seeds]
        self.rng = random.Random(seed)
        self.repair_p = repair_p
        self.ops = [
            (self.bitflip, 3),
            (self.byteset, 2),
            (self.truncate, 1),
            (self.extend, 1),
            (self.insert_delete, 1),
            (self.field, 5),
            (self.splice, 1),
        ]
        self._pick = [op for op, w in self.ops for _ in range(w)]

    def next(self, dst_ip: bytes | None = None) -> tuple[str, bytes]:
        rng = self.rng
        buf = bytearray(rng.choice(self.seeds))
        if dst_ip is not None and len(buf) >= 20 and rng.random() < 0.9:
            buf[16:20] = dst_ip
        op = rng.choice(self._pick)
        keep_length = op(buf)
        for _ in range(rng.choice((0, 0, 0, 1, 2))):  # sometimes stack more mutations
            keep_length = rng.choice(self._pick)(buf) or keep_length
        if rng.random() < self.repair_p:
            repair(buf, length=not keep_length)
        return op.__name__, bytes(buf)

    # Each operation edits buf in place; True means "a length field was set on purpose".
    def bitflip(self, buf: bytearray):
        if buf:
            for _ in range(self.rng.choice((1, 1, 2, 4))):
                buf[self.rng.randrange(len(buf))] ^= 1 << self.rng.randrange(8)

    def byteset(self, buf: bytearray):
        if buf:
            buf[self.rng.randrange(len(buf))] = self.rng.choice(INTERESTING8)

    def truncate(self, buf: bytearray):
        del buf[self.rng.randrange(len(buf) + 1) :]

    def extend(self, buf: bytearray):
        rng = self.rng
        n = rng.choice((1, 2, 3, 4, 24, 48, 52, 76, 1500))
        buf.extend(rng.randbytes(n) if rng.random() < 0.5 else bytes(n))

    def insert_delete(self, buf: bytearray):
        rng = self.rng
        at = rng.randrange(len(buf) + 1)
        if rng.random() < 0.5:
            buf[at:at] = rng.randbytes(rng.choice((1, 2, 4, 48)))
        else:
            del buf[at : at + rng.choice((1, 2, 4, 48))]

    def splice(self, buf: bytearray):
        other = self.rng.choice(self.seeds)
        cut = self.rng.randrange(len(buf) + 1)
        cut2 = self.rng.randrange(len(other) + 1)
        buf[cut:] = other[cut2:]

    def field(self, buf: bytearray):
        """Set a header field (lengths, kinds, flags, types, counters) to a boundary value."""
        rng = self.rng
        lay = layout(buf)
        choices = [("ip_vihl", 0, 1), ("ip_len", 2, 2), ("ip_frag", 6, 2), ("ip_proto", 9, 1)]
        if "e" in lay and len(buf) >= lay["e"] + 24:
            e = lay["e"]
            choices += [("eip_vhlen", e, 1), ("eip_type", e + 1, 1), ("eip_flags", e + 2, 1),
                        ("eip_nh", e + 3, 1), ("eip_period", e + 16, 4),
                        ("eip_limit", e + 20, 4)]  # fmt: skip
        if "t" in lay:
            t = lay["t"]
            if lay["nh"] == 6 and len(buf) >= t + 24:
                choices += [("tcp_ports", t, 2), ("tcp_seq", t + 4, 4), ("tcp_ack", t + 8, 4),
                            ("tcp_doff", t + 12, 1), ("tcp_flags", t + 13, 1),
                            ("tcp_window", t + 16, 4), ("tcp_urgent", t + 20, 2)]  # fmt: skip
            elif len(buf) >= t + 8:
                choices += [("ctl_type", t, 1), ("ctl_code", t + 1, 1), ("ctl_value", t + 4, 4)]
        lo, hi = lay.get("opts", (0, 0))
        for o in range(lo, min(hi, len(buf) - 1)):
            choices += [("opt_kind", o, 1), ("opt_len", o + 1, 1)]
        for r in lay.get("recs", ()):
            choices += [("rec_kind", r, 1), ("rec_flags", r + 1, 1), ("rec_len", r + 2, 2)]
            if r + 12 <= len(buf):
                choices += [("rec_quantity", r + 8, 4), ("rec_word", r + 4, 4)]
        name, off, size = rng.choice(choices)
        if off + size > len(buf):
            return None
        if size == 1:
            value = rng.choice(INTERESTING8) if rng.random() < 0.8 else rng.randrange(256)
            if name in ("ip_vihl", "eip_vhlen", "tcp_doff"):
                value = (buf[off] & 0xF0) | (value & 0x0F) if rng.random() < 0.5 else value
            buf[off] = value
        elif size == 2:
            struct.pack_into("!H", buf, off, rng.choice(INTERESTING16))
        else:
            struct.pack_into("!I", buf, off, rng.choice(INTERESTING32))
        return name == "ip_len"


# -------------------------------------------------------------------------------------- results


@dataclass
class FuzzResult:
    target: str
    packets: int = 0
    outcomes: Counter = field(default_factory=Counter)
    findings: list = field(default_factory=list)  # (exception repr, datagram hex)
    max_us: float = 0.0
    seconds: float = 0.0
    rss_before_kib: int = 0
    rss_after_kib: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "target": self.target,
            "packets": self.packets,
            "outcomes": dict(self.outcomes),
            "findings": len(self.findings),
            "first_findings": self.findings[:5],
            "rate_pps": round(self.packets / self.seconds) if self.seconds else 0,
            "max_us_per_packet": round(self.max_us, 1),
            "seconds": round(self.seconds, 2),
            "rss_growth_mib": round((self.rss_after_kib - self.rss_before_kib) / 1024, 2),
            **self.extra,
        }


def record_finding(res: FuzzResult, exc: BaseException, data: bytes) -> None:
    res.outcomes["finding"] += 1
    if len(res.findings) < 50:
        res.findings.append((f"{type(exc).__name__}: {exc}", data.hex()))
