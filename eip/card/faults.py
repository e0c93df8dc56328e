"""Deliberately broken cards for conformance testing: the real card with one fault each.

`eip card run --fault NAME` gives the daemon a receive filter that undoes one check of the card, so
`eip conformance --dut-cmd` can show that its suite fails that card on the rule it breaks. Never
for use outside such a test.
"""

from eip.errors import EipError
from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum
from eip.protocol.mutate import fix_checksums


def _accept_bad_checksum(datagram: bytes) -> bytes:
    """Every checksum made valid before decoding: as a card that never verifies one (R6.3)."""
    return bytes(fix_checksums(bytearray(datagram)))


def _accept_any_version(datagram: bytes) -> bytes:
    """Any Energy-IP version taken as 1: as a card that never checks it (R4.1). Only the Energy-IP
    header checksum is redone, and only if it verified: every other check stays."""
    buf = bytearray(datagram)
    e = (buf[0] & 0x0F) * 4 if buf else 0
    if len(buf) < e + 12 or buf[e] >> 4 == 1:
        return datagram
    hlen = (buf[e] & 0x0F) * 4
    if internet_checksum(bytes(buf[e : e + hlen])) != 0:
        return datagram
    buf[e] = (1 << 4) | (buf[e] & 0x0F)
    buf[e + 10 : e + 12] = b"\0\0"
    buf[e + 10 : e + 12] = internet_checksum(bytes(buf[e : e + hlen])).to_bytes(2, "big")
    return bytes(buf)


def _credit_unmarked(datagram: bytes) -> bytes:
    """Every datagram taken as BEE-marked (DSCP class 1 with BEE): as a card that credits BEE
    whatever the DSCP says, so metering by DSCP no longer holds (R3.6). Only the IPv4 header
    checksum is redone, and only if it verified."""
    buf = bytearray(datagram)
    ihl = (buf[0] & 0x0F) * 4 if buf else 0
    if len(buf) < max(ihl, 20) or buf[1] >> 2 in c.DSCP_BEE or internet_checksum(buf[:ihl]):
        return datagram
    buf[1] = (c.BEE_PRIORITY_CLASSES[1] << 2) | (buf[1] & 0x03)
    buf[10:12] = b"\0\0"
    buf[10:12] = internet_checksum(bytes(buf[:ihl])).to_bytes(2, "big")
    return bytes(buf)


def _isp_flag_ignored(datagram: bytes) -> bytes:
    """Every control message taken as flagged by the ISP: as a card that never checks the flag
    (R4.4). Its address is still checked, and window updates are left alone; only the Energy-IP
    header checksum is redone, and only if it verified."""
    buf = bytearray(datagram)
    e = (buf[0] & 0x0F) * 4 if buf else 0
    if len(buf) < e + 24 or buf[e + 3] != c.NH_CONTROL or buf[e + 2] & c.EIP_FLAG_ISP:
        return datagram
    hlen = (buf[e] & 0x0F) * 4
    if internet_checksum(bytes(buf[e : e + hlen])) != 0:
        return datagram
    buf[e + 2] |= c.EIP_FLAG_ISP
    buf[e + 10 : e + 12] = b"\0\0"
    buf[e + 10 : e + 12] = internet_checksum(bytes(buf[e : e + hlen])).to_bytes(2, "big")
    return bytes(buf)


def _window_update_ignored(datagram: bytes) -> bytes | None:
    """Every window update dropped unread: as a card that sends as fast as its peer allows, whatever
    the ISP's rate (R6.10). Nothing else is touched."""
    e = (datagram[0] & 0x0F) * 4 if datagram else 0
    if len(datagram) < e + 24 or datagram[e + 3] != c.NH_ENERGY_TCP:
        return datagram
    t = e + (datagram[e] & 0x0F) * 4
    if len(datagram) >= t + 14 and datagram[t + 13] & c.ETCP_WUP:
        return None
    return datagram


FAULTS = {
    "accept-bad-checksum": ("R6.3", _accept_bad_checksum),
    "accept-any-version": ("R4.1", _accept_any_version),
    "credit-unmarked": ("R3.6", _credit_unmarked),
    "isp-flag-ignored": ("R4.4", _isp_flag_ignored),
    "window-update-ignored": ("R6.10", _window_update_ignored),
}


def rx_filter(name: str):
    """The receive filter of fault `name`; EipError naming the known faults otherwise."""
    if name not in FAULTS:
        raise EipError(f"unknown fault {name!r}: one of {', '.join(sorted(FAULTS))}")
    return FAULTS[name][1]
