"""The four-node day's network driver: the model's orders carried out on an emulated four_node network.

Each period's orders go through the WAN pool as a sell order of the seller's card and a crossing bid
of the buyer's card; after the day the cards' ledger profiles are what the wire delivered, reported
per card next to the plan (`wire_summary`).
"""

import time

from eip.scenarios.base import RunContext
from eip.scenarios.four_node_day.model import CARDS, planned_per_card


def carry_out(ctx: RunContext, orders: list[dict], periods: list[int], s: dict) -> dict:
    """Each period's orders through the WAN pool on an emulated four_node network; the ledgers."""
    from eip.card.harness import wait_for
    from topologies.four_node import FourNodeTopo

    pool, period_s = s["pool"], float(s["period_s"])
    t_start = time.monotonic()
    fills_ok, problems = 0, []
    # The ISP's clock: period periods[0] begins when the emulation is up, one every period_s.
    with ctx.emulation(FourNodeTopo(), period_s=period_s, isp_first_period=periods[0]) as emu:
        t_up = time.monotonic()
        cards = {n: emu.net.card(n) for n in CARDS}
        for i, k in enumerate(periods):
            _wait_until(emu.period_start_s(i))  # the driver's period k is the ISP's period k
            for o in (o for o in orders if o["period"] == k):
                common = {"quantity": o["bee"], "price_micro_per_kbee": o["price_micro_per_kbee"],
                          "pool": pool, "wait": 1}  # fmt: skip
                sell = cards[o["seller"]].call("order", side="send", **common)
                buy = cards[o["buyer"]].call("order", side="ask", **common)
                filled = sum(f["quantity"] for f in buy.get("fills", ()) if f.get("status") == 2)
                if filled == o["bee"]:
                    fills_ok += 1
                else:
                    problems.append(f"period {k} {o['seller']}->{o['buyer']}: {o['bee']} BEE "
                                    f"asked, {filled} filled (sell {sell.get('state')})")  # fmt: skip
            ctx.progress("period", i + 1, len(periods))
        _wait_until(emu.period_start_s(len(periods)))
        planned = planned_per_card(orders)

        def profiles():
            return {n: cards[n].call("profile") for n in CARDS}

        idle_polls = [0]

        def settled():
            """Every planned BEE arrived, or no card has a transfer open any more (twice in a row):
            what is short then was curtailed by the network (the ISP's limits)."""
            p = profiles()
            done = all(
                p[n]["energy_wh"]["sent"]["electricity"] >= planned[n]["sent_bee"]
                and p[n]["energy_wh"]["received"]["electricity"] >= planned[n]["received_bee"]
                for n in CARDS
            )
            idle = not any(cards[n].call("status").get("transfers") for n in CARDS)
            idle_polls[0] = idle_polls[0] + 1 if idle else 0
            return p if done or idle_polls[0] >= 2 else None

        try:
            final = wait_for(settled, float(s["settle_timeout_s"]), "the P2P deliveries",
                             poll_s=1.0)  # fmt: skip
        except Exception:  # report what did arrive
            still = sum(len(cards[n].call("status").get("transfers") or ()) for n in CARDS)
            problems.append(f"{still} transfer(s) still open {s['settle_timeout_s']:g} s after the "
                            "last period (e.g. held back by the ISP's limits): the figures are "
                            "what had arrived")  # fmt: skip
            final = profiles()
    measured = {
        n: {
            "sent_bee": int(final[n]["energy_wh"]["sent"]["electricity"]),
            "received_bee": int(final[n]["energy_wh"]["received"]["electricity"]),
            "money_cny": float(final[n]["money_balance"]),
            "carbon_footprint_kg": float(final[n]["carbon_footprint_kg"]),
            "green_certificates_wh": float(final[n]["green_certificates_wh"]),
            "transfers": len(final[n].get("trades") or ()),
        }
        for n in CARDS
    }
    return {"measured": measured, "fills_ok": fills_ok, "problems": problems,
            "startup_s": round(t_up - t_start, 2),
            "elapsed_s": round(time.monotonic() - t_start, 2)}  # fmt: skip


def _wait_until(t_monotonic: float) -> None:
    time.sleep(max(0.0, t_monotonic - time.monotonic()))


def wire_summary(day, orders, periods, kwh_per_bee, carried: dict | None) -> dict:
    planned = planned_per_card(orders)
    model_kwh = {n: {"sold_kwh": 0.0, "bought_kwh": 0.0} for n in CARDS}
    for k in periods:
        for t in day.records["energy_internet"][k].trades:
            model_kwh[t.seller]["sold_kwh"] += t.kwh
            model_kwh[t.buyer]["bought_kwh"] += t.kwh
    cards = {}
    for n in CARDS:
        row = {
            "model_sold_kwh": round(model_kwh[n]["sold_kwh"], 3),
            "model_bought_kwh": round(model_kwh[n]["bought_kwh"], 3),
            "planned_sent_bee": planned[n]["sent_bee"],
            "planned_received_bee": planned[n]["received_bee"],
            "planned_money_cny": round(planned[n]["money_cny"], 4),
        }
        if carried:
            m = carried["measured"][n]
            row.update({
                "wire_sent_bee": m["sent_bee"], "wire_received_bee": m["received_bee"],
                "wire_sold_kwh": m["sent_bee"] * kwh_per_bee,
                "wire_bought_kwh": m["received_bee"] * kwh_per_bee,
                "wire_money_cny": m["money_cny"],
                "carbon_footprint_kg": m["carbon_footprint_kg"],
                "green_certificates_wh": m["green_certificates_wh"],
                "match": m["sent_bee"] == planned[n]["sent_bee"]
                and m["received_bee"] == planned[n]["received_bee"],
                "curtailed_bee": max(planned[n]["sent_bee"] - m["sent_bee"],
                                     planned[n]["received_bee"] - m["received_bee"]),
                "beyond_plan": m["sent_bee"] > planned[n]["sent_bee"]
                or m["received_bee"] > planned[n]["received_bee"],
            })  # fmt: skip
        cards[n] = row
    out = {
        "carried_out": bool(carried),
        "periods": list(periods),
        "kwh_per_bee": kwh_per_bee,
        "orders": len(orders),
        "planned_bee": sum(o["bee"] for o in orders),
        "cards": cards,
    }
    if carried:
        out.update({
            "wire_bee": sum(m["sent_bee"] for m in carried["measured"].values()),
            "curtailed_bee": out["planned_bee"]
            - sum(m["received_bee"] for m in carried["measured"].values()),
            "all_match": all(c["match"] for c in cards.values()),
            "no_card_beyond_plan": not any(c["beyond_plan"] for c in cards.values()),
            "all_filled": carried["fills_ok"] == len(orders),
            "fills_ok": carried["fills_ok"], "problems": carried["problems"],
            "startup_s": carried["startup_s"], "elapsed_s": carried["elapsed_s"],
        })  # fmt: skip
    return out
