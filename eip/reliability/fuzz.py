"""Mutation fuzzers of the Energy Internet receive paths, seeded from the sample exchange.

Three targets take the same mutated IPv4 datagrams:

- `codec`: `eip.protocol.codec.decode`. Accepted: a `Packet` (which must then re-encode and decode to
  the same packet, or fail to encode with `EncodeError`), or `DecodeError`. Anything else is a finding.
- `layers`: the Scapy layers, `scapy_decode(data)` = `IP(data)` + `convert.from_scapy`. Accepted: a
  `Packet` or `DecodeError`. Scapy's dissector itself turns what it cannot parse into `Raw` (with
  `conf.debug_dissector` off, its default); an exception escaping `IP(data)` or `from_scapy` is a
  finding.
- `card`: `CardDaemon.on_datagram` of a real card daemon (ledger, key, peers in a temporary state
  directory) whose raw and control sockets are replaced by an in-memory sink (`OfflineCard`), so it
  runs without root. Accepted: any return; the rejection must be counted (`malformed` for every datagram
  the codec rejects, `ignored` for ones not for this card) and `packets_in` must equal the datagrams
  fed. An exception escaping `on_datagram` is a finding (the real loop would count it in `errors`).

Every run records packets, outcomes, the slowest packet (µs) and the process RSS before and after.
Mutations: bit flips, byte sets to boundary values, truncations, extensions, insertions and deletions,
field-aware sets of lengths, kinds, flags and types (IPv4, Energy-IP, Energy-TCP, options, records,
control), splices of two datagrams; then, most of the time, lengths and the three checksums are repaired
so the mutation reaches the code behind the checksum checks.
"""

import random
import struct
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from eip.errors import DecodeError, EncodeError
from eip.protocol import codec
from eip.protocol.checksum import internet_checksum

IP = 0  # offsets inside an IPv4 datagram
INTERESTING8 = (0, 1, 2, 3, 4, 5, 6, 7, 0x0F, 0x10, 0x3F, 0x40, 0x7F, 0x80, 0xF0, 0xFE, 0xFF)
INTERESTING16 = (0, 1, 2, 3, 4, 8, 20, 23, 24, 44, 47, 48, 0x7FFF, 0x8000, 1500, 1501, 0xFFFF)
INTERESTING32 = (0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0xFFFFFFFE, 10_000, 10_001)


