"""The seed 004 message classes as Energy-TCP segments: build them, classify them, count their units."""

import struct

from eip.errors import EncodeError
from eip.protocol import constants as c
from eip.protocol.model import (
    Bee,
    EnergyTcp,
    OfferOption,
    Packet,
    Receipt,
    RejectOption,
    RequestOption,
    ScheduleOption,
    Signature,
)
from eip.protocol.seq import seq_add

_NO_UNITS = (Signature, Receipt)  # SIG and RCPT occupy no sequence numbers (R6.4)


def seq_units(seg: EnergyTcp) -> int:
    """Sequence numbers a segment occupies (R6.4): BEE quantities, 1 per order/fill, SYN, FIN."""
    units = 0
    for r in seg.records:
        if isinstance(r, Bee):
            units += r.quantity
        elif not isinstance(r, _NO_UNITS):
            units += 1
    return units + bool(seg.flags & c.ETCP_SYN) + bool(seg.flags & c.ETCP_FIN)


def carries_bee(seg: EnergyTcp) -> bool:
    """True when the segment holds at least one BEE record (what the switch meters, R3.3)."""
    return any(type(r) is Bee for r in seg.records)


def bee_dscp(class_dscp: int) -> int:
    """The BEE-carrying codepoint of a class (R3.3): 8k -> 8k + 2, EF 46 -> 44; a BEE codepoint stays.

    A value that names no class (ISP control 48, unregistered) gets class 1's, the default class.
    """
    if class_dscp in c.DSCP_BEE:
        return class_dscp
    if class_dscp == c.DSCP_EMERGENCY:
        return c.DSCP_EMERGENCY_BEE
    if class_dscp in c.PRIORITY_CLASSES.values():
        return class_dscp + c.DSCP_BEE_FLAG
    return c.BEE_PRIORITY_CLASSES[1]


def no_bee_dscp(class_dscp: int) -> int:
    """The codepoint of a class for a datagram without BEE (R3.3): 8k + 2 -> 8k, 44 -> 46; others stay."""
    if class_dscp == c.DSCP_EMERGENCY_BEE:
        return c.DSCP_EMERGENCY
    if class_dscp in c.DSCP_BEE:
        return class_dscp - c.DSCP_BEE_FLAG
    return class_dscp


def segment_dscp(seg: EnergyTcp, class_dscp: int) -> int:
    """The DSCP every sender puts on `seg` sent in the class of `class_dscp` (R3.3): BEE or not."""
    return bee_dscp(class_dscp) if carries_bee(seg) else no_bee_dscp(class_dscp)


def transfer_option(seg: EnergyTcp) -> RequestOption | OfferOption | None:
    """The request or offer option of a segment (what a SYN asks or offers), if it has one."""
    return next((o for o in seg.options if isinstance(o, RequestOption | OfferOption)), None)


def request_option(seg: EnergyTcp) -> RequestOption | OfferOption | None:
    """The request or offer option of a segment, if it has one (same as transfer_option)."""
    return transfer_option(seg)


def is_offer(seg: EnergyTcp) -> bool:
    """Whether a Request/Accept is about an Offer: the requester, not the acceptor, sends the BEEs."""
    return isinstance(transfer_option(seg), OfferOption)


def signature(seg: EnergyTcp) -> Signature | None:
    """The SIG record closing a data segment's delivery record (R7.9), if it has one."""
    recs = seg.records
    return recs[-1] if recs and isinstance(recs[-1], Signature) else None


def receipts(seg: EnergyTcp) -> tuple[Receipt, ...]:
    """The RCPT records of an acknowledgment (R7.10)."""
    return tuple(r for r in seg.records if isinstance(r, Receipt))


def request_segment(
    sport: int, dport: int, isn: int, window: int, req: RequestOption, emergency: int = 0
) -> EnergyTcp:
    """A Request (SYN with one request option); with `emergency` (registry 9.5) an Emergency (URG)."""
    flags = c.ETCP_SYN | (c.ETCP_URG if emergency else 0)
    return EnergyTcp(sport, dport, isn, 0, flags, window, emergency, (req,))


def offer_segment(
    sport: int, dport: int, isn: int, window: int, offer: OfferOption, emergency: int = 0
) -> EnergyTcp:
    """An Offer (SYN with one offer option): the requester proposes to deliver BEEs (R6.9)."""
    if not isinstance(offer, OfferOption):
        raise EncodeError("energy_tcp.options", "an Offer carries an offer option")
    flags = c.ETCP_SYN | (c.ETCP_URG if emergency else 0)
    return EnergyTcp(sport, dport, isn, 0, flags, window, emergency, (offer,))


