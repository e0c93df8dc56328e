"""`eip conformance --pcap FILE`: every Energy Internet message of a capture checked against the rules
of docs/protocol.md that a capture can show, each test naming its rule.

Receiver side: every packet must decode (a refusal fails the rule its `DecodeError` cites, else
R8.1) and re-encode to the bytes captured (R8.2). Sender side: the DSCP says whether the datagram
carries BEE (R3.3); Don't Fragment is set and no datagram exceeds 1500 bytes (R3.4); static-limit
notices, price notices and fee bills carry the ISP flag (R5.3, R5.7, R5.8); no limit-exceeded or
unreachable quotes a control message (R5.5); a card's packets carry the period and node id of its
latest static-limit notice (R4.7) and its export limit from it, or 0xFFFFFFFF before any (R4.8),
where one notice of tolerance covers packets in flight at a period boundary. The Lua dissector
reads the same file: it must flag exactly the packets the codec refuses (Wireshark's IPv4 layer,
whose checksum it does not check, aside).

Frames are taken in timestamp order (a multi-interface capture is not); a packet seen on two
interfaces is checked twice, which changes no outcome.
"""

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from eip.conformance.rules import FAIL, INFORMATIONAL, PASS, cited_rule
from eip.errors import DecodeError, EipError
from eip.pcap import energy_datagrams
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import carries_bee
from eip.protocol.model import (
    EnergyTcp,
    FeeNotice,
    LimitExceeded,
    PriceNotice,
    RejectOption,
    RequestOption,
    StaticLimitNotice,
    Unreachable,
)

NO_LIMIT = 0xFFFFFFFF
RETRY_TOLERANCE_S = 0.5  # R6.11: a Request this much before the retry time is still accepted
ISP_NOTICES = (StaticLimitNotice, PriceNotice, FeeNotice)


class Frame(NamedTuple):
    number: int  # frame number in the file, from 1
    ts_s: float
    ip: bytes  # the IPv4 datagram, cut to its total length


class Spec(NamedTuple):
    """One test as data: its id, the rule it checks, what it checks, receiver or sender side."""

    test_id: str
    rule: str
    title: str
    side: str  # receiver or sender


SPECS = (
    Spec("pcap.decode", "R8.1", "every packet decodes (a refusal fails the rule it cites)", "receiver"),
    Spec("pcap.round-trip", "R8.2", "a decoded packet re-encodes to the captured bytes", "receiver"),
    Spec("pcap.dscp", "R3.3", "the DSCP is a BEE codepoint exactly when the datagram carries BEE", "sender"),
    Spec("pcap.df-size", "R3.4", "Don't Fragment set and at most 1500 bytes", "sender"),
    Spec("pcap.isp-flag.static-limit", "R5.3", "a static-limit notice carries the ISP flag", "sender"),
    Spec("pcap.isp-flag.price", "R5.7", "a price notice carries the ISP flag", "sender"),
    Spec("pcap.isp-flag.fee", "R5.8", "a fee bill carries the ISP flag", "sender"),
    Spec("pcap.no-error-on-control", "R5.5", "no error message quotes a control message", "sender"),
    Spec("pcap.period-node", "R4.7", "a card sends the period and node id of its latest notice", "sender"),
    Spec("pcap.static-limit-field", "R4.8", "a card sends its export limit from its latest notice", "sender"),
    Spec("pcap.wup", "R6.10", "a window update carries the ISP flag and sequence and ack 0", "sender"),
    Spec("pcap.retry-after", "R6.11", "no Request again before a Reject's retry_after_s (0.5 s tolerance)",
         "sender"),
    Spec("pcap.dissector", "R8.1", "the Lua dissector flags exactly the packets the codec refuses", "receiver"),
)  # fmt: skip