def rss_kib() -> int:
    """Resident memory of this process, KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def seed_datagrams() -> list[bytes]:
    """The IPv4 datagrams of the sample exchange (every message kind), without Ethernet."""
    from eip.sample import sample_frames

    return [f[14:] for f in sample_frames() if f[12:14] == b"\x08\x00"]


# ---------------------------------------------------------------------------------- layout helpers


def _layout(buf) -> dict:
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
        lay = _layout(buf)
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


def _finding(res: FuzzResult, exc: BaseException, data: bytes) -> None:
    res.outcomes["finding"] += 1
    if len(res.findings) < 50:
        res.findings.append((f"{type(exc).__name__}: {exc}", data.hex()))


# ---------------------------------------------------------------------------------------- codec


def fuzz_codec(n: int, seed: int = 1, seeds: list[bytes] | None = None) -> FuzzResult:
    """Decode `n` mutated datagrams; accepted ones must survive encode -> decode unchanged."""
    mut = Mutator(seeds or seed_datagrams(), seed)
    res = FuzzResult("codec", rss_before_kib=rss_kib())
    decode, encode, clock = codec.decode, codec.encode, time.perf_counter
    start = clock()
    for _ in range(n):
        _op, data = mut.next()
        t0 = clock()
        try:
            pkt = decode(data)
        except DecodeError:
            res.outcomes["DecodeError"] += 1
        except Exception as exc:
            _finding(res, exc, data)
        else:
            res.outcomes["packet"] += 1
            try:
                again = decode(encode(pkt))
                if again != pkt:
                    _finding(res, AssertionError("decode(encode(p)) != p"), data)
            except EncodeError:
                res.outcomes["packet_not_reencodable"] += 1
            except Exception as exc:
                _finding(res, exc, data)
        dt = clock() - t0
        if dt > res.max_us:
            res.max_us = dt
        res.packets += 1
    res.seconds = clock() - start
    res.max_us *= 1e6
    res.rss_after_kib = rss_kib()
    return res


# --------------------------------------------------------------------------------------- layers


def scapy_decode(data: bytes):
    """The Scapy path: dissect with the eip layers, then convert; raises DecodeError on bad input.

    Scapy's own IPv4 layer raises `struct.error` on fewer than 20 bytes (its fixed fields cannot be
    read); that, and any other exception raised while dissecting outside eip's layers, is Scapy's
    rejection of garbage and becomes `DecodeError("ipv4", 0, ...)`. An exception raised in eip's own
    layers (`eip/protocol/layers/`) or in `from_scapy` is not converted: it is a bug.
    """
    from scapy.layers.inet import IP as ScapyIP

    import eip.protocol.layers  # noqa: F401 - binds the layers
    from eip.protocol.layers.convert import from_scapy

    try:
        dissected = ScapyIP(data)
    except Exception as exc:
        if _raised_in_eip(exc):
            raise
        raise DecodeError("ipv4", 0, f"Scapy cannot dissect: {type(exc).__name__}: {exc}") from exc
    return from_scapy(dissected)


def _raised_in_eip(exc: BaseException) -> bool:
    import traceback

    return any("eip/protocol/layers" in f.filename for f in traceback.extract_tb(exc.__traceback__))


def fuzz_layers(n: int, seed: int = 2, seeds: list[bytes] | None = None) -> FuzzResult:
    """Dissect `n` mutated datagrams with Scapy + from_scapy; compare with the codec when it accepts."""
    scapy_decode(seed_datagrams()[0])  # import and bind outside the timing
    mut = Mutator(seeds or seed_datagrams(), seed)
    res = FuzzResult("layers", rss_before_kib=rss_kib())
    clock = time.perf_counter
    disagree = 0
    start = clock()
    for _ in range(n):
        _op, data = mut.next()
        t0 = clock()
        try:
            pkt = scapy_decode(data)
        except DecodeError:
            res.outcomes["DecodeError"] += 1
        except Exception as exc:
            _finding(res, exc, data)
        else:
            res.outcomes["packet"] += 1
            try:
                fast = codec.decode(data)
            except DecodeError:
                fast = None  # the codec checks rules (checksums, ranges) the layers do not
            if fast is not None and fast != pkt:
                disagree += 1
        dt = clock() - t0
        if dt > res.max_us:
            res.max_us = dt
        res.packets += 1
    res.seconds = clock() - start
    res.max_us *= 1e6
    res.rss_after_kib = rss_kib()
    res.extra["codec_accepted_but_layers_differ"] = disagree
    return res


# ----------------------------------------------------------------------------------------- card


class _Sink:
    """Stands in for the card's raw socket: counts what the card sends."""

    def __init__(self):
        self.sent = 0

    def sendto(self, data, addr):
        self.sent += 1
        return len(data)

    def setsockopt(self, *args):
        pass

    def close(self):
        pass


def offline_card(state_dir: Path, name: str = "load"):
    """A CardDaemon of the sample exchange's LOAD card without sockets (no root needed).

    Its peers are the sample cards with their fixed demo keys, so the sample SYNs open real connections
    and the fuzzed segments reach Energy-TCP, the signature checks and the ledger.
    """
    from eip.card.config import CardConfig, Peer
    from eip.card.daemon import CardDaemon
    from eip.sample import EV, LOAD, PV, SERVER, STORAGE, sample_key

    class OfflineCard(CardDaemon):
        def _open_raw(self):
            return _Sink()

        def _open_control(self):
            return None

    def pub(who: str) -> bytes:
        from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

        return sample_key(who).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    peers = (
        Peer("pv", PV[1], PV[0], pub("pv")),
        Peer("storage", STORAGE[1], STORAGE[0], pub("storage")),
        Peer("ev", EV[1], EV[0], pub("pv")),
        Peer("server", SERVER[1], SERVER[0], pub("pv")),
    )
    cfg = CardConfig(name=name, kind="load", mac=LOAD[0], state_dir=Path(state_dir),
                     energy_ip=LOAD[1], interface="lo", vpp="vpp2", peers=peers)  # fmt: skip
    return OfflineCard(cfg)


