"""Fast struct-based codec: eip.protocol.model <-> wire bytes of docs/protocol.md (the hot path).

Precompiled Structs and inline rule checks; the slow diagnosis in _codec_check runs only on failure.
"""

from struct import Struct
from struct import error as StructError

from eip.errors import DecodeError, EncodeError
from eip.protocol import _codec_check as chk
from eip.protocol._codec_addr import IP_BYTES, MAC_BYTES, STR_OF, ip_bytes, mac_bytes, text
from eip.protocol._codec_options import decode_options, encode_options, raw
from eip.protocol.checksum import internet_checksum
from eip.protocol.constants import (
    CONTROL_CODES,
    CONTROL_HDR_LEN,
    CTRL_FEE,
    CTRL_LIMIT_EXCEEDED,
    CTRL_PRICE,
    CTRL_STATIC_LIMIT,
    CTRL_UNREACHABLE,
    EIP_FLAGS_KNOWN,
    ENERGY_IP_LEN,
    ENERGY_IP_VERSION,
    ENERGY_TCP_LEN,
    ENERGY_TYPES,
    ETCP_FLAGS_KNOWN,
    ETCP_RST,
    ETCP_SYN,
    ETCP_URG,
    ETCP_WUP,
    IP_PROTO_ENERGY,
    IPV4_FLAG_DF,
    IPV4_HDR_LEN,
    MTU,
    NH_CONTROL,
    NH_ENERGY_TCP,
    REC_BEE,
    REC_FILL,
    REC_ORDER,
    REC_RCPT,
    REC_SIG,
    RECORD_LENGTHS,
)
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    FeeNotice,
    LimitExceeded,
    Packet,
    PoolFill,
    PoolOrder,
    PriceNotice,
    Receipt,
    Signature,
    StaticLimitNotice,
    Unreachable,
)

__all__ = ["decode", "decode_frame", "encode", "encode_frame", "encode_transport"]

_IP = Struct("!BBHHHBBH4s4s")  # IPv4 header without options
_EIP = Struct("!BBBB6sHIII")  # Energy-IP fixed header
_IP_EIP = Struct("!BBHHHBBH4s4sBBBB6sHIII")  # both, for encode
_PSEUDO = Struct("!4s4sxBH")  # R6.3 pseudo-header
_ETCP = Struct("!HHIIBBHIHxx")
_CTRL = Struct("!BBHI")
_STATIC = Struct("!IIII")
_PRICE = Struct("!Iii")
_FEE = Struct("!III")
_U16 = Struct("!H")
_FIXED_CONTROL = {  # control type -> body struct, model, rule
    CTRL_STATIC_LIMIT: (_STATIC, StaticLimitNotice, "R5.3"),
    CTRL_PRICE: (_PRICE, PriceNotice, "R5.7"),
    CTRL_FEE: (_FEE, FeeNotice, "R5.8"),
}
_FIXED_BY_MODEL = {cls: (ctype, fmt) for ctype, (fmt, cls, _) in _FIXED_CONTROL.items()}
_ETH = Struct("!6s6sH")
# Options and records: encode with kind and length, decode into the model skipping them.
_BEE_E, _BEE_D = Struct("!BBHBxHI5iIiII"), Struct("!xBxxBxHI5iIiII")
_ORD_E, _ORD_D = Struct("!BBHIBBBxIiIIHxx"), Struct("!xBxxIBBBxIiIIHxx")
_FIL_E, _FIL_D = Struct("!BBHI6sBx4sIiII"), Struct("!xBxxI6sBx4sIiII")
_SIG_E, _SIG_D = Struct("!BBHII64s"), Struct("!xBxxII64s")  # SIG and RCPT share a layout
_REC_HDR = Struct("!BxH")

_BEE_LEN, _ORD_LEN, _FIL_LEN = (RECORD_LENGTHS[k] for k in (REC_BEE, REC_ORDER, REC_FILL))
_SIG_LEN = RECORD_LENGTHS[REC_SIG]
_KIND_OF = {Bee: REC_BEE, PoolOrder: REC_ORDER, PoolFill: REC_FILL, Signature: REC_SIG}
_KIND_OF[Receipt] = REC_RCPT
_MAX_ENERGY_TYPE = max(ENERGY_TYPES)
_NO_RECORDS = ETCP_SYN | ETCP_RST | ETCP_WUP
_EMPTY = ()
_new = tuple.__new__  # builds a NamedTuple from a tuple in C, without its Python __new__

