"""Human-readable views of decoded packets: one summary line, or every field (for `eip decode -v` and logs)."""

from eip.protocol import constants as c
from eip.protocol.messages import classify
from eip.protocol.model import (
    Bee,
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


def flag_names(value: int, names: dict[int, str]) -> str:
    """'SYN|ACK' style names of the set bits (unknown bits in hex)."""
    parts = [name for bit, name in names.items() if value & bit]
    rest = value & ~sum(names)
    if rest:
        parts.append(hex(rest))
    return "|".join(parts) or "-"


def _type_name(bee_type: int) -> str:
    return c.ENERGY_TYPES.get(bee_type, f"type-{bee_type}")


def _option_text(opt) -> str:
    if isinstance(opt, RequestOption | OfferOption):
        return (
            ("offer " if isinstance(opt, OfferOption) else "")
            + f"{opt.quantity} BEE {_type_name(opt.bee_type)} deadline={opt.deadline_s}"
            f" prio={opt.priority}"
        )
    if isinstance(opt, RejectOption):
        reason = c.REJECT_REASONS.get(opt.reason, str(opt.reason))
        return f"reason={reason} retry-after={opt.retry_after_s}s"
    if isinstance(opt, ScheduleOption):
        mode = c.SCHEDULE_MODES.get(opt.mode, str(opt.mode))
        return f"{mode} {opt.n_slots}x{opt.bee_per_slot} BEE every {opt.slot_s}s from {opt.start_s}"
    return f"option {opt.kind} ({len(opt.data)} bytes)"


def _record_text(rec) -> str:
    if isinstance(rec, Bee):
        unit = c.BEE_UNITS.get(rec.bee_type, "")
        return f"{rec.quantity} {unit} {_type_name(rec.bee_type)}"
    if isinstance(rec, PoolOrder):
        side = c.ORDER_SIDES.get(rec.side, str(rec.side))
        action = c.ORDER_ACTIONS.get(rec.action, str(rec.action))
        return f"order#{rec.order_id} {action} {side} {rec.quantity} @{rec.price_micro_per_kbee}"
    if isinstance(rec, PoolFill):
        status = c.FILL_STATUSES.get(rec.status, str(rec.status))
        return (
            f"fill#{rec.order_id} {status} {rec.quantity} @{rec.price_micro_per_kbee} {rec.peer_ip}"
        )
    if isinstance(rec, Signature | Receipt):
        name = "SIG" if isinstance(rec, Signature) else "RCPT"
        return f"{name} [{rec.start_seq},{rec.end_seq})"
    return repr(rec)


def summary(pkt: Packet) -> str:
    """One line: addresses, message class and the fields that matter for it."""
    head = f"{pkt.src} -> {pkt.dst}"
    p = pkt.payload
    if isinstance(p, EnergyTcp):
        text = (
            f"{head} Energy-TCP {p.sport}->{p.dport} {classify(p)} "
            f"[{flag_names(p.flags, c.ETCP_FLAG_NAMES)}] seq={p.seq} ack={p.ack} win={p.window}"
        )
        if p.flags & c.ETCP_URG:
            text += f" emergency={c.EMERGENCY_CODES.get(p.urgent, p.urgent)}"
        for opt in p.options:
            text += f" {{{_option_text(opt)}}}"
        data = [r for r in p.records if not isinstance(r, Signature | Receipt)]
        if data:
            total = sum(r.quantity for r in data if isinstance(r, Bee))
            text += f" {len(data)} records"
            if total:
                text += f" ({total} BEE)"
        for rec in p.records:
            if isinstance(rec, Signature):
                text += f" +SIG [{rec.start_seq},{rec.end_seq})"
            elif isinstance(rec, Receipt):
                text += f" RCPT [{rec.start_seq},{rec.end_seq})"
        return text
    if isinstance(p, StaticLimitNotice):
        return (
            f"{head} static-limit period={p.period} ({p.period_s}s) export={p.export_limit}"
            f" import={p.import_limit} BEE"
        )
    if isinstance(p, PriceNotice):  # micro-currency per 1000 BEE = currency per kWh at 1 BEE = 1 Wh
        buy, sell = p.buy_price_micro_per_kbee / 1e6, p.sell_price_micro_per_kbee / 1e6
        return f"{head} price period={p.period} buy={buy:.3f} sell={sell:.3f} /kWh"
    if isinstance(p, FeeNotice):
        fee = p.fee_micro / 1e6
        return f"{head} fee period={p.period} usage={p.usage_bee} BEE rate={p.rate_micro_per_kbee} fee={fee:.6f}"
    if isinstance(p, LimitExceeded):
        code = c.LIMIT_EXCEEDED_CODES.get(p.code, str(p.code))
        return f"{head} limit-exceeded {code} limit={p.limit} BEE (quote {len(p.quoted)} bytes)"
    if isinstance(p, Unreachable):
        code = c.UNREACHABLE_CODES.get(p.code, str(p.code))
        return f"{head} unreachable {code} (quote {len(p.quoted)} bytes)"
    return f"{head} {p!r}"


def details(pkt: Packet) -> list[str]:
    """Every field, one per line, indented by layer."""
    e = pkt.eip
    limit = "none" if e.static_limit == c.NO_LIMIT else f"{e.static_limit} BEE/period"
    lines = [
        f"  IPv4: src={pkt.src} dst={pkt.dst} dscp={pkt.dscp}"
        f" ({c.DSCP_NAMES.get(pkt.dscp, 'other')}) ttl={pkt.ttl} id={pkt.ident}",
        f"  Energy-IP: origin={e.origin_mac} energy_type={_type_name(e.energy_type)}"
        f" flags={flag_names(e.flags, c.EIP_FLAG_NAMES)} node={e.node_id} period={e.period}"
        f" static_limit={limit}" + (f" options={e.options.hex()}" if e.options else ""),
    ]
    p = pkt.payload
    if isinstance(p, EnergyTcp):
        lines.append(
            f"  Energy-TCP: sport={p.sport} dport={p.dport} seq={p.seq} ack={p.ack}"
            f" flags={flag_names(p.flags, c.ETCP_FLAG_NAMES)} window={p.window} urgent={p.urgent}"
        )
        lines += [f"    option {type(o).__name__}: {_option_text(o)}" for o in p.options]
        for i, rec in enumerate(p.records):
            fields = " ".join(
                f"{k}={v.hex() if isinstance(v, bytes) else v}" for k, v in rec._asdict().items()
            )
            lines.append(f"    record[{i}] {type(rec).__name__}: {fields}")
    else:
        fields = " ".join(
            f"{k}={v.hex() if isinstance(v, bytes) else v}" for k, v in p._asdict().items()
        )
        lines.append(f"  {type(p).__name__}: {fields}")
    return lines


def bee_attributes(bee: Bee) -> dict[str, int]:
    """The named attribute segments of a BEE for its type; TBD segments are left out (R7.5)."""
    names = c.BEE_ATTRIBUTES.get(bee.bee_type, {})
    values = (bee.attr1, bee.attr2, bee.attr3, bee.attr4, bee.attr5)
    return {name: values[i - 1] for i, (name, _unit) in names.items()}