def fuzz_card(n: int, seed: int = 3, seeds: list[bytes] | None = None,
              state_dir: Path | None = None) -> FuzzResult:  # fmt: skip
    """Feed `n` mutated datagrams (90% re-addressed to the card) to `CardDaemon.on_datagram`.

    Effects are applied as the real loop does (`apply`: ledger commit, then sends into the sink). Checks:
    nothing escapes, `packets_in` equals the datagrams fed, `malformed` equals the datagrams the codec
    rejects, and the card's ledger verifies at the end.
    """
    from eip.card.ledger import Ledger
    from eip.sample import LOAD

    tmp = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="eip-fuzz-card-")
        state_dir = Path(tmp.name)
    try:
        card = offline_card(state_dir)
        mut = Mutator(seeds or seed_datagrams(), seed)
        dst = bytes(int(x) for x in LOAD[1].split("."))
        res = FuzzResult("card", rss_before_kib=rss_kib())
        clock = time.perf_counter
        expect_malformed = 0
        now = 1000.0
        start = clock()
        for i in range(n):
            _op, data = mut.next(dst)
            try:
                codec.decode(data)
            except DecodeError:
                expect_malformed += 1
            now += 0.001
            t0 = clock()
            try:
                effects = card.on_datagram(data, now)
                if effects:
                    card.apply(effects)
                res.outcomes["handled"] += 1
            except Exception as exc:
                _finding(res, exc, data)
            if i % 64 == 0:  # the loop's timers, as run() calls them
                for conn in list(card.by_id.values()):
                    if conn.next_deadline is not None and conn.next_deadline <= now:
                        try:
                            card.apply(card._run_conn(conn, conn.on_timer(now)))
                        except Exception as exc:
                            _finding(res, exc, b"timer")
            dt = clock() - t0
            if dt > res.max_us:
                res.max_us = dt
            res.packets += 1
        res.seconds = clock() - start
        res.max_us *= 1e6
        res.rss_after_kib = rss_kib()
        stats = dict(card.stats)
        res.outcomes.update({k: stats[k] for k in ("malformed", "ignored", "rejected_in",
                                                   "accepted_in", "resets_sent")})  # fmt: skip
        res.extra.update(
            counters=stats,
            expected_malformed=expect_malformed,
            counters_consistent=stats["packets_in"] == n and stats["malformed"] == expect_malformed,
            open_connections=len(card.by_id),
            sent=card.raw.sent,
        )
        path = card.config.ledger_path
        card.ledger.close()
        card.sel.close()
        ledger = Ledger.open(path)
        try:
            verdict = ledger.verify()
        finally:
            ledger.close()
        res.extra["ledger_verifies"] = verdict.ok
        if not verdict.ok:
            _finding(res, AssertionError(f"ledger: {verdict.reason}"), b"ledger")
        return res
    finally:
        if tmp is not None:
            tmp.cleanup()


# --------------------------------------------------------------------------------------- tshark


def fuzzed_frames(n: int, seed: int = 4) -> list[bytes]:
    """`n` mutated Ethernet frames (the sample exchange's Ethernet headers on mutated datagrams)."""
    from eip.sample import sample_frames

    frames = [f for f in sample_frames() if f[12:14] == b"\x08\x00"]
    mut = Mutator([f[14:] for f in frames], seed)
    rng = random.Random(seed)
    return [rng.choice(frames)[:14] + mut.next()[1] for _ in range(n)]


def tshark_fuzz(workdir: Path, n_frames: int = 3000, copies: int = 20, seed: int = 4) -> dict:
    """tshark + eip.lua on (a) `editcap -E 0.02` corruptions of the sample pcap and (b) fuzzed frames.

    Returns per capture the exit code, frames and whether "Lua Error" appeared; `ok` if all passed.
    """
    import shutil
    import subprocess

    from eip.sample import sample_frames, write_pcap

    tshark, editcap = shutil.which("tshark"), shutil.which("editcap")
    if tshark is None or editcap is None:
        return {"ok": None, "skipped": "tshark/editcap not installed"}
    lua = Path(__file__).resolve().parents[1] / "wireshark" / "eip.lua"
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    sample = workdir / "sample.pcap"
    write_pcap(sample, sample_frames() * copies)
    edited = workdir / "editcap.pcap"
    subprocess.run([editcap, "-E", "0.02", "-S", "0", sample, edited], check=True,
                   capture_output=True, timeout=60)  # fmt: skip
    mutated = workdir / "mutated.pcap"
    write_pcap(mutated, fuzzed_frames(n_frames, seed))
    out: dict = {"captures": {}}
    ok = True
    for label, path, frames in (("editcap_E_0.02", edited, len(sample_frames()) * copies),
                                ("mutated", mutated, n_frames)):  # fmt: skip
        proc = subprocess.run([tshark, "-n", "-X", f"lua_script:{lua}", "-r", str(path), "-V"],
                              capture_output=True, text=True, timeout=600, check=False)  # fmt: skip
        lua_errors = (proc.stdout + proc.stderr).count("Lua Error")
        passed = proc.returncode == 0 and lua_errors == 0
        ok = ok and passed
        out["captures"][label] = {"frames": frames, "returncode": proc.returncode,
                                  "lua_errors": lua_errors, "ok": passed,
                                  "stderr": proc.stderr[-500:]}  # fmt: skip
    out["ok"] = ok
    out["frames"] = sum(c["frames"] for c in out["captures"].values())
    return out