# ------------------------------------------------------------------------------------------ encode


def _encode_records(records, seq: int, ack: int, flags: int) -> tuple[bytes, int]:
    """Pack the records; return their bytes and the energy type they imply (R4.3)."""
    parts = []
    btype = -1  # -1 no BEE yet, 0 mixed
    signed = False  # a SIG or RCPT record: check R7.9 / R7.10 after the loop
    for i, r in enumerate(records):
        c = type(r)
        if c is Bee:
            t = r.bee_type
            if r[0] > 1 or not 1 <= t <= 6 or r[2] > 10000 or r[9] < 1 or r[12] < r[11]:
                _record_error("bee", i, chk.bee_problem(r))
            parts.append(_BEE_E.pack(REC_BEE, r[0], _BEE_LEN, *r[1:]))
            if btype != t:
                btype = t if btype < 0 else 0
        elif c is PoolOrder:
            _record_error("order", i, chk.order_problem(r))
            parts.append(_ORD_E.pack(REC_ORDER, r[0], _ORD_LEN, *r[1:]))
        elif c is PoolFill:
            _record_error("fill", i, chk.fill_problem(r))
            parts.append(
                _FIL_E.pack(
                    REC_FILL,
                    r[0],
                    _FIL_LEN,
                    r[1],
                    mac_bytes(r[2], f"fill[{i}].peer_mac"),
                    r[3],
                    ip_bytes(r[4], f"fill[{i}].peer_ip"),
                    *r[5:],
                )
            )
        elif c is Signature or c is Receipt:
            name = "sig" if c is Signature else "rcpt"
            problem = chk.signature_problem(r[3])
            if problem:
                raise EncodeError(f"{name}[{i}].signature", problem)
            kind = REC_SIG if c is Signature else REC_RCPT
            parts.append(_SIG_E.pack(kind, r[0], _SIG_LEN, r[1], r[2], bytes(r[3])))
            signed = True
        else:
            raise EncodeError(f"energy_tcp.records[{i}]", f"not a record: {c.__name__}")
    if signed:
        problem = chk.delivery_problem(records, seq, ack, flags)
        if problem:
            i, field, reason = problem
            name = chk.RECORD_NAMES[type(records[i])]
            raise EncodeError(f"{name}[{i}]" + (f".{field}" if field else ""), reason)
    return b"".join(parts), max(btype, 0)


def _record_error(name: str, i: int, problem) -> None:
    if problem is not None:
        raise EncodeError(f"{name}[{i}].{problem[0]}", problem[1])