class Tally:
    """What one test saw: packets checked and failures (frame number, what was wrong)."""

    def __init__(self, spec: Spec):
        self.spec, self.checked, self.failures = spec, 0, []
        self.detail = "nothing in the capture to check"  # when nothing was checked

    def check(self, frame: Frame, problem: str | None, rule: str | None = None) -> None:
        self.checked += 1
        if problem:
            self.failures.append((frame.number, problem, rule or self.spec.rule))


def energy_frames(path: str | Path) -> list[Frame]:
    """The capture's Energy Internet datagrams, in timestamp order."""
    out = []
    for number, ts_s, ip in energy_datagrams(path):
        total = int.from_bytes(ip[2:4], "big") if len(ip) >= 4 else len(ip)
        out.append(Frame(number, ts_s, ip[: max(total, 20)] if total <= len(ip) else ip))
    return sorted(out, key=lambda f: (f.ts_s, f.number))


def check_capture(path: str | Path, dissector: Callable | None = None) -> list[dict]:
    """Run every capture test; one result per test (see `result`). `dissector(path)`: the frame
    numbers the Lua dissector flags as errors, or None when tshark is not available."""
    tallies = {s.test_id: Tally(s) for s in SPECS}
    t = tallies
    state = {"notices": {}, "rejects": {}}  # card address -> notices; (client, server) -> until
    refused: set[int] = set()
    for frame in energy_frames(path):
        try:
            pkt = codec.decode(frame.ip)
        except DecodeError as exc:
            if not exc.field.startswith("ipv4"):
                refused.add(frame.number)
            t["pcap.decode"].check(frame, f"{exc.field}: {exc}", cited_rule(str(exc)))
            continue
        t["pcap.decode"].check(frame, None)
        _sender_checks(t, frame, pkt, state["notices"])
        _transport_checks(t, frame, pkt, state["rejects"])
    t["pcap.dissector"].detail = "tshark with eip.lua not run"
    flagged = dissector(path) if dissector is not None else None
    if flagged is not None:
        extra, missed = sorted(flagged - refused), sorted(refused - flagged)
        t["pcap.dissector"].checked = 1
        if extra or missed:
            t["pcap.dissector"].failures.append(
                (0, f"the dissector flags frames {extra[:10]} the codec accepts and not "
                    f"{missed[:10]} it refuses", "R8.1"))  # fmt: skip
    return [result(tally) for tally in tallies.values()]


def _sender_checks(t: dict, frame: Frame, pkt, notices: dict) -> None:
    ip, p = frame.ip, pkt.payload
    raw = codec.encode(pkt)
    same = raw == bytes(frame.ip[: len(raw)]) and len(raw) == len(frame.ip)
    t["pcap.round-trip"].check(frame, None if same else "re-encoding changes the bytes")
    bee = type(p) is EnergyTcp and carries_bee(p)
    marked = pkt.dscp in c.DSCP_BEE
    t["pcap.dscp"].check(frame, None if bee == marked else (
        f"DSCP {pkt.dscp} {'is' if marked else 'is not'} a BEE codepoint, the datagram "
        f"{'carries' if bee else 'carries no'} BEE"))  # fmt: skip
    df = bool(ip[6] & 0x40)
    t["pcap.df-size"].check(frame, None if df and len(ip) <= 1500 else (
        f"DF {'set' if df else 'not set'}, {len(ip)} bytes"))  # fmt: skip
    isp = bool(pkt.eip.flags & c.EIP_FLAG_ISP)
    for kind, test_id in ((StaticLimitNotice, "pcap.isp-flag.static-limit"),
                          (PriceNotice, "pcap.isp-flag.price"), (FeeNotice, "pcap.isp-flag.fee")):  # fmt: skip
        if type(p) is kind:
            t[test_id].check(frame, None if isp else "sent without the ISP flag")
    if type(p) in (LimitExceeded, Unreachable):
        q = p.quoted
        ihl = (q[0] & 15) * 4 if q else 0
        quoted_nh = q[ihl + 3] if len(q) > ihl + 3 else None
        t["pcap.no-error-on-control"].check(frame, "it quotes a control message"
                                            if quoted_nh == c.NH_CONTROL else None)  # fmt: skip
    if type(p) is StaticLimitNotice and isp:
        notices.setdefault(pkt.dst, []).append((p.period, pkt.eip.node_id, p.export_limit))
        return
    if isp or type(p) is not EnergyTcp or pkt.src not in notices:
        return
    recent = notices[pkt.src][-2:]  # the latest notice, or the one before for packets in flight
    ok = any((pkt.eip.period, pkt.eip.node_id) == (n[0], n[1]) for n in recent)
    t["pcap.period-node"].check(frame, None if ok else (
        f"period {pkt.eip.period} node {pkt.eip.node_id}; its notices said "
        f"{[(n[0], n[1]) for n in recent]}"))  # fmt: skip
    limits = {n[2] for n in recent}
    t["pcap.static-limit-field"].check(frame, None if pkt.eip.static_limit in limits else (
        f"static limit {pkt.eip.static_limit}; its notices said {sorted(limits)}"))  # fmt: skip


