"""Seed 000's four-node day (sections 8 and 10, Fig. 8-10): traditional central dispatch vs the
Energy Internet, 12 two-hour periods, with the metrics of Fig. 10.

The economics are the pure model of `economics` (both modes, no network). The Energy
Internet's peer-to-peer trades then run on real packets: an emulated `four_node` network, one
compressed period every `period_s` wall seconds, in which each planned trade of the model becomes a
sell order of the seller's card and a crossing bid of the buyer's card in one public WAN pool (the
pool on vpp1's router, `pool`), so the match turns into a signed BEE transfer seller -> buyer. After
the day the cards' ledger profiles give the packet-measured energy per card, reported next to the
planned trades (`wire`). 1 BEE on the wire stands for `kwh_per_bee` kWh of the model (default 1:
a day is ~3000 BEE, ~300 packets at the cards' 10-BEE quantum); prices go on the wire so that the
ledgers' money is the model's CNY: micro-CNY per 1000 wire BEE = price x kwh_per_bee x 1e9.

Traditional mode needs no P2P packets (everybody settles at the LMP) and runs without a network.

Metrics: {"traditional": {...}, "energy_internet": {...}, "change_percent": {...},
"reference": {metric: {traditional, energy_internet, change_percent}} (the seed's Fig. 10),
"directions": {metric: {seed, ours, same}}, "wire": {...}, "per_period": {...}}.

Layout: `economics` (the offline model of the day), `model` (settings, the model's planned orders and
metrics), `driver` (the orders on the emulated network), `report` (tables, prose, plots); this module
only registers the experiment and runs the three in order.
"""

import logging
import time

from eip.scenarios.base import RunContext, experiment
from eip.scenarios.four_node_day import agents
from eip.scenarios.four_node_day.driver import carry_out, wire_summary
from eip.scenarios.four_node_day.economics import run_day
from eip.scenarios.four_node_day.model import (
    CARDS,
    SCHEMA,
    assemble,
    day_params,
    planned_per_card,
    settings_with_defaults,
    wire_orders,
)
from eip.scenarios.four_node_day.report import report

log = logging.getLogger(__name__)


def run(ctx: RunContext) -> dict:
    s = settings_with_defaults(ctx.settings)
    ctx.progress("model", 0, 1)
    t0 = time.monotonic()
    day = run_day(day_params(s))
    ctx.progress("model", 1, 1)
    model_s = time.monotonic() - t0
    n = max(1, min(12, int(s["periods"])))
    periods = [(int(s["first_period"]) + i) % 12 for i in range(n)]
    kwh_per_bee = float(s["kwh_per_bee"])
    orders = wire_orders(day, periods, kwh_per_bee)
    on_wire = s["network"] and ctx.mode in ("energy-internet", "both") and ctx.emulation is not None
    if s["trading"] == "agents":
        traded = agents.trade(ctx, day_params(s), periods, s) if on_wire else None
        wire = agents.summary(day, periods, kwh_per_bee, traded, float(s["period_s"]))
    else:
        carried = carry_out(ctx, orders, periods, s) if on_wire else None
        wire = wire_summary(day, orders, periods, kwh_per_bee, carried)
    metrics = assemble(day, wire)
    metrics["model_s"] = round(model_s, 2)
    metrics["mode"] = ctx.mode
    return metrics


experiment("four_node_day", SCHEMA, needs_network=True, report=report)(run)

__all__ = ["CARDS", "SCHEMA", "assemble", "carry_out", "day_params", "planned_per_card", "report",
           "run", "settings_with_defaults", "wire_orders", "wire_summary"]  # fmt: skip
