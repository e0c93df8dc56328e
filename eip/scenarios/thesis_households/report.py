"""The thesis households' report: the bill table against Table 5.3, the findings, the wire table,
and the bill plot.
"""

from pathlib import Path

from eip.scenarios.base import RunContext


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
    if net and net.get("trading") == "agents":
        b = net["bills_usd"]
        out += [f"Traded on the network by the households' own behaviours: each card bid its net "
                f"demand at the grid's price or offered its surplus at the feed-in tariff, slot by "
                f"slot ({net['slot_wall_s']:g} s of wall time per half-hour), in vpp1's pool, which "
                f"cleared every slot by Identified Pricing ({net['orders']} orders, {net['fills']} "
                f"fills); sellers delivered each match paced over its slot. The model beside it is "
                f"Identified Pricing of the same households cleared offline over the same window "
                f"({net['model_p2p_bee']} Wh of P2P; on the wire {net['p2p_bee']} BEE). Window "
                f"bills from the ledgers {b['wire']:.4f} $, model {b['model']:.4f} $."]  # fmt: skip
        out += [f"- problem: {x}" for x in net["problems"]]
        out.append("")
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
