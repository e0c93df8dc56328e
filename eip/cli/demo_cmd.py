"""`eip demo`: the protocol demo: write the sample exchange, decode it, and show it through tshark."""

import argparse
import shutil
import subprocess
from pathlib import Path

from eip.protocol.describe import summary


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "demo", help="protocol demo: sample exchange to pcap, decoded and dissected"
    )
    p.add_argument("--out", default="out/demo", help="output folder (default out/demo)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eip.cli.wireshark_cmd import dissector_path
    from eip.sample import sample_exchange, write_sample_pcap

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pcap = out / "sample.pcap"
    n = write_sample_pcap(pcap)
    print(f"Energy Internet protocol demo: {n} packets of one exchange written to {pcap}\n")
    for i, (_, _, pkt) in enumerate(sample_exchange(), start=1):
        print(f"{i:3d} {summary(pkt)}")
    tshark = shutil.which("tshark")
    lua = dissector_path()
    if tshark:
        cmd = [tshark, "-n", "-X", f"lua_script:{lua}", "-r", str(pcap)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        (out / "tshark.txt").write_text(done.stdout)
        print(f"\ntshark with the eip dissector ({out / 'tshark.txt'}):")
        print(done.stdout.rstrip())
        if done.returncode != 0:
            print(f"tshark exited {done.returncode}: {done.stderr.strip()}")
            return 1
    else:
        print(
            "\ntshark not found: install it (apt-get install tshark) to see the capture dissected"
        )
    print(f"\nOpen it in Wireshark: wireshark -X lua_script:{lua} {pcap}")
    return 0
