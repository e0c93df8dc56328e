"""Command line entry point `eip`: one subcommand per module in eip.cli, errors printed without traceback."""

import argparse
import importlib
import logging
import sys

from eip import __version__
from eip.errors import EipError

# Each module has register(subparsers) that adds its parser and sets `func` to a run(args) -> int.
SUBCOMMAND_MODULES = (
    "eip.cli.demo_cmd",
    "eip.cli.pcap_cmd",
    "eip.cli.wireshark_cmd",
    "eip.cli.bench_cmd",
    "eip.cli.ledger_cmd",
    "eip.cli.dns_cmd",
    "eip.cli.card_cmd",
    "eip.cli.controller_cmd",
    "eip.cli.pool_cmd",
    "eip.cli.scenario_cmd",
    "eip.cli.conformance_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eip",
        description="Energy Internet emulator: BEE, Energy-IP and Energy-TCP on real packets.",
    )
    parser.add_argument("--version", action="version", version=f"eip {__version__}")
    parser.add_argument("--log-level", default="WARNING", help="logging level (default WARNING)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EipError as exc:
        print(f"eip {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"eip {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"eip {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
