"""The four-node day traded by the cards' own behaviours (`trading: agents`): nothing is planned.

Every card, the ISP's two plants included, hosts the behaviour of its resource (eip.agents.study) on
a system `1 / (1000 x kwh_per_bee)` the size of the study's, so that 1 BEE is 1 Wh to the behaviours
and `kwh_per_bee` kWh of the study (the ISP's scale). At each static-limit notice of the ISP (its
period index) a card decides that period's orders from what it knows (its forecast, its ledger, the
public pool) and places them in the public WAN pool; the pool matches them as they arrive; every
sale is delivered paced over its period. The figures are the cards' ledgers and fills and the
switches' counters after the day; the offline model's plan is shown beside them as a reference.
"""

import math
import time

import yaml

from eip.agents.base import KWH_PER_BEE
from eip.agents.study import study_configs
from eip.cases import four_node
from eip.proc import cpu_s
from eip.scenarios.base import RunContext

PERIOD_EMULATED_S = 7200.0  # a two-hour period, as the behaviours count it
ALL_CARDS = tuple(c.name for c in four_node.CARDS)  # the plants trade too
KIND = {c.name: c.kind for c in four_node.CARDS}


def power_scale(kwh_per_bee: float) -> float:
    """The behaviours' system against the study's: 1 BEE = 1 Wh to them, kwh_per_bee kWh of the study."""
    return KWH_PER_BEE / float(kwh_per_bee)


def behaviour_entries(day_params, periods: list[int], kwh_per_bee: float,
                      isp_prices: bool = True) -> dict:  # fmt: skip
    """card name -> its `--behaviours` entry: kind, period, the periods it trades, whether it takes
    the ISP's price notices, its parameters."""
    configs = study_configs(four_node, day_params, None, power_scale(kwh_per_bee))
    return {
        name: {"kind": kind, "period_s": PERIOD_EMULATED_S, "first_period": periods[0],
               "last_period": periods[0] + len(periods) - 1, "isp_prices": isp_prices, **params}
        for name, (kind, params) in configs.items()
    }  # fmt: skip


def trade(ctx: RunContext, day_params, periods: list[int], s: dict) -> dict:
    """A day of the behaviours on an emulated four_node network; the ledgers, fills and counters."""
    from eip.card.harness import settle
    from topologies.four_node import FourNodeTopo

    period_s, kwh_per_bee = float(s["period_s"]), float(s["kwh_per_bee"])
    path = ctx.path("behaviours.yaml")
    entries = behaviour_entries(day_params, periods, kwh_per_bee, bool(s["isp_prices"]))
    path.write_text(yaml.safe_dump(entries, sort_keys=True))
    card_args = ("--behaviours", str(path), "--pool", s["pool"],
                 "--time-scale", f"{PERIOD_EMULATED_S / period_s:g}")  # fmt: skip
    t_start = time.monotonic()
    problems: list[str] = []
    with ctx.emulation(FourNodeTopo(), period_s=period_s, isp_first_period=periods[0],
                       card_args=card_args) as emu:  # fmt: skip
        t_up = time.monotonic()
        cards = {n: emu.net.card(n) for n in ALL_CARDS}
        pid = emu.controller.pid
        timeline, last = [], (delivered_bee(cards), cpu_s(pid))
        for i in range(len(periods)):
            time.sleep(max(0.0, emu.period_start_s(i + 1) - time.monotonic()))
            late_s = time.monotonic() - emu.period_start_s(i + 1)
            now = (delivered_bee(cards), cpu_s(pid))
            timeline.append({"period": periods[i], "delivered_bee": now[0] - last[0],
                             "controller_cpu_s": round(now[1] - last[1], 3),
                             "driver_late_s": round(late_s, 3)})  # fmt: skip
            last = now
            ctx.progress("period", i + 1, len(periods))
        t_last = time.monotonic()
        still = settle(cards.values(), float(s["settle_timeout_s"]))
        if still:  # report what did arrive
            problems.append(f"{still} transfer(s) still open {s['settle_timeout_s']:g} s after the "
                            "last period: the figures are what had arrived")  # fmt: skip
        settle_s = time.monotonic() - t_last
        profiles = {n: cards[n].call("profile") for n in ALL_CARDS}
        status = {n: cards[n].call("status") for n in ALL_CARDS}
        switch = emu.status().get("cards", {})
        isp_rows = [r for r in emu.isp_summary().get("periods", []) if r["period"] in periods]
    return {"cards": {n: card_row(n, profiles[n], status[n], switch.get(n, {}), kwh_per_bee)
                      for n in ALL_CARDS},
            "problems": problems, "startup_s": round(t_up - t_start, 2),
            "timeline": timeline, "settle_s": round(settle_s, 2), "isp_periods": isp_rows,
            "quantum_bee": int(status[ALL_CARDS[0]].get("quantum_bee", 10)),
            "elapsed_s": round(time.monotonic() - t_start, 2)}  # fmt: skip


