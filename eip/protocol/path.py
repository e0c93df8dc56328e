"""What hops do to Energy-IP packets in flight: lower the static limit (R4.8) and answer with errors (R5.4)."""

from eip.errors import DecodeError
from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum
from eip.protocol.model import EnergyIp, LimitExceeded, Packet, Unreachable


def _energy_ip_offset(datagram: bytes | bytearray) -> tuple[int, int]:
    """Return (offset, length) of the Energy-IP header in an IPv4 datagram, checking just enough."""
    if len(datagram) < c.IPV4_HDR_LEN or datagram[0] >> 4 != 4:
        raise DecodeError("ipv4.version", 0, "not an IPv4 datagram")
    ihl = (datagram[0] & 0x0F) * 4
    if datagram[9] != c.IP_PROTO_ENERGY:
        raise DecodeError("ipv4.protocol", 9, f"protocol {datagram[9]} is not {c.IP_PROTO_ENERGY}")
    if len(datagram) < ihl + c.ENERGY_IP_LEN:
        raise DecodeError("energy_ip", ihl, "truncated Energy-IP header")
    if datagram[ihl] >> 4 != c.ENERGY_IP_VERSION:
        raise DecodeError("energy_ip.version", ihl, f"version {datagram[ihl] >> 4} is not 1")
    hlen = (datagram[ihl] & 0x0F) * 4
    if hlen < c.ENERGY_IP_LEN or len(datagram) < ihl + hlen:
        raise DecodeError("energy_ip.hlen", ihl, f"header length {hlen} does not fit")
    return ihl, hlen


def static_limit_of(datagram: bytes | bytearray) -> int:
    """The static exchange limit (BEE per period) an Energy-IP datagram carries."""
    off, _ = _energy_ip_offset(datagram)
    return int.from_bytes(datagram[off + 20 : off + 24], "big")


def lower_static_limit(datagram: bytearray, limit_bee: int) -> bool:
    """Lower the datagram's static limit to `limit_bee` in place, as a limiting hop does (R4.8).

    Never raises the limit: returns False and leaves the bytes alone when `limit_bee` is not lower.
    When it lowers, it sets the LIM flag and recomputes the Energy-IP checksum, and returns True.
    """
    off, hlen = _energy_ip_offset(datagram)
    if limit_bee >= int.from_bytes(datagram[off + 20 : off + 24], "big"):
        return False
    datagram[off + 20 : off + 24] = limit_bee.to_bytes(4, "big")
    datagram[off + 2] |= c.EIP_FLAG_LIM
    datagram[off + 10 : off + 12] = b"\x00\x00"
    datagram[off + 10 : off + 12] = internet_checksum(datagram[off : off + hlen]).to_bytes(2, "big")
    return True


def quote(datagram: bytes | bytearray) -> bytes:
    """The part of an offending datagram an error quotes: IPv4 + Energy-IP headers + 8 bytes (R5.4)."""
    off, hlen = _energy_ip_offset(datagram)
    return bytes(datagram[: off + hlen + c.QUOTE_TRANSPORT_BYTES])


def error_for(
    datagram: bytes | bytearray,
    error: LimitExceeded | Unreachable,
    src_ip: str,
    origin_mac: str,
    *,
    isp: bool = False,
    node_id: int = 0,
    period: int = 0,
) -> Packet | None:
    """Build the control message a hop sends back to the sender of `datagram`, or None (R5.4, R5.5).

    `error` gives the type, code and limit; its quote is filled in here. No error answers a control
    message, so a control datagram gives None.
    """
    off, _ = _energy_ip_offset(datagram)
    if datagram[off + 3] == c.NH_CONTROL:
        return None
    dst_ip = ".".join(str(b) for b in datagram[12:16])
    header = EnergyIp(0, c.EIP_FLAG_ISP if isp else 0, origin_mac, node_id, period)
    dscp = c.DSCP_ISP_CONTROL if isp else 0
    return Packet(src_ip, dst_ip, header, error._replace(quoted=quote(datagram)), dscp=dscp)
