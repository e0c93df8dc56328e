"""`eip ledger verify PATH` checks a card's ledger; `eip ledger show PATH [--json]` prints its profile."""

import argparse
import json


def register(subparsers) -> None:
    p = subparsers.add_parser("ledger", help="check a card's ledger or show its owner's profile")
    sub = p.add_subparsers(dest="ledger", metavar="ACTION", required=True)
    v = sub.add_parser(
        "verify",
        help="recompute digests, signatures and the hash chain; exit 1 at the first bad record",
    )
    v.add_argument("path", metavar="PATH", help="ledger file (SQLite)")
    v.set_defaults(func=run_verify)
    s = sub.add_parser(
        "show", help="print the profile: identity, trades, energy, certificates, money"
    )
    s.add_argument("path", metavar="PATH", help="ledger file (SQLite)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=run_show)


def _read(path: str, what):
    """what(ledger) for the ledger at path, opened only for the call."""
    from eip.card.ledger import Ledger

    with Ledger.open(path) as ledger:
        return what(ledger)


def run_verify(args: argparse.Namespace) -> int:
    result = _read(args.path, lambda ledger: ledger.verify())
    if result.ok:
        print(f"ok: {result.records} records verified")
        return 0
    where = "" if result.first_bad is None else f"record #{result.first_bad}: "
    print(f"bad {where}{result.reason}")
    return 1


def run_show(args: argparse.Namespace) -> int:
    profile = _read(args.path, lambda ledger: ledger.profile())
    if args.json:
        print(json.dumps(profile, indent=2))
    else:
        _print_profile(profile)
    return 0


# (row label, profile key, format spec) of the profile's totals, shown before and after flexibility.
_FOOTPRINT = (
    ("green certificates (Wh)", "green_certificates_wh", ",.1f"),
    ("carbon emission rights (g)", "carbon_rights_g", ","),
    ("carbon footprint (kg CO2)", "carbon_footprint_kg", ",.3f"),
)
_MONEY = (
    ("money earned", "money_earned", ",.6f"),
    ("money paid", "money_paid", ",.6f"),
    ("money balance", "money_balance", ",.6f"),
    ("ISP service fees", "money_fees", ",.6f"),
    ("money net of fees", "money_net", ",.6f"),
)


def _print_profile(profile: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:  # a pipe or file: do not squeeze transfer ids into 80 columns
        console = Console(width=160)
    ident = profile["identity"]
    head = Table(title=f"profile of {ident['name'] or ident['mac']}", show_header=False)
    head.add_column("item")
    head.add_column("value", justify="right")
    for key in ("name", "kind", "mac", "energy_ip", "vpp"):
        head.add_row(key, ident[key] or "-")
    head.add_row("public key", ident["public_key"][:16] + "...")
    for side in ("sent", "received"):
        for name, wh in profile["energy_wh"][side].items():
            if wh:
                head.add_row(f"energy {side} {name} (Wh)", f"{wh:,}")
    for label, key, spec in _FOOTPRINT:
        head.add_row(label, format(profile[key], spec))
    for side, w in profile["flexibility_w"].items():
        if w:
            head.add_row(f"flexibility {side} (W)", f"{w:,}")
    for label, key, spec in _MONEY:
        head.add_row(label, format(profile[key], spec))
    for key, n in profile["counts"].items():
        head.add_row(key.replace("_", " "), f"{n:,}")
    console.print(head)
    if profile["trades"]:
        trades = Table(title="trades")
        for col in ("transfer", "role", "peer", "type", "done / total", "price", "money", "state"):
            trades.add_column(
                col, justify="right" if col in ("done / total", "price", "money") else "left"
            )
        for tid, t in profile["trades"].items():
            peer = f"{t['peer_name']} {t['peer_mac']}".strip()
            state = t["state"] + (f" ({t['close_reason']})" if t["close_reason"] else "")
            trades.add_row(
                tid,
                t["role"],
                peer,
                t["bee_type"],
                f"{t['quantity_done']:,} / {t['quantity_total']:,}",
                f"{t['price_micro_per_kbee']:,}",
                f"{t['money']:,.6f}",
                state,
            )
        console.print(trades)
