"""Map the immutable message model (model.py) to Scapy layers and back, field by field."""

from scapy.layers.inet import IP
from scapy.packet import NoPayload, raw
from scapy.packet import Packet as ScapyPacket

from eip.errors import DecodeError, EncodeError
from eip.protocol import model
from eip.protocol.constants import (
    CTRL_FEE,
    CTRL_LIMIT_EXCEEDED,
    CTRL_PRICE,
    CTRL_STATIC_LIMIT,
    CTRL_UNREACHABLE,
    IP_PROTO_ENERGY,
    NH_CONTROL,
    NH_ENERGY_TCP,
    OPT_EOL,
    OPT_NOP,
    OPTION_LENGTHS,
)
from eip.protocol.layers.control import (
    EnergyControl,
    EnergyFee,
    EnergyPrice,
    EnergyQuote,
    EnergyStaticLimit,
)
from eip.protocol.layers.energy_ip import EnergyIP
from eip.protocol.layers.energy_tcp import (
    EnergyTCP,
    ETCPOptEOL,
    ETCPOptNop,
    ETCPOptOffer,
    ETCPOptReject,
    ETCPOptRequest,
    ETCPOptSchedule,
    ETCPOptUnknown,
)
from eip.protocol.layers.records import BEE, BEEPoolFill, BEEPoolOrder, BEEReceipt, BEESignature


def to_scapy(pkt: model.Packet) -> IP:
    """Build the Scapy packet (IPv4 / EnergyIP / payload) for a model packet."""
    ip = IP(
        src=pkt.src,
        dst=pkt.dst,
        tos=pkt.dscp << 2,
        flags="DF",
        ttl=pkt.ttl,
        id=pkt.ident,
        proto=IP_PROTO_ENERGY,
    )
    e = pkt.eip
    if len(e.options) % 4:
        raise EncodeError("energy_ip.options", "length must be a multiple of 4")
    eip = EnergyIP(
        energy_type=e.energy_type,
        flags=e.flags,
        origin_mac=e.origin_mac,
        node_id=e.node_id,
        period=e.period,
        static_limit=e.static_limit,
        options=e.options,
    )
    body = pkt.payload
    if isinstance(body, model.EnergyTcp):
        eip.nh = NH_ENERGY_TCP
        upper = _segment_to_scapy(body)
    elif isinstance(body, model.StaticLimitNotice):
        eip.nh = NH_CONTROL
        upper = EnergyControl(type=CTRL_STATIC_LIMIT, code=0, value=0) / EnergyStaticLimit(
            period=body.period,
            period_s=body.period_s,
            export_limit=body.export_limit,
            import_limit=body.import_limit,
        )
    elif isinstance(body, model.PriceNotice):
        eip.nh = NH_CONTROL
        upper = EnergyControl(type=CTRL_PRICE, code=0, value=0) / EnergyPrice(**body._asdict())
    elif isinstance(body, model.FeeNotice):
        eip.nh = NH_CONTROL
        upper = EnergyControl(type=CTRL_FEE, code=0, value=0) / EnergyFee(**body._asdict())
    elif isinstance(body, model.LimitExceeded):
        eip.nh = NH_CONTROL
        upper = EnergyControl(type=CTRL_LIMIT_EXCEEDED, code=body.code, value=body.limit)
        upper /= EnergyQuote(quoted=body.quoted)
    elif isinstance(body, model.Unreachable):
        eip.nh = NH_CONTROL
        upper = EnergyControl(type=CTRL_UNREACHABLE, code=body.code, value=0)
        upper /= EnergyQuote(quoted=body.quoted)
    else:
        raise EncodeError("payload", f"unsupported payload {type(body).__name__}")
    return ip / eip / upper


def _segment_to_scapy(seg: model.EnergyTcp) -> ScapyPacket:
    layer = EnergyTCP(
        sport=seg.sport,
        dport=seg.dport,
        seq=seg.seq,
        ack=seg.ack,
        flags=seg.flags,
        window=seg.window,
        urgent=seg.urgent,
        options=[_option_to_scapy(opt) for opt in seg.options],
    )
    for rec in seg.records:
        layer /= _record_to_scapy(rec)
    return layer


