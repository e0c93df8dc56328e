"""The thesis households traded on the network (`trading: agents`): nothing is matched offline.

Every household card hosts a `household` behaviour (eip/agents/household.py) with its own net
demand per half-hour: at each of the ISP's period notices (one period per slot, `slot_wall_s` wall
seconds) it bids for what it needs at the grid's price or offers its surplus at the feed-in tariff
in its VPP's pool, which clears each slot by seed 002's Identified Pricing on the network (`eip pool
serve --pricing identified`: the buyers' bids from what each bought of what the community offered
so far). Sellers deliver every match paced over its slot. The figures are the cards' ledgers: P2P
energy and money per household, and its bill for the window (P2P money plus the grid settlement of
what the pool did not cover). The offline model cleared on the same window is shown beside them.
"""

import time

import yaml

from eip.cases.households import card_names
from eip.markets.pricing import DEFAULT_TARIFF, SLOT_S, identified_pricing, net_demand_wh
from eip.scenarios.base import RunContext
from eip.scenarios.thesis_households.model import expected_p2p

MICRO = 1e9  # Wh x micro-$/kWh -> $


def window_model(profiles: list[dict], n: int, slots: range):
    """Identified Pricing of the first `n` households over the window only (its slots from 0)."""
    gen = [p["gen_kwh"][slots.start : slots.stop] for p in profiles[:n]]
    con = [p["con_kwh"][slots.start : slots.stop] for p in profiles[:n]]
    return identified_pricing(gen, con), net_demand_wh(gen, con)


def bill_usd(net_wh: list[int], bought_bee: int, sold_bee: int, p2p_usd: float) -> float:
    """A household's bill over the window (eq. 4.5): P2P money paid (- earned) plus the grid's
    price for what it still imported and minus the feed-in for what it still exported."""
    need = sum(w for w in net_wh if w > 0)
    surplus = -sum(w for w in net_wh if w < 0)
    t = DEFAULT_TARIFF
    grid = ((need - bought_bee) * t.grid_buy_micro_per_kwh
            - (surplus - sold_bee) * t.feed_in_micro_per_kwh) / MICRO  # fmt: skip
    return p2p_usd + grid


def run_agents(ctx: RunContext, profiles: list[dict], n: int, slots: range, s: dict) -> dict:
    """The window traded by the household cards' behaviours in an identified-pricing pool."""
    from eip.card.harness import settle
    from eip.scenarios.thesis_households.driver import ledger_p2p, verify_ledger
    from topologies.vpp_lans import VppLansTopo

    ide, net = window_model(profiles, n, slots)
    names = card_names(n)
    t = DEFAULT_TARIFF
    entries = {
        names[i]: {"kind": "household", "period_s": float(SLOT_S), "first_period": slots.start,
                   "last_period": slots.stop - 1, "isp_prices": False,
                   "net_wh": [0] * slots.start + net[i], "grid_buy_price": t.grid_buy_micro_per_kwh / 1e6,
                   "feed_in_price": t.feed_in_micro_per_kwh / 1e6}
        for i in range(n)
    }  # fmt: skip
    path = ctx.path("behaviours.yaml")
    path.write_text(yaml.safe_dump(entries, sort_keys=True))
    wall_s = float(s["slot_wall_s"])
    card_args = ("--behaviours", str(path), "--pool", "pool-vpp1",
                 "--time-scale", f"{SLOT_S / wall_s:g}")  # fmt: skip
    pool_args = ("--pricing", "identified", "--slot-s", str(SLOT_S),
                 "--quiet-s", f"{s['clear_quiet_s']:g}")  # fmt: skip
    t0 = time.monotonic()
    problems: list[str] = []
    with ctx.emulation(VppLansTopo(1, n), pools=True, sden=False, period_s=wall_s,
                       isp_first_period=slots.start, card_args=card_args,
                       pool_args=pool_args) as emu:  # fmt: skip
        cards = {name: emu.net.card(name) for name in names}
        for i in range(len(slots)):
            time.sleep(max(0.0, emu.period_start_s(i + 1) - time.monotonic()))
            ctx.progress("slots", i + 1, len(slots))
        still = settle(cards.values(), float(s["settle_timeout_s"]))
        if still:
            problems.append(f"{still} transfer(s) still open {s['settle_timeout_s']:g} s after the "
                            "window: the figures are what had arrived")  # fmt: skip
        status = {x: cards[x].call("status") for x in names}
        trades = {x: cards[x].call("profile").get("trades", {}) for x in names}
        state = emu.state_root
        ledgers = [ledger_p2p(state / x / "ledger.sqlite") for x in names]
        verify = {x: verify_ledger(state / x / "ledger.sqlite") for x in names}
    want = expected_p2p(ide.trades, n, range(len(slots)))
    households = []
    for i in range(n):
        got, exp = ledgers[i], want[i]
        agent = status[names[i]].get("agent") or {}
        households.append({
            "customer": profiles[i]["customer"], "card": names[i], "model": exp, "ledger": got,
            "orders": len(agent.get("orders") or ()), "fills": int(agent.get("fills", 0)),
            "agree": got["bought_bee"] == exp["bought_bee"] and got["sold_bee"] == exp["sold_bee"]
            and abs(got["paid_usd"] - exp["paid_usd"]) < 5e-7
            and abs(got["earned_usd"] - exp["earned_usd"]) < 5e-7,
            "bill_usd": round(bill_usd(net[i], got["bought_bee"], got["sold_bee"],
                                       got["paid_usd"] - got["earned_usd"]), 6),
            "model_bill_usd": round(ide.bills_usd[i], 6),
        })  # fmt: skip
    sends = [tr for x in names for tr in trades[x].values() if tr["role"] == "send"]
    return {
        "trading": "agents", "households": n, "slots": [slots.start, slots.stop - 1],
        "bee_per_wh": 1, "slot_wall_s": wall_s,
        "orders": sum(h["orders"] for h in households),
        "fills": sum(h["fills"] for h in households),
        "transfers": len(sends),
        "transfers_done": sum(tr["quantity_done"] == tr["quantity_total"] for tr in sends),
        "p2p_bee": sum(h["ledger"]["bought_bee"] for h in households),
        "model_p2p_bee": sum(tr.energy_wh for tr in ide.trades),
        "per_household": households,
        "ledgers_agree_with_model": all(h["agree"] for h in households),
        "ledger_verify_ok": all(verify.values()),
        "bills_usd": {"wire": round(sum(h["bill_usd"] for h in households), 4),
                      "model": round(sum(h["model_bill_usd"] for h in households), 4)},
        "problems": problems, "seconds": round(time.monotonic() - t0, 1),
    }  # fmt: skip
