"""The thesis households' network driver: the identified trades carried out on a community of cards,
and what the cards' ledgers then hold.
"""

import sqlite3
import time
from pathlib import Path

from eip.cases.households import card_names
from eip.markets.pricing import identified_pricing
from eip.scenarios.base import RunContext
from eip.scenarios.thesis_households.model import N_SLOTS, expected_p2p, money_row


def ledger_p2p(path: Path) -> dict:
    """BEE received/sent and money paid/earned ($) from a card's ledger (read-only)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT direction, SUM(quantity), SUM(quantity * price_micro_per_kbee) FROM bees "
            "GROUP BY direction"
        ).fetchall()
    finally:
        db.close()
    got = {d: (q or 0, m or 0) for d, q, m in rows}
    credit, debit = got.get("credit", (0, 0)), got.get("debit", (0, 0))
    return money_row({"bought_bee": credit[0], "sold_bee": debit[0],
                       "paid_units": credit[1], "earned_units": debit[1]})  # fmt: skip


def slot_range(settings: dict, short: bool) -> range:
    first, n = settings["first_slot"], settings["network_slots"]
    if short:
        n = min(n, settings["short_slots"])
    return range(first, min(N_SLOTS, first + n))


def run_network(ctx: RunContext, profiles: list[dict], n: int, slots: range, bee_per_wh: int):
    """Carry out the identified trades of `slots` among households 1..n on real cards."""
    from topologies.vpp_lans import VppLansTopo

    sub = profiles[:n]
    ide = identified_pricing([p["gen_kwh"] for p in sub], [p["con_kwh"] for p in sub])
    names = card_names(n)
    per_slot = []
    t0 = time.perf_counter()
    with ctx.emulation(VppLansTopo(1, n), pools=False, sden=False) as emu:
        state = emu.state_root
        for k, t in enumerate(slots):
            trades = [tr for tr in ide.trades if tr.slot == t]
            pending = []
            for tr in trades:
                res = emu.net.card(names[tr.seller]).call(
                    "offer", to=names[tr.buyer], quantity=tr.energy_wh * bee_per_wh,
                    price_micro_per_kbee=tr.price_micro_per_kwh,
                )  # fmt: skip
                pending.append((names[tr.seller], res["transfer_id"]))
            done = 0
            for seller, tid in pending:
                res = emu.net.card(seller, timeout=120).call("wait", transfer_id=tid, timeout=120)
                done += res.get("reason") == "done"
            per_slot.append({"slot": t, "trades": len(trades), "done": done,
                             "bee": sum(tr.energy_wh * bee_per_wh for tr in trades)})  # fmt: skip
            ctx.progress("slots", k + 1, len(slots))
        ledgers = [ledger_p2p(state / name / "ledger.sqlite") for name in names]
        verify = {name: verify_ledger(state / name / "ledger.sqlite") for name in names}
    want = expected_p2p(ide.trades, n, slots, bee_per_wh)
    households = []
    for i in range(n):
        got, exp = ledgers[i], want[i]
        households.append({
            "customer": sub[i]["customer"], "card": names[i], "model": exp, "ledger": got,
            "agree": got["bought_bee"] == exp["bought_bee"] and got["sold_bee"] == exp["sold_bee"]
            and abs(got["paid_usd"] - exp["paid_usd"]) < 5e-7
            and abs(got["earned_usd"] - exp["earned_usd"]) < 5e-7,
        })  # fmt: skip
    return {
        "households": n,
        "slots": [slots.start, slots.stop - 1],
        "bee_per_wh": bee_per_wh,
        "transfers": sum(s["trades"] for s in per_slot),
        "transfers_done": sum(s["done"] for s in per_slot),
        "p2p_bee": sum(s["bee"] for s in per_slot),
        "per_slot": per_slot,
        "per_household": households,
        "ledgers_agree_with_model": all(h["agree"] for h in households),
        "ledger_verify_ok": all(verify.values()),
        "seconds": round(time.perf_counter() - t0, 1),
    }


def verify_ledger(path: Path) -> bool:
    """`eip ledger verify` on a card's ledger: True if its hash chain and signatures hold."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "eip.cli.main", "ledger", "verify", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    return done.returncode == 0