def delivered_bee(cards: dict) -> int:
    """Electricity BEE all cards' ledgers received so far (one `profile` call per card)."""
    return sum(int(cards[n].call("profile").get("energy_wh", {}).get("received", {})
                   .get("electricity", 0)) for n in ALL_CARDS)  # fmt: skip


def by_period_kwh(profile: dict, orders, kwh_per_bee: float) -> dict:
    """period -> {"sold", "bought"} kWh of the study from the ledger's BEEs by time frame; a frame
    belongs to the period of the card's orders whose slot it starts in (the pool may clip a fill's
    frame to start later in its period)."""
    anchor = next(((o["start_s"], o["period"]) for o in orders if "start_s" in o), None)
    frames = profile.get("electricity_by_frame_wh") or {}
    out: dict = {}
    if anchor is None:
        return out
    for side, key in (("sent", "sold"), ("received", "bought")):
        for start_s, wh in (frames.get(side) or {}).items():
            period = anchor[1] + math.floor((int(start_s) - anchor[0]) / PERIOD_EMULATED_S)
            row = out.setdefault(str(period), {"sold": 0.0, "bought": 0.0})
            row[key] = round(row[key] + wh * kwh_per_bee, 3)
    return out


def card_row(name: str, profile: dict, status: dict, switch: dict, kwh_per_bee: float) -> dict:
    """One card after the day: its fills (the behaviour's), its ledger, what the ISP told it, its
    switch counters."""
    agent = status.get("agent") or {}
    behaviour = agent.get("behaviour") or {}
    seen = status.get("event_counts") or {}
    energy = profile.get("energy_wh", {})
    sent = int(energy.get("sent", {}).get("electricity", 0))
    received = int(energy.get("received", {}).get("electricity", 0))
    sold, bought = int(behaviour.get("sold_wh", 0)), int(behaviour.get("bought_wh", 0))
    to_study = kwh_per_bee / KWH_PER_BEE  # the ledgers' money is that of the scaled system
    return {
        "kind": KIND[name], "orders": len(agent.get("orders") or ()),
        "fills": int(agent.get("fills", 0)),
        "filled_sell_bee": sold, "filled_buy_bee": bought,
        "sent_bee": sent, "received_bee": received,
        "sold_kwh": round(sent * kwh_per_bee, 3), "bought_kwh": round(received * kwh_per_bee, 3),
        "money_cny": round(float(profile.get("money_balance", 0.0)) * to_study, 3),
        "fees_cny": round(float(profile.get("money_fees", 0.0)) * to_study, 4),
        "net_cny": round(float(profile.get("money_net", 0.0)) * to_study, 3),  # after the fee bills
        "fee_bills": int((profile.get("fees") or {}).get("bills", 0)),
        "fees_by_period_cny": {p: round(float(v) * to_study, 6) for p, v in
                               ((profile.get("fees") or {}).get("by_period") or {}).items()},
        "undelivered_bee": max(0, sold - sent) + max(0, bought - received),
        "beyond_fills": sent > sold or received > bought,
        "switch_exported_bee": switch.get("exported_bee"),
        "switch_imported_bee": switch.get("imported_bee"),
        "notices": int(seen.get("static-limit", 0)),
        "price_notices": int(seen.get("price", 0)),
        "window_updates": int(seen.get("window-update", 0)),
        "limit_exceeded": int(seen.get("limit-exceeded", 0)),
        "soc_wh": behaviour.get("soc_wh"),
        "dns": {"isp_ip": status.get("isp_ip"), "pools": status.get("pool_ips") or {}},
        "by_period_kwh": by_period_kwh(profile, agent.get("orders") or (), kwh_per_bee),
    }  # fmt: skip


