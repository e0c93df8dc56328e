"""The four-node day's report: the Fig. 10 table against the seed, the differences explained, the wire
table, and the Fig. 8/9-like plots (matplotlib, optional).
"""

from eip.scenarios.base import RunContext
from eip.scenarios.four_node_day import agents
from eip.scenarios.four_node_day.economics import METRICS

EXPLAIN = {
    "daily_power_loss_kwh": "Ours fall: the uncurtailed wind at bus 3 reaches the urban bus over the "
    "8 km L2 instead of the plants' power over the 10 km L0, a shorter path. P2P trades do not "
    "change injections (section 7), so resources ignoring the grid cannot add losses here; the "
    "seed's small rise comes from resource actions its supplement does not list.",
    "load_utility_urban": "In ours the Energy Internet's LMPs are lower (less thermal output, the "
    "marginal plant lower on its quadratic cost), so the elastic loads consume more and their "
    "utility rises; the seed's loads consume less.",
    "load_utility_rural": "As urban: more consumption at lower prices (rural elasticity -2).",
    "load_cost_urban": "Lower prices but more energy: the cost is almost unchanged.",
    "load_cost_rural": "Rural consumption rises by ~4 %, more than the price falls.",
    "load_surplus_urban": "Ours rise slightly: lower prices and P2P purchases below the grid price.",
    "pv_revenue": "Our PV never exceeds the urban bus's own consumption, so it is never curtailed "
    "in traditional dispatch either; with equal energy and slightly lower prices its revenue is "
    "flat. The seed's +30 % is its 140 kWh of uncurtailed PV.",
    "pv_curtailment_kwh": "No PV curtailment in either mode (see pv_revenue).",
    "grid_surplus": "Same direction, smaller: the grid sells ~8.5 % less thermal energy and gives up "
    "the LMP spread on P2P flows, but the ISP's service fee reimburses the losses (docs/isp.md).",
    "welfare_grid": "Ours is the grid surplus in both modes; the seed's traditional grid welfare "
    "(1209.2) exceeds its grid surplus (731.02) by an amount the paper does not explain.",
}


