"""One complete Energy Internet exchange containing every message kind, for pcaps, docs and tests.

A PV card sells to an urban load under limits and prices from the ISP, signing each delivery record
(SIG) that the load acknowledges with a receipt (RCPT); an EV is rejected, escalates to an emergency,
and hits an islanded microgrid; the load trades through the BEE pool, and a storage card offers it flexibility.
`sample_exchange` lists the packets in time order, one step of the story per helper below it.

The demo cards sign with fixed Ed25519 keys derived from constant seeds (`sample_key`), and Ed25519 is
deterministic, so the sample pcap is the same on every run.
"""

import calendar
import hashlib
from pathlib import Path
from typing import NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

# The pcap reader and writer live in eip.pcap; callers that import them from here keep working.
from eip.pcap import LINKTYPE_ETHERNET, LINKTYPE_RAW, read_frames, write_pcap
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import segment_dscp
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    FeeNotice,
    LimitExceeded,
    OfferOption,
    Packet,
    PoolFill,
    PoolOrder,
    PriceNotice,
    Receipt,
    RejectOption,
    RequestOption,
    ScheduleOption,
    Signature,
    StaticLimitNotice,
    Unreachable,
)
from eip.protocol.seq import seq_add
from eip.protocol.signing import delivery_message, receipt_message, records_digest

T0_S = calendar.timegm((2026, 6, 1, 10, 0, 0))  # start of period 5 (two-hour periods from midnight)
PERIOD = 5
PERIOD_S = 7200

ISP = ("02:00:00:00:00:fe", "10.0.0.254")
PV = ("02:00:00:00:01:01", "10.1.0.11")
LOAD = ("02:00:00:00:02:01", "10.2.0.21")
EV = ("02:00:00:00:02:02", "10.2.0.22")
SERVER = ("02:00:00:00:00:fd", "10.0.0.253")
POOL = ("02:00:00:00:01:fe", "10.1.0.254")
ROUTER = ("02:00:00:00:02:fe", "10.2.0.254")
STORAGE = ("02:00:00:00:02:03", "10.2.0.23")

__all__ = [
    "EV",
    "ISP",
    "LINKTYPE_ETHERNET",
    "LINKTYPE_RAW",
    "LOAD",
    "POOL",
    "PV",
    "ROUTER",
    "SERVER",
    "STORAGE",
    "T0_S",
    "read_frames",
    "sample_exchange",
    "sample_frames",
    "sample_key",
    "write_pcap",
    "write_sample_pcap",
]

FRAME_S = (T0_S, T0_S + PERIOD_S)  # every BEE of the sample is for this period
PV_PORT = 10  # the PV card's delivery port
LOAD_PORT = 49152  # the load's port of its transfer from the PV card
PV_ISN, LOAD_ISN = 5000, 1000
STORAGE_PORT, STORAGE_ISN, LOAD_OFFER_ISN = 49160, 3000, 8000
EV_PORT, EV_ISN = 49200, 7000
ACK, SYN, FIN, RST, PSH = c.ETCP_ACK, c.ETCP_SYN, c.ETCP_FIN, c.ETCP_RST, c.ETCP_PSH


def sample_key(name: str) -> Ed25519PrivateKey:
    """The fixed demo key of sample card `name` ("pv", "load", "storage"): not a secret."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"eip-sample-{name}".encode()).digest()
    )


class Hop(NamedTuple):
    """One packet of the exchange and the endpoints (MAC, Energy IP) it goes between."""

    src: tuple[str, str]
    dst: tuple[str, str]
    packet: Packet


def _bee(bee_type, quantity, price_micro_per_kbee, green_bp=0, carbon=0, attrs=(), flags=0) -> Bee:
    """A BEE for the sample's period (FRAME_S)."""
    start_s, end_s = FRAME_S
    return Bee(flags, bee_type, green_bp, carbon, *attrs, quantity=quantity,
               price_micro_per_kbee=price_micro_per_kbee, start_s=start_s, end_s=end_s)  # fmt: skip