def _option_to_scapy(opt) -> ScapyPacket:
    if isinstance(opt, model.RequestOption | model.OfferOption):
        cls = ETCPOptRequest if isinstance(opt, model.RequestOption) else ETCPOptOffer
        return cls(
            quantity=opt.quantity,
            start_s=opt.start_s,
            end_s=opt.end_s,
            deadline_s=opt.deadline_s,
            bee_type=opt.bee_type,
            priority=opt.priority,
        )
    if isinstance(opt, model.RejectOption):
        return ETCPOptReject(reason=opt.reason, retry_after_s=opt.retry_after_s)
    if isinstance(opt, model.ScheduleOption):
        return ETCPOptSchedule(
            mode=opt.mode,
            start_s=opt.start_s,
            slot_s=opt.slot_s,
            n_slots=opt.n_slots,
            bee_per_slot=opt.bee_per_slot,
        )
    if isinstance(opt, model.UnknownOption):
        if opt.kind in (OPT_EOL, OPT_NOP):
            raise EncodeError("energy_tcp.options", f"kind {opt.kind} has no length or data")
        return ETCPOptUnknown(kind=opt.kind, data=opt.data)
    raise EncodeError("energy_tcp.options", f"unsupported option {type(opt).__name__}")


def _record_to_scapy(rec) -> ScapyPacket:
    if isinstance(rec, model.Bee):
        return BEE(**rec._asdict())
    if isinstance(rec, model.PoolOrder):
        return BEEPoolOrder(**rec._asdict())
    if isinstance(rec, model.PoolFill):
        return BEEPoolFill(**rec._asdict())
    if isinstance(rec, model.Signature):
        return BEESignature(**rec._asdict())
    if isinstance(rec, model.Receipt):
        return BEEReceipt(**rec._asdict())
    raise EncodeError("energy_tcp.records", f"unsupported record {type(rec).__name__}")


def from_scapy(ip_pkt: ScapyPacket) -> model.Packet:
    """Read a dissected Scapy packet (IPv4 / EnergyIP / ...) back into the model."""
    ip = ip_pkt.getlayer(IP)
    if ip is None:
        raise DecodeError("ipv4", 0, "no IPv4 layer")
    eip = ip.payload
    if not isinstance(eip, EnergyIP):
        raise DecodeError("energy_ip", _offset(eip), "IPv4 payload is not an Energy-IP header")
    header = model.EnergyIp(
        energy_type=eip.energy_type,
        flags=int(eip.flags),
        origin_mac=eip.origin_mac,
        node_id=eip.node_id,
        period=eip.period,
        static_limit=eip.static_limit,
        options=bytes(eip.options),
    )
    upper = eip.payload
    if isinstance(upper, EnergyTCP):
        body = _segment_from_scapy(upper)
    elif isinstance(upper, EnergyControl):
        body = _control_from_scapy(upper)
    else:
        raise DecodeError("energy_ip.nh", _offset(eip) + 3, f"unknown next header {eip.nh}")
    return model.Packet(
        src=ip.src,
        dst=ip.dst,
        eip=header,
        payload=body,
        dscp=ip.tos >> 2,
        ttl=ip.ttl,
        ident=ip.id,
    )


def _control_from_scapy(ctrl: EnergyControl):
    body = ctrl.payload
    if ctrl.type == CTRL_STATIC_LIMIT:
        if not isinstance(body, EnergyStaticLimit):
            raise DecodeError("control.body", _offset(ctrl) + 8, "static-limit body missing")
        if not isinstance(body.payload, NoPayload):
            raise DecodeError("control.body", _offset(body.payload), "bytes after the 16-byte body")
        return model.StaticLimitNotice(
            period=body.period,
            period_s=body.period_s,
            export_limit=body.export_limit,
            import_limit=body.import_limit,
        )
    for ctype, layer, cls, what, rule in (
        (CTRL_PRICE, EnergyPrice, model.PriceNotice, "price", "R5.7"),
        (CTRL_FEE, EnergyFee, model.FeeNotice, "fee", "R5.8"),
    ):
        if ctrl.type != ctype:
            continue
        if not isinstance(body, layer):
            raise DecodeError("control.body", _offset(ctrl) + 8, f"{what} body missing ({rule})")
        if not isinstance(body.payload, NoPayload):
            raise DecodeError(
                "control.body", _offset(body.payload), f"bytes after the 12-byte body ({rule})"
            )
        return cls(**{n: getattr(body, n) for n in cls._fields})
    quoted = bytes(body.quoted) if isinstance(body, EnergyQuote) else b""
    if ctrl.type == CTRL_LIMIT_EXCEEDED:
        return model.LimitExceeded(code=ctrl.code, limit=ctrl.value, quoted=quoted)
    if ctrl.type == CTRL_UNREACHABLE:
        return model.Unreachable(code=ctrl.code, quoted=quoted)
    raise DecodeError("control.type", _offset(ctrl), f"unknown control type {ctrl.type}")