def _encode(pkt: Packet) -> bytes:
    src, dst, eip, pl, dscp, ttl, ident = pkt
    etype, eflags, omac, node, period, limit, eopts = eip
    if eflags & ~EIP_FLAGS_KNOWN:
        raise EncodeError("energy_ip.flags", f"reserved bits set in {eflags:#x} (R4.4)")
    if not 0 <= dscp <= 63:
        raise EncodeError("ipv4.dscp", f"{dscp} out of range 0..63")
    s4 = IP_BYTES.get(src) or ip_bytes(src, "ipv4.src")
    d4 = IP_BYTES.get(dst) or ip_bytes(dst, "ipv4.dst")
    mac = MAC_BYTES.get(omac) or mac_bytes(omac, "energy_ip.origin_mac")
    hlen = ENERGY_IP_LEN + len(eopts)
    if len(eopts) & 3 or hlen > 60:
        raise EncodeError(
            "energy_ip.options", f"{len(eopts)} bytes: must be 0..36, a multiple of 4"
        )
    t = IPV4_HDR_LEN + hlen  # offset of the transport
    cls = type(pl)
    if cls is EnergyTcp:
        nh = NH_ENERGY_TCP
        sport, dport, seq, ack, flags, window, urgent, options, records = pl
        if flags & ~ETCP_FLAGS_KNOWN:
            raise EncodeError("energy_tcp.flags", f"reserved bit set in {flags:#x} (R6.2)")
        if urgent and not flags & ETCP_URG:
            raise EncodeError("energy_tcp.urgent", "must be 0 unless URG is set (R6.6)")
        opts = encode_options(options, flags) if options or flags & ETCP_SYN else b""
        if records:
            if flags & _NO_RECORDS:
                raise EncodeError(
                    "energy_tcp.records", "a SYN, RST or WUP carries no records (R6.7)"
                )
            recs, want = _encode_records(records, seq, ack, flags)
        else:
            recs, want = b"", 0
        if flags & ETCP_WUP and (seq or ack):
            raise EncodeError("energy_tcp.seq" if seq else "energy_tcp.ack", "must be 0 in a WUP")
        if etype != want:
            raise EncodeError(
                "energy_ip.energy_type", f"is {etype}, the records need {want} (R4.3)"
            )
        tlen = ENERGY_TCP_LEN + len(opts) + len(recs)
        total = t + tlen
        if total > MTU:
            raise EncodeError("ipv4.total_length", f"{total} bytes > {MTU} (R3.4)")
        buf = bytearray(t - 12)
        buf += _PSEUDO.pack(s4, d4, IP_PROTO_ENERGY, tlen)
        buf += _ETCP.pack(sport, dport, seq, ack, (len(opts) + 24) << 2, flags, 0, window, urgent)
        buf += opts
        buf += recs
        _U16.pack_into(buf, t + 14, internet_checksum(memoryview(buf)[t - 12 :]))
    else:
        if cls in _FIXED_BY_MODEL:
            ctype, fmt = _FIXED_BY_MODEL[cls]
            msg = _CTRL.pack(ctype, 0, 0, 0) + fmt.pack(*pl)
        elif cls is LimitExceeded:
            if pl.code not in CONTROL_CODES[CTRL_LIMIT_EXCEEDED]:
                raise EncodeError("control.code", f"{pl.code} is not a limit-exceeded code")
            msg = _CTRL.pack(CTRL_LIMIT_EXCEEDED, pl.code, 0, pl.limit) + raw(
                pl.quoted, "control.quoted"
            )
        elif cls is Unreachable:
            if pl.code not in CONTROL_CODES[CTRL_UNREACHABLE]:
                raise EncodeError("control.code", f"{pl.code} is not an unreachable code")
            msg = _CTRL.pack(CTRL_UNREACHABLE, pl.code, 0, 0) + raw(pl.quoted, "control.quoted")
        else:
            raise EncodeError("payload", f"not a segment or control message: {cls.__name__}")
        if etype:
            raise EncodeError("energy_ip.energy_type", "must be 0 on a control message (R4.3)")
        nh = NH_CONTROL
        total = t + len(msg)
        if total > MTU:
            raise EncodeError("ipv4.total_length", f"{total} bytes > {MTU} (R3.4)")
        buf = bytearray(t)
        buf += msg
        _U16.pack_into(buf, t + 2, internet_checksum(memoryview(buf)[t:]))
    _IP_EIP.pack_into(
        buf, 0, 0x45, dscp << 2, total, ident, IPV4_FLAG_DF, ttl, IP_PROTO_ENERGY, 0, s4, d4,
        ENERGY_IP_VERSION << 4 | hlen >> 2, etype, eflags, nh, mac, 0, node, period, limit,
    )  # fmt: skip
    if eopts:
        buf[44:t] = eopts
    mv = memoryview(buf)
    _U16.pack_into(buf, 30, internet_checksum(mv[20:t]))
    _U16.pack_into(buf, 10, internet_checksum(mv[:20]))
    return bytes(buf)


def encode(pkt: Packet) -> bytes:
    """Return the IPv4 datagram of `pkt`; EncodeError(field, reason) if a value or rule is wrong."""
    try:
        return _encode(pkt)
    except EncodeError:
        raise
    except (StructError, TypeError, ValueError, AttributeError, OverflowError) as exc:
        chk.diagnose(pkt)  # raises EncodeError naming the field
        raise EncodeError("packet", f"cannot encode: {exc}") from exc


