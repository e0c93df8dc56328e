"""The thesis households' model: household profiles fitted to Table 5.3, bills under the three schemes,
the findings, and the P2P energy and money each household should see on the wire.
"""

import csv
import random
from pathlib import Path

from eip.data import DATA_DIR
from eip.markets.pricing import (
    conventional,
    identified_pricing,
    unified_pricing,
)

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
    return [money_row(r) for r in out]


def money_row(r: dict) -> dict:
    return {"bought_bee": r["bought_bee"], "sold_bee": r["sold_bee"],
            "paid_usd": r["paid_units"] / 1e9, "earned_usd": r["earned_units"] / 1e9}  # fmt: skip
