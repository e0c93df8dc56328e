"""Energy-IP header that follows IPv4 protocol 253 (docs/protocol.md section 4)."""

import struct

from scapy.fields import (
    BitField,
    ByteEnumField,
    FlagsField,
    IntField,
    MACField,
    StrLenField,
    XShortField,
)
from scapy.packet import Packet

from eip.errors import EncodeError
from eip.protocol.checksum import internet_checksum
from eip.protocol.constants import (
    EIP_FLAG_NAMES,
    ENERGY_IP_LEN,
    ENERGY_IP_VERSION,
    ENERGY_TYPES,
    NEXT_HEADERS,
    NH_CONTROL,
    NH_ENERGY_TCP,
    NO_LIMIT,
)
from eip.protocol.layers.control import EnergyControl
from eip.protocol.layers.energy_tcp import EnergyTCP

_MAX_OPTIONS_LEN = 15 * 4 - ENERGY_IP_LEN


class EnergyIP(Packet):
    """Energy-IP header: origin EIC identity, energy type, grid node, period and static limit."""

    name = "Energy-IP"
    fields_desc = [
        BitField("version", ENERGY_IP_VERSION, 4),
        BitField("hlen", None, 4),
        ByteEnumField("energy_type", 0, ENERGY_TYPES),
        FlagsField("flags", 0, 8, EIP_FLAG_NAMES),
        ByteEnumField("nh", None, NEXT_HEADERS),
        MACField("origin_mac", "00:00:00:00:00:00"),
        XShortField("chksum", None),
        IntField("node_id", 0),
        IntField("period", 0),
        IntField("static_limit", NO_LIMIT),
        StrLenField(
            "options", b"", length_from=lambda pkt: max(0, (pkt.hlen or 0) * 4 - ENERGY_IP_LEN)
        ),
    ]

    def post_build(self, p, pay):
        p += b"\x00" * (-len(p) % 4)
        if len(p) - ENERGY_IP_LEN > _MAX_OPTIONS_LEN:
            raise EncodeError("energy_ip.options", f"{len(p) - ENERGY_IP_LEN} bytes > 36")
        if self.hlen is None:
            p = struct.pack("!B", (p[0] & 0xF0) | len(p) // 4) + p[1:]
        if self.nh is None:
            p = p[:3] + struct.pack("!B", self._next_header()) + p[4:]
        if self.chksum is None:
            p = p[:10] + struct.pack("!H", internet_checksum(p)) + p[12:]
        return p + pay

    def _next_header(self) -> int:
        """Next header implied by the payload layer; 0 (invalid) when it is neither kind."""
        if isinstance(self.payload, EnergyTCP):
            return NH_ENERGY_TCP
        if isinstance(self.payload, EnergyControl):
            return NH_CONTROL
        return 0

    def mysummary(self):
        return self.sprintf(
            "Energy-IP %EnergyIP.origin_mac% %EnergyIP.energy_type% "
            "period=%EnergyIP.period% limit=%EnergyIP.static_limit%"
        )