def encode_transport(pkt: Packet) -> bytes:
    """Return the bytes after the IPv4 header: what a raw IPPROTO 253 socket sends."""
    return encode(pkt)[IPV4_HDR_LEN:]


def encode_frame(pkt: Packet, src_mac: str, dst_mac: str) -> bytes:
    """Return the Ethernet II frame (type 0x0800) carrying `pkt`."""
    head = mac_bytes(dst_mac, "ethernet.dst") + mac_bytes(src_mac, "ethernet.src") + b"\x08\x00"
    return head + encode(pkt)


# ------------------------------------------------------------------------------------------ decode


def _bad_record(name: str, idx: int, off: int, problem, offsets: dict):
    field, reason = problem
    return DecodeError(f"{name}[{idx}].{field}", off + offsets.get(field, 0), reason)


def _decode_records(
    data: bytes, i: int, end: int, seq: int, ack: int, flags: int
) -> tuple[tuple, int]:
    """Decode the records in data[i:end]; return them and the energy type they imply (R4.3)."""
    recs = []
    append = recs.append
    btype = -1
    idx = 0
    start = i
    signed = False
    while i < end:
        if end - i < 4:
            raise DecodeError(f"record[{idx}]", i, f"partial record header: {end - i} bytes (R7.1)")
        kind, ln = _REC_HDR.unpack_from(data, i)
        if kind == REC_BEE:
            if ln != _BEE_LEN or end - i < _BEE_LEN:
                raise DecodeError(
                    f"bee[{idx}].length", i + 2, f"{ln}/{end - i} bytes, need 48 (R7.1)"
                )
            r = _new(Bee, _BEE_D.unpack_from(data, i))
            t = r[1]
            if r[0] > 1:  # reserved flag bits (R7.7): ignored
                r = r._replace(flags=r[0] & 1)
            if not 1 <= t <= 6 or r[2] > 10000 or r[9] < 1 or r[12] < r[11]:
                raise _bad_record("bee", idx, i, chk.bee_problem(r), chk.BEE_OFFSETS)
            if btype != t:
                btype = t if btype < 0 else 0
        elif kind == REC_ORDER:
            if ln != _ORD_LEN or end - i < _ORD_LEN:
                raise DecodeError(
                    f"order[{idx}].length", i + 2, f"{ln}/{end - i} bytes, need 32 (R7.1)"
                )
            r = _new(PoolOrder, _ORD_D.unpack_from(data, i))
            problem = chk.order_problem(r)
            if problem:
                raise _bad_record("order", idx, i, problem, chk.ORDER_OFFSETS)
        elif kind == REC_FILL:
            if ln != _FIL_LEN or end - i < _FIL_LEN:
                raise DecodeError(
                    f"fill[{idx}].length", i + 2, f"{ln}/{end - i} bytes, need 36 (R7.1)"
                )
            rflags, oid, mac, status, ip, *rest = _FIL_D.unpack_from(data, i)
            r = PoolFill(rflags, oid, text(mac), status, text(ip), *rest)
            problem = chk.fill_problem(r)
            if problem:
                raise _bad_record("fill", idx, i, problem, chk.FILL_OFFSETS)
        elif kind in (REC_SIG, REC_RCPT):
            if ln != _SIG_LEN or end - i < _SIG_LEN:
                name = "sig" if kind == REC_SIG else "rcpt"
                raise DecodeError(
                    f"{name}[{idx}].length", i + 2, f"{ln}/{end - i} bytes, need 76 (R7.1)"
                )
            r = _new(Signature if kind == REC_SIG else Receipt, _SIG_D.unpack_from(data, i))
            signed = True
        else:
            raise DecodeError(f"record[{idx}].kind", i, f"unknown record kind {kind} (R7.1)")
        append(r)
        i += ln
        idx += 1
    if signed:
        problem = chk.delivery_problem(recs, seq, ack, flags)
        if problem:
            k, field, reason = problem
            off = start + sum(RECORD_LENGTHS[_KIND_OF[type(x)]] for x in recs[:k])
            name = chk.RECORD_NAMES[type(recs[k])]
            raise DecodeError(
                f"{name}[{k}]" + (f".{field}" if field else ""),
                off + chk.SIG_OFFSETS[field],
                reason,
            )
    return tuple(recs), max(btype, 0)


