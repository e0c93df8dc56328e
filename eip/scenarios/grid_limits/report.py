"""The grid-limits report: per run and period, what was planned, delivered and measured; the plot."""

from eip.scenarios.base import RunContext
from eip.scenarios.loading_plot import plot_line_loading

TITLES = {"measure_only": "ISP measuring only", "enforced": "ISP enforcing its limits"}


def plot(runs: dict, path):
    """Line loading per period of every run (and the planned reference) in one PNG."""
    return plot_line_loading({k: v for k, v in runs.items() if v}, path)


def report(metrics: dict, ctx: RunContext) -> str:
    s = metrics["settings"]
    out = ["## Limits that bind: P2P trades across the four-node grid's evening peak", "",
           f"Grid periods from {s['first_period'] + 1} on, {s['period_s']:g} s each on the ISP's "
           f"clock; the loads consume {s['demand_factor']:g} x their forecast. 1 BEE = 1 Wh at the "
           "power of the period (kW = BEE x 3.6 / period_s). Loading is from an AC power flow of "
           "what the switches measured; 'planned' is the same power flow of the planned trades "
           "(the reference, not a result).", ""]  # fmt: skip
    out += ["| run | planned BEE | delivered BEE | curtailed | value curtailed (CNY) | max loading "
            "% | overload periods | max excess kW | LimitExceeded | window updates | quota / "
            "import blocks | books |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode, r in metrics["runs"].items():
        out.append(
            f"| {TITLES.get(mode, mode)} | {r['planned_bee']} | {r['delivered_bee']} | "
            f"{r['curtailed_percent']} % | {r['curtailed_value_cny']} | "
            f"{r['max_line_loading_percent']} | {r['overload_periods']} | {r['max_excess_kw']} | "
            f"{r['limit_exceeded_events']} | {r['window_updates']} | {r['quota_blocks']} / "
            f"{r['import_blocks']} | {'ok' if r['books_ok'] else '**not settled**'} |"
        )
    out += ["", "| run | period | planned BEE | delivered BEE | L0 % measured | max % measured | "
            "max % planned | overloads |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode, r in metrics["runs"].items():
        for p in r["per_period"]:
            m = p["measured"] or {}
            l0 = next((v for k, v in (m.get("line_loading_percent") or {}).items()
                       if k.startswith("L0")), "n/a")  # fmt: skip
            over = ", ".join(f"{o['name']} {o['loading_percent']} % (+{o['excess_kw']} kW)"
                             for o in m.get("overloads", [])) or "none"  # fmt: skip
            out.append(f"| {mode} | {p['period']} | {p['planned_bee']} | {p['delivered_bee']} | "
                       f"{l0} | {m.get('max_line_loading_percent', 'n/a')} | "
                       f"{p['planned_max_line_loading_percent']} | {over} |")  # fmt: skip
    e = metrics.get("enforcement")
    if e:
        out += ["", f"Enforcement held back {e['bee_held_back']} BEE and lowered the peak loading by "
                f"{e['loading_points_saved']} points; overload removed (within one segment per "
                f"period): **{e['overload_removed']}**."]  # fmt: skip
    out += ["", "![line loading](line_loading.png)", ""]
    return "\n".join(out)