def _segment_from_scapy(seg: EnergyTCP) -> model.EnergyTcp:
    options = []
    for opt in seg.options:
        if isinstance(opt, ETCPOptEOL):
            break
        if isinstance(opt, ETCPOptNop):
            continue
        options.append(_option_from_scapy(opt, seg))
    records = []
    layer = seg.payload
    while not isinstance(layer, NoPayload):
        records.append(_record_from_scapy(layer, len(records)))
        layer = layer.payload
    return model.EnergyTcp(
        sport=seg.sport,
        dport=seg.dport,
        seq=seg.seq,
        ack=seg.ack,
        flags=int(seg.flags),
        window=seg.window,
        urgent=seg.urgent,
        options=tuple(options),
        records=tuple(records),
    )


def _option_from_scapy(opt: ScapyPacket, seg: EnergyTCP):
    if isinstance(opt, ETCPOptRequest | ETCPOptOffer):
        cls = model.RequestOption if isinstance(opt, ETCPOptRequest) else model.OfferOption
        return cls(
            quantity=opt.quantity,
            start_s=opt.start_s,
            end_s=opt.end_s,
            deadline_s=opt.deadline_s,
            bee_type=opt.bee_type,
            priority=opt.priority,
        )
    if isinstance(opt, ETCPOptReject):
        return model.RejectOption(reason=opt.reason, retry_after_s=opt.retry_after_s)
    if isinstance(opt, ETCPOptSchedule):
        return model.ScheduleOption(
            mode=opt.mode,
            start_s=opt.start_s,
            slot_s=opt.slot_s,
            n_slots=opt.n_slots,
            bee_per_slot=opt.bee_per_slot,
        )
    if isinstance(opt, ETCPOptUnknown):
        if opt.kind in OPTION_LENGTHS:
            reason = f"kind {opt.kind} needs length {OPTION_LENGTHS[opt.kind]} (R6.8)"
            raise DecodeError("energy_tcp.options", _offset(seg) + 24, reason)
        if opt.length is not None and (opt.length < 2 or opt.length != 2 + len(opt.data)):
            reason = "option length below 2 or past the options area (R6.8)"
            raise DecodeError("energy_tcp.options", _offset(seg) + 24, reason)
        return model.UnknownOption(kind=opt.kind, data=bytes(opt.data))
    raise DecodeError("energy_tcp.options", _offset(seg) + 24, "malformed option")


def _record_from_scapy(rec: ScapyPacket, index: int):
    if isinstance(rec, BEE):
        return model.Bee(**_fields(rec, model.Bee))
    if isinstance(rec, BEEPoolOrder):
        return model.PoolOrder(**_fields(rec, model.PoolOrder))
    if isinstance(rec, BEEPoolFill):
        return model.PoolFill(**_fields(rec, model.PoolFill))
    if isinstance(rec, BEESignature):
        return model.Signature(**_fields(rec, model.Signature))
    if isinstance(rec, BEEReceipt):
        return model.Receipt(**_fields(rec, model.Receipt))
    reason = "unknown kind, wrong length or partial record"
    raise DecodeError(f"record[{index}]", _offset(rec), reason)


def _offset(layer: ScapyPacket) -> int:
    """Byte offset of `layer` from the start of the IPv4 header (for error messages only)."""
    return len(raw(layer.firstlayer())) - len(raw(layer))


def _fields(layer: ScapyPacket, cls) -> dict:
    """The model fields of `cls` read from `layer`, flags as plain int."""
    values = {name: getattr(layer, name) for name in cls._fields}
    values["flags"] = int(values["flags"])
    return values