def fee_check(isp_rows: list, cards: dict, kwh_per_bee: float) -> dict:
    """The service-fee bills the ISP sent for the run's periods (its published records, usage x
    rate, at the study's scale) against those the cards booked for the same periods: a lost or
    doubled bill shows as a difference. `computed_cny`: all the fees the ISP computed, also those
    shared while no card moved BEE (no usage to bill by); `booked_cny`: every bill booked, also
    those of the periods after the run."""
    scale = kwh_per_bee / KWH_PER_BEE
    sent, computed = {}, 0.0
    for r in isp_rows:
        pub = r.get("published") or {}
        sent[str(r["period"])] = sum(u * rate for u, rate in pub.get("bills", {}).values()) / 1e9
        computed += sum(pub.get("fees_cny", {}).values())
    booked = sum(c["fees_by_period_cny"].get(p, 0.0) for c in cards.values() for p in sent)
    billed = sum(sent.values()) * scale
    return {"billed_cny": round(billed, 3), "booked_same_periods_cny": round(booked, 3),
            "computed_cny": round(computed * scale, 3),
            "booked_cny": round(sum(c["fees_cny"] for c in cards.values()), 3),
            "as_billed": abs(booked - billed) <= 1e-3}  # 6-decimal rounding per card  # fmt: skip


def wire_surplus(day, periods: list[int], cards: dict) -> dict:
    """The utility and surplus rows of Fig. 10 from what the ledgers moved, per period: each load's
    utility of the energy it bought (the model's demand curve through its forecast at the base LMP),
    its surplus (utility - what it paid, net of its bills), the EV's (travel utility + its money) and
    the grid's (the plants' sales and the other cards' fee bills, minus the plants' generation cost
    of what they sold)."""
    from eip.scenarios.four_node_day.economics import utility_cny_per_h

    h, p = PERIOD_EMULATED_S / 3600, day.params
    el = {"urban-load": p.elasticity_urban, "rural-load": p.elasticity_rural}

    def kwh(name: str, k: int, side: str) -> float:
        return cards.get(name, {}).get("by_period_kwh", {}).get(str(k), {}).get(side, 0.0)

    out = {}
    for name, key in (("urban-load", "urban"), ("rural-load", "rural")):
        util = 0.0
        for k in periods:
            q0 = -four_node.PROFILES_KW[name][k % 12]
            p0 = day.base_lmp[k % 12][four_node.BUS_OF[name]]
            util += utility_cny_per_h(q0, p0, el[name], kwh(name, k, "bought") / h) * h
        out[f"load_utility_{key}"] = util
        out[f"load_surplus_{key}"] = util + cards.get(name, {}).get("net_cny", 0.0)
    out["ev_surplus"] = p.travel_utility_cny + cards.get("ev", {}).get("net_cny", 0.0)
    cost = sum((a / 2 * (kwh(n, k, "sold") / h) ** 2 + b * kwh(n, k, "sold") / h) * h
               for n, a, b, _cap in four_node.PLANTS for k in periods)  # fmt: skip
    plants = [c for c in cards.values() if c["kind"] == "plant"]
    others_fees = sum(c["fees_cny"] for c in cards.values() if c["kind"] != "plant")
    out["grid_surplus"] = sum(c["money_cny"] for c in plants) + others_fees - cost
    return out


def model_reference(day, periods: list[int]) -> dict:
    """The offline model's Energy Internet energies over the same periods (kWh), for beside the wire."""
    recs = [day.records["energy_internet"][k % 12] for k in periods]
    h = PERIOD_EMULATED_S / 3600
    return {
        "load_kwh": round(sum((r.load_kw["urban-load"] + r.load_kw["rural-load"]) * h
                              for r in recs), 1),
        "renewable_kwh": round(sum((r.used_kw["pv"] + r.used_kw["wind"]) * h for r in recs), 1),
        "thermal_kwh": round(sum((r.dispatch_kw["plant1"] + r.dispatch_kw["plant2"]) * h
                                 for r in recs), 1),
        "p2p_kwh": round(sum(t.kwh for r in recs for t in r.trades), 1),
        "service_fees_cny": round(sum(r.fees_total_cny for r in recs), 2),
    }  # fmt: skip


def measured_flow(isp_rows: list, period_s: float) -> dict:
    """The AC power flow of what the switches measured, per period (eip.isp.measured; the ISP's
    scale, so kW of the study): losses and the most loaded line. {} when nothing was measured."""
    from eip.isp.measured import flows_by_period

    rows = [r for r in isp_rows if r.get("measured")]
    if not rows:
        return {}
    flows = flows_by_period(four_node.grid(), rows, period_s, use_elapsed=True)
    return {str(f.period): {"losses_kw": round(f.losses_kw, 3),
                            "max_line_loading_percent": round(max(
                                f.line_loading_percent.values(), default=0.0), 1)}
            for f in flows}  # fmt: skip


