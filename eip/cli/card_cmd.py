"""`eip card run` starts a card; `eip card ctl` talks to a running one; `eip card key` makes its key."""

import argparse
import dataclasses
import json
import logging
import signal
from pathlib import Path

from eip.card.config import (
    DEFAULT_STATE_ROOT,
    CardConfig,
    config_from_args,
    load_config,
    parse_behaviour,
)
from eip.card.control import OPS, ControlClient, ControlError
from eip.yamlconf import load


def register(subparsers) -> None:
    p = subparsers.add_parser("card", help="run or control an Energy Internet Card")
    sub = p.add_subparsers(dest="card_command", metavar="ACTION", required=True)

    r = sub.add_parser("run", help="run a card in this network namespace (needs root)")
    r.add_argument("--config", help="card YAML file (command-line values override it)")
    for flag, help_text in (
        ("--name", "card name (a DNS label)"),
        ("--kind", "load, pv, wind, storage, ev or plant"),
        ("--mac", "EIC MAC address (the card's identity)"),
        ("--state-dir", "folder for ledger, key and control socket"),
        ("--interface", "network interface (default: the first non-loopback one)"),
        ("--energy-ip", "Energy IP address (default: the interface's address)"),
        ("--vpp", "the Energy LAN (VPP) the card is in"),
        ("--home-vpp", "the card's home VPP (default: --vpp)"),
        ("--dns", "Energy DNS server IP[:PORT]"),
        ("--isp-ip", "the Energy ISP's address: notices and window updates only from it"),
        ("--isp", "the Energy ISP's name in Energy DNS (its address then replaces --isp-ip)"),
        (
            "--pool",
            "the BEE pool: IPv4 or a name in Energy DNS (default: the VPP router, x.y.z.254)",
        ),
    ):
        r.add_argument(flag, help=help_text)
    for flag in ("--window-bee", "--quantum-bee", "--price-micro-per-kbee", "--max-grant-bee"):
        r.add_argument(flag, type=int)
    r.add_argument("--time-scale", type=float,
                   help="emulated seconds per wall second: paced transfers go this much faster")  # fmt: skip
    r.add_argument(
        "--peer", action="append", default=[], metavar="NAME,IP,MAC,KEYHEX",
        help="a peer card known without DNS (repeatable)",
    )  # fmt: skip
    r.add_argument(
        "--vpp-subnet", action="append", default=[], metavar="VPP=CIDR",
        help="the VPP of a subnet, so the card knows its VPP after a move (repeatable)",
    )  # fmt: skip
    r.add_argument(
        "--behaviours", metavar="FILE",
        help="YAML of card name -> behaviour (kind, period_s, parameters): the card hosts its own "
             "entry (overrides the card YAML's behaviour:)",
    )  # fmt: skip
    r.add_argument(
        "--fault", metavar="NAME",
        help="conformance testing only: run a deliberately broken card (eip/card/faults.py)",
    )  # fmt: skip
    r.set_defaults(func=run_card)

    k = sub.add_parser("key", help="create (if missing) a card's key and print its public key")
    k.add_argument("state_dir", help="the card's state folder (key.pem is kept there)")
    k.set_defaults(func=run_key)

    ops = ", ".join(OPS)
    c = sub.add_parser("ctl", help=f"control a running card: {ops}")
    c.add_argument("card", help="card name (socket in --state-root/NAME/ctl.sock) or socket path")
    c.add_argument("op", choices=sorted(OPS), help="what to ask")
    c.add_argument(
        "args",
        nargs="*",
        metavar="KEY=VALUE",
        help="arguments, e.g. to=load1 quantity=500 power_bee_per_s=100",
    )
    c.add_argument("--state-root", default=str(DEFAULT_STATE_ROOT))
    c.add_argument("--timeout", type=float, default=30.0)
    c.set_defaults(func=run_ctl)


def _values(args: argparse.Namespace) -> dict:
    values = {
        "name": args.name, "kind": args.kind, "mac": args.mac, "state_dir": args.state_dir,
        "interface": args.interface, "energy_ip": args.energy_ip, "vpp": args.vpp,
        "home_vpp": args.home_vpp, "dns": args.dns, "window_bee": args.window_bee,
        "quantum_bee": args.quantum_bee, "price_micro_per_kbee": args.price_micro_per_kbee,
        "max_grant_bee": args.max_grant_bee, "isp_ip": args.isp_ip, "time_scale": args.time_scale,
        "pool": args.pool, "isp": args.isp,
    }  # fmt: skip
    if args.peer:
        peers = []
        for text in args.peer:
            parts = text.split(",")
            if len(parts) != 4:
                raise ControlError(f"--peer {text!r}: expected NAME,IP,MAC,KEYHEX")
            peers.append(dict(zip(("name", "ip", "mac", "key"), parts, strict=True)))
        values["peers"] = peers
    if args.vpp_subnet:
        pairs = [text.partition("=") for text in args.vpp_subnet]
        if any(not sep for _n, sep, _c in pairs):
            raise ControlError("--vpp-subnet expects VPP=CIDR, e.g. vpp1=10.1.0.0/24")
        values["vpp_subnets"] = {name: cidr for name, _sep, cidr in pairs}
    return {k: v for k, v in values.items() if v is not None}


def run_card(args: argparse.Namespace) -> int:
    from eip.card.daemon import CardDaemon

    values = _values(args)
    config = load_config(args.config, values) if args.config else config_from_args(values)
    if args.behaviours:
        config = with_behaviour_file(config, args.behaviours)
    rx = None
    if args.fault:
        from eip.card.faults import rx_filter

        rx = rx_filter(args.fault)
        logging.getLogger("eip").warning("card %s runs with fault %s", config.name, args.fault)
    daemon = CardDaemon(config, rx_filter=rx)

    def stop(_signum, _frame):
        daemon.running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logging.getLogger("eip").info("starting card %s", config.name)
    daemon.run()
    return 0


def with_behaviour_file(config: CardConfig, path: str) -> CardConfig:
    """`config` with its own entry of a behaviours file (card name -> behaviour), if it has one."""
    data, where = load(path)
    if not isinstance(data, dict):
        raise where.error("expected a mapping of card name -> behaviour")
    if config.name not in data:
        return config
    entry = parse_behaviour(data[config.name], where.at(config.name))
    return dataclasses.replace(config, behaviour=entry)


def run_key(args: argparse.Namespace) -> int:
    from eip.etcp.keys import CardKey

    key = CardKey.load_or_create(Path(args.state_dir) / "key.pem")
    print(key.public_bytes.hex())
    return 0


def _parse_arg(text: str):
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ControlError(f"argument {text!r} is not KEY=VALUE")
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


def run_ctl(args: argparse.Namespace) -> int:
    path = Path(args.card) if "/" in args.card else Path(args.state_root) / args.card / "ctl.sock"
    call_args = dict(_parse_arg(a) for a in args.args)
    result = ControlClient(path, timeout=args.timeout).call(args.op, **call_args)
    print(json.dumps(result, indent=2, sort_keys=True))
    return 0
