"""`eip bench NAME [--json]`: run a benchmark and print its figures and goals."""

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "bench", help="run a benchmark (ratios against a baseline in the same run)"
    )
    sub = p.add_subparsers(dest="bench", metavar="BENCH", required=True)
    b = sub.add_parser("codec", help="fast codec against Scapy build/dissect on one full packet")
    b.add_argument("--seconds", type=float, default=1.0, help="time per measurement (default 1)")
    b.add_argument("--records", type=int, default=4, help="BEE records in the packet (default 4)")
    b.add_argument("--json", action="store_true", help="print JSON")
    b.set_defaults(func=run_codec)
    t = sub.add_parser("transfer", help="acknowledged segments/s between two cards vs iperf3 UDP")
    t.add_argument("--quantity", type=int, default=270_000, help="BEE to transfer (default 270000)")
    t.add_argument("--quantum", type=int, default=10, help="BEE units per record (default 10)")
    t.add_argument("--window", type=int, default=200_000, help="receive window in BEE")
    t.add_argument("--json", action="store_true", help="print JSON")
    t.set_defaults(func=run_transfer)
    sc = sub.add_parser("scale", help="time and memory to bring up 10, 50, 200 cards (root)")
    sc.add_argument("--sizes", default="10,50,200", help="comma-separated card counts")
    sc.add_argument("--json", action="store_true", help="print JSON")
    sc.set_defaults(func=run_scale)
    o = sub.add_parser("opf", help="per-period OPF + limits vs plain pandapower runopp on 4 grids")
    o.add_argument("--periods", type=int, default=12, help="periods per grid (default 12)")
    o.add_argument("--grids", default="four_node,cigre_lv,case33bw,case118",
                   help="comma-separated grids (default all four)")  # fmt: skip
    o.add_argument("--json", action="store_true", help="print JSON")
    o.set_defaults(func=run_opf)
    m = sub.add_parser("market", help="orders/s matched by the BEE pool and the double auction")
    m.add_argument("--orders", type=int, default=200_000, help="orders per run (default 200000)")
    m.add_argument("--seed", type=int, default=1, help="random seed of the order stream")
    m.add_argument("--json", action="store_true", help="print JSON")
    m.add_argument(
        "--network-orders", type=int, default=400,
        help="orders sent end to end through an emulated network (root; 0 to skip)",
    )  # fmt: skip
    m.set_defaults(func=run_market)
    lp = sub.add_parser("loop", help="closed-loop periods: ISP enforcing vs measuring only (root)")
    lp.add_argument("--periods", type=int, default=3, help="periods traded per run (default 3)")
    lp.add_argument(
        "--period-s",
        type=float,
        default=None,
        help="wall s per period (default 10; with --day 6, the ISP's scale)",
    )
    lp.add_argument(
        "--day",
        action="store_true",
        help="the closed-loop four_node_day (cards' behaviours) instead of grid_limits",
    )
    lp.add_argument("--json", action="store_true", help="print JSON")
    lp.set_defaults(func=run_loop)
    r = sub.add_parser("reliability", help="fuzzing, faults, hostile cards and load (root for all)")
    r.add_argument("--fuzz", type=int, default=1_000_000, help="packets to fuzz (default 1000000)")
    r.add_argument("--quick", action="store_true", help="small fuzz and load (no 1M-packet goal)")
    r.add_argument("--sizes", default="50,100,200", help="card counts of the load search")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=run_reliability)


def _print(result: dict, as_json: bool) -> int:
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"eip bench {result['benchmark']}")
        table.add_column("figure")
        table.add_column("value", justify="right")
        for key, value in result.items():
            if key not in ("goals", "benchmark") and not isinstance(value, dict):
                table.add_row(key, f"{value:,}" if isinstance(value, (int, float)) else str(value))
        for name, g in result.get("goals", {}).items():
            mark = "met" if g["met"] else "NOT MET"
            table.add_row(f"goal {name}", f"{g['value']:,} (goal {g['goal']}) {mark}")
        Console().print(table)
    return 0 if all(g["met"] for g in result.get("goals", {}).values()) else 3


def run_codec(args: argparse.Namespace) -> int:
    from eip.bench.codec import run

    return _print(run(seconds=args.seconds, n_records=args.records), args.json)


def run_transfer(args: argparse.Namespace) -> int:
    from eip.bench.transfer import run

    return _print(run(args.quantity, args.quantum, args.window), args.json)


def run_scale(args: argparse.Namespace) -> int:
    from eip.bench.scale import run

    sizes = tuple(int(n) for n in args.sizes.split(",") if n.strip())
    return _print(run(sizes), args.json)


def run_opf(args: argparse.Namespace) -> int:
    from eip.bench.opf import run

    grids = tuple(g.strip() for g in args.grids.split(",") if g.strip())
    return _print(run(args.periods, grids), args.json)


def run_market(args: argparse.Namespace) -> int:
    from eip.bench.market import run

    return _print(run(args.orders, args.seed, args.network_orders), args.json)


def run_reliability(args: argparse.Namespace) -> int:
    from eip.bench.reliability import run

    sizes = tuple(int(n) for n in args.sizes.split(",") if n.strip())
    total = min(args.fuzz, 20_000) if args.quick and args.fuzz == 1_000_000 else args.fuzz
    return _print(run(total, args.quick, sizes), args.json)


def run_loop(args: argparse.Namespace) -> int:
    from eip.bench.loop import run, run_day

    if args.day:
        return _print(run_day(args.periods, args.period_s or 6.0), args.json)
    return _print(run(args.periods, args.period_s or 10.0), args.json)