ELEC = _bee(c.BEE_ELECTRICITY, 500, 420_000, green_bp=10_000)
MIXED = (  # heat, gas, a green certificate, a carbon right and flexibility in one data segment
    _bee(c.BEE_HEAT, 300, 200_000, green_bp=3000, carbon=60, attrs=(1, 8000, 100)),
    _bee(c.BEE_GAS, 200, 300_000, carbon=10, attrs=(1, 1_013_250, 500)),
    _bee(c.BEE_GREEN_CERTIFICATE, 400, 30_000, green_bp=10_000),
    _bee(c.BEE_CARBON_RIGHT, 150, 60_000),
    _bee(c.BEE_FLEXIBILITY, 100, 10_000, carbon=1, attrs=(20_000,), flags=c.BEE_FLAG_STORE),
)
FLEX = _bee(c.BEE_FLEXIBILITY, 500, 12_000, attrs=(15_000,), flags=c.BEE_FLAG_STORE)


def _eip(origin, energy_type=0, flags=0, node_id=0, static_limit=c.NO_LIMIT) -> EnergyIp:
    return EnergyIp(energy_type, flags, origin[0], node_id, PERIOD, static_limit)


def _pkt(src, dst, eip: EnergyIp, payload, dscp: int = 0) -> Hop:
    """The Packet between the Energy IPs of src and dst, with its endpoints; a segment is marked BEE
    or not in the class of `dscp` (R3.3)."""
    if type(payload) is EnergyTcp:
        dscp = segment_dscp(payload, dscp)
    return Hop(src, dst, Packet(src[1], dst[1], eip, payload, dscp=dscp))


def _seg(sport, dport, seq, ack, flags, window, options=(), records=(), urgent=0) -> EnergyTcp:
    return EnergyTcp(sport, dport, seq, ack, flags, window, urgent, tuple(options), tuple(records))


def _quote(pkt: Packet) -> bytes:
    """The start of `pkt` that an error message quotes (IPv4, Energy IP and the transport head)."""
    return codec.encode(pkt)[: c.IPV4_HDR_LEN + c.ENERGY_IP_LEN + c.QUOTE_TRANSPORT_BYTES]


class Side(NamedTuple):
    """One direction of an Energy-TCP connection of the sample: from src's port to dst's port."""

    src: tuple[str, str]
    dst: tuple[str, str]
    sport: int
    dport: int
    eip: EnergyIp
    dscp: int = 0

    def send(self, seq, ack, flags, window, options=(), records=(), eip=None, urgent=0) -> Hop:
        """A segment from src to dst (with the side's Energy IP header unless `eip` is given)."""
        seg = _seg(self.sport, self.dport, seq, ack, flags, window, options, records, urgent)
        return _pkt(self.src, self.dst, eip or self.eip, seg, self.dscp)

    def signed(self, isn, start, bees, sender_key, receiver_key) -> tuple[Signature, Receipt]:
        """SIG (by src) and RCPT (by dst) for the delivery record of `bees` from `start` (section
        7.4) on the connection with initial sequence number `isn`."""
        end = seq_add(start, sum(b.quantity for b in bees))
        digest = records_digest(bees)
        msg = delivery_message(self.src[0], self.dst[0], self.sport, self.dport, isn, start, end,
                               digest)  # fmt: skip
        sig = sender_key.sign(msg)
        rcpt = receiver_key.sign(receipt_message(msg, sig))
        return Signature(0, start, end, sig), Receipt(0, start, end, rcpt)


ISP_EIP = _eip(ISP, flags=c.EIP_FLAG_ISP)
LOAD_EIP = _eip(LOAD, node_id=2, static_limit=1000)  # its export limit (R4.8)
EV_EIP = _eip(EV, flags=c.EIP_FLAG_MOV, node_id=2)
PV_EIP = _eip(PV, node_id=3, static_limit=5000)
# The PV card's transfer to the load: the PV card sends with window 4000.
PV_TO_LOAD = Side(PV, LOAD, PV_PORT, LOAD_PORT, PV_EIP, dscp=8)
LOAD_TO_PV = Side(LOAD, PV, LOAD_PORT, PV_PORT, LOAD_EIP, dscp=8)
# The storage card's flexibility offer to the load's delivery port.
STORAGE_TO_LOAD = Side(STORAGE, LOAD, STORAGE_PORT, PV_PORT, _eip(STORAGE, node_id=2), dscp=8)
LOAD_TO_STORAGE = Side(LOAD, STORAGE, PV_PORT, STORAGE_PORT, LOAD_EIP, dscp=8)
# The EV's request to the PV card, away from home.
EV_TO_PV = Side(EV, PV, EV_PORT, PV_PORT, EV_EIP, dscp=16)
EV_REQUEST = RequestOption(8000, *FRAME_S, T0_S + 3600, c.BEE_ELECTRICITY, 2)


