"""Energy-TCP segment header and its options (docs/protocol.md section 6).

The window is the dynamic exchange limit; sequence numbers count BEE units, not bytes.
"""

import socket
import struct

from scapy.config import conf
from scapy.fields import (
    BitField,
    ByteEnumField,
    ByteField,
    FlagsField,
    IntField,
    PacketListField,
    ShortEnumField,
    ShortField,
    StrLenField,
    XShortField,
)
from scapy.layers.inet import IP
from scapy.packet import Packet

from eip.errors import EncodeError
from eip.protocol.checksum import internet_checksum
from eip.protocol.constants import (
    BEE_ELECTRICITY,
    BEE_TYPES,
    EMERGENCY_CODES,
    ENERGY_TCP_LEN,
    EPHEMERAL_PORT_MIN,
    ETCP_FLAG_NAMES,
    IP_PROTO_ENERGY,
    OPT_EOL,
    OPT_NOP,
    OPT_OFFER,
    OPT_REJECT,
    OPT_REQUEST,
    OPT_SCHEDULE,
    OPTION_KINDS,
    OPTION_LENGTHS,
    PORT_ENERGY_SERVER,
    REJECT_REASONS,
    SCHEDULE_MODES,
    WELL_KNOWN_PORTS,
)
from eip.protocol.layers.records import _Record, record_class
from eip.protocol.seq import seq_sub

_MAX_OPTIONS_LEN = 15 * 4 - ENERGY_TCP_LEN


class _ETCPOpt(Packet):
    """Base of Energy-TCP options: dispatch on kind and length; the rest goes to the next option."""

    @classmethod
    def dispatch_hook(cls, _pkt=None, *args, **kargs):
        if not _pkt:
            return cls
        kind = _pkt[0]
        if kind == OPT_EOL:
            return ETCPOptEOL
        if kind == OPT_NOP:
            return ETCPOptNop
        if len(_pkt) >= 2 and _pkt[1] == OPTION_LENGTHS.get(kind):
            return _OPTION_CLASSES[kind]
        return ETCPOptUnknown

    def extract_padding(self, s):
        return b"", s


class ETCPOptEOL(_ETCPOpt):
    """Option 0: end of option list (one byte)."""

    name = "Energy-TCP option EOL"
    fields_desc = [ByteEnumField("kind", OPT_EOL, OPTION_KINDS)]


class ETCPOptNop(_ETCPOpt):
    """Option 1: no-op (one byte)."""

    name = "Energy-TCP option NOP"
    fields_desc = [ByteEnumField("kind", OPT_NOP, OPTION_KINDS)]


class ETCPOptRequest(_ETCPOpt):
    """Option 2: what a Request (SYN) asks for or an Accept (SYN-ACK) grants."""

    name = "Energy-TCP option request"
    fields_desc = [
        ByteEnumField("kind", OPT_REQUEST, OPTION_KINDS),
        ByteField("length", OPTION_LENGTHS[OPT_REQUEST]),
        IntField("quantity", 0),
        IntField("start_s", 0),
        IntField("end_s", 0),
        IntField("deadline_s", 0),
        ByteEnumField("bee_type", BEE_ELECTRICITY, BEE_TYPES),
        ByteField("priority", 0),
    ]


class ETCPOptOffer(_ETCPOpt):
    """Option 5: what an Offer (SYN) proposes to deliver, or what its Accept (SYN-ACK) takes."""

    name = "Energy-TCP option offer"
    fields_desc = [
        ByteEnumField("kind", OPT_OFFER, OPTION_KINDS),
        ByteField("length", OPTION_LENGTHS[OPT_OFFER]),
        IntField("quantity", 0),
        IntField("start_s", 0),
        IntField("end_s", 0),
        IntField("deadline_s", 0),
        ByteEnumField("bee_type", BEE_ELECTRICITY, BEE_TYPES),
        ByteField("priority", 0),
    ]


class ETCPOptReject(_ETCPOpt):
    """Option 3: why a Request was refused and when it may be retried."""

    name = "Energy-TCP option reject"
    fields_desc = [
        ByteEnumField("kind", OPT_REJECT, OPTION_KINDS),
        ByteField("length", OPTION_LENGTHS[OPT_REJECT]),
        ShortEnumField("reason", 255, REJECT_REASONS),
        IntField("retry_after_s", 0),
    ]


class ETCPOptSchedule(_ETCPOpt):
    """Option 4: a delivery, storage or draw schedule from the energy server."""

    name = "Energy-TCP option schedule"
    fields_desc = [
        ByteEnumField("kind", OPT_SCHEDULE, OPTION_KINDS),
        ByteField("length", OPTION_LENGTHS[OPT_SCHEDULE]),
        ByteEnumField("mode", 1, SCHEDULE_MODES),
        ByteField("reserved", 0),
        IntField("start_s", 0),
        ShortField("slot_s", 600),
        ShortField("n_slots", 1),
        IntField("bee_per_slot", 10),
    ]


class ETCPOptUnknown(_ETCPOpt):
    """An option of an unknown kind (or with a wrong length): kind, length and opaque data."""

    name = "Energy-TCP option unknown"
    fields_desc = [
        ByteEnumField("kind", 255, OPTION_KINDS),
        ByteField("length", None),
        StrLenField("data", b"", length_from=lambda pkt: max(0, (pkt.length or 0) - 2)),
    ]

    def post_build(self, p, pay):
        if self.length is None:
            p = p[:1] + struct.pack("!B", len(p)) + p[2:]
        return p + pay


