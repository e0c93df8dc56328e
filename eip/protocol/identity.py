"""The EIC identity: valid EIC MAC addresses (R2.2) and the first-hop origin check (R2.3)."""

import re

from eip.errors import EncodeError

_MAC_RE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def check_eic_mac(mac: str) -> str:
    """Return `mac` normalised to lower case, or raise EncodeError if it cannot be an EIC MAC."""
    norm = mac.strip().lower().replace("-", ":")
    if not _MAC_RE.match(norm):
        raise EncodeError("eic_mac", f"{mac!r} is not a MAC address like 02:00:00:00:01:01")
    first = int(norm[:2], 16)
    if first & 1:
        raise EncodeError("eic_mac", f"{mac} is a multicast address; an EIC MAC must be unicast")
    if norm == "00:00:00:00:00:00":
        raise EncodeError("eic_mac", "the all-zero address cannot identify a card")
    return norm


def origin_matches_source(frame: bytes) -> bool:
    """Whether an Ethernet frame's source MAC equals its Energy-IP origin MAC (first hop, R2.3).

    Frames that are not IPv4 protocol 253 with an Energy-IP header give False.
    """
    if len(frame) < 14 + 20 + 24 or frame[12:14] != b"\x08\x00" or frame[14 + 9] != 253:
        return False
    ihl = (frame[14] & 0x0F) * 4
    off = 14 + ihl
    return len(frame) >= off + 10 and frame[6:12] == frame[off + 4 : off + 10]