def _decode_control(data: bytes, t: int, total: int):
    if total - t < CONTROL_HDR_LEN:
        raise DecodeError("control", t, f"truncated: {total - t} bytes < {CONTROL_HDR_LEN}")
    ctype, code, _, value = _CTRL.unpack_from(data, t)
    if internet_checksum(memoryview(data)[t:total]):
        raise DecodeError("control.checksum", t + 2, "does not verify (R5.2)")
    codes = CONTROL_CODES.get(ctype)
    if codes is None:
        raise DecodeError("control.type", t, f"unknown control type {ctype} (R5.1)")
    if code not in codes:
        raise DecodeError("control.code", t + 1, f"{code} is not a code of type {ctype} (R5.1)")
    body = t + CONTROL_HDR_LEN
    fixed = _FIXED_CONTROL.get(ctype)
    if fixed is not None:  # a notice or bill of one fixed-length body (R5.3, R5.7, R5.8)
        fmt, cls, rule = fixed
        if total - body != fmt.size:
            raise DecodeError(
                "control.body", body, f"{total - body} bytes, must be {fmt.size} ({rule})"
            )
        return cls._make(fmt.unpack_from(data, body))
    if ctype == CTRL_LIMIT_EXCEEDED:
        return LimitExceeded(code, value, data[body:total])
    return Unreachable(code, data[body:total])


def _decode(data: bytes) -> Packet:
    n = len(data)
    if n < IPV4_HDR_LEN:
        raise DecodeError("ipv4", 0, f"truncated: {n} bytes < 20")
    vihl, tos, total, ident, frag, ttl, proto, _, src, dst = _IP.unpack_from(data)
    if vihl >> 4 != 4:
        raise DecodeError("ipv4.version", 0, f"{vihl >> 4} is not 4")
    ihl = (vihl & 15) << 2
    if ihl < IPV4_HDR_LEN:
        raise DecodeError("ipv4.ihl", 0, f"{ihl >> 2} words < 5")
    if ihl > n:
        raise DecodeError("ipv4.ihl", 0, f"header of {ihl} bytes runs past {n} captured")
    mv = memoryview(data)
    if internet_checksum(mv[:ihl]):
        raise DecodeError("ipv4.checksum", 10, "does not verify (R3.5)")
    if total > n:
        raise DecodeError("ipv4.total_length", 2, f"truncated: {total} > {n} captured (R3.5)")
    if total < ihl:
        raise DecodeError("ipv4.total_length", 2, f"{total} < header length {ihl}")
    if total > MTU:
        raise DecodeError("ipv4.total_length", 2, f"{total} > {MTU} (R3.4)")
    if frag & 0x3FFF:
        field = "ipv4.flags" if frag & 0x2000 else "ipv4.fragment_offset"
        raise DecodeError(field, 6, "fragment (R3.4)")
    if proto != IP_PROTO_ENERGY:
        raise DecodeError("ipv4.protocol", 9, f"{proto} is not {IP_PROTO_ENERGY} (R3.1)")
    o = ihl
    if total - o < ENERGY_IP_LEN:
        raise DecodeError("energy_ip", o, f"truncated: {total - o} bytes < {ENERGY_IP_LEN}")
    vh, etype, eflags, nh, mac, _, node, period, limit = _EIP.unpack_from(data, o)
    if vh >> 4 != ENERGY_IP_VERSION:
        raise DecodeError("energy_ip.version", o, f"{vh >> 4} is not 1 (R4.1)")
    hlen = (vh & 15) << 2
    if hlen < ENERGY_IP_LEN or o + hlen > total:
        raise DecodeError("energy_ip.hlen", o, f"{hlen >> 2} words invalid (R4.2)")
    t = o + hlen
    if internet_checksum(mv[o:t]):
        raise DecodeError("energy_ip.checksum", o + 10, "does not verify (R4.9)")
    if etype > _MAX_ENERGY_TYPE:
        raise DecodeError("energy_ip.energy_type", o + 1, f"{etype} not in registry 9.1 (R4.3)")
    eopts = data[o + ENERGY_IP_LEN : t] if hlen > ENERGY_IP_LEN else b""
    if nh == NH_ENERGY_TCP:
        tlen = total - t
        if tlen < ENERGY_TCP_LEN:
            raise DecodeError("energy_tcp", t, f"truncated: {tlen} bytes < {ENERGY_TCP_LEN}")
        sport, dport, seq, ack, doff, flags, _, window, urgent = _ETCP.unpack_from(data, t)
        doff = (doff >> 4) << 2
        if doff < ENERGY_TCP_LEN or doff > tlen:
            raise DecodeError("energy_tcp.dataofs", t + 12, f"{doff >> 2} words invalid (R6.1)")
        if internet_checksum(_PSEUDO.pack(src, dst, IP_PROTO_ENERGY, tlen) + data[t:total]):
            raise DecodeError("energy_tcp.checksum", t + 14, "does not verify (R6.3)")
        flags &= ETCP_FLAGS_KNOWN
        if flags & ETCP_WUP:  # sequence and acknowledgment of a WUP are ignored (R6.10)
            seq = ack = 0
        if urgent and not flags & ETCP_URG:
            raise DecodeError("energy_tcp.urgent", t + 20, "non-zero without URG (R6.6)")
        r = t + doff
        if doff > ENERGY_TCP_LEN or flags & ETCP_SYN:
            options = decode_options(data, t + ENERGY_TCP_LEN, r, flags & ETCP_SYN)
        else:
            options = _EMPTY
        if r < total:
            if flags & _NO_RECORDS:
                raise DecodeError("energy_tcp.records", r, "SYN, RST or WUP with records (R6.7)")
            records, want = _decode_records(data, r, total, seq, ack, flags)
        else:
            records, want = _EMPTY, 0
        if etype != want:
            raise DecodeError(
                "energy_ip.energy_type", o + 1, f"{etype}, records need {want} (R4.3)"
            )
        payload = _new(EnergyTcp, (sport, dport, seq, ack, flags, window, urgent, options, records))
    elif nh == NH_CONTROL:
        payload = _decode_control(data, t, total)
        if etype:
            raise DecodeError(
                "energy_ip.energy_type", o + 1, "must be 0 on a control message (R4.3)"
            )
    else:
        raise DecodeError("energy_ip.next_header", o + 3, f"unknown next header {nh} (R4.5)")
    eip = _new(
        EnergyIp,
        (etype, eflags & EIP_FLAGS_KNOWN, STR_OF.get(mac) or text(mac), node, period, limit, eopts),
    )
    return _new(
        Packet,
        (
            STR_OF.get(src) or text(src),
            STR_OF.get(dst) or text(dst),
            eip,
            payload,
            tos >> 2,
            ttl,
            ident,
        ),
    )


