"""Energy-TCP values: endpoints, transfers, deliveries and the effects a `Connection` returns."""

from typing import NamedTuple

from eip.protocol.model import Bee, EnergyTcp


class Endpoint(NamedTuple):
    """One end of a transfer: the card's identity (MAC), its current Energy IP and its port."""

    mac: str
    ip: str
    port: int


class TransferInfo(NamedTuple):
    """What a card persists about a transfer so it can resume it after a crash (docs/card.md)."""

    transfer_id: str
    role: str  # "send" (this card delivers the BEEs) or "receive"
    peer_mac: str
    peer_ip: str
    local_port: int
    peer_port: int
    isn: int  # the sender's initial sequence number
    template: Bee  # every BEE of the transfer is this one with its own quantity
    quantity_total: int  # BEE units granted for the transfer
    quantum: int  # BEE units per record (the last record may hold fewer)
    next_seq: int  # sender: snd_una; receiver: rcv_verified (first unit not yet durably done)
    state: str = "open"  # "open" or "closed"
    opened_s: float = 0.0
    close_reason: str = ""


def transfer_id(sender: Endpoint, receiver: Endpoint, isn: int) -> str:
    """The transfer id `<sender mac>:<port>><receiver mac>:<port>#<isn>` of docs/card.md."""
    return f"{sender.mac}:{sender.port}>{receiver.mac}:{receiver.port}#{isn}"


class Delivery(NamedTuple):
    """A delivery record, acknowledged: what one ledger transaction debits or credits."""

    transfer_id: str
    direction: str  # "debit" at the sender, "credit" at the receiver
    start_seq: int
    end_seq: int
    bees: tuple  # ((seq, Bee), ...) in sequence order
    sender_sig: bytes
    receiver_sig: bytes
    at_s: float


# Effects a Connection returns. The daemon applies them in order, except that it may gather the
# Persist effects of a batch into one transaction; it never sends a segment that follows a Persist
# before that Persist is committed.
class Send(NamedTuple):
    seg: EnergyTcp


class Persist(NamedTuple):
    delivery: Delivery
    next_seq: int  # the transfer's next_seq once this delivery is committed


class Opened(NamedTuple):
    transfer: TransferInfo


class Closed(NamedTuple):
    transfer_id: str
    reason: str  # "done", "reset", "rejected", "timeout", "forged", ...


class Event(NamedTuple):
    """Something the application should hear about: rejected, limit-exceeded, unreachable, forged..."""

    kind: str
    transfer_id: str
    detail: str = ""
