"""The CIGRE LV VPPs' report: one table row per check of each phase."""

from eip.scenarios.base import RunContext


def report(metrics: dict, ctx: RunContext) -> str:
    tr, isl, ev, led = metrics["trading"], metrics["island"], metrics["ev"], metrics["ledgers"]
    out = ["## CIGRE LV VPPs: trading, islanding, EV roaming", "",
           "| phase | what | result |", "|---|---|---|"]  # fmt: skip
    for t in tr["transfers"]:
        out.append(f"| trading | {t['from']} -> {t['to']} {t['quantity']} BEE | {t['reason']} |")
    p = tr["pool"]
    out += [f"| trading | pool sale on r1: fill {p['fill_quantity']} BEE @ "
            f"{p['fill_price_micro_per_kbee']} | delivered |",
            f"| island | {isl['islanded_vpp']} islanded: unreachable events at the sender | "
            f"{isl['islanded_events']} |",
            f"| island | trade inside the island | {isl['inside_island']['reason']} |",
            f"| island | cross-island transfer after rejoin | "
            f"{isl['cross_island_after_rejoin']['reason']} |",
            f"| EV | address before / after | {ev['before']['energy_ip']} ({ev['before']['vpp']}) /"
            f" {ev['after']['energy_ip']} ({ev['after']['vpp']}) |",
            f"| EV | MAC kept | {ev['same_mac']} ({ev['after']['mac']}) |",
            f"| EV | transfer across the move | {ev['transfer']['reason']}, "
            f"{ev['transfer']['delivered']} BEE |",
            f"| ledgers | debit rows == credit rows | {led['debits_equal_credits']} "
            f"({led['debit_rows']}) |",
            f"| ledgers | `eip ledger verify` | {led['ledger_verify_ok']} "
            f"({led['ledgers_verified']} ledgers) |", "",
            f"Run time {metrics['seconds']} s.", ""]  # fmt: skip
    return "\n".join(out)
