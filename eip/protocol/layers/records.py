"""Application records carried by Energy-TCP (docs/protocol.md s.7): BEE, pool order, pool fill, and
the delivery signature (SIG) and receipt (RCPT) of section 7.4.

Records chain as layers, ``EnergyTCP() / BEE() / BEE() / BEEPoolOrder()``, dispatched by kind.
"""

from scapy.fields import (
    ByteEnumField,
    ByteField,
    FlagsField,
    IntField,
    IPField,
    MACField,
    ShortField,
    SignedIntField,
    StrFixedLenField,
    XByteField,
)
from scapy.packet import Packet, Raw

from eip.protocol.constants import (
    BEE_ELECTRICITY,
    BEE_FLAG_STORE,
    BEE_TYPES,
    FILL_STATUSES,
    ORDER_ACTIONS,
    ORDER_SIDES,
    REC_BEE,
    REC_FILL,
    REC_ORDER,
    REC_RCPT,
    REC_SIG,
    RECORD_KINDS,
    RECORD_LENGTHS,
    SIGNATURE_LEN,
)


def record_class(data: bytes) -> type[Packet]:
    """Record class for `data`; Raw for an unknown kind, a wrong length or a partial record."""
    if len(data) < 4:
        return Raw
    cls = _RECORD_CLASSES.get(data[0])
    length = int.from_bytes(data[2:4], "big")
    if cls is None or length != RECORD_LENGTHS[data[0]] or len(data) < length:
        return Raw
    return cls


class _Record(Packet):
    """Common record behaviour: take exactly the fixed length, the rest is the next record."""

    def extract_padding(self, s):
        return s, None

    def guess_payload_class(self, payload):
        return record_class(payload)

    def units(self) -> int:
        """Energy-TCP sequence numbers this record occupies (rule R6.4)."""
        return 1


class BEE(_Record):
    """BEE record (kind 1, 48 bytes): type, quality, quantity, price and time frame of energy."""

    name = "BEE"
    fields_desc = [
        ByteEnumField("kind", REC_BEE, RECORD_KINDS),
        FlagsField("flags", 0, 8, {BEE_FLAG_STORE: "STORE"}),
        ShortField("length", RECORD_LENGTHS[REC_BEE]),
        ByteEnumField("bee_type", BEE_ELECTRICITY, BEE_TYPES),
        ByteField("reserved", 0),
        ShortField("green_ratio_bp", 0),
        IntField("carbon_mg_per_unit", 0),
        SignedIntField("attr1", 0),
        SignedIntField("attr2", 0),
        SignedIntField("attr3", 0),
        SignedIntField("attr4", 0),
        SignedIntField("attr5", 0),
        IntField("quantity", 1),
        SignedIntField("price_micro_per_kbee", 0),
        IntField("start_s", 0),
        IntField("end_s", 0),
    ]

    def units(self) -> int:
        return self.quantity

    def mysummary(self):
        return self.sprintf(
            "BEE %BEE.bee_type% qty=%BEE.quantity% price=%BEE.price_micro_per_kbee% "
            "[%BEE.start_s%,%BEE.end_s%]"
        )


class BEEPoolOrder(_Record):
    """Pool order record (kind 2, 32 bytes): a send (offer) or ask (bid) to a BEE pool."""

    name = "BEE pool order"
    fields_desc = [
        ByteEnumField("kind", REC_ORDER, RECORD_KINDS),
        XByteField("flags", 0),
        ShortField("length", RECORD_LENGTHS[REC_ORDER]),
        IntField("order_id", 0),
        ByteEnumField("side", 1, ORDER_SIDES),
        ByteEnumField("bee_type", BEE_ELECTRICITY, BEE_TYPES),
        ByteEnumField("action", 1, ORDER_ACTIONS),
        ByteField("reserved", 0),
        IntField("quantity", 0),
        SignedIntField("price_micro_per_kbee", 0),
        IntField("start_s", 0),
        IntField("end_s", 0),
        ShortField("min_green_ratio_bp", 0),
        ShortField("reserved2", 0),
    ]

    def mysummary(self):
        return self.sprintf(
            "BEEPoolOrder #%BEEPoolOrder.order_id% %BEEPoolOrder.action% %BEEPoolOrder.side% "
            "%BEEPoolOrder.bee_type% qty=%BEEPoolOrder.quantity%"
        )


class BEEPoolFill(_Record):
    """Pool fill record (kind 3, 36 bytes): the pool's match or new status for an order."""

    name = "BEE pool fill"
    fields_desc = [
        ByteEnumField("kind", REC_FILL, RECORD_KINDS),
        XByteField("flags", 0),
        ShortField("length", RECORD_LENGTHS[REC_FILL]),
        IntField("order_id", 0),
        MACField("peer_mac", "00:00:00:00:00:00"),
        ByteEnumField("status", 1, FILL_STATUSES),
        ByteField("reserved", 0),
        IPField("peer_ip", "0.0.0.0"),
        IntField("quantity", 0),
        SignedIntField("price_micro_per_kbee", 0),
        IntField("start_s", 0),
        IntField("end_s", 0),
    ]

    def mysummary(self):
        return self.sprintf(
            "BEEPoolFill #%BEEPoolFill.order_id% %BEEPoolFill.status% qty=%BEEPoolFill.quantity% "
            "peer=%BEEPoolFill.peer_mac%"
        )


class BEESignature(_Record):
    """SIG record (kind 4, 76 bytes): the sender's Ed25519 signature over the delivery record
    [start_seq, end_seq); the last record of its data segment, occupying no sequence numbers."""

    name = "BEE delivery signature"
    fields_desc = [
        ByteEnumField("kind", REC_SIG, RECORD_KINDS),
        XByteField("flags", 0),
        ShortField("length", RECORD_LENGTHS[REC_SIG]),
        IntField("start_seq", 0),
        IntField("end_seq", 0),
        StrFixedLenField("signature", bytes(SIGNATURE_LEN), SIGNATURE_LEN),
    ]

    def units(self) -> int:
        return 0

    def mysummary(self):
        return self.sprintf("BEESignature [%BEESignature.start_seq%,%BEESignature.end_seq%)")


class BEEReceipt(_Record):
    """RCPT record (kind 5, 76 bytes): the receiver's Ed25519 signature acknowledging the delivery
    record [start_seq, end_seq); carried by an ACK, occupying no sequence numbers."""

    name = "BEE delivery receipt"
    fields_desc = [
        ByteEnumField("kind", REC_RCPT, RECORD_KINDS),
        XByteField("flags", 0),
        ShortField("length", RECORD_LENGTHS[REC_RCPT]),
        IntField("start_seq", 0),
        IntField("end_seq", 0),
        StrFixedLenField("signature", bytes(SIGNATURE_LEN), SIGNATURE_LEN),
    ]

    def units(self) -> int:
        return 0

    def mysummary(self):
        return self.sprintf("BEEReceipt [%BEEReceipt.start_seq%,%BEEReceipt.end_seq%)")


_RECORD_CLASSES: dict[int, type[Packet]] = {
    REC_BEE: BEE,
    REC_ORDER: BEEPoolOrder,
    REC_FILL: BEEPoolFill,
    REC_SIG: BEESignature,
    REC_RCPT: BEEReceipt,
}