def _transport_checks(t: dict, frame: Frame, pkt, rejects: dict) -> None:
    """R6.10 (a WUP is the ISP's, with sequence and ack 0) and R6.11 (a rejected client waits)."""
    p = pkt.payload
    if type(p) is not EnergyTcp:
        return
    if p.flags & c.ETCP_WUP:
        ok = pkt.eip.flags & c.EIP_FLAG_ISP and p.seq == 0 and p.ack == 0
        t["pcap.wup"].check(frame, None if ok else (
            f"WUP with ISP flag {bool(pkt.eip.flags & c.EIP_FLAG_ISP)}, seq {p.seq}, ack {p.ack}"))  # fmt: skip
        return
    reject = next((o for o in p.options if isinstance(o, RejectOption)), None)
    if p.flags & c.ETCP_RST and reject is not None and reject.retry_after_s:
        rejects[(pkt.dst, pkt.src, p.sport)] = frame.ts_s + reject.retry_after_s
        return
    asks = p.flags & c.ETCP_SYN and not p.flags & (c.ETCP_ACK | c.ETCP_URG)
    if asks and any(isinstance(o, RequestOption) for o in p.options):
        until = rejects.get((pkt.src, pkt.dst, p.dport))
        early = until is not None and frame.ts_s < until - RETRY_TOLERANCE_S
        t["pcap.retry-after"].check(frame, f"a Request {until - frame.ts_s:.1f} s before the "
                                    "rejection's retry_after_s ran out" if early else None)  # fmt: skip


def result(tally: Tally) -> dict:
    s = tally.spec
    outcome = FAIL if tally.failures else PASS if tally.checked else INFORMATIONAL
    return {"test_id": s.test_id, "rule": s.rule, "title": s.title, "side": s.side,
            "outcome": outcome, "checked": tally.checked,
            "detail": "" if tally.checked else tally.detail,
            "failures": [{"frame": f, "problem": why, "rule": r} for f, why, r in tally.failures]}  # fmt: skip


def tshark_flags(lua_path: str | Path) -> Callable:
    """A `dissector` for check_capture: the frames tshark with eip.lua flags as errors."""
    fields = ("energyip.truncated", "energyip.malformed", "energyip.unknown",
              "energyip.bad_checksum", "energyip.internal_error")  # fmt: skip

    def flags(path) -> set[int] | None:
        cmd = ["tshark", "-X", f"lua_script:{lua_path}", "-r", str(path), "-Y",
               " || ".join(fields), "-T", "fields", "-e", "frame.number"]  # fmt: skip
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (FileNotFoundError, subprocess.TimeoutExpired):
            return None
        if done.returncode != 0:
            raise EipError(f"tshark failed on {path}: {done.stderr.strip()[-300:]}")
        return {int(x) for x in done.stdout.split()}

    return flags