def accept_segment(request: EnergyTcp, isn: int, window: int, granted_quantity: int) -> EnergyTcp:
    """The Accept (SYN-ACK) answering a Request or an Offer: the same option kind, granting at most
    what was asked (R6.9)."""
    req = transfer_option(request)
    if req is None:
        raise EncodeError("energy_tcp.options", "the request carries no request or offer option")
    kind = "offer" if isinstance(req, OfferOption) else "request"
    if granted_quantity > req.quantity:
        raise EncodeError(
            f"{kind}.quantity", f"granted {granted_quantity} exceeds the {req.quantity} asked"
        )
    granted = req._replace(quantity=granted_quantity)
    ack = seq_add(request.seq, 1)
    flags = c.ETCP_SYN | c.ETCP_ACK
    return EnergyTcp(request.dport, request.sport, isn, ack, flags, window, 0, (granted,))


def reject_segment(request: EnergyTcp, reason: int, retry_after_s: int) -> EnergyTcp:
    """The Reject (RST-ACK with reason and retry-after) answering `request` (R6.11)."""
    if reason not in c.REJECT_REASONS:
        raise EncodeError("reject.reason", f"{reason} is not in registry 9.5")
    ack = seq_add(request.seq, seq_units(request))
    opt = RejectOption(reason, retry_after_s)
    return EnergyTcp(request.dport, request.sport, 0, ack, c.ETCP_RST | c.ETCP_ACK, 0, 0, (opt,))


def refused_syn(data: bytes, field: str) -> tuple[str, str, EnergyTcp] | None:
    """A SYN the decoder refused only for its request/offer options (R6.9; checksums and header
    verified before options are read): (source, destination, its header without options), so the
    receiver can reject it with reason 8. None for any other refusal."""
    if field != "energy_tcp.options" or len(data) < 20:
        return None
    ihl = (data[0] & 0x0F) * 4
    if len(data) < ihl + 1 or data[ihl + 3 : ihl + 4] != bytes([c.NH_ENERGY_TCP]):
        return None
    t = ihl + (data[ihl] & 0x0F) * 4
    if len(data) < t + 24:
        return None
    sport, dport, seq, _ack, _off, flags = struct.unpack_from("!HHIIBB", data, t)
    if not flags & c.ETCP_SYN or flags & (c.ETCP_ACK | c.ETCP_RST):
        return None
    src, dst = ".".join(map(str, data[12:16])), ".".join(map(str, data[16:20]))
    return src, dst, EnergyTcp(sport, dport, seq, 0, flags & (c.ETCP_SYN | c.ETCP_URG), 0)


def window_update_segment(window: int, sport: int = 0, dport: int = 0) -> EnergyTcp:
    """An ISP window update (R6.10): ports 0 set the card's aggregate dynamic limit."""
    return EnergyTcp(sport, dport, 0, 0, c.ETCP_WUP, window)


def window_update_applies(pkt: Packet) -> bool:
    """Whether a card may apply a window update: only the ISP may send one (R6.10)."""
    seg = pkt.payload
    return (
        isinstance(seg, EnergyTcp)
        and bool(seg.flags & c.ETCP_WUP)
        and bool(pkt.eip.flags & c.EIP_FLAG_ISP)
    )


def classify(seg: EnergyTcp) -> str:
    """The seed 004 message class of a segment (section 6.2)."""
    f = seg.flags
    if f & c.ETCP_WUP:
        return "window-update"
    if f & c.ETCP_SYN:
        kind = "accept" if f & c.ETCP_ACK else "offer" if is_offer(seg) else "request"
        return "emergency-" + kind if f & c.ETCP_URG else kind
    if f & c.ETCP_RST:
        return "reject"
    if f & c.ETCP_FIN:
        return "close"
    if any(not isinstance(r, Receipt) for r in seg.records):
        return "data"
    if any(isinstance(o, ScheduleOption) for o in seg.options):
        return "schedule"
    return "ack"


def quoted_ports(quoted: bytes) -> tuple[int, int] | None:
    """(source, destination) transport ports of the packet a control message quotes (R5.4), or None
    when the quote is too short to hold them (IHL > 5 is honoured; nothing past the quote is read)."""
    ihl = (quoted[0] & 0x0F) * 4 if quoted else 0
    if ihl < 20 or len(quoted) < ihl + c.ENERGY_IP_LEN + 4:
        return None
    return struct.unpack_from("!HH", quoted, ihl + c.ENERGY_IP_LEN)
