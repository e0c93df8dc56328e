"""Seed 002 chapter 5: 15 households, conventional, Unified and Identified Pricing bills (Table 5.3),
and the Identified Pricing P2P trades carried out as real BEE transfers between household cards.

Profiles (half-hourly, 48 slots, 00:00-00:30 is slot 0). The thesis's 15 Ausgrid homes are not at
hand, only the average home of the 300 (`ausgrid_average_profile.csv`) and each household's PV
capacity and bills (`thesis_bills.csv`, Table 5.3). Household i gets:

- generation `gg_i(t) = gg_avg(t) * pv_kw_i / reference_pv_kw`: the average home's generation scaled
  by its PV capacity relative to the average system. `reference_pv_kw` defaults to the mean capacity
  of the 15 households (1.688 kW); households without PV generate nothing.
- consumption `gc_i(t) = s_i * gc_avg(t - k_i)`: the average home's consumption shifted by `k_i`
  half-hours (circularly; `k_i` drawn from `Random(seed)` in -max_shift..max_shift) and scaled by
  `s_i`, the factor for which household i's *conventional* bill equals the Table 5.3 one (bisection;
  the bill grows with `s_i`). So each household's daily energy matches the thesis where it can; the
  P2P bills are ours, computed by `eip.markets.pricing`, not fitted.

Findings checked (seed 002 5.3): P2P lowers the community's total bill under both schemes; Identified
Pricing favours the largest PV (its identified bill < its unified bill); Unified Pricing favours the
households without PV (unified < identified for each of them).

On real packets: an emulated `vpp_lans(1, N)` community; for every slot in the window the Identified
Pricing trades among the first N households (the scheme run on those N for the whole day) are carried
out as signed transfers from the seller's card to the buyer's card at the matched price. 1 BEE = 1 Wh
times `bee_per_wh` (default 1: Wh exactly, a whole day is ~20 000 BEE). The ledgers' P2P energy and
money per household are then compared with the model's.
"""

import csv
import random
import sqlite3
import time
from pathlib import Path

from eip.data import DATA_DIR
from eip.markets.pricing import (
    DEFAULT_TARIFF,
    conventional,
    identified_pricing,
    net_demand_wh,
    social_welfare_usd,
    unified_pricing,
)
from eip.scenarios.base import RunContext, experiment

REFERENCE = DATA_DIR
N_SLOTS = 48


def _csv_rows(path: Path) -> list[dict]:
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    return list(csv.DictReader(lines))


def load_average_profile(path: Path = REFERENCE / "ausgrid_average_profile.csv"):
    """(gg_kwh, gc_kwh) per half hour, slot 0 = 00:00-00:30 (the file's 00:30 row)."""
    rows = _csv_rows(Path(path))
    return [float(r["gg_kwh"]) for r in rows], [float(r["gc_kwh"]) for r in rows]


def load_thesis_bills(path: Path = REFERENCE / "thesis_bills.csv") -> list[dict]:
    """Table 5.3: customer, generator_kw and the three bills, $/day."""
    return [
        {
            "customer": int(r["customer"]),
            "pv_kw": float(r["generator_kw"]),
            "conventional": float(r["conventional"]),
            "unified": float(r["unified_pricing"]),
            "identified": float(r["identified_pricing"]),
        }
        for r in _csv_rows(Path(path))
    ]


def _conventional_bill(gen: list[float], con: list[float]) -> float:
    return conventional([gen], [con]).bills_usd[0]


def calibrate_scale(gen: list[float], con_shape: list[float], target_usd: float) -> float:
    """Scale of `con_shape` for which the conventional bill equals `target_usd` (bisection)."""
    lo, hi = 0.0, 1.0
    while _conventional_bill(gen, [hi * c for c in con_shape]) < target_usd and hi < 1e3:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if _conventional_bill(gen, [mid * c for c in con_shape]) < target_usd:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2, 4)


def household_profiles(households: list[dict], gg_avg, gc_avg, seed: int = 2,
                       reference_pv_kw: float = 0.0, max_shift: int = 2) -> list[dict]:  # fmt: skip
    """Per household: pv_kw, shift (slots), scale and its gen/con kWh per slot (see the module doc)."""
    ref = reference_pv_kw or sum(h["pv_kw"] for h in households) / len(households)
    rng = random.Random(seed)
    out = []
    for h in households:
        shift = rng.randint(-max_shift, max_shift)
        gen = [round(g * h["pv_kw"] / ref, 4) for g in gg_avg]
        shape = [gc_avg[(t - shift) % len(gc_avg)] for t in range(len(gc_avg))]
        scale = calibrate_scale(gen, shape, h["conventional"])
        con = [round(scale * c, 4) for c in shape]
        out.append({**h, "shift_slots": shift, "gc_scale": scale, "gen_kwh": gen, "con_kwh": con})
    return out


