"""`eip sample-pcap` writes the sample exchange; `eip decode` prints the Energy packets of a capture."""

import argparse
import struct

from eip.errors import DecodeError, EipError
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.describe import details, summary

# Link types with the offset of the IPv4 header (None: Ethernet, parsed by the codec).
_LINK_OFFSETS = {1: None, 101: 0, 228: 0, 12: 0, 113: 16, 276: 20}


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "sample-pcap", help="write a pcap of one exchange with every message kind"
    )
    p.add_argument("file", help="pcap file to write")
    p.set_defaults(func=run_sample)
    p = subparsers.add_parser(
        "decode", help="print the Energy Internet packets of a pcap or pcapng"
    )
    p.add_argument("file", help="capture to read")
    p.add_argument("-v", "--verbose", action="store_true", help="print every field")
    p.set_defaults(func=run_decode)


def run_sample(args: argparse.Namespace) -> int:
    from eip.sample import sample_frames, write_pcap

    n = write_pcap(args.file, sample_frames())
    print(f"wrote {n} packets to {args.file}")
    return 0


def _is_energy(frame: bytes, offset: int | None) -> bool:
    if offset is None:
        if len(frame) < 14:
            return False
        offset, ethertype = 14, frame[12:14]
        if ethertype == b"\x81\x00" and len(frame) >= 18:
            offset, ethertype = 18, frame[16:18]
        if ethertype != b"\x08\x00":
            return False
    return len(frame) > offset + 9 and frame[offset] >> 4 == 4 and frame[offset + 9] == 253


def decode_capture(path: str):
    """Yield (index, timestamp_s, Packet or DecodeError) for each Energy Internet packet of a capture."""
    from eip.sample import read_frames

    for index, (ts_s, linktype, frame) in enumerate(read_frames(path), start=1):
        if linktype not in _LINK_OFFSETS:
            raise EipError(f"{path}: link type {linktype} is not supported (Ethernet or raw IP)")
        offset = _LINK_OFFSETS[linktype]
        if not _is_energy(frame, offset):
            continue
        try:
            pkt = codec.decode_frame(frame)[2] if offset is None else codec.decode(frame[offset:])
        except DecodeError as exc:
            pkt = exc
        yield index, ts_s, pkt


def run_decode(args: argparse.Namespace) -> int:
    t0 = None
    shown = malformed = 0
    try:
        for index, ts_s, pkt in decode_capture(args.file):
            t0 = ts_s if t0 is None else t0
            prefix = f"{index:5d} {ts_s - t0:10.6f} "
            if isinstance(pkt, DecodeError):
                malformed += 1
                print(f"{prefix}malformed: {pkt}")
                continue
            shown += 1
            print(prefix + summary(pkt))
            if args.verbose:
                print("\n".join(details(pkt)))
    except struct.error as exc:  # pragma: no cover - read_frames wraps these
        raise EipError(f"{args.file}: corrupt capture ({exc})") from None
    if shown == 0 and malformed == 0:
        print(f"no Energy Internet packets (IPv4 protocol {c.IP_PROTO_ENERGY}) in {args.file}")
    return 0
