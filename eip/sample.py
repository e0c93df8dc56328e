"""One complete Energy Internet exchange containing every message kind, for pcaps, docs and tests.

A PV card sells to an urban load under limits from the ISP, signing each delivery record (SIG) that
the load acknowledges with a receipt (RCPT); an EV is rejected, escalates to an emergency, and hits an
islanded microgrid; the load trades through the BEE pool, and a storage card offers it flexibility.

The demo cards sign with fixed Ed25519 keys derived from constant seeds (`sample_key`), and Ed25519 is
deterministic, so the sample pcap is the same on every run.
"""

import calendar
import hashlib
import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eip.errors import EipError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    LimitExceeded,
    OfferOption,
    Packet,
    PoolFill,
    PoolOrder,
    Receipt,
    RejectOption,
    RequestOption,
    ScheduleOption,
    Signature,
    StaticLimitNotice,
    Unreachable,
)
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


def sample_key(name: str) -> Ed25519PrivateKey:
    """The fixed demo key of sample card `name` ("pv", "load", "storage"): not a secret."""
    return Ed25519PrivateKey.from_private_bytes(
        hashlib.sha256(f"eip-sample-{name}".encode()).digest()
    )


def _signed_range(sender, receiver, sport, dport, isn, start, bees, sender_key, receiver_key):
    """SIG and RCPT records for the delivery record of `bees` starting at `start` (section 7.4)."""
    end = (start + sum(b.quantity for b in bees)) % (1 << 32)
    msg = delivery_message(
        sender[0], receiver[0], sport, dport, isn, start, end, records_digest(bees)
    )
    sig = sender_key.sign(msg)
    rcpt = receiver_key.sign(receipt_message(msg, sig))
    return Signature(0, start, end, sig), Receipt(0, start, end, rcpt)


def _eip(origin, energy_type=0, flags=0, node_id=0, static_limit=c.NO_LIMIT) -> EnergyIp:
    return EnergyIp(energy_type, flags, origin[0], node_id, PERIOD, static_limit)


def _pkt(src, dst, eip: EnergyIp, payload, dscp: int = 0) -> tuple:
    """(src endpoint, dst endpoint, the Packet between their Energy IPs)."""
    return src, dst, Packet(src[1], dst[1], eip, payload, dscp=dscp)


def _seg(sport, dport, seq, ack, flags, window, options=(), records=(), urgent=0) -> EnergyTcp:
    return EnergyTcp(sport, dport, seq, ack, flags, window, urgent, tuple(options), tuple(records))