def model(profiles: list[dict]) -> dict:
    """The three schemes on the profiles: MarketResults and the bills side by side with Table 5.3."""
    gen = [p["gen_kwh"] for p in profiles]
    con = [p["con_kwh"] for p in profiles]
    conv = conventional(gen, con)
    uni = unified_pricing(gen, con)
    ide = identified_pricing(gen, con)
    rows = []
    for i, p in enumerate(profiles):
        rows.append({
            "customer": p["customer"], "pv_kw": p["pv_kw"],
            "shift_slots": p["shift_slots"], "gc_scale": p["gc_scale"],
            "thesis": {k: p[k] for k in ("conventional", "unified", "identified")},
            "ours": {"conventional": round(conv.bills_usd[i], 4),
                     "unified": round(uni.bills_usd[i], 4),
                     "identified": round(ide.bills_usd[i], 4)},
        })  # fmt: skip
    return {"conventional": conv, "unified": uni, "identified": ide, "rows": rows}


def findings(rows: list[dict]) -> dict:
    """The chapter 5 findings as booleans and the numbers behind them."""
    total = {s: round(sum(r["ours"][s] for r in rows), 4)
             for s in ("conventional", "unified", "identified")}  # fmt: skip
    largest = max(rows, key=lambda r: r["pv_kw"])
    no_pv = [r for r in rows if r["pv_kw"] == 0]
    return {
        "total_usd": total,
        "p2p_lowers_total_bill": total["unified"] < total["conventional"]
        and total["identified"] < total["conventional"],
        "saving_pct": {
            s: round(100 * (1 - total[s] / total["conventional"]), 2)
            for s in ("unified", "identified")
        },
        "largest_pv_customer": largest["customer"],
        "identified_favours_large_pv": largest["ours"]["identified"] < largest["ours"]["unified"],
        "no_pv_customers": [r["customer"] for r in no_pv],
        "unified_favours_no_pv": bool(no_pv)
        and all(r["ours"]["unified"] < r["ours"]["identified"] for r in no_pv),
        "no_bill_above_conventional": all(
            r["ours"][s] <= r["ours"]["conventional"] + 1e-9
            for r in rows
            for s in ("unified", "identified")
        ),
    }


def expected_p2p(trades, n: int, slots: range, bee_per_wh: int = 1) -> list[dict]:
    """Per household: BEE bought/sold and money paid/earned ($) by the trades in `slots`."""
    out = [{"bought_bee": 0, "sold_bee": 0, "paid_units": 0, "earned_units": 0} for _ in range(n)]
    for tr in trades:
        if tr.slot not in slots:
            continue
        q = tr.energy_wh * bee_per_wh
        out[tr.buyer]["bought_bee"] += q
        out[tr.seller]["sold_bee"] += q
        out[tr.buyer]["paid_units"] += q * tr.price_micro_per_kwh
        out[tr.seller]["earned_units"] += q * tr.price_micro_per_kwh
    return [_money_row(r) for r in out]


def _money_row(r: dict) -> dict:
    return {"bought_bee": r["bought_bee"], "sold_bee": r["sold_bee"],
            "paid_usd": r["paid_units"] / 1e9, "earned_usd": r["earned_units"] / 1e9}  # fmt: skip


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
    return _money_row({"bought_bee": credit[0], "sold_bee": debit[0],
                       "paid_units": credit[1], "earned_units": debit[1]})  # fmt: skip


def _slot_range(settings: dict, short: bool) -> range:
    first, n = settings["first_slot"], settings["network_slots"]
    if short:
        n = min(n, settings["short_slots"])
    return range(first, min(N_SLOTS, first + n))


def run_network(ctx: RunContext, profiles: list[dict], n: int, slots: range, bee_per_wh: int):
    """Carry out the identified trades of `slots` among households 1..n on real cards."""
    from topologies.vpp_lans import VppLansTopo

    sub = profiles[:n]
    ide = identified_pricing([p["gen_kwh"] for p in sub], [p["con_kwh"] for p in sub])
    names = [f"v1c{k}" for k in range(1, n + 1)]
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
        verify = {name: _verify(state / name / "ledger.sqlite") for name in names}
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


def _verify(path: Path) -> bool:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "eip.cli.main", "ledger", "verify", str(path)],
                          capture_output=True, text=True)  # fmt: skip
    return done.returncode == 0


