"""`eip sample-pcap` writes the sample exchange; `eip decode` prints the Energy packets of a capture."""

import argparse
import struct

from eip.errors import DecodeError, EipError
from eip.pcap import energy_packets
from eip.protocol import constants as c
from eip.protocol.describe import details, summary


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
    from eip.sample import write_sample_pcap

    n = write_sample_pcap(args.file)
    print(f"wrote {n} packets to {args.file}")
    return 0


def run_decode(args: argparse.Namespace) -> int:
    t0 = None
    shown = malformed = 0
    try:
        for index, ts_s, pkt in energy_packets(args.file):
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
