"""An in-memory OpenFlow 1.3 switch for tests (Faucet's clib/fakeoftable.py): flow tables, meters, counters.

It applies the os-ken messages the controller builds and answers `lookup(in_port, frame, now)` with the
ports a frame leaves by. Close to Open vSwitch where it matters here:

- a flow-mod that references a meter that does not exist fails (OVS: OFPMMFC_UNKNOWN_METER), which is
  what makes the controller's meter-then-barrier-then-flow order testable;
- deleting a meter deletes the flows that use it; a flow-add with the same match and priority replaces
  the entry and keeps its counters (OpenFlow 1.3 without OFPFF_RESET_COUNTS);
- flow counters count every packet that matches, also those a meter then drops;
- a pktps meter is a token bucket of `burst` packets refilled at `rate` per second, full when added;
- output to the in_port is dropped (OVS needs OFPP_IN_PORT for that); a table miss drops;
- ip_dscp matches exactly (OpenFlow 1.3: not maskable, OFPBMC_BAD_MASK) and needs eth_type IPv4
  (OFPBMC_BAD_PREREQ); metadata starts at 0, is written by write-metadata under its mask and matched
  under the rule's mask.
"""

import ipaddress
import struct
from dataclasses import dataclass, field

from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from eip.sdn import ofmsg


class OFError(Exception):
    """What a real switch would answer with an OFPT_ERROR: `code` names it (OVS style)."""

    def __init__(self, code: str, detail: str):
        self.code = code
        super().__init__(f"{code}: {detail}")


@dataclass
class Entry:
    table: int
    priority: int
    match: dict
    cookie: int
    meter: int | None
    actions: list
    goto: int | None
    write_metadata: tuple[int, int] | None = None
    packet_count: int = 0
    byte_count: int = 0


@dataclass
class Meter:
    rate: int
    burst: int
    tokens: float
    last: float | None = None
    passed: int = 0
    dropped: int = 0

    def take(self, now: float) -> bool:
        if self.last is not None:
            self.tokens = min(
                float(self.burst), self.tokens + self.rate * max(0.0, now - self.last)
            )
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.passed += 1
            return True
        self.dropped += 1
        return False


