"""Address conversions for eip.protocol.codec, cached: a network has few addresses and they repeat."""

import socket

from eip.errors import EncodeError

_CACHE_MAX = 4096  # entries per cache; a full cache is cleared
IP_BYTES: dict = {}  # "10.0.0.1" -> 4 bytes
MAC_BYTES: dict = {}  # "02:00:00:00:00:01" -> 6 bytes
STR_OF: dict = {}  # 4 bytes -> IPv4 text, 6 bytes -> MAC text (lower case)


def ip_bytes(s, field: str) -> bytes:
    """Return the 4 bytes of dotted-quad `s`; EncodeError(field) if it is not one."""
    b = IP_BYTES.get(s)
    if b is None:
        try:
            b = socket.inet_pton(socket.AF_INET, s)
        except (OSError, TypeError, ValueError):
            raise EncodeError(field, f"not an IPv4 address: {s!r}") from None
        if len(IP_BYTES) >= _CACHE_MAX:
            IP_BYTES.clear()
        IP_BYTES[s] = b
    return b


def mac_bytes(s, field: str) -> bytes:
    """Return the 6 bytes of MAC `s` (aa:bb:cc:dd:ee:ff, either case); EncodeError(field) if not one."""
    b = MAC_BYTES.get(s)
    if b is None:
        parts = s.split(":") if isinstance(s, str) else ()
        if len(parts) != 6 or any(len(p) != 2 for p in parts):
            raise EncodeError(field, f"not a MAC address aa:bb:cc:dd:ee:ff: {s!r}")
        try:
            b = bytes.fromhex("".join(parts))
        except ValueError:
            raise EncodeError(field, f"not a MAC address: {s!r}") from None
        if len(MAC_BYTES) >= _CACHE_MAX:
            MAC_BYTES.clear()
        MAC_BYTES[s] = b
    return b


def text(b: bytes) -> str:
    """Return the text of a 4-byte IPv4 address or a 6-byte MAC address."""
    s = STR_OF.get(b)
    if s is None:
        if len(STR_OF) >= _CACHE_MAX:
            STR_OF.clear()
        s = STR_OF[b] = socket.inet_ntoa(b) if len(b) == 4 else b.hex(":")
    return s