def sample_exchange() -> list[tuple[str, str, Packet]]:
    """Return (src_mac, dst_mac, packet) for each packet of the sample exchange, in time order."""
    ack, syn, fin, rst = c.ETCP_ACK, c.ETCP_SYN, c.ETCP_FIN, c.ETCP_RST
    frame_s = (T0_S, T0_S + PERIOD_S)
    pv_eip = _eip(PV, c.BEE_ELECTRICITY, node_id=3, static_limit=5000)
    load_eip = _eip(LOAD, node_id=2, static_limit=2000)
    elec = Bee(
        0,
        c.BEE_ELECTRICITY,
        10_000,
        0,
        quantity=500,
        price_micro_per_kbee=420_000,
        start_s=frame_s[0],
        end_s=frame_s[1],
    )
    mixed = (
        Bee(
            0,
            c.BEE_HEAT,
            3000,
            60,
            1,
            8000,
            100,
            quantity=300,
            price_micro_per_kbee=200_000,
            start_s=frame_s[0],
            end_s=frame_s[1],
        ),
        Bee(
            0,
            c.BEE_GAS,
            0,
            10,
            1,
            1_013_250,
            500,
            quantity=200,
            price_micro_per_kbee=300_000,
            start_s=frame_s[0],
            end_s=frame_s[1],
        ),
        Bee(
            0,
            c.BEE_GREEN_CERTIFICATE,
            10_000,
            0,
            quantity=400,
            price_micro_per_kbee=30_000,
            start_s=frame_s[0],
            end_s=frame_s[1],
        ),
        Bee(
            0,
            c.BEE_CARBON_RIGHT,
            0,
            0,
            quantity=150,
            price_micro_per_kbee=60_000,
            start_s=frame_s[0],
            end_s=frame_s[1],
        ),
        Bee(
            c.BEE_FLAG_STORE,
            c.BEE_FLEXIBILITY,
            0,
            1,
            20_000,
            quantity=100,
            price_micro_per_kbee=10_000,
            start_s=frame_s[0],
            end_s=frame_s[1],
        ),
    )
    request = RequestOption(2500, frame_s[0], frame_s[1], frame_s[1], c.BEE_ELECTRICITY, 1)
    granted = request._replace(quantity=2150)
    ev_request = RequestOption(8000, frame_s[0], frame_s[1], T0_S + 3600, c.BEE_ELECTRICITY, 2)
    isp_eip = _eip(ISP, flags=c.EIP_FLAG_ISP)
    cport = 49152
    pv_key, load_key, storage_key = (sample_key(n) for n in ("pv", "load", "storage"))
    # The PV card (ISN 5000) signs each data segment's delivery record; the load signs receipts.
    sig1, rcpt1 = _signed_range(PV, LOAD, 10, cport, 5000, 5001, (elec, elec), pv_key, load_key)
    sig2, rcpt2 = _signed_range(PV, LOAD, 10, cport, 5000, 6001, mixed, pv_key, load_key)
    pv_data1 = Packet(
        PV[1],
        LOAD[1],
        pv_eip,
        _seg(10, cport, 5001, 1001, ack | c.ETCP_PSH, 4000, records=(elec, elec, sig1)),
        dscp=8,
    )
    # A storage card offers the load flexibility (Offer: the requester delivers).
    offer = OfferOption(500, frame_s[0], frame_s[1], T0_S + 1800, c.BEE_FLEXIBILITY, 1)
    flex = Bee(
        c.BEE_FLAG_STORE,
        c.BEE_FLEXIBILITY,
        0,
        0,
        15_000,
        quantity=500,
        price_micro_per_kbee=12_000,
        start_s=frame_s[0],
        end_s=frame_s[1],
    )
    sport_st = 49160
    sig3, rcpt3 = _signed_range(
        STORAGE, LOAD, sport_st, 10, 3000, 3001, (flex,), storage_key, load_key
    )
    st_eip = _eip(STORAGE, node_id=2)
    offer_exchange = [
        _pkt(STORAGE, LOAD, st_eip, _seg(sport_st, 10, 3000, 0, syn, 1000, (offer,))),
        _pkt(LOAD, STORAGE, load_eip, _seg(10, sport_st, 8000, 3001, syn | ack, 500, (offer,))),
        _pkt(STORAGE, LOAD, st_eip, _seg(sport_st, 10, 3001, 8001, ack, 1000)),
        _pkt(
            STORAGE,
            LOAD,
            _eip(STORAGE, c.BEE_FLEXIBILITY, node_id=2),
            _seg(sport_st, 10, 3001, 8001, ack | c.ETCP_PSH, 1000, records=(flex, sig3)),
        ),
        _pkt(LOAD, STORAGE, load_eip, _seg(10, sport_st, 8001, 3501, ack, 500, records=(rcpt3,))),
    ]
    quoted = codec.encode(pv_data1)[: c.IPV4_HDR_LEN + c.ENERGY_IP_LEN + c.QUOTE_TRANSPORT_BYTES]
    ev_syn = Packet(
        EV[1],
        PV[1],
        _eip(EV, flags=c.EIP_FLAG_MOV, node_id=2),
        _seg(49200, 10, 7000, 0, syn, 8000, (ev_request,)),
        dscp=16,
    )
    ev_quote = codec.encode(ev_syn)[: c.IPV4_HDR_LEN + c.ENERGY_IP_LEN + c.QUOTE_TRANSPORT_BYTES]
    packets = [
        _pkt(
            ISP,
            PV,
            isp_eip,
            StaticLimitNotice(PERIOD, PERIOD_S, 5000, 3000),
            dscp=c.DSCP_ISP_CONTROL,
        ),
        _pkt(
            ISP,
            LOAD,
            isp_eip,
            StaticLimitNotice(PERIOD, PERIOD_S, 1000, 2000),
            dscp=c.DSCP_ISP_CONTROL,
        ),
        # Request (SYN) from the load to the PV card's delivery port, and Accept (SYN-ACK).
        _pkt(LOAD, PV, load_eip, _seg(cport, 10, 1000, 0, syn, 2000, (request,)), dscp=8),
        _pkt(
            PV,
            LOAD,
            _eip(PV, node_id=3, static_limit=5000),
            _seg(10, cport, 5000, 1001, syn | ack, 4000, (granted,)),
            dscp=8,
        ),
        _pkt(LOAD, PV, load_eip, _seg(cport, 10, 1001, 5001, ack, 2000), dscp=8),
        # Delivery: BEE data segments, acknowledged.
        (PV, LOAD, pv_data1),
        _pkt(LOAD, PV, load_eip, _seg(cport, 10, 1001, 6001, ack, 2000, records=(rcpt1,)), dscp=8),
        # The ISP shrinks the load's aggregate dynamic limit (window update, ports 0).
        _pkt(ISP, LOAD, isp_eip, _seg(0, 0, 0, 0, c.ETCP_WUP, 1200), dscp=c.DSCP_ISP_CONTROL),
        _pkt(
            PV,
            LOAD,
            _eip(PV, node_id=3, static_limit=5000),
            _seg(10, cport, 6001, 1001, ack | c.ETCP_PSH, 4000, records=(*mixed, sig2)),
            dscp=8,
        ),
        _pkt(LOAD, PV, load_eip, _seg(cport, 10, 1001, 7151, ack, 1200, records=(rcpt2,)), dscp=8),
        # The energy server schedules storage for the load (delivery/storage message).
        _pkt(
            SERVER,
            LOAD,
            _eip(SERVER),
            _seg(
                c.PORT_ENERGY_SERVER,
                49153,
                300,
                41,
                ack,
                1000,
                (ScheduleOption(2, frame_s[0], 600, 12, 10),),
            ),
            dscp=8,
        ),
        # An EV away from home asks for too much: Reject with reason and retry-after.
        (EV, PV, ev_syn),
        _pkt(
            PV,
            EV,
            _eip(PV, node_id=3, static_limit=5000),
            _seg(10, 49200, 0, 7001, rst | ack, 0, (RejectOption(2, 600),)),
            dscp=16,
        ),
        # Rejected again, the EV escalates: Emergency request to the energy server.
        _pkt(
            EV,
            SERVER,
            _eip(EV, flags=c.EIP_FLAG_MOV, node_id=2),
            _seg(
                49201,
                c.PORT_ENERGY_SERVER,
                9000,
                0,
                syn | c.ETCP_URG,
                8000,
                (ev_request,),
                urgent=2,
            ),
            dscp=c.DSCP_EMERGENCY,
        ),
        # Trading through the BEE pool: an ask order and its fill.
        _pkt(
            LOAD,
            POOL,
            load_eip,
            _seg(
                49154,
                c.PORT_BEE_POOL,
                20,
                70,
                ack | c.ETCP_PSH,
                100,
                records=(
                    PoolOrder(
                        0,
                        17,
                        2,
                        c.BEE_ELECTRICITY,
                        1,
                        800,
                        450_000,
                        frame_s[0],
                        frame_s[1],
                        5000,
                    ),
                ),
            ),
            dscp=8,
        ),
        _pkt(
            POOL,
            LOAD,
            _eip(POOL),
            _seg(
                c.PORT_BEE_POOL,
                49154,
                70,
                21,
                ack | c.ETCP_PSH,
                100,
                records=(PoolFill(0, 17, PV[0], 1, PV[1], 500, 420_000, frame_s[0], frame_s[1]),),
            ),
            dscp=8,
        ),
        # A storage card offers the load 500 W of flexibility: Offer, Accept, signed delivery.
        *offer_exchange,
        # A router polices a segment over the limit, and an islanded microgrid refuses the EV.
        _pkt(ROUTER, PV, _eip(ROUTER), LimitExceeded(c.EXCEEDED_DYNAMIC, 1200, quoted)),
        _pkt(ROUTER, EV, _eip(ROUTER), Unreachable(c.UNREACH_ISLANDED, ev_quote)),
        # Close.
        _pkt(
            PV,
            LOAD,
            _eip(PV, node_id=3, static_limit=5000),
            _seg(10, cport, 7151, 1001, fin | ack, 4000),
            dscp=8,
        ),
        _pkt(LOAD, PV, load_eip, _seg(cport, 10, 1001, 7152, fin | ack, 1200), dscp=8),
        _pkt(
            PV,
            LOAD,
            _eip(PV, node_id=3, static_limit=5000),
            _seg(10, cport, 7152, 1002, ack, 4000),
            dscp=8,
        ),
    ]
    return [(src[0], dst[0], pkt) for src, dst, pkt in packets]