def plot_bills(rows: list[dict], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(len(rows))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    w = 0.13
    series = [("thesis", "conventional", "#9e9e9e"), ("ours", "conventional", "#424242"),
              ("thesis", "unified", "#90caf9"), ("ours", "unified", "#1565c0"),
              ("thesis", "identified", "#ffcc80"), ("ours", "identified", "#e65100")]  # fmt: skip
    for j, (src, scheme, color) in enumerate(series):
        ax.bar([i + (j - 2.5) * w for i in x], [r[src][scheme] for r in rows], w, color=color,
               label=f"{scheme} ({src})")  # fmt: skip
    ax.set_xticks(list(x), [f"{r['customer']}\n{r['pv_kw']:g} kW" for r in rows], fontsize=7)
    ax.set_ylabel("$ / day")
    ax.set_title("Daily bills of 15 households (seed 002 Table 5.3 vs this emulator)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


SCHEMA = {
    "seed": (int, 2, "seed of the per-household consumption time shifts"),
    "reference_pv_kw": (float, 0.0, "PV capacity of the average Ausgrid system; 0: mean of the 15"),
    "max_shift_slots": (int, 2, "largest consumption time shift, half-hours"),
    "network": (bool, True, "carry out the identified trades on an emulated network"),
    "network_households": (int, 15, "households (cards) in the emulated community"),
    "first_slot": (int, 0, "first half-hour carried out on the network"),
    "network_slots": (int, 48, "half-hours carried out on the network"),
    "short_slots": (int, 6, "half-hours with --short"),
    "short_households": (int, 6, "households with --short"),
    "bee_per_wh": (int, 1, "BEE carried per Wh traded (1 BEE = 1 Wh)"),
}


def report(metrics: dict, ctx: RunContext) -> str:
    f = metrics["findings"]
    out = ["## Thesis households (seed 002 chapter 5)", "",
           "Daily bills, $/day: Table 5.3 of the thesis and ours (same conventional bill by "
           "construction, P2P bills computed).", "",
           "| customer | PV kW | thesis conv. | thesis unified | thesis identified | ours conv. "
           "| ours unified | ours identified |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in metrics["bills"]:
        t, o = r["thesis"], r["ours"]
        out.append(f"| {r['customer']} | {r['pv_kw']:g} | {t['conventional']:.4f} | "
                   f"{t['unified']:.4f} | {t['identified']:.4f} | {o['conventional']:.4f} | "
                   f"{o['unified']:.4f} | {o['identified']:.4f} |")  # fmt: skip
    tot = f["total_usd"]
    out += ["", f"Totals: conventional {tot['conventional']:.2f}, unified {tot['unified']:.2f} "
            f"(-{f['saving_pct']['unified']} %), identified {tot['identified']:.2f} "
            f"(-{f['saving_pct']['identified']} %).", "",
            "| finding | holds |", "|---|---|",
            f"| P2P lowers the total bill | {f['p2p_lowers_total_bill']} |",
            f"| identified favours the largest PV (customer {f['largest_pv_customer']}) | "
            f"{f['identified_favours_large_pv']} |",
            f"| unified favours households without PV ({f['no_pv_customers']}) | "
            f"{f['unified_favours_no_pv']} |", "", "![bills](bills.png)", ""]  # fmt: skip
    net = metrics.get("network")
    if net:
        out += [f"On real packets: {net['households']} household cards, slots {net['slots'][0]}.."
                f"{net['slots'][1]}, {net['transfers_done']}/{net['transfers']} transfers, "
                f"{net['p2p_bee']} BEE ({net['bee_per_wh']} BEE/Wh), {net['seconds']} s; "
                f"ledgers agree with the model: {net['ledgers_agree_with_model']}, "
                f"`eip ledger verify` ok: {net['ledger_verify_ok']}.", "",
                "| customer | card | model bought/sold BEE | ledger bought/sold BEE | model paid/earned $"
                " | ledger paid/earned $ |", "|---|---|---|---|---|---|"]  # fmt: skip
        for h in net["per_household"]:
            mo, le = h["model"], h["ledger"]
            out.append(f"| {h['customer']} | {h['card']} | {mo['bought_bee']}/{mo['sold_bee']} | "
                       f"{le['bought_bee']}/{le['sold_bee']} | {mo['paid_usd']:.6f}/"
                       f"{mo['earned_usd']:.6f} | {le['paid_usd']:.6f}/{le['earned_usd']:.6f} |")  # fmt: skip
        out.append("")
    return "\n".join(out)


@experiment("thesis_households", SCHEMA, needs_network=True, report=report)
def run(ctx: RunContext) -> dict:
    s = ctx.settings
    gg, gc = load_average_profile()
    profiles = household_profiles(load_thesis_bills(), gg, gc, s["seed"], s["reference_pv_kw"],
                                  s["max_shift_slots"])  # fmt: skip
    m = model(profiles)
    rows = m["rows"]
    plot_bills(rows, ctx.path("bills.png"))
    ide = m["identified"]
    metrics = {
        "bills": rows,
        "findings": findings(rows),
        "p2p_kwh": {
            k: round(sum(t.energy_wh for t in m[k].trades) / 1000, 3)
            for k in ("unified", "identified")
        },
        "identified_welfare_usd": round(social_welfare_usd(ide), 4),
        "tariff_micro_per_kwh": list(DEFAULT_TARIFF),
        "net_demand_kwh_total": round(
            sum(
                map(
                    sum,
                    net_demand_wh(
                        [p["gen_kwh"] for p in profiles], [p["con_kwh"] for p in profiles]
                    ),
                )
            )
            / 1000,
            3,
        ),
    }
    if s["network"] and ctx.emulation is not None:
        n = s["short_households"] if ctx.short else s["network_households"]
        n = max(2, min(n, len(profiles)))
        if ctx.short and s["first_slot"] == 0:
            slots = range(22, 22 + s["short_slots"])  # 11:00-14:00: trades in every slot
        else:
            slots = _slot_range(s, ctx.short)
        metrics["network"] = run_network(ctx, profiles, n, slots, s["bee_per_wh"])
    return metrics
