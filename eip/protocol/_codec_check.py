"""Slow-path validation for eip.protocol.codec: protocol rules of records and the encode diagnosis.

The codec runs these only when its inline checks fail, to name the field that is wrong.
"""

from eip.errors import EncodeError
from eip.protocol.constants import (
    BEE_FLAG_STORE,
    BEE_TYPES,
    CONTROL_CODES,
    CTRL_LIMIT_EXCEEDED,
    CTRL_UNREACHABLE,
    EIP_FLAGS_KNOWN,
    ENERGY_TYPES,
    ETCP_ACK,
    ETCP_FLAGS_KNOWN,
    ETCP_URG,
    FILL_STATUSES,
    GREEN_RATIO_MAX_BP,
    OPTION_KINDS,
    ORDER_ACTIONS,
    ORDER_SIDES,
    SIGNATURE_LEN,
)
from eip.protocol.model import (
    Bee,
    EnergyTcp,
    FeeNotice,
    LimitExceeded,
    OfferOption,
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
from eip.protocol.seq import SEQ_HALF, seq_add, seq_sub

_RANGES = {
    "B": (0, 0xFF),
    "H": (0, 0xFFFF),
    "I": (0, 0xFFFFFFFF),
    "i": (-(2**31), 2**31 - 1),
    "dscp": (0, 63),
}

# Integer fields of each model class with their wire type (R1.1), in wire order.
INT_FIELDS = {
    Bee: (
        ("flags", "B"),
        ("bee_type", "B"),
        ("green_ratio_bp", "H"),
        ("carbon_mg_per_unit", "I"),
        *((f"attr{k}", "i") for k in range(1, 6)),
        ("quantity", "I"),
        ("price_micro_per_kbee", "i"),
        ("start_s", "I"),
        ("end_s", "I"),
    ),
    PoolOrder: (
        ("flags", "B"),
        ("order_id", "I"),
        ("side", "B"),
        ("bee_type", "B"),
        ("action", "B"),
        ("quantity", "I"),
        ("price_micro_per_kbee", "i"),
        ("start_s", "I"),
        ("end_s", "I"),
        ("min_green_ratio_bp", "H"),
    ),
    PoolFill: (
        ("flags", "B"),
        ("order_id", "I"),
        ("status", "B"),
        ("quantity", "I"),
        ("price_micro_per_kbee", "i"),
        ("start_s", "I"),
        ("end_s", "I"),
    ),
    Signature: (("flags", "B"), ("start_seq", "I"), ("end_seq", "I")),
    Receipt: (("flags", "B"), ("start_seq", "I"), ("end_seq", "I")),
    RequestOption: (
        ("quantity", "I"),
        ("start_s", "I"),
        ("end_s", "I"),
        ("deadline_s", "I"),
        ("bee_type", "B"),
        ("priority", "B"),
    ),
    RejectOption: (("reason", "H"), ("retry_after_s", "I")),
    ScheduleOption: (
        ("mode", "B"),
        ("start_s", "I"),
        ("slot_s", "H"),
        ("n_slots", "H"),
        ("bee_per_slot", "I"),
    ),
    UnknownOption: (("kind", "B"),),
    EnergyTcp: (
        ("sport", "H"),
        ("dport", "H"),
        ("seq", "I"),
        ("ack", "I"),
        ("flags", "B"),
        ("window", "I"),
        ("urgent", "H"),
    ),
    StaticLimitNotice: (
        ("period", "I"),
        ("period_s", "I"),
        ("export_limit", "I"),
        ("import_limit", "I"),
    ),
    PriceNotice: (
        ("period", "I"),
        ("buy_price_micro_per_kbee", "i"),
        ("sell_price_micro_per_kbee", "i"),
    ),
    FeeNotice: (("period", "I"), ("usage_bee", "I"), ("rate_micro_per_kbee", "I")),
    LimitExceeded: (("code", "B"), ("limit", "I")),
    Unreachable: (("code", "B"),),
}
INT_FIELDS[OfferOption] = INT_FIELDS[RequestOption]
_EIP_INTS = (("energy_type", "B"), ("flags", "B"), ("node_id", "I"), ("period", "I"))
_EIP_INTS += (("static_limit", "I"),)
_PACKET_INTS = (("dscp", "dscp"), ("ttl", "B"), ("ident", "H"))

# Byte offset of each record field inside its record, for DecodeError offsets.
BEE_OFFSETS = {"flags": 1, "bee_type": 4, "green_ratio_bp": 6, "quantity": 32, "end_s": 44}
ORDER_OFFSETS = {
    "flags": 1,
    "side": 8,
    "bee_type": 9,
    "action": 10,
    "quantity": 12,
    "end_s": 24,
    "min_green_ratio_bp": 28,
}
FILL_OFFSETS = {"flags": 1, "status": 14, "end_s": 32}
SIG_OFFSETS = {"": 0, "start_seq": 4, "end_seq": 8, "signature": 12}
RECORD_NAMES = {
    Bee: "bee",
    PoolOrder: "order",
    PoolFill: "fill",
    Signature: "sig",
    Receipt: "rcpt",
}


def bee_problem(b: Bee) -> tuple[str, str] | None:
    """Return (field, reason) for the first rule of R7.2-R7.7 that BEE `b` breaks, else None."""
    if b.flags & ~BEE_FLAG_STORE:
        return "flags", f"reserved flag bits set in {b.flags:#x} (R7.7)"
    if b.bee_type not in BEE_TYPES:
        return "bee_type", f"{b.bee_type} is not a BEE type 1..6 (R7.2)"
    if b.green_ratio_bp > GREEN_RATIO_MAX_BP:
        return "green_ratio_bp", f"{b.green_ratio_bp} > {GREEN_RATIO_MAX_BP} basis points (R7.3)"
    if b.quantity < 1:
        return "quantity", "quantity must be at least 1 (R7.4)"
    if b.end_s < b.start_s:
        return "end_s", f"end_s {b.end_s} < start_s {b.start_s} (R1.4)"
    return None


def order_problem(o: PoolOrder) -> tuple[str, str] | None:
    """Return (field, reason) for the first rule of R7.8 / R1.4 that pool order `o` breaks, else None."""
    if o.side not in ORDER_SIDES:
        return "side", f"{o.side} is not an order side 1..2 (R7.8)"
    if o.bee_type not in BEE_TYPES:
        return "bee_type", f"{o.bee_type} is not a BEE type 1..6 (R7.2)"
    if o.action not in ORDER_ACTIONS:
        return "action", f"{o.action} is not an order action 1..3 (R7.8)"
    if o.action == 1 and o.quantity < 1:
        return "quantity", "a place order needs a quantity of at least 1 (R7.8)"
    if o.end_s < o.start_s:
        return "end_s", f"end_s {o.end_s} < start_s {o.start_s} (R1.4)"
    if o.min_green_ratio_bp > GREEN_RATIO_MAX_BP:
        return "min_green_ratio_bp", f"{o.min_green_ratio_bp} > {GREEN_RATIO_MAX_BP} (R7.8)"
    return None


def fill_problem(f: PoolFill) -> tuple[str, str] | None:
    """Return (field, reason) for the first rule of R7.8 / R1.4 that pool fill `f` breaks, else None."""
    if f.status not in FILL_STATUSES:
        return "status", f"{f.status} is not a fill status 1..5 (R7.8)"
    if f.end_s < f.start_s:
        return "end_s", f"end_s {f.end_s} < start_s {f.start_s} (R1.4)"
    return None


def delivery_problem(records, seq: int, ack: int, flags: int) -> tuple[int, str, str] | None:
    """Check the SIG and RCPT rules (R6.7, R7.9, R7.10) of a segment's records.

    Return (record index, field or "" for the whole record, reason) for the first rule broken, else
    None. Only called for segments that carry a SIG or a RCPT record.
    """
    n = len(records)
    kinds = [type(r) for r in records]
    if Receipt in kinds:
        first = kinds.index(Receipt)
        if any(k is not Receipt for k in kinds):
            return first, "", "a segment with RCPT records carries no other records (R7.10)"
        if not flags & ETCP_ACK:
            return first, "", "a segment with RCPT records is an ACK (R7.10)"
        for i, r in enumerate(records):
            span = seq_sub(r.end_seq, r.start_seq)
            if span >= SEQ_HALF:
                return i, "start_seq", f"range [{r.start_seq}, {r.end_seq}) is inverted (R7.10)"
            if seq_sub(ack, r.end_seq) >= SEQ_HALF:
                return i, "end_seq", f"{r.end_seq} is beyond the acknowledgment {ack} (R7.10)"
        return None
    units = 0
    data = False
    for i, r in enumerate(records):
        k = kinds[i]
        if k is Bee:
            units += r.quantity
            data = True
        elif k is Signature:
            if i != n - 1:
                return i, "", "a SIG must be the last record of its segment (R7.9)"
            if not data:
                return i, "", "a SIG closes a data segment: it needs records before it (R6.7)"
            end = seq_add(seq, units)
            if r.end_seq != end:
                return i, "end_seq", f"{r.end_seq} != seq + units of the segment = {end} (R7.9)"
            span = seq_sub(r.end_seq, r.start_seq)
            if span >= SEQ_HALF or seq_sub(seq, r.start_seq) > span:
                return i, "start_seq", f"{r.start_seq} is not at or before seq {seq} (R7.9)"
        else:
            units += 1
            data = True
    return None


def signature_problem(value) -> str | None:
    """Why `value` is not a 64-byte Ed25519 signature, or None."""
    if not isinstance(value, bytes | bytearray | memoryview):
        return f"must be bytes, got {type(value).__name__}"
    if len(value) != SIGNATURE_LEN:
        return f"{len(value)} bytes, must be {SIGNATURE_LEN}"
    return None


def _ints(prefix: str, obj, spec) -> None:
    for name, code in spec:
        value = getattr(obj, name)
        lo, hi = _RANGES[code]
        if not isinstance(value, int):
            raise EncodeError(f"{prefix}.{name}", f"must be an int, got {type(value).__name__}")
        if not lo <= value <= hi:
            raise EncodeError(f"{prefix}.{name}", f"{value} out of range {lo}..{hi}")


def _str(field: str, value) -> None:
    if not isinstance(value, str):
        raise EncodeError(field, f"must be a str, got {type(value).__name__}")


def _bytes(field: str, value) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise EncodeError(field, f"must be bytes, got {type(value).__name__}")


def _tuple(field: str, value) -> None:
    if not isinstance(value, tuple | list):
        raise EncodeError(field, f"must be a tuple, got {type(value).__name__}")


def diagnose(pkt) -> None:
    """Raise EncodeError naming the first field of `pkt` with a wrong type or an out-of-range value."""
    if not hasattr(pkt, "_fields") or len(pkt) != 7:
        raise EncodeError("packet", f"not a Packet: {type(pkt).__name__}")
    _str("ipv4.src", pkt.src)
    _str("ipv4.dst", pkt.dst)
    _ints("ipv4", pkt, _PACKET_INTS)
    eip = pkt.eip
    if not hasattr(eip, "origin_mac"):
        raise EncodeError("energy_ip", f"not an EnergyIp: {type(eip).__name__}")
    _ints("energy_ip", eip, _EIP_INTS)
    if eip.energy_type not in ENERGY_TYPES:
        raise EncodeError("energy_ip.energy_type", f"{eip.energy_type} not in registry 9.1")
    if eip.flags & ~EIP_FLAGS_KNOWN:
        raise EncodeError("energy_ip.flags", f"reserved bits set in {eip.flags:#x} (R4.4)")
    _str("energy_ip.origin_mac", eip.origin_mac)
    _bytes("energy_ip.options", eip.options)
    pl = pkt.payload
    cls = type(pl)
    if cls not in INT_FIELDS or cls is Bee:
        raise EncodeError(
            "payload", f"not an Energy-TCP segment or control message: {cls.__name__}"
        )
    prefix = "energy_tcp" if cls is EnergyTcp else "control"
    _ints(prefix, pl, INT_FIELDS[cls])
    if cls is LimitExceeded or cls is Unreachable:
        ctype = CTRL_LIMIT_EXCEEDED if cls is LimitExceeded else CTRL_UNREACHABLE
        if pl.code not in CONTROL_CODES[ctype]:
            raise EncodeError("control.code", f"{pl.code} is not a code of control type {ctype}")
        _bytes("control.quoted", pl.quoted)
    if cls is not EnergyTcp:
        return
    if pl.flags & ~ETCP_FLAGS_KNOWN:
        raise EncodeError("energy_tcp.flags", f"reserved bit set in {pl.flags:#x} (R6.2)")
    if pl.urgent and not pl.flags & ETCP_URG:
        raise EncodeError("energy_tcp.urgent", "must be 0 unless URG is set (R6.6)")
    _tuple("energy_tcp.options", pl.options)
    for i, opt in enumerate(pl.options):
        ocls = type(opt)
        if ocls not in (RequestOption, OfferOption, RejectOption, ScheduleOption, UnknownOption):
            raise EncodeError(f"energy_tcp.options[{i}]", f"not an option: {ocls.__name__}")
        _ints(f"energy_tcp.options[{i}]", opt, INT_FIELDS[ocls])
        if ocls is UnknownOption:
            if opt.kind in OPTION_KINDS:
                raise EncodeError(f"energy_tcp.options[{i}].kind", "kinds 0..5 are defined")
            _bytes(f"energy_tcp.options[{i}].data", opt.data)
    _tuple("energy_tcp.records", pl.records)
    for i, rec in enumerate(pl.records):
        rcls = type(rec)
        name = RECORD_NAMES.get(rcls)
        if name is None:
            raise EncodeError(f"energy_tcp.records[{i}]", f"not a record: {rcls.__name__}")
        _ints(f"{name}[{i}]", rec, INT_FIELDS[rcls])
        if rcls is PoolFill:
            _str(f"fill[{i}].peer_mac", rec.peer_mac)
            _str(f"fill[{i}].peer_ip", rec.peer_ip)
        elif rcls is Signature or rcls is Receipt:
            problem = signature_problem(rec.signature)
            if problem:
                raise EncodeError(f"{name}[{i}].signature", problem)