def wire_fig10(day, periods: list[int], cards: dict, flow: dict) -> dict:
    """The Fig. 10 rows the wire gives (ledgers, fills and the measured power flow), with the
    offline model's Energy Internet value beside each when the run covered the whole day."""
    h = PERIOD_EMULATED_S / 3600
    forecast = {
        n: sum(four_node.PROFILES_KW[n][k % 12] for k in periods) * h for n in ("pv", "wind")
    }
    thermal = sum(c["sold_kwh"] for c in cards.values() if c["kind"] == "plant")

    def money(n: str) -> float:  # net of the ISP's fee bills, as the model's rows
        return cards.get(n, {}).get("net_cny", 0.0)

    def curtailed(n: str) -> float:
        return round(max(0.0, forecast[n] - cards.get(n, {}).get("sold_kwh", 0.0)), 1)

    surplus = wire_surplus(day, periods, cards)
    rows = {
        "daily_power_loss_kwh": round(sum(f["losses_kw"] for f in flow.values()) * h, 1)
        if flow else None,
        "carbon_emissions_kg": round(thermal * day.params.carbon_kg_per_kwh, 1),
        "load_cost_urban": round(-money("urban-load"), 2),
        "load_cost_rural": round(-money("rural-load"), 2),
        "pv_revenue": round(money("pv"), 2), "pv_curtailment_kwh": curtailed("pv"),
        "wind_revenue": round(money("wind"), 2), "wind_curtailment_kwh": curtailed("wind"),
        "storage_revenue": round(money("storage"), 2),
    }  # fmt: skip
    rows |= {k: round(v, 2) for k, v in surplus.items()}
    rows["welfare_urban"] = round(surplus["load_surplus_urban"] + money("pv") + surplus["ev_surplus"]
                                  + money("storage"), 2)  # fmt: skip
    rows["welfare_rural"] = round(surplus["load_surplus_rural"] + money("wind"), 2)
    rows["welfare_grid"] = rows["grid_surplus"]
    rows["welfare_total"] = round(
        rows["welfare_urban"] + rows["welfare_rural"] + rows["grid_surplus"], 2
    )
    whole_day = sorted(k % 12 for k in periods) == list(range(12))
    model = day.metrics["energy_internet"] if whole_day else {}
    from eip.scenarios.four_node_day.economics import METRICS

    return {
        k: {"wire": rows[k], "model": round(model[k], 2) if k in model else None} for k in METRICS
    }  # fmt: skip (every Fig. 10 row, in the seed's order)


def summary(day, periods: list[int], kwh_per_bee: float, traded: dict | None,
            period_s: float = 6.0) -> dict:  # fmt: skip
    """The `wire` metrics of an agents day: totals from the ledgers, the model beside them."""
    out = {"trading": "agents", "carried_out": bool(traded), "periods": list(periods),
           "kwh_per_bee": kwh_per_bee, "model": model_reference(day, periods)}  # fmt: skip
    if not traded:
        return out
    cards = traded["cards"]

    def kwh(kind: str, key: str) -> float:
        return round(sum(c[key] for c in cards.values() if c["kind"] == kind), 3)

    out.update({
        "cards": cards,
        "orders": sum(c["orders"] for c in cards.values()),
        "fills": sum(c["fills"] for c in cards.values()),
        "filled_bee": sum(c["filled_sell_bee"] for c in cards.values()),
        "wire_bee": sum(c["sent_bee"] for c in cards.values()),
        "undelivered_bee": sum(c["undelivered_bee"] for c in cards.values()),
        "no_card_beyond_fills": not any(c["beyond_fills"] for c in cards.values()),
        "money_sum_cny": round(sum(c["money_cny"] for c in cards.values()), 3),
        "fee_bills": sum(c["fee_bills"] for c in cards.values()),
        "fees": fee_check(traded.get("isp_periods") or [], cards, kwh_per_bee),
        **{k: sum(c[k] for c in cards.values())
           for k in ("notices", "price_notices", "window_updates", "limit_exceeded")},
        "load_kwh": kwh("load", "bought_kwh"),
        "renewable_kwh": round(kwh("pv", "sold_kwh") + kwh("wind", "sold_kwh"), 3),
        "thermal_kwh": kwh("plant", "sold_kwh"),
        "problems": traded["problems"], "startup_s": traded["startup_s"],
        "elapsed_s": traded["elapsed_s"], "timeline": traded.get("timeline", []),
        "settle_s": traded.get("settle_s"),
        "power_flow": (flow := measured_flow(traded.get("isp_periods") or [], period_s)),
        "fig10": wire_fig10(day, periods, cards, flow),
    })  # fmt: skip
    return out


