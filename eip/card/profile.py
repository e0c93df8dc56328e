"""The owner's profile of a card's ledger (docs/card.md "Profile"): trades, energy, certificates, money.

Read-only SQL aggregates over the `transfers`, `peers` and `bees` tables of `eip.card.ledger_format`;
`Ledger.profile` and `eip ledger show` print them.
"""

import json
import sqlite3
from fractions import Fraction

from eip.card.bills import totals as bill_totals
from eip.card.ledger_format import ENERGY_BEE_TYPES, Identity
from eip.protocol import constants as c


def money(price_times_quantity: int) -> float:
    """price (micro-currency per 1000 BEE) x quantity (BEE) -> currency units."""
    return float(Fraction(price_times_quantity, 1000 * 1_000_000))


def counts(conn: sqlite3.Connection) -> dict:
    """Open and closed transfers, BEE rows and records."""
    q = conn.execute
    opened, closed = q(
        "SELECT COALESCE(SUM(state = 'open'), 0), COALESCE(SUM(state = 'closed'), 0) FROM transfers"
    ).fetchone()
    return {
        "transfers_open": opened,
        "transfers_closed": closed,
        "bees": q("SELECT COUNT(*) FROM bees").fetchone()[0],
        "records": q("SELECT COUNT(*) FROM records").fetchone()[0],
    }


def profile(conn: sqlite3.Connection, ident: Identity) -> dict:
    """The profile of `ident`, the owner of the ledger on `conn`, from SQL aggregates over the BEE rows."""
    names = c.BEE_TYPES
    units = {d: {name: 0 for name in names.values()} for d in ("sent", "received")}
    green_micro = 0  # Wh x basis points
    carbon_mg = 0
    earned = paid = 0  # micro-currency per 1000 BEE x BEE
    groups = conn.execute(
        "SELECT direction, bee_type, price_micro_per_kbee, carbon_mg_per_unit, green_ratio_bp, "
        "SUM(quantity) FROM bees GROUP BY 1, 2, 3, 4, 5"
    )
    for direction, bee_type, price, carbon, green, qty in groups:
        side = "sent" if direction == "debit" else "received"
        name = names.get(bee_type, f"type-{bee_type}")
        units[side][name] = units[side].get(name, 0) + qty
        if side == "sent":
            earned += price * qty
        else:
            paid += price * qty
            if bee_type in ENERGY_BEE_TYPES:
                green_micro += qty * green
                carbon_mg += qty * carbon
    fees = bill_totals(conn)
    energy = {side: {names[t]: units[side][names[t]] for t in ENERGY_BEE_TYPES} for side in units}
    cert = names[c.BEE_GREEN_CERTIFICATE]
    right = names[c.BEE_CARBON_RIGHT]
    flex = names[c.BEE_FLEXIBILITY]
    return {
        "identity": {
            "name": ident.name,
            "kind": ident.kind,
            "mac": ident.mac,
            "public_key": ident.public_key.hex(),
            "energy_ip": ident.energy_ip,
            "vpp": ident.vpp,
        },
        "trades": trades(conn),
        "energy_wh": energy,
        "units_by_type": units,
        "green_certificates_wh": units["received"][cert]
        + float(Fraction(green_micro, c.GREEN_RATIO_MAX_BP)),
        "carbon_rights_g": units["received"][right] - units["sent"][right],
        "carbon_footprint_kg": float(Fraction(carbon_mg, 1_000_000)),
        "flexibility_w": {side: units[side][flex] for side in units},
        "money_earned": money(earned),
        "money_paid": money(paid),
        "money_balance": money(earned - paid),  # what the trades moved (zero-sum between cards)
        "money_fees": money(fees["fee_units"]),  # the ISP's service-fee bills (R5.8)
        "money_net": money(earned - paid - fees["fee_units"]),
        "fees": {
            "bills": fees["bills"],
            "usage_bee": fees["usage_bee"],
            "by_period": {str(p): money(u) for p, u in fees["by_period"].items()},
        },
        "counts": counts(conn),
        "electricity_by_frame_wh": by_frame(conn),
    }


def by_frame(conn: sqlite3.Connection) -> dict:
    """Electricity sent and received per BEE time frame start (Unix s, as text): what a trade of a
    period moved, for figures per period."""
    out: dict = {"sent": {}, "received": {}}
    rows = conn.execute(
        "SELECT direction, start_s, SUM(quantity) FROM bees WHERE bee_type = ? GROUP BY 1, 2 "
        "ORDER BY 2", (c.BEE_ELECTRICITY,)
    )  # fmt: skip
    for direction, start_s, qty in rows:
        out["sent" if direction == "debit" else "received"][str(start_s)] = qty
    return out


def trades(conn: sqlite3.Connection) -> dict[str, dict]:
    """Transfer id -> its trade: role, peer, BEE type, price, quantity done of total, money, state."""
    rows = conn.execute(
        "SELECT t.transfer_id, t.role, t.peer_mac, p.name, t.template, t.quantity_total, "
        "t.state, t.close_reason, t.opened_s, t.closed_s, b.price_micro_per_kbee, "
        "COALESCE(SUM(b.quantity), 0), COUNT(b.seq) "
        "FROM transfers t LEFT JOIN bees b USING (transfer_id) "
        "LEFT JOIN peers p ON p.mac = t.peer_mac "
        "GROUP BY t.transfer_id, b.price_micro_per_kbee ORDER BY t.opened_s, t.transfer_id"
    )
    out: dict[str, dict] = {}
    for tid, role, peer, peer_name, template, total, state, reason, opened, closed, *rest in rows:
        price, qty, n = rest
        trade = out.get(tid)
        if trade is None:
            bee = json.loads(template)
            trade = out[tid] = {
                "role": role,
                "peer_mac": peer,
                "peer_name": peer_name or "",
                "bee_type": c.BEE_TYPES.get(bee["bee_type"], str(bee["bee_type"])),
                "price_micro_per_kbee": bee["price_micro_per_kbee"],
                "quantity_total": total,
                "quantity_done": 0,
                "bees": 0,
                "money": 0,
                "state": state,
                "close_reason": reason,
                "opened_s": opened,
                "closed_s": closed,
            }
        trade["quantity_done"] += qty
        trade["bees"] += n
        if price is not None:
            trade["money"] += price * qty if role == "send" else -price * qty
            # The BEEs say what was paid; a receiver's template is only known from them.
            trade["price_micro_per_kbee"] = price
    for trade in out.values():
        trade["money"] = money(trade["money"])
    return out