def decode(data: bytes | bytearray | memoryview) -> Packet:
    """Decode an IPv4 datagram; a broken rule raises DecodeError(field, offset, reason)."""
    if type(data) is not bytes:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise TypeError(f"decode needs bytes, got {type(data).__name__}")
        data = bytes(data)
    try:
        return _decode(data)
    except DecodeError:
        raise
    except (StructError, IndexError, ValueError, TypeError, OverflowError) as exc:
        raise DecodeError("packet", 0, f"malformed: {exc}") from exc


def decode_frame(data: bytes | bytearray | memoryview) -> tuple[str, str, Packet]:
    """Decode an Ethernet II frame (one 802.1Q tag allowed): return (dst_mac, src_mac, packet).

    Ethernet errors give offsets in the frame, errors in the packet offsets from its IPv4 header.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError(f"decode_frame needs bytes, got {type(data).__name__}")
    data = bytes(data)
    if len(data) < 14:
        raise DecodeError("ethernet", 0, f"truncated: {len(data)} bytes < 14")
    dst, src, etype = _ETH.unpack_from(data)
    off = 14
    if etype == 0x8100:
        if len(data) < 18:
            raise DecodeError("ethernet.vlan", 14, "truncated 802.1Q tag")
        etype = _U16.unpack_from(data, 16)[0]
        off = 18
    if etype != 0x0800:
        raise DecodeError("ethernet.type", off - 2, f"{etype:#06x} is not IPv4")
    return text(dst), text(src), decode(data[off:])
