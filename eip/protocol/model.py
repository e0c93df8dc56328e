"""Plain immutable values for every Energy Internet message; the codec and the Scapy layers map them to bytes.

Fields follow docs/protocol.md and carry their unit in the name. Lengths, checksums, version and the
Energy-IP next-header are derived from the values and so are not fields here.
"""

from typing import NamedTuple

from eip.protocol.constants import BEE_ELECTRICITY, DEFAULT_TTL, NO_LIMIT


class Bee(NamedTuple):
    """One BEE record (seed 000 Fig. 2): what is exchanged, its quality, quantity, price and time frame."""

    flags: int = 0
    bee_type: int = BEE_ELECTRICITY
    green_ratio_bp: int = 0  # 0..10000 basis points of green energy
    carbon_mg_per_unit: int = 0  # mg CO2e per BEE unit (= g/kWh for energy types)
    attr1: int = 0
    attr2: int = 0
    attr3: int = 0
    attr4: int = 0
    attr5: int = 0
    quantity: int = 1  # BEE units: Wh, g (carbon right) or W (flexibility)
    price_micro_per_kbee: int = 0  # millionths of the currency unit per 1000 BEE (e.g. uCNY/kWh)
    start_s: int = 0  # delivery time frame, Unix seconds
    end_s: int = 0


class PoolOrder(NamedTuple):
    """A send (offer) or ask (bid) order to a BEE pool or auction (seed 000 section 6)."""

    flags: int = 0
    order_id: int = 0
    side: int = 1  # 1 send, 2 ask
    bee_type: int = BEE_ELECTRICITY
    action: int = 1  # 1 place, 2 cancel, 3 query
    quantity: int = 0
    price_micro_per_kbee: int = 0  # limit price
    start_s: int = 0
    end_s: int = 0
    min_green_ratio_bp: int = 0


class PoolFill(NamedTuple):
    """The pool's answer to an order: a match with a counterparty, or the order's new status."""

    flags: int = 0
    order_id: int = 0
    peer_mac: str = "00:00:00:00:00:00"
    status: int = 1  # 1 partial, 2 complete, 3 cancelled, 4 rejected, 5 resting
    peer_ip: str = "0.0.0.0"
    quantity: int = 0
    price_micro_per_kbee: int = 0
    start_s: int = 0
    end_s: int = 0


class Signature(NamedTuple):
    """Record kind 4: the sender's signature over the delivery record [start_seq, end_seq)."""

    flags: int = 0
    start_seq: int = 0
    end_seq: int = 0
    signature: bytes = bytes(64)


class Receipt(NamedTuple):
    """Record kind 5: the receiver's signature acknowledging the delivery record [start_seq, end_seq)."""

    flags: int = 0
    start_seq: int = 0
    end_seq: int = 0
    signature: bytes = bytes(64)


class RequestOption(NamedTuple):
    """Energy-TCP option 2: what a Request (SYN) asks for, or what an Accept (SYN-ACK) grants."""

    quantity: int = 0
    start_s: int = 0
    end_s: int = 0
    deadline_s: int = 0
    bee_type: int = BEE_ELECTRICITY
    priority: int = 0  # requested priority class, 0 = let the server classify


class OfferOption(NamedTuple):
    """Energy-TCP option 5: what an Offer (SYN) proposes to deliver, or what its Accept takes."""

    quantity: int = 0
    start_s: int = 0
    end_s: int = 0
    deadline_s: int = 0
    bee_type: int = BEE_ELECTRICITY
    priority: int = 0


class RejectOption(NamedTuple):
    """Energy-TCP option 3: why a Request was refused and when it may be sent again."""

    reason: int = 255
    retry_after_s: int = 0


class ScheduleOption(NamedTuple):
    """Energy-TCP option 4: a delivery/storage schedule from the energy server (seed 004)."""

    mode: int = 1  # 1 deliver, 2 store, 3 draw
    start_s: int = 0
    slot_s: int = 600
    n_slots: int = 1
    bee_per_slot: int = 10


class UnknownOption(NamedTuple):
    """An option of a kind this implementation does not know, kept so it can be re-encoded."""

    kind: int
    data: bytes = b""


class EnergyIp(NamedTuple):
    """The Energy-IP header that follows IPv4 (section 4)."""

    energy_type: int = 0
    flags: int = 0
    origin_mac: str = "00:00:00:00:00:00"
    node_id: int = 0
    period: int = 0
    static_limit: int = NO_LIMIT  # BEE per period on this path, NO_LIMIT if none known
    options: bytes = b""  # header words beyond the 24 fixed bytes (none defined in version 1)


class EnergyTcp(NamedTuple):
    """An Energy-TCP segment: header fields, options and the application records it carries."""

    sport: int = 0
    dport: int = 0
    seq: int = 0  # BEE units, see rule 6.4
    ack: int = 0
    flags: int = 0
    window: int = 0  # dynamic exchange limit, BEE units
    urgent: int = 0  # emergency code when URG is set
    options: tuple = ()
    records: tuple = ()  # Bee | PoolOrder | PoolFill | Signature | Receipt


class StaticLimitNotice(NamedTuple):
    """Control type 1: the static exchange limits the ISP sets for a card for one period."""

    period: int = 0
    period_s: int = 7200
    export_limit: int = 0  # BEE per period
    import_limit: int = 0


class PriceNotice(NamedTuple):
    """Control type 4: the ISP's public prices at the card's grid node for one period (R5.7): what
    the grid charges for energy taken there (buy) and pays for energy fed in (sell)."""

    period: int = 0
    buy_price_micro_per_kbee: int = 0  # signed, micro-currency per 1000 BEE, as the BEE price field
    sell_price_micro_per_kbee: int = 0


class FeeNotice(NamedTuple):
    """Control type 5: the ISP's service-fee bill of a card for one period (R5.8): `usage_bee` BEE
    the switches metered for the card at `rate_micro_per_kbee`; the card books it in its ledger."""

    period: int = 0
    usage_bee: int = 0  # the card's metered export + import by which the period's fees are shared
    rate_micro_per_kbee: int = 0  # micro-currency per 1000 BEE, as the BEE price field

    @property
    def fee_micro(self) -> float:
        """The bill in micro-currency: usage x rate / 1000."""
        return self.usage_bee * self.rate_micro_per_kbee / 1000


class LimitExceeded(NamedTuple):
    """Control type 2: a hop dropped a packet that exceeded a limit; quotes the offending headers."""

    code: int = 0  # 0 static, 1 dynamic, 2 quota
    limit: int = 0  # the limit in force at that hop, BEE
    quoted: bytes = b""


class Unreachable(NamedTuple):
    """Control type 3: the destination cannot be reached; quotes the offending headers."""

    code: int = 0
    quoted: bytes = b""


class Packet(NamedTuple):
    """One Energy Internet packet from its IPv4 header on; `payload` is a segment or a control message."""

    src: str
    dst: str
    eip: EnergyIp
    payload: EnergyTcp | StaticLimitNotice | PriceNotice | FeeNotice | LimitExceeded | Unreachable
    dscp: int = 0
    ttl: int = DEFAULT_TTL
    ident: int = 0
