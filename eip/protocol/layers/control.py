"""Energy-IP control messages (protocol.md s.5): static limit, limit exceeded, unreachable, price."""

import struct

from scapy.fields import (
    ByteEnumField,
    IntField,
    MultiEnumField,
    SignedIntField,
    StrField,
    XShortField,
)
from scapy.packet import Packet

from eip.protocol.checksum import internet_checksum
from eip.protocol.constants import CONTROL_CODES, CONTROL_TYPES, CTRL_STATIC_LIMIT


class EnergyControl(Packet):
    """Control message header: type, code, checksum over the whole message, value."""

    name = "Energy-IP control"
    fields_desc = [
        ByteEnumField("type", CTRL_STATIC_LIMIT, CONTROL_TYPES),
        MultiEnumField("code", 0, CONTROL_CODES, depends_on=lambda pkt: pkt.type, fmt="B"),
        XShortField("chksum", None),
        IntField("value", 0),
    ]

    def post_build(self, p, pay):
        p += pay
        if self.chksum is None:
            p = p[:2] + struct.pack("!H", internet_checksum(p)) + p[4:]
        return p

    def mysummary(self):
        return self.sprintf(
            "Energy-IP control %EnergyControl.type% %EnergyControl.code% "
            "value=%EnergyControl.value%"
        )


class EnergyStaticLimit(Packet):
    """Body of a static-limit notice (type 1): a card's export and import limits per period."""

    name = "Energy-IP static-limit notice"
    fields_desc = [
        IntField("period", 0),
        IntField("period_s", 7200),
        IntField("export_limit", 0),
        IntField("import_limit", 0),
    ]

    def mysummary(self):
        return self.sprintf(
            "static-limit period=%EnergyStaticLimit.period% (%EnergyStaticLimit.period_s%s) "
            "export=%EnergyStaticLimit.export_limit% import=%EnergyStaticLimit.import_limit%"
        )


class EnergyPrice(Packet):
    """Body of a price notice (type 4): the ISP's buy and sell prices at the card's node (R5.7)."""

    name = "Energy-IP price notice"
    fields_desc = [
        IntField("period", 0),
        SignedIntField("buy_price_micro_per_kbee", 0),
        SignedIntField("sell_price_micro_per_kbee", 0),
    ]

    def mysummary(self):
        return self.sprintf(
            "price period=%EnergyPrice.period% buy=%EnergyPrice.buy_price_micro_per_kbee% "
            "sell=%EnergyPrice.sell_price_micro_per_kbee%"
        )


class EnergyFee(Packet):
    """Body of a service-fee bill (type 5): the card's metered usage and the fee rate (R5.8)."""

    name = "Energy-IP service-fee bill"
    fields_desc = [
        IntField("period", 0),
        IntField("usage_bee", 0),
        IntField("rate_micro_per_kbee", 0),
    ]

    def mysummary(self):
        return self.sprintf(
            "fee period=%EnergyFee.period% usage=%EnergyFee.usage_bee% "
            "rate=%EnergyFee.rate_micro_per_kbee%"
        )


class EnergyQuote(Packet):
    """Body of limit-exceeded (type 2) and unreachable (type 3): the quoted offending headers."""

    name = "Energy-IP control quote"
    fields_desc = [StrField("quoted", b"")]

    def mysummary(self):
        return f"quote {len(self.quoted)} bytes"
