"""Hypothesis strategies for valid model Packets (every payload kind, option and record, full ranges)."""

from hypothesis import strategies as st

from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum
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
    UnknownOption,
    Unreachable,
)
from eip.protocol.seq import SEQ_HALF as HALF
from eip.protocol.seq import SEQ_MOD

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
i32 = st.integers(-(2**31), 2**31 - 1)
green = st.integers(0, c.GREEN_RATIO_MAX_BP)
bee_types = st.sampled_from(sorted(c.BEE_TYPES))
ipv4 = st.ip_addresses(v=4).map(str)
macs = st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":"))
time_frames = st.tuples(u32, u32).map(sorted)  # (start_s, end_s) with end_s >= start_s (R1.4)


@st.composite
def bees(draw, bee_type=None) -> Bee:
    start, end = draw(time_frames)
    return Bee(
        flags=draw(st.sampled_from((0, c.BEE_FLAG_STORE))),
        bee_type=draw(bee_types) if bee_type is None else bee_type,
        green_ratio_bp=draw(green),
        carbon_mg_per_unit=draw(u32),
        attr1=draw(i32),
        attr2=draw(i32),
        attr3=draw(i32),
        attr4=draw(i32),
        attr5=draw(i32),
        quantity=draw(st.integers(1, 0xFFFFFFFF)),
        price_micro_per_kbee=draw(i32),
        start_s=start,
        end_s=end,
    )


@st.composite
def pool_orders(draw) -> PoolOrder:
    start, end = draw(time_frames)
    action = draw(st.sampled_from(sorted(c.ORDER_ACTIONS)))
    return PoolOrder(
        flags=draw(u8),
        order_id=draw(u32),
        side=draw(st.sampled_from(sorted(c.ORDER_SIDES))),
        bee_type=draw(bee_types),
        action=action,
        quantity=draw(st.integers(1 if action == 1 else 0, 0xFFFFFFFF)),
        price_micro_per_kbee=draw(i32),
        start_s=start,
        end_s=end,
        min_green_ratio_bp=draw(green),
    )


@st.composite
def pool_fills(draw) -> PoolFill:
    start, end = draw(time_frames)
    return PoolFill(
        flags=draw(u8),
        order_id=draw(u32),
        peer_mac=draw(macs),
        status=draw(st.sampled_from(sorted(c.FILL_STATUSES))),
        peer_ip=draw(ipv4),
        quantity=draw(u32),
        price_micro_per_kbee=draw(i32),
        start_s=start,
        end_s=end,
    )


records = st.one_of(bees(), pool_orders(), pool_fills())  # the records that occupy sequence numbers
signatures = st.binary(min_size=c.SIGNATURE_LEN, max_size=c.SIGNATURE_LEN)


def record_units(recs) -> int:
    """Sequence numbers the records occupy (R6.4): BEE quantity, 1 per order or fill, 0 SIG/RCPT."""
    return sum(
        r.quantity if isinstance(r, Bee) else 0 if isinstance(r, Signature | Receipt) else 1
        for r in recs
    )


@st.composite
def sig_for(draw, seq: int, recs) -> Signature:
    """A SIG closing a segment at `seq` with records `recs` (R7.9): end = seq + units, start at or
    before seq, the range shorter than 2^31."""
    units = record_units(recs)
    end = (seq + units) % SEQ_MOD
    span = draw(st.one_of(st.just(units), st.integers(units, HALF - 1)))
    return Signature(draw(u8), (end - span) % SEQ_MOD, end, draw(signatures))


@st.composite
def receipt_for(draw, ack: int) -> Receipt:
    """A RCPT an ACK with acknowledgment `ack` may carry (R7.10): it ends at or before `ack`."""
    end = (ack - draw(st.one_of(st.just(0), st.integers(0, HALF - 1)))) % SEQ_MOD
    span = draw(st.integers(0, HALF - 1))
    return Receipt(draw(u8), (end - span) % SEQ_MOD, end, draw(signatures))


@st.composite
def request_options(draw) -> RequestOption:
    start, end = draw(time_frames)
    return RequestOption(draw(u32), start, end, draw(u32), draw(bee_types), draw(u8))