def _limit_notices() -> list[Hop]:
    """The ISP sends the PV card and the load the grid's buy and sell prices at the card's node
    (R5.7), each followed by the card's static limits for the period; the PV card, which moved
    BEE in the period before, then gets its service-fee bill (R5.8)."""
    hops = []
    for card, node, export, import_, buy, sell, bill in (
        (PV, 3, 5000, 3000, 556_000, 540_000, [FeeNotice(PERIOD, 1200, 3800)]),
        (LOAD, 2, 1000, 2000, 561_000, 545_000, []),
    ):
        for notice in (
            PriceNotice(PERIOD, buy, sell),
            StaticLimitNotice(PERIOD, PERIOD_S, export, import_),
            *bill,
        ):
            # the ISP names the card's grid node in the header, which the card copies (R4.7)
            hops.append(_pkt(ISP, card, ISP_EIP._replace(node_id=node), notice,
                             dscp=c.DSCP_ISP_CONTROL))  # fmt: skip
    return hops


def _request_and_accept() -> list[Hop]:
    """Request (SYN) from the load to the PV card's delivery port, Accept (SYN-ACK), ACK."""
    request = RequestOption(2500, *FRAME_S, FRAME_S[1], c.BEE_ELECTRICITY, 1)
    granted = request._replace(quantity=2150)
    return [
        LOAD_TO_PV.send(LOAD_ISN, 0, SYN, 2000, (request,)),
        PV_TO_LOAD.send(PV_ISN, LOAD_ISN + 1, SYN | ACK, 4000, (granted,)),
        LOAD_TO_PV.send(LOAD_ISN + 1, PV_ISN + 1, ACK, 2000),
    ]


def _delivery() -> list[Hop]:
    """Two signed BEE data segments, each acknowledged with a receipt; between them the ISP shrinks
    the load's aggregate dynamic limit (a window update on ports 0)."""
    keys = sample_key("pv"), sample_key("load")
    first = PV_ISN + 1
    second = first + 2 * ELEC.quantity
    end = second + sum(b.quantity for b in MIXED)
    sig1, rcpt1 = PV_TO_LOAD.signed(PV_ISN, first, (ELEC, ELEC), *keys)
    sig2, rcpt2 = PV_TO_LOAD.signed(PV_ISN, second, MIXED, *keys)
    ack = LOAD_ISN + 1
    electricity = _eip(PV, c.BEE_ELECTRICITY, node_id=3, static_limit=5000)
    return [
        PV_TO_LOAD.send(first, ack, ACK | PSH, 4000, records=(ELEC, ELEC, sig1), eip=electricity),
        LOAD_TO_PV.send(ack, second, ACK, 2000, records=(rcpt1,)),
        _pkt(ISP, LOAD, ISP_EIP, _seg(0, 0, 0, 0, c.ETCP_WUP, 1200), dscp=c.DSCP_ISP_CONTROL),
        PV_TO_LOAD.send(second, ack, ACK | PSH, 4000, records=(*MIXED, sig2)),
        LOAD_TO_PV.send(ack, end, ACK, 1200, records=(rcpt2,)),
    ]


def _storage_schedule() -> Hop:
    """The energy server schedules storage for the load (delivery/storage message)."""
    schedule = ScheduleOption(2, FRAME_S[0], 600, 12, 10)
    seg = _seg(c.PORT_ENERGY_SERVER, 49153, 300, 41, ACK, 1000, (schedule,))
    return _pkt(SERVER, LOAD, _eip(SERVER), seg, dscp=8)


def _ev_syn() -> Hop:
    """An EV away from home asks the PV card for too much."""
    return EV_TO_PV.send(EV_ISN, 0, SYN, 8000, (EV_REQUEST,))


def _ev_rejected_and_escalates() -> list[Hop]:
    """Reject with reason and retry-after; rejected again, the EV sends an Emergency request to the
    energy server."""
    pv_to_ev = Side(PV, EV, PV_PORT, EV_PORT, PV_EIP, dscp=16)
    emergency = Side(EV, SERVER, EV_PORT + 1, c.PORT_ENERGY_SERVER, EV_EIP, c.DSCP_EMERGENCY)
    return [
        pv_to_ev.send(0, EV_ISN + 1, RST | ACK, 0, (RejectOption(2, 600),)),
        emergency.send(9000, 0, SYN | c.ETCP_URG, 8000, (EV_REQUEST,), urgent=2),
    ]


