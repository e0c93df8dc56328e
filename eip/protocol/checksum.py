"""RFC 1071 Internet checksum, summed 16 bits at a time in C through memoryview.cast."""

import sys

_LITTLE = sys.byteorder == "little"


def internet_checksum(data: bytes | bytearray | memoryview) -> int:
    """Return the one's complement of the one's complement sum of `data` as big-endian 16-bit words.

    An odd trailing byte is padded with zero, as RFC 1071 says. A buffer whose checksum field holds the
    right value sums to 0 here.
    """
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    total = sum(memoryview(data).cast("H"))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    total = ~total & 0xFFFF
    if _LITTLE:
        total = ((total & 0xFF) << 8) | (total >> 8)
    return total