@st.composite
def offer_options(draw) -> OfferOption:
    start, end = draw(time_frames)
    return OfferOption(draw(u32), start, end, draw(u32), draw(bee_types), draw(u8))


transfer_options = st.one_of(request_options(), offer_options())
reject_options = st.builds(RejectOption, reason=u16, retry_after_s=u32)
schedule_options = st.builds(
    ScheduleOption,
    mode=st.sampled_from(sorted(c.SCHEDULE_MODES)),
    start_s=u32,
    slot_s=u16,
    n_slots=u16,
    bee_per_slot=u32,
)
unknown_options = st.builds(
    UnknownOption, kind=st.integers(6, 255), data=st.binary(min_size=0, max_size=14)
)
_OPTION_KIND = {RequestOption: 2, RejectOption: 3, ScheduleOption: 4, OfferOption: 5}


def _option_len(opt) -> int:
    if isinstance(opt, UnknownOption):
        return 2 + len(opt.data)
    return c.OPTION_LENGTHS[_OPTION_KIND[type(opt)]]


def options_len(options) -> int:
    """Bytes the options take on the wire, padded to a multiple of 4."""
    n = sum(_option_len(o) for o in options)
    return n + (-n) % 4


ACK, PSH, URG = c.ETCP_ACK, c.ETCP_PSH, c.ETCP_URG
COMMON_FLAGS = (ACK, ACK | PSH, ACK | URG, c.ETCP_FIN | ACK, c.ETCP_SYN, c.ETCP_SYN | ACK)
COMMON_FLAGS += (c.ETCP_SYN | URG, c.ETCP_RST | ACK, c.ETCP_WUP)