@dataclass
class FakeSwitch:
    dpid: int
    entries: list = field(default_factory=list)
    meters: dict = field(default_factory=dict)
    packet_outs: list = field(default_factory=list)  # (port, frame bytes)
    errors: list = field(default_factory=list)
    stats_requests: list = field(default_factory=list)

    # ---------------------------------------------------------------------------------- messages

    def apply(self, msg, strict: bool = True) -> None:
        """Apply one message; an OFError is raised (strict) or appended to `errors`."""
        try:
            self._apply(msg)
        except OFError as exc:
            if strict:
                raise
            self.errors.append(exc)

    def apply_all(self, items, strict: bool = True) -> None:
        """Apply the messages of a controller's (dpid, msg) list that are for this switch, in order."""
        for dpid, msg in items:
            if dpid == self.dpid:
                self.apply(msg, strict)

    def _apply(self, msg) -> None:
        if isinstance(msg, parser.OFPFlowMod):
            if msg.command == ofp.OFPFC_ADD:
                self._flow_add(msg)
            elif msg.command in (ofp.OFPFC_DELETE, ofp.OFPFC_DELETE_STRICT):
                self._flow_delete(msg)
            else:
                raise OFError("OFPFMFC_BAD_COMMAND", f"flow-mod command {msg.command} not emulated")
        elif isinstance(msg, parser.OFPMeterMod):
            self._meter_mod(msg)
        elif isinstance(msg, parser.OFPPacketOut):
            ports = [a.port for a in msg.actions if isinstance(a, parser.OFPActionOutput)]
            for port in ports:
                self.packet_outs.append((port, bytes(msg.data)))
        elif isinstance(msg, parser.OFPFlowStatsRequest | parser.OFPPortDescStatsRequest):
            self.stats_requests.append(msg)
        elif isinstance(msg, parser.OFPBarrierRequest):
            pass
        else:
            raise OFError("OFPBRC_BAD_TYPE", f"{type(msg).__name__} not emulated")

    def _flow_add(self, fm) -> None:
        meter = ofmsg.meter_of(fm)
        if meter is not None and meter not in self.meters:
            raise OFError(
                "OFPMMFC_UNKNOWN_METER", f"flow in table {fm.table_id} uses meter {meter}"
            )
        goto = ofmsg.goto_of(fm)
        if goto is not None and goto <= fm.table_id:
            raise OFError("OFPBIC_BAD_TABLE_ID", f"goto {goto} from table {fm.table_id}")
        m = ofmsg.match_fields(fm.match)
        check_match(m)
        new = Entry(fm.table_id, fm.priority, m, fm.cookie, meter, ofmsg.actions_of(fm), goto,
                    ofmsg.metadata_of(fm))  # fmt: skip
        for i, e in enumerate(self.entries):
            if e.table == new.table and e.priority == new.priority and e.match == m:
                new.packet_count, new.byte_count = e.packet_count, e.byte_count
                self.entries[i] = new
                return
        self.entries.append(new)

    def _flow_delete(self, fm) -> None:
        m = ofmsg.match_fields(fm.match)
        strict = fm.command == ofp.OFPFC_DELETE_STRICT

        def doomed(e: Entry) -> bool:
            if fm.table_id != ofp.OFPTT_ALL and e.table != fm.table_id:
                return False
            if (e.cookie & fm.cookie_mask) != (fm.cookie & fm.cookie_mask):
                return False
            if strict:
                return e.match == m and e.priority == fm.priority
            return all(e.match.get(k) == v for k, v in m.items())

        self.entries = [e for e in self.entries if not doomed(e)]

    def _meter_mod(self, mm) -> None:
        mid = mm.meter_id
        if mm.command == ofp.OFPMC_DELETE:
            gone = set(self.meters) if mid == ofp.OFPM_ALL else {mid}
            for m in gone:
                self.meters.pop(m, None)
            self.entries = [e for e in self.entries if e.meter not in gone]
            return
        if not mm.flags & ofp.OFPMF_PKTPS or len(mm.bands) != 1:
            raise OFError("OFPMMFC_BAD_FLAGS", "only pktps meters with one band are emulated")
        band = mm.bands[0]
        if not isinstance(band, parser.OFPMeterBandDrop) or band.rate < 1:
            raise OFError("OFPMMFC_BAD_BAND", f"band {band!r}")
        burst = band.burst_size if mm.flags & ofp.OFPMF_BURST and band.burst_size else 1
        if mm.command == ofp.OFPMC_ADD:
            if mid in self.meters:
                raise OFError("OFPMMFC_METER_EXISTS", f"meter {mid}")
            self.meters[mid] = Meter(band.rate, burst, float(burst))
        elif mm.command == ofp.OFPMC_MODIFY:
            if mid not in self.meters:
                raise OFError("OFPMMFC_UNKNOWN_METER", f"modify meter {mid}")
            old = self.meters[mid]
            old.rate, old.burst, old.tokens = band.rate, burst, min(old.tokens, float(burst))
        else:
            raise OFError("OFPMMFC_BAD_COMMAND", f"meter-mod command {mm.command}")

    # -------------------------------------------------------------------------------- data plane

    def lookup(self, in_port: int, frame: bytes, now: float = 0.0) -> tuple:
        """Run a frame through the tables: the ports it leaves by ('controller' for a packet-in); () = dropped."""
        pkt = parse(frame, in_port)
        table, outputs = 0, []
        while table is not None:
            e = self._best(table, pkt)
            if e is None:
                return ()
            e.packet_count += 1
            e.byte_count += len(frame)
            if e.meter is not None and not self.meters[e.meter].take(now):
                return ()
            if e.write_metadata is not None:
                value, mask = e.write_metadata
                pkt["metadata"] = pkt["metadata"] & ~mask | value & mask
            for a in e.actions:
                if isinstance(a, parser.OFPActionOutput):
                    if a.port == ofp.OFPP_CONTROLLER:
                        outputs.append("controller")
                    elif a.port != in_port:
                        outputs.append(a.port)
            table = e.goto
        return tuple(outputs)

    def _best(self, table: int, pkt: dict) -> Entry | None:
        best = None
        for e in self.entries:
            if (
                e.table == table
                and (best is None or e.priority > best.priority)
                and matches(e.match, pkt)
            ):
                best = e
        return best

    def flows(
        self, table: int | None = None, cookie: int | None = None, mask: int = (1 << 64) - 1
    ) -> list:
        return [
            e for e in self.entries
            if (table is None or e.table == table) and (cookie is None or e.cookie & mask == cookie & mask)
        ]  # fmt: skip

    def flow_stats_reply(self, request) -> list:
        """The OFPFlowStats a flow-stats request gets (cookie/mask and table honoured)."""
        out = []
        for e in self.entries:
            if request.table_id not in (ofp.OFPTT_ALL, e.table):
                continue
            if (e.cookie & request.cookie_mask) != (request.cookie & request.cookie_mask):
                continue
            out.append(
                parser.OFPFlowStats(
                    table_id=e.table, duration_sec=0, duration_nsec=0, priority=e.priority,
                    idle_timeout=0, hard_timeout=0, flags=0, cookie=e.cookie,
                    packet_count=e.packet_count, byte_count=e.byte_count,
                    match=parser.OFPMatch(**e.match), instructions=[],
                )
            )  # fmt: skip
        return out


