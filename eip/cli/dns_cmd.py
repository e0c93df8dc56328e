"""`eip dns serve|register|unregister` and `eip resolve NAME`: the Energy DNS server and its client."""

import argparse
import json
import logging
import signal
import time
from pathlib import Path

from eip.errors import EipError

_SERVER_HELP = "DNS server IP[:PORT] (default: env EIP_DNS, else 127.0.0.1:53)"


def register(subparsers) -> None:
    p = subparsers.add_parser("dns", help="Energy DNS: serve the card zone, register a card")
    sub = p.add_subparsers(dest="dns", metavar="ACTION", required=True)

    s = sub.add_parser("serve", help="run the Energy DNS server (UDP) until Ctrl-C")
    s.add_argument("--bind", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    s.add_argument("--port", type=int, default=53, help="UDP port (default 53)")
    s.add_argument("--store", type=Path, help="JSON file the zone is kept in (reloaded at start)")
    s.add_argument("--zone", default="energy.", help="zone served (default energy.)")
    s.add_argument("--service", action="append", default=[], metavar="NAME=IP,MAC,KIND",
                   help="a service entry the zone always holds, without a key (kind router, server "
                        "or isp; e.g. isp=10.0.0.254,02:00:00:00:00:fe,isp); repeatable")  # fmt: skip
    s.set_defaults(func=run_serve)

    g = sub.add_parser("register", help="register or update a card (signed RFC 2136 UPDATE)")
    g.add_argument("name", help="card name (a DNS label)")
    g.add_argument("--ip", required=True, help="Energy IP (IPv4)")
    g.add_argument("--mac", required=True, help="EIC MAC address")
    g.add_argument(
        "--kind", required=True, help="load, pv, wind, storage, ev, plant, router, server or isp"
    )
    g.add_argument(
        "--key-file", required=True, type=Path, help="the card's Ed25519 private key (PEM)"
    )
    g.add_argument("--vpp", default="", help="home VPP name")
    g.add_argument("--server", help=_SERVER_HELP)
    g.add_argument("--json", action="store_true", help="print the registered entry as JSON")
    g.set_defaults(func=run_register)

    u = sub.add_parser("unregister", help="delete a card's entry (signed RFC 2136 UPDATE)")
    u.add_argument("name", help="card name")
    u.add_argument(
        "--key-file", required=True, type=Path, help="the card's Ed25519 private key (PEM)"
    )
    u.add_argument("--server", help=_SERVER_HELP)
    u.set_defaults(func=run_unregister)

    r = subparsers.add_parser("resolve", help="look up a card by name or MAC in Energy DNS")
    r.add_argument("name", metavar="NAME", help="card name, or an EIC MAC for a reverse lookup")
    r.add_argument("--server", help=_SERVER_HELP)
    r.add_argument("--timeout", type=float, default=2.0, help="seconds to wait (default 2)")
    r.add_argument("--json", action="store_true", help="print JSON")
    r.set_defaults(func=run_resolve)


def load_signer(path: Path):
    """(public key bytes, sign) from an Ed25519 private key in PEM; EipError if it is not one."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except OSError as exc:
        raise EipError(f"key file {path}: {exc.strerror or exc}") from None
    except (ValueError, TypeError) as exc:
        raise EipError(f"key file {path}: not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise EipError(f"key file {path}: not an Ed25519 key")
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return public, key.sign


def entry_dict(entry) -> dict:
    return {
        "name": entry.name,
        "energy_ip": entry.energy_ip,
        "mac": entry.mac,
        "kind": entry.kind,
        "vpp": entry.vpp,
        "public_key": entry.public_key.hex(),
        "updated_s": entry.updated_s,
    }


def _print_entry(entry, as_json: bool) -> None:
    if as_json:
        print(json.dumps(entry_dict(entry), indent=2))
        return
    updated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(entry.updated_s))
    rows = (
        ("name", entry.name),
        ("energy ip", entry.energy_ip),
        ("mac", entry.mac),
        ("kind", entry.kind),
        ("vpp", entry.vpp or "-"),
        ("key", entry.public_key.hex()),
        ("updated", updated),
    )
    for label, value in rows:
        print(f"{label:<10} {value}")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def run_serve(args: argparse.Namespace) -> int:
    from eip.dns.server import EnergyDnsServer

    dns_log = logging.getLogger("eip.dns")
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        dns_log.setLevel(logging.INFO)  # a server says what it does unless asked to be quieter
    from eip.dns.records import parse_service

    services = [parse_service(text) for text in args.service]
    server = EnergyDnsServer(
        (args.bind, args.port), zone=args.zone, store_path=args.store, services=services
    )
    signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it as cleanly as Ctrl-C
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        dns_log.info("stopping: %s", server.stats())
    finally:
        server.stop()
    return 0


def run_resolve(args: argparse.Namespace) -> int:
    from eip.dns import client
    from eip.dns.records import is_mac

    server = client.parse_server(args.server)
    text = args.name.strip().lower()
    if is_mac(text):
        entry = client.resolve_mac(text, server, timeout=args.timeout)
    else:
        entry = client.resolve(text, server, timeout=args.timeout)
    _print_entry(entry, args.json)
    return 0


def run_register(args: argparse.Namespace) -> int:
    from eip.dns import client
    from eip.dns.records import make_entry

    public, sign = load_signer(args.key_file)
    entry = make_entry(args.name, args.ip, args.mac, args.kind, args.vpp, public)
    done = client.register(entry, client.parse_server(args.server), sign)
    _print_entry(done, args.json)
    return 0


def run_unregister(args: argparse.Namespace) -> int:
    from eip.dns import client

    _, sign = load_signer(args.key_file)
    client.unregister(args.name, client.parse_server(args.server), sign)
    print(f"unregistered {args.name}")
    return 0