@st.composite
def segments(draw, room: int = c.MTU - c.IPV4_HDR_LEN - c.ENERGY_IP_LEN, data=False) -> EnergyTcp:
    """A valid Energy-TCP segment that fits in `room` bytes; `data`: one with records.

    Data segments often end with a SIG (R7.9); ACKs sometimes carry only RCPT records (R7.10).
    """
    flags = draw(st.one_of(st.sampled_from(COMMON_FLAGS), u8.map(lambda f: f & c.ETCP_FLAGS_KNOWN)))
    if data:
        flags &= ~(c.ETCP_SYN | c.ETCP_RST | c.ETCP_WUP)
    others = st.one_of(reject_options, schedule_options, unknown_options)
    if flags & c.ETCP_SYN:
        options = [draw(transfer_options), *draw(st.lists(others, max_size=1))]
        options = draw(st.permutations(options))
    else:
        options = draw(st.lists(st.one_of(transfer_options, others), max_size=2))
    while options_len(options) > 36:
        options.pop()
    wup = flags & c.ETCP_WUP
    seq = 0 if wup else draw(u32)
    ack = 0 if wup else draw(u32)
    records_out = ()
    if not flags & (c.ETCP_SYN | c.ETCP_RST | c.ETCP_WUP):
        budget = room - c.ENERGY_TCP_LEN - options_len(options)
        rlen = c.RECORD_LENGTHS[c.REC_SIG]
        mode = draw(st.sampled_from(("plain", "plain", "sig", "rcpt")))
        if mode == "rcpt" and flags & c.ETCP_ACK:
            n = draw(st.integers(1 if data else 0, min(3, budget // rlen)))
            records_out = tuple(draw(receipt_for(ack)) for _ in range(n))
        else:
            signed = mode == "sig"
            most = (budget - (rlen if signed else 0)) // c.RECORD_LENGTHS[c.REC_BEE]
            least = 1 if data or signed else draw(st.sampled_from((0, 1, 1)))
            recs = draw(st.lists(records, min_size=least, max_size=most))
            if recs and draw(st.booleans()):  # often all BEEs of one type, so energy type is set
                t = draw(bee_types)
                recs = [draw(bees(bee_type=t)) for _ in recs]
            if signed and record_units(recs) < HALF:  # a range is shorter than 2^31 (R7.9)
                recs.append(draw(sig_for(seq, recs)))
            records_out = tuple(recs)
    return EnergyTcp(
        sport=draw(u16),
        dport=draw(u16),
        seq=seq,
        ack=ack,
        flags=flags,
        window=draw(u32),
        urgent=draw(u16) if flags & c.ETCP_URG else 0,
        options=tuple(options),
        records=records_out,
    )


def energy_type_for(payload) -> int:
    """The Energy-IP energy type R4.3 requires for `payload`."""
    if not isinstance(payload, EnergyTcp):
        return 0
    types = {r.bee_type for r in payload.records if isinstance(r, Bee)}
    return types.pop() if len(types) == 1 else 0


control_messages = st.one_of(
    st.builds(StaticLimitNotice, u32, u32, u32, u32),
    st.builds(PriceNotice, u32, i32, i32),
    st.builds(FeeNotice, u32, u32, u32),
    st.builds(
        LimitExceeded,
        st.sampled_from(sorted(c.LIMIT_EXCEEDED_CODES)),
        u32,
        st.binary(max_size=60),
    ),
    st.builds(Unreachable, st.sampled_from(sorted(c.UNREACHABLE_CODES)), st.binary(max_size=60)),
)


@st.composite
def packets(draw, eip_options: bool = True, payload=None) -> Packet:
    """A valid Packet; `eip_options` allows Energy-IP header words beyond the sixth (R4.2)."""
    eopts = b""
    if eip_options and draw(st.integers(0, 3)) == 0:  # a version-1 sender sends none (R4.2)
        eopts = draw(st.binary(min_size=4, max_size=36).map(lambda b: b[: len(b) // 4 * 4]))
    room = c.MTU - c.IPV4_HDR_LEN - c.ENERGY_IP_LEN - len(eopts)
    if payload is None:
        payload = control_messages if draw(st.integers(0, 3)) == 0 else segments(room)
    body = draw(payload)
    eip = EnergyIp(
        energy_type=energy_type_for(body),
        flags=draw(st.integers(0, c.EIP_FLAGS_KNOWN)),
        origin_mac=draw(macs),
        node_id=draw(u32),
        period=draw(u32),
        static_limit=draw(u32),
        options=eopts,
    )
    return Packet(
        src=draw(ipv4),
        dst=draw(ipv4),
        eip=eip,
        payload=body,
        dscp=draw(st.integers(0, 63)),
        ttl=draw(u8),
        ident=draw(u16),
    )


data_packets = packets(payload=segments(c.MTU - c.IPV4_HDR_LEN - c.ENERGY_IP_LEN - 36, data=True))


def fix_checksums(buf: bytearray) -> bytearray:
    """Recompute, in place, the checksums of an edited datagram where its structure allows it."""
    if len(buf) < 20:
        return buf
    ihl = (buf[0] & 15) * 4
    if ihl < 20 or len(buf) < ihl + 24:
        return buf
    buf[10:12] = b"\0\0"
    buf[10:12] = internet_checksum(buf[:ihl]).to_bytes(2, "big")
    hlen = (buf[ihl] & 15) * 4
    total = min(int.from_bytes(buf[2:4], "big"), len(buf))
    if hlen < 24 or ihl + hlen > total:
        return buf
    buf[ihl + 10 : ihl + 12] = b"\0\0"
    buf[ihl + 10 : ihl + 12] = internet_checksum(buf[ihl : ihl + hlen]).to_bytes(2, "big")
    t = ihl + hlen
    if buf[ihl + 3] == 6 and total - t >= 24:
        buf[t + 14 : t + 16] = b"\0\0"
        pseudo = bytes(buf[12:20]) + bytes((0, 253)) + (total - t).to_bytes(2, "big")
        buf[t + 14 : t + 16] = internet_checksum(pseudo + buf[t:total]).to_bytes(2, "big")
    elif buf[ihl + 3] == 1 and total - t >= 8:
        buf[t + 2 : t + 4] = b"\0\0"
        buf[t + 2 : t + 4] = internet_checksum(buf[t:total]).to_bytes(2, "big")
    return buf