def sample_frames() -> list[bytes]:
    """Ethernet frames of the sample exchange."""
    return [codec.encode_frame(pkt, src, dst) for src, dst, pkt in sample_exchange()]


_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101


def write_pcap(
    path: str | Path,
    frames: Iterable[bytes],
    start_s: float = T0_S,
    step_s: float = 0.001,
    linktype: int = LINKTYPE_ETHERNET,
) -> int:
    """Write frames to a classic libpcap file (microsecond timestamps); return the number written."""
    count = 0
    with open(path, "wb") as out:
        out.write(_PCAP_HEADER.pack(_PCAP_MAGIC_US, 2, 4, 0, 0, 65535, linktype))
        for i, frame in enumerate(frames):
            ts_us = round((start_s + i * step_s) * 1e6)
            out.write(
                _PCAP_RECORD.pack(ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame))
            )
            out.write(frame)
            count += 1
    return count


def read_frames(path: str | Path) -> Iterator[tuple[float, int, bytes]]:
    """Yield (timestamp_s, linktype, frame) from a pcap or pcapng file; errors name the file."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    try:
        reader = RawPcapReader(str(path))
    except FileNotFoundError:
        raise EipError(f"{path}: no such file") from None
    except (Scapy_Exception, OSError, EOFError) as exc:
        raise EipError(f"{path}: not a pcap or pcapng capture ({exc})") from None
    with reader:
        linktype = getattr(reader, "linktype", LINKTYPE_ETHERNET)
        try:
            for data, meta in reader:
                ts = getattr(meta, "sec", None)
                if ts is not None:
                    ts_s = meta.sec + meta.usec / 1e6
                else:
                    ts_s = ((meta.tshigh << 32) | meta.tslow) / getattr(meta, "tsresol", 1e6)
                yield ts_s, getattr(meta, "linktype", linktype) or linktype, data
        except (Scapy_Exception, struct.error, EOFError) as exc:
            raise EipError(f"{path}: capture is truncated or corrupt ({exc})") from None