def report_lines(w: dict) -> list[str]:
    """The report's section on an agents day."""
    if not w["carried_out"]:
        return ["Not carried out (mode energy-internet/both and `network: true` run it)."]
    m, f = w["model"], w["fees"]
    out = [f"Periods {w['periods']}, 1 BEE = {w['kwh_per_bee']} kWh of the study (1 Wh of the cards' "
           f"scaled behaviours). The cards' behaviours placed {w['orders']} orders in the WAN pool; "
           f"{w['fills']} fills, {w['filled_bee']} BEE sold; {w['wire_bee']} BEE delivered in "
           f"{w['elapsed_s']} s (network start {w['startup_s']} s), {w['undelivered_bee']} BEE "
           f"sold but not delivered (held back by the network's limits); no card got or gave more "
           f"than its fills: **{w['no_card_beyond_fills']}**. The cards heard {w['notices']} static-limit "
           f"notices, {w['price_notices']} price notices, {w['window_updates']} window updates and {w['limit_exceeded']} LimitExceeded "
           f"from the ISP. Money sums to "
           f"{w['money_sum_cny']:.3f} CNY over all cards (P2P is zero-sum). The ISP billed "
           f"{w['fee_bills']} service-fee bills (R5.8): for the run's periods the ISP billed "
           f"{f['billed_cny']:,.2f} CNY and the ledgers booked {f['booked_same_periods_cny']:,.2f} "
           f"(as billed: **{f['as_billed']}**; {f['booked_cny']:,.2f} with the periods after the run). "
           f"The ISP computed {f['computed_cny']:,.2f} CNY of fees for those periods; what it shared "
           f"while no card moved BEE has no usage to bill by. The model's fees: "
           f"{m['service_fees_cny']:,.2f}. The revenue and cost rows below are net of the bills.", "",
           "| | on the wire (ledgers) kWh | offline model kWh |", "|---|---|---|",
           f"| loads bought | {w['load_kwh']:,.1f} | {m['load_kwh']:,.1f} |",
           f"| PV + wind sold | {w['renewable_kwh']:,.1f} | {m['renewable_kwh']:,.1f} |",
           f"| plants sold | {w['thermal_kwh']:,.1f} | {m['thermal_kwh']:,.1f} |", "",
           "Fig. 10 rows from the wire (the ledgers' money at the study's scale, the plants' kWh x "
           "the carbon intensity, the forecast minus what sold, the losses of an AC power flow of "
           "what the switches measured, the loads' utility of what they bought per period on the "
           "model's demand curves, the grid's surplus from the plants' sales and the fee bills minus "
           "the plants' cost of what they sold); the model's Energy Internet value beside each when "
           "the run covered the whole day:", "", "| row | wire | offline model |", "|---|---|---|",
           *(f"| {k} | {_num(v['wire'])} | {_num(v['model'])} |" for k, v in w["fig10"].items()),
           "",
           "| card | orders | fills | sold BEE (fills) | sent BEE (ledger) | bought BEE (fills) | "
           "received BEE (ledger) | switch-counted export BEE | notices / WUPs / LimitExceeded "
           "| CNY (study scale) | fees CNY (bills) |", "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for n, c in w["cards"].items():
        out.append(f"| {n} | {c['orders']} | {c['fills']} | {c['filled_sell_bee']} | "
                   f"{c['sent_bee']} | {c['filled_buy_bee']} | {c['received_bee']} | "
                   f"{c['switch_exported_bee']} | {c['notices']} / {c['window_updates']} / "
                   f"{c['limit_exceeded']} | {c['money_cny']:.2f} | {c['fees_cny']:.2f} "
                   f"({c['fee_bills']}) |")  # fmt: skip
    out += ["", "Switch-counted export is packets through the card's meter rule x the quantum (a "
            "segment's last BEE counted as a full quantum; OVS userspace also counts packets its "
            "meter dropped, so retransmissions count again); the ISP is handed that count capped by "
            "what the meter can pass."]  # fmt: skip
    out += [f"- problem: {p}" for p in w["problems"]]
    return out


def _num(v) -> str:
    return "n/a" if v is None else f"{v:,.2f}"