def parse(frame: bytes, in_port: int) -> dict:
    """The match fields of a frame (Ethernet II, IPv4); fields it lacks are absent."""
    pkt: dict = {"in_port": in_port, "metadata": 0}
    if len(frame) < 14:
        return pkt
    pkt["eth_dst"] = frame[0:6].hex(":")
    pkt["eth_src"] = frame[6:12].hex(":")
    (etype,) = struct.unpack_from("!H", frame, 12)
    pkt["eth_type"] = etype
    if etype == ofmsg.ETH_TYPE_IPV4 and len(frame) >= 34 and frame[14] >> 4 == 4:
        pkt["ip_dscp"], pkt["ip_ecn"] = frame[15] >> 2, frame[15] & 0x03
        pkt["ip_proto"] = frame[23]
        pkt["ipv4_src"] = ".".join(str(b) for b in frame[26:30])
        pkt["ipv4_dst"] = ".".join(str(b) for b in frame[30:34])
    return pkt


def check_match(match: dict) -> None:
    """What OVS refuses in a flow's match: a masked or out-of-range ip_dscp, or one without IPv4."""
    for name, top in (("ip_dscp", 63), ("ip_ecn", 3)):
        if name not in match:
            continue
        value = match[name]
        if isinstance(value, tuple):
            raise OFError("OFPBMC_BAD_MASK", f"{name} is not maskable in OpenFlow 1.3")
        if not 0 <= value <= top:
            raise OFError("OFPBMC_BAD_VALUE", f"{name} {value}")
        if match.get("eth_type") != ofmsg.ETH_TYPE_IPV4:
            raise OFError("OFPBMC_BAD_PREREQ", f"{name} needs eth_type 0x0800")


def matches(match: dict, pkt: dict) -> bool:
    for k, v in match.items():
        have = pkt.get(k)
        if have is None:
            return False
        if isinstance(v, tuple):
            if k == "metadata":
                if have & v[1] != v[0] & v[1]:
                    return False
            elif k.startswith("ipv4"):
                net = ipaddress.ip_network(f"{v[0]}/{v[1]}", strict=False)
                if ipaddress.ip_address(have) not in net:
                    return False
            elif have != v[0]:
                return False
        elif isinstance(v, str) and isinstance(have, str):
            if v.lower() != have.lower():
                return False
        elif have != v:
            return False
    return True