def report(metrics: dict, ctx: RunContext) -> str:
    ref, trad, ei, ch = (metrics[k] for k in ("reference", "traditional", "energy_internet",
                                               "change_percent"))  # fmt: skip
    dirs = metrics["directions"]
    out = ["## Four-node day: traditional dispatch vs the Energy Internet (seed 000, Fig. 10)", "",
           "Money in CNY, energy in kWh. The seed's grid data are not published; ours are "
           "`four_node_grid()` (docs/isp.md), so the comparison is of directions and rough sizes. "
           "**This table is the offline model** (`four_node_day/economics.py`), a reference: what "
           "the emulated network delivered is in \"The P2P trades on the wire\" below.",
           "", "| metric | seed traditional | seed EI | seed change % | ours traditional | ours EI "
           "| ours change % | same direction? |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip

    def fmt(v):
        return "n/a" if v is None else f"{v:,.2f}"

    for k in METRICS:
        r = ref[k]
        same = "yes" if dirs[k]["same"] else "**no**"
        out.append(f"| {k} | {fmt(r['traditional'])} | {fmt(r['energy_internet'])} | "
                   f"{fmt(r['change_percent'])} | {fmt(trad[k])} | {fmt(ei[k])} | {fmt(ch[k])} "
                   f"| {same} |")  # fmt: skip
    out += ["", f"Same direction in {metrics['same_direction_count']} of {len(METRICS)} rows "
            "(a change within ±0.5 % counts as none).", "",
            f"Thermal energy {trad['thermal_kwh']:,.0f} -> {ei['thermal_kwh']:,.0f} kWh; grid "
            f"profit rate {trad['grid_profit_rate']:.1%} -> {ei['grid_profit_rate']:.1%} (service "
            f"fees {ei['service_fees_cny']:.2f} CNY, of which {ei['service_fee_topup_cny']:.2f} the "
            f"10 % top-up); P2P {ei['p2p_kwh']:,.0f} kWh; reversal {ei['reversal_kwh']:.1f} kWh.",
            "", "### Differences from the seed", ""]  # fmt: skip
    for k in METRICS:
        if (not dirs[k]["same"] or k in ("grid_surplus", "welfare_grid")) and k in EXPLAIN:
            out.append(f"- **{k}**: {EXPLAIN[k]}")
    w = metrics["wire"]
    if w.get("trading") == "agents":
        out += ["", "### The day on the wire, traded by the cards' behaviours", "",
                *agents.report_lines(w), "", *plots(metrics, ctx)]  # fmt: skip
        return "\n".join(out) + "\n"
    out += ["", "### The P2P trades on the wire", ""]
    if not w["carried_out"]:
        out.append(f"Not carried out (mode {metrics.get('mode')}, or `network: false`): "
                   f"{w['orders']} orders, {w['planned_bee']} BEE planned.")  # fmt: skip
    else:
        out += [f"Periods {w['periods']}, 1 BEE = {w['kwh_per_bee']} kWh, {w['orders']} trades "
                f"({w['fills_ok']} filled in the WAN pool), {w['wire_bee']} BEE delivered in "
                f"{w['elapsed_s']} s (network start {w['startup_s']} s). Delivered "
                f"{w['wire_bee']} of {w['planned_bee']} planned BEE: {w['curtailed_bee']} BEE held "
                f"back by the network (the ISP's limits when it enforces them); every card as planned: "
                f"**{w['all_match']}**; none beyond its plan: **{w['no_card_beyond_plan']}**.", "",
                "| card | model sold kWh | model bought kWh | planned sent BEE | wire sent BEE | "
                "planned received BEE | wire received BEE | curtailed BEE | planned CNY | ledger CNY |",
                "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for n, c in w["cards"].items():
            out.append(f"| {n} | {c['model_sold_kwh']:.1f} | {c['model_bought_kwh']:.1f} | "
                       f"{c['planned_sent_bee']} | {c['wire_sent_bee']} | "
                       f"{c['planned_received_bee']} | {c['wire_received_bee']} | "
                       f"{c['curtailed_bee']} | {c['planned_money_cny']:.3f} | "
                       f"{c['wire_money_cny']:.3f} |")  # fmt: skip
        for p in w["problems"]:
            out.append(f"- problem: {p}")
    out += ["", *plots(metrics, ctx)]
    return "\n".join(out) + "\n"


def plots(metrics: dict, ctx: RunContext) -> list[str]:
    """Fig. 8-like per-period power and Fig. 9-like welfare by area; markdown image lines."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["(matplotlib not available: no plots)"]
    lines = []
    pp = metrics["per_period"]
    hours = [2 * k for k in range(13)]  # the last value held to 24:00
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.5), sharey=True)
    for ax, mode in zip(axes, ("traditional", "energy_internet"), strict=True):
        rows = pp[mode]
        for key, label in (("plant1_kw", "plant1"), ("plant2_kw", "plant2"), ("pv_kw", "PV"),
                           ("wind_kw", "wind"), ("storage_kw", "storage (+dis)"),
                           ("ev_kw", "EV (+dis)")):  # fmt: skip
            ax.step(hours, [r[key] for r in rows] + [rows[-1][key]], where="post", label=label)
        ax.step(
            hours,
            [-r["urban_load_kw"] for r in rows + rows[-1:]],
            where="post",
            ls="--",
            label="urban",
        )
        ax.step(
            hours,
            [-r["rural_load_kw"] for r in rows + rows[-1:]],
            where="post",
            ls="--",
            label="rural",
        )
        ax.set_title(mode.replace("_", " "))
        ax.set_xlabel("hour")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("kW (+ injection)")
    axes[1].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path = ctx.path("four_node_day_power.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    lines.append(f"![per-period power (Fig. 8)]({path.name})")
    areas = ("welfare_urban", "welfare_rural", "welfare_grid")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    labels = ["seed trad.", "seed EI", "ours trad.", "ours EI"]
    ref = metrics["reference"]
    cols = [[ref[a]["traditional"] for a in areas], [ref[a]["energy_internet"] for a in areas],
            [metrics["traditional"][a] for a in areas],
            [metrics["energy_internet"][a] for a in areas]]  # fmt: skip
    bottom = [0.0] * 4
    for i, a in enumerate(areas):
        vals = [c[i] for c in cols]
        ax.bar(labels, vals, bottom=bottom, label=a.removeprefix("welfare_"))
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.set_ylabel("CNY per day")
    ax.set_title("Social welfare and its allocation (Fig. 9)")
    ax.legend()
    fig.tight_layout()
    path = ctx.path("four_node_day_welfare.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    lines.append(f"![welfare by area (Fig. 9)]({path.name})")
    return lines
