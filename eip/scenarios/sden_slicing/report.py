"""The SDEN slicing report: the clients' results, the slot checks, and the slices plot."""

from pathlib import Path
from types import SimpleNamespace

from eip.scenarios.base import RunContext
from eip.sden.fig5 import plot_fig5


def plot_slices(slots: list[dict], path: Path) -> Path:
    """Stacked slices per slot (priority 1, priority 2, buffer draw) and the supply line."""
    view = SimpleNamespace(
        supply=[s["supply"] for s in slots],
        priority1=[s["from_supply"][1] for s in slots],
        priority2=[s["from_supply"][2] for s in slots],
        buffer_draw=[s["storage_draw"] for s in slots],
        buffer_store=[s["storage_store"] for s in slots],
    )
    plot_fig5(view, str(path))
    return path


def report(metrics: dict, ctx: RunContext) -> str:
    out = ["## SDEN slicing (seed 004 Fig. 5) on real packets", "",
           "| client | card | class | packets | result | delivered BEE (ledger) |",
           "|---|---|---|---|---|---|"]  # fmt: skip
    for c in metrics["clients"]:
        out.append(f"| {c['client']} | {c['card']} | {c['class']} | {c['packets']} | "
                   f"{c['result']} | {c['delivered_bee']} |")  # fmt: skip
    chk = metrics["checks"]
    out += ["", "| metric | value |", "|---|---|"]
    for k in ("priority1", "priority2"):
        out.append(f"| served packets, {k} | {chk['served_packets_by_class'][k]} |")
    out += [f"| buffer draws (packets) | {chk['buffer_draw_packets']} |",
            f"| buffer charge (packets) | {chk['buffer_store_packets']} |",
            f"| max over slots: from supply - supply | {chk['max_from_supply_minus_supply']} |",
            f"| max over slots: allocated - (supply + buffer draw) | "
            f"{chk['max_allocated_minus_capacity']} |",
            f"| priority 1 always served first | {chk['priority1_served_first']} |",
            f"| slots equal to run_fig5() offline | {metrics['slots_match_offline']} |",
            f"| server accepted / rejected | {metrics['server']['accepted']} / "
            f"{metrics['server']['rejected']} |",
            f"| run time | {metrics['seconds']} s |", "",
            "![slices per slot](slices.png)", ""]  # fmt: skip
    return "\n".join(out)
