"""Energy-TCP options (docs/protocol.md section 6.1) for eip.protocol.codec: TLV encode and decode."""

from struct import Struct

from eip.errors import DecodeError, EncodeError
from eip.protocol.constants import (
    ETCP_SYN,
    OPT_EOL,
    OPT_NOP,
    OPT_OFFER,
    OPT_REJECT,
    OPT_REQUEST,
    OPT_SCHEDULE,
    OPTION_KINDS,
    OPTION_LENGTHS,
)
from eip.protocol.model import (
    OfferOption,
    RejectOption,
    RequestOption,
    ScheduleOption,
    UnknownOption,
)

_U16 = Struct("!H")
_REQ_E, _REQ_D = Struct("!BBIIIIBB"), Struct("!2xIIIIBB")
_REJ_E, _REJ_D = Struct("!BBHI"), Struct("!2xHI")
_SCH_E, _SCH_D = Struct("!BBBxIHHI"), Struct("!2xBxIHHI")
_REQ_LEN, _REJ_LEN, _SCH_LEN = (OPTION_LENGTHS[k] for k in (OPT_REQUEST, OPT_REJECT, OPT_SCHEDULE))
_PAD = (b"", b"\0\0\0", b"\0\0", b"\0")
_MAX_OPTIONS = 36  # data offset 15 words


def raw(value, field: str) -> bytes:
    """Return `value` as bytes; EncodeError(field) if it is not bytes-like."""
    if type(value) is bytes:
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise EncodeError(field, f"must be bytes, got {type(value).__name__}")


def encode_options(options, flags: int) -> bytes:
    """Return the options area (padded to 4 bytes); a SYN needs one request or offer option (R6.9)."""
    parts = []
    n_req = 0
    for i, o in enumerate(options):
        c = type(o)
        if c is RequestOption or c is OfferOption:
            if o.end_s < o.start_s:
                raise EncodeError(f"energy_tcp.options[{i}].end_s", "end_s < start_s (R1.4)")
            parts.append(
                _REQ_E.pack(OPT_REQUEST if c is RequestOption else OPT_OFFER, _REQ_LEN, *o)
            )
            n_req += 1
        elif c is RejectOption:
            parts.append(_REJ_E.pack(OPT_REJECT, _REJ_LEN, *o))
        elif c is ScheduleOption:
            parts.append(_SCH_E.pack(OPT_SCHEDULE, _SCH_LEN, *o))
        elif c is UnknownOption:
            if o.kind in OPTION_KINDS:
                raise EncodeError(f"energy_tcp.options[{i}].kind", "kinds 0..5 are defined")
            data = raw(o.data, f"energy_tcp.options[{i}].data")
            parts.append(_U16.pack(o.kind << 8 | (len(data) + 2)) + data)
        else:
            raise EncodeError(f"energy_tcp.options[{i}]", f"not an option: {c.__name__}")
    if flags & ETCP_SYN and n_req != 1:
        raise EncodeError(
            "energy_tcp.options",
            f"a SYN needs exactly one request or offer option (R6.9), has {n_req}",
        )
    data = b"".join(parts)
    if len(data) > _MAX_OPTIONS:
        raise EncodeError("energy_tcp.options", f"{len(data)} bytes > {_MAX_OPTIONS}")
    return data + _PAD[len(data) & 3]


def decode_options(data: bytes, start: int, end: int, syn: int) -> tuple:
    """Decode the options in data[start:end] per R6.8 (skip no-ops and unknown kinds, stop at 0)."""
    opts = []
    i = start
    k = 0
    n_req = 0
    while i < end:
        kind = data[i]
        if kind == OPT_EOL:
            break
        if kind == OPT_NOP:
            i += 1
            k += 1
            continue
        if i + 1 >= end:
            raise DecodeError(
                f"energy_tcp.options[{k}].length", i + 1, "runs past the options area"
            )
        ln = data[i + 1]
        if ln < 2 or i + ln > end:
            raise DecodeError(f"energy_tcp.options[{k}].length", i + 1, f"{ln} invalid (R6.8)")
        if kind in (OPT_REQUEST, OPT_OFFER):
            if ln != _REQ_LEN:
                raise DecodeError(f"energy_tcp.options[{k}].length", i + 1, f"{ln} != {_REQ_LEN}")
            cls = RequestOption if kind == OPT_REQUEST else OfferOption
            o = cls._make(_REQ_D.unpack_from(data, i))
            if o.end_s < o.start_s:
                raise DecodeError(
                    f"energy_tcp.options[{k}].end_s", i + 10, "end_s < start_s (R1.4)"
                )
            n_req += 1
        elif kind == OPT_REJECT:
            if ln != _REJ_LEN:
                raise DecodeError(f"energy_tcp.options[{k}].length", i + 1, f"{ln} != {_REJ_LEN}")
            o = RejectOption._make(_REJ_D.unpack_from(data, i))
        elif kind == OPT_SCHEDULE:
            if ln != _SCH_LEN:
                raise DecodeError(f"energy_tcp.options[{k}].length", i + 1, f"{ln} != {_SCH_LEN}")
            o = ScheduleOption._make(_SCH_D.unpack_from(data, i))
        else:
            o = UnknownOption(kind, data[i + 2 : i + ln])
        opts.append(o)
        i += ln
        k += 1
    if syn and n_req != 1:
        raise DecodeError(
            "energy_tcp.options",
            start,
            f"a SYN needs one request or offer option (R6.9), has {n_req}",
        )
    return tuple(opts)
