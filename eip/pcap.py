"""Capture files: write frames to a classic libpcap file, read frames back, and pick out the Energy
Internet packets of a capture.

The writer is deterministic (fixed start time and step), so the same frames always make the same file;
the reader takes pcap and pcapng (through Scapy's raw reader) and names the file in every error.
"""

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path

from eip.errors import DecodeError, EipError
from eip.protocol import codec
from eip.protocol import constants as c

_PCAP_HEADER = struct.Struct("<IHHiIII")
_PCAP_RECORD = struct.Struct("<IIII")
_PCAP_MAGIC_US = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
DEFAULT_START_S = 1_780_308_000  # 2026-06-01 10:00 UTC: a fixed clock, so captures are reproducible
# Link types with the offset of the IPv4 header (None: Ethernet, parsed by the codec).
LINK_OFFSETS = {LINKTYPE_ETHERNET: None, LINKTYPE_RAW: 0, 228: 0, 12: 0, 113: 16, 276: 20}


def write_pcap(
    path: str | Path,
    frames: Iterable[bytes],
    start_s: float = DEFAULT_START_S,
    step_s: float = 0.001,
    linktype: int = LINKTYPE_ETHERNET,
) -> int:
    """Write frames to a classic libpcap file (microsecond timestamps); return the number written."""
    count = 0
    with open(path, "wb") as out:
        out.write(_PCAP_HEADER.pack(_PCAP_MAGIC_US, 2, 4, 0, 0, 65535, linktype))
        for i, frame in enumerate(frames):
            ts_us = round((start_s + i * step_s) * 1e6)
            out.write(
                _PCAP_RECORD.pack(ts_us // 1_000_000, ts_us % 1_000_000, len(frame), len(frame))
            )
            out.write(frame)
            count += 1
    return count


def read_frames(path: str | Path) -> Iterator[tuple[float, int, bytes]]:
    """Yield (timestamp_s, linktype, frame) from a pcap or pcapng file; errors name the file."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapReader

    try:
        reader = RawPcapReader(str(path))
    except FileNotFoundError:
        raise EipError(f"{path}: no such file") from None
    except (Scapy_Exception, OSError, EOFError) as exc:
        raise EipError(f"{path}: not a pcap or pcapng capture ({exc})") from None
    with reader:
        linktype = getattr(reader, "linktype", LINKTYPE_ETHERNET)
        try:
            for data, meta in reader:
                ts = getattr(meta, "sec", None)
                if ts is not None:
                    ts_s = meta.sec + meta.usec / 1e6
                else:
                    ts_s = ((meta.tshigh << 32) | meta.tslow) / getattr(meta, "tsresol", 1e6)
                yield ts_s, getattr(meta, "linktype", linktype) or linktype, data
        except (Scapy_Exception, struct.error, EOFError) as exc:
            raise EipError(f"{path}: capture is truncated or corrupt ({exc})") from None


def is_energy(frame: bytes, offset: int | None) -> bool:
    """True if `frame` holds an IPv4 packet of the Energy protocol at `offset` (None: Ethernet, with
    or without one VLAN tag)."""
    if offset is None:
        if len(frame) < 14:
            return False
        offset, ethertype = 14, frame[12:14]
        if ethertype == b"\x81\x00" and len(frame) >= 18:
            offset, ethertype = 18, frame[16:18]
        if ethertype != b"\x08\x00":
            return False
    return (
        len(frame) > offset + 9
        and frame[offset] >> 4 == 4
        and frame[offset + 9] == c.IP_PROTO_ENERGY
    )


def energy_datagrams(path: str | Path):
    """Yield (index, timestamp_s, IPv4 datagram bytes) for each Energy Internet packet of a capture
    (index counts every frame from 1; the bytes run to the frame's end, padding included)."""
    for index, (ts_s, linktype, frame) in enumerate(read_frames(path), start=1):
        if linktype not in LINK_OFFSETS:
            raise EipError(f"{path}: link type {linktype} is not supported (Ethernet or raw IP)")
        offset = LINK_OFFSETS[linktype]
        if not is_energy(frame, offset):
            continue
        if offset is None:  # Ethernet, with or without one VLAN tag
            offset = 18 if frame[12:14] == b"\x81\x00" else 14
        yield index, ts_s, frame[offset:]


def energy_packets(path: str | Path):
    """Yield (index, timestamp_s, Packet or DecodeError) for each Energy Internet packet of a capture
    (index counts every frame from 1)."""
    for index, ts_s, datagram in energy_datagrams(path):
        try:
            pkt = codec.decode(datagram)
        except DecodeError as exc:
            pkt = exc
        yield index, ts_s, pkt
