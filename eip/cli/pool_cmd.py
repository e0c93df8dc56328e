"""`eip pool serve`: the BEE pool service of an Energy LAN, on its VPP router (needs root)."""

import argparse
import signal


def register(subparsers) -> None:
    p = subparsers.add_parser("pool", help="the BEE pool service (seed 000 section 6)")
    sub = p.add_subparsers(dest="pool_command", metavar="ACTION", required=True)
    s = sub.add_parser("serve", help="serve BEE pool orders on Energy-TCP port 2 at an address")
    s.add_argument(
        "--ip", required=True, help="the address to serve on (the VPP router's LAN address)"
    )
    s.add_argument("--mac", required=True, help="the MAC the pool's Energy-IP header names")
    s.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from eip.apps.pool_service import serve

    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    serve(args.ip, args.mac, stop=lambda: bool(stopping))
    return 0