def _pool_trade() -> list[Hop]:
    """Trading through the BEE pool: an ask order from the load and its fill."""
    order = PoolOrder(0, 17, 2, c.BEE_ELECTRICITY, 1, 800, 450_000, *FRAME_S, 5000)
    fill = PoolFill(0, 17, PV[0], 1, PV[1], 500, 420_000, *FRAME_S)
    load_port = 49154
    load_to_pool = Side(LOAD, POOL, load_port, c.PORT_BEE_POOL, LOAD_EIP, dscp=8)
    pool_to_load = Side(POOL, LOAD, c.PORT_BEE_POOL, load_port, _eip(POOL), dscp=8)
    return [
        load_to_pool.send(20, 70, ACK | PSH, 100, records=(order,)),
        pool_to_load.send(70, 21, ACK | PSH, 100, records=(fill,)),
    ]


def _storage_offer() -> list[Hop]:
    """A storage card offers the load 500 W of flexibility (Offer: the requester delivers): Offer,
    Accept, ACK, the signed delivery and its receipt."""
    offer = OfferOption(500, *FRAME_S, T0_S + 1800, c.BEE_FLEXIBILITY, 1)
    start = STORAGE_ISN + 1
    ack = LOAD_OFFER_ISN + 1
    keys = sample_key("storage"), sample_key("load")
    sig, rcpt = STORAGE_TO_LOAD.signed(STORAGE_ISN, start, (FLEX,), *keys)
    flexibility = _eip(STORAGE, c.BEE_FLEXIBILITY, node_id=2)
    return [
        STORAGE_TO_LOAD.send(STORAGE_ISN, 0, SYN, 1000, (offer,)),
        LOAD_TO_STORAGE.send(LOAD_OFFER_ISN, start, SYN | ACK, 500, (offer,)),
        STORAGE_TO_LOAD.send(start, ack, ACK, 1000),
        STORAGE_TO_LOAD.send(start, ack, ACK | PSH, 1000, records=(FLEX, sig), eip=flexibility),
        LOAD_TO_STORAGE.send(ack, start + FLEX.quantity, ACK, 500, records=(rcpt,)),
    ]


def _policing(data: Packet, ev_syn: Packet) -> list[Hop]:
    """A router polices a data segment over the limit, and an islanded microgrid refuses the EV."""
    return [
        _pkt(ROUTER, PV, _eip(ROUTER), LimitExceeded(c.EXCEEDED_DYNAMIC, 1200, _quote(data))),
        _pkt(ROUTER, EV, _eip(ROUTER), Unreachable(c.UNREACH_ISLANDED, _quote(ev_syn))),
    ]


def _close(pv_seq: int, load_seq: int) -> list[Hop]:
    """FIN from the PV card, FIN-ACK from the load, the last ACK."""
    return [
        PV_TO_LOAD.send(pv_seq, load_seq, FIN | ACK, 4000),
        LOAD_TO_PV.send(load_seq, pv_seq + 1, FIN | ACK, 1200),
        PV_TO_LOAD.send(pv_seq + 1, load_seq + 1, ACK, 4000),
    ]


def sample_exchange() -> list[tuple[str, str, Packet]]:
    """Return (src_mac, dst_mac, packet) for each packet of the sample exchange, in time order."""
    delivery = _delivery()
    ev_syn = _ev_syn()
    pv_end = delivery[-1].packet.payload.ack  # the load acknowledged everything the PV card sent
    hops = [
        *_limit_notices(),
        *_request_and_accept(),
        *delivery,
        _storage_schedule(),
        ev_syn,
        *_ev_rejected_and_escalates(),
        *_pool_trade(),
        *_storage_offer(),
        *_policing(delivery[0].packet, ev_syn.packet),
        *_close(pv_end, LOAD_ISN + 1),
    ]
    return [(hop.src[0], hop.dst[0], hop.packet) for hop in hops]


def sample_frames() -> list[bytes]:
    """Ethernet frames of the sample exchange."""
    return [codec.encode_frame(pkt, src, dst) for src, dst, pkt in sample_exchange()]


def write_sample_pcap(path: str | Path) -> int:
    """Write the sample exchange to a pcap, one frame a millisecond from T0_S; returns the count."""
    return write_pcap(path, sample_frames(), start_s=T0_S)
