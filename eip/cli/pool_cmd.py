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
    s.add_argument("--pricing", choices=("cda", "identified"), default="cda",
                   help="cda: a continuous double auction (default); identified: a call market "
                        "per slot cleared by seed 002's Identified Pricing")  # fmt: skip
    s.add_argument(
        "--slot-s",
        type=int,
        default=1800,
        help="identified: the slot length, s (orders' time frames; default 1800)",
    )
    s.add_argument(
        "--quiet-s",
        type=float,
        default=0.5,
        help="identified: a slot clears this long after its last order (default 0.5)",
    )
    s.set_defaults(func=run_serve)


def run_serve(args: argparse.Namespace) -> int:
    from eip.apps.pool_service import serve
    from eip.markets.identified import IdentifiedMarket, IdentifiedPool

    call = None
    if args.pricing == "identified":
        call = IdentifiedPool(IdentifiedMarket(slot_s=args.slot_s), quiet_s=args.quiet_s)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    serve(args.ip, args.mac, stop=lambda: bool(stopping), call=call)
    return 0