_OPTION_CLASSES = {
    OPT_REQUEST: ETCPOptRequest,
    OPT_REJECT: ETCPOptReject,
    OPT_SCHEDULE: ETCPOptSchedule,
    OPT_OFFER: ETCPOptOffer,
}


class _ETCPOptionsField(PacketListField):
    """Options area: decoding stops at EOL and drops what follows; building zero-pads to 4 bytes."""

    def getfield(self, pkt, s):
        area_len = max(0, self.length_from(pkt))
        area, rest = s[:area_len], s[area_len:]
        options = []
        while area:
            try:
                opt = _ETCPOpt(area, _parent=pkt)
            except Exception:
                if conf.debug_dissector:
                    raise
                options.append(conf.raw_layer(load=area))
                break
            options.append(opt)
            pad = opt.lastlayer()
            if not isinstance(pad, conf.padding_layer):
                break
            area = pad.load
            del pad.underlayer.payload
            if isinstance(opt, ETCPOptEOL):
                break
        return rest, options

    def addfield(self, pkt, s, val):
        data = b"".join(self.i2m(pkt, v) for v in val)
        return s + data + b"\x00" * (-len(data) % 4)


def _ip_underlayer(layer: Packet) -> IP | None:
    """Walk down from `layer` (through an EnergyIP header) to the carrying IPv4 layer."""
    under = layer.underlayer
    while under is not None and not isinstance(under, IP):
        under = under.underlayer
    return under


class EnergyTCP(Packet):
    """Energy-TCP header: ports, BEE-unit sequence numbers, flags, window (dynamic limit)."""

    name = "Energy-TCP"
    fields_desc = [
        ShortEnumField("sport", EPHEMERAL_PORT_MIN, WELL_KNOWN_PORTS),
        ShortEnumField("dport", PORT_ENERGY_SERVER, WELL_KNOWN_PORTS),
        IntField("seq", 0),
        IntField("ack", 0),
        BitField("dataofs", None, 4),
        BitField("reserved", 0, 4),
        FlagsField("flags", 0, 8, ETCP_FLAG_NAMES),
        XShortField("chksum", None),
        IntField("window", 0),
        ShortEnumField("urgent", 0, EMERGENCY_CODES),
        ShortField("reserved2", 0),
        _ETCPOptionsField(
            "options",
            [],
            _ETCPOpt,
            length_from=lambda pkt: (pkt.dataofs or 0) * 4 - ENERGY_TCP_LEN,
        ),
    ]

    def post_build(self, p, pay):
        if self.dataofs is None:
            if len(p) - ENERGY_TCP_LEN > _MAX_OPTIONS_LEN:
                raise EncodeError("energy_tcp.options", f"{len(p) - 24} bytes > 36")
            p = p[:12] + struct.pack("!B", (len(p) // 4) << 4 | p[12] & 0x0F) + p[13:]
        if self.chksum is None:
            ip = _ip_underlayer(self)
            if ip is not None:
                segment = p + pay
                pseudo = struct.pack(
                    "!4s4sBBH",
                    socket.inet_aton(ip.src),
                    socket.inet_aton(ip.dst),
                    0,
                    IP_PROTO_ENERGY,
                    len(segment),
                )
                p = p[:14] + struct.pack("!H", internet_checksum(pseudo + segment)) + p[16:]
        return p + pay

    def guess_payload_class(self, payload):
        return record_class(payload)

    def units(self) -> int:
        """Sequence numbers this segment occupies: SYN and FIN one each, plus its records (R6.4)."""
        n = int(self.flags.SYN) + int(self.flags.FIN)
        layer = self.payload
        while isinstance(layer, _Record):
            n += layer.units()
            layer = layer.payload
        return n

    def hashret(self):
        return struct.pack("!H", self.sport ^ self.dport)

    def answers(self, other):
        """Accept/Reject answer a Request; an ACK answers the data it acknowledges."""
        if not isinstance(other, EnergyTCP):
            return 0
        if other.flags.RST or other.flags.WUP or self.flags.WUP:
            return 0
        if conf.checkIPsrc and not (self.sport == other.dport and self.dport == other.sport):
            return 0
        acked = seq_sub(self.ack, other.seq)
        if other.flags.SYN and not other.flags.ACK:
            if self.flags.SYN:
                return int(bool(self.flags.ACK) and acked == 1)
            return int(bool(self.flags.RST) and (not self.flags.ACK or acked == 1))
        if self.flags.SYN or not (self.flags.ACK or self.flags.RST):
            return 0
        if self.flags.RST and not self.flags.ACK:
            return 1
        if other.flags.ACK and self.seq != other.ack:
            return 0
        return int(0 < acked <= other.units())

    def mysummary(self):
        sport = self.sprintf("%EnergyTCP.sport%")
        dport = self.sprintf("%EnergyTCP.dport%")
        ip = _ip_underlayer(self)
        if ip is not None:
            sport, dport = f"{ip.src}:{sport}", f"{ip.dst}:{dport}"
        return self.sprintf(
            f"Energy-TCP {sport} > {dport} %EnergyTCP.flags% seq=%EnergyTCP.seq% "
            "ack=%EnergyTCP.ack% win=%EnergyTCP.window%"
        )


__all__ = [
    "ETCPOptEOL",
    "ETCPOptNop",
    "ETCPOptOffer",
    "ETCPOptReject",
    "ETCPOptRequest",
    "ETCPOptSchedule",
    "ETCPOptUnknown",
    "EnergyTCP",
]
