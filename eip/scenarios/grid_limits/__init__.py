"""Limits that bind (issue 12, item 6): P2P trades that overload a line, with and without the ISP.

Seed 000's four-node grid in its evening peak, where line L0 (grid-urban, 13 A) is the bottleneck.
Each period every card's energy goes on the wire as signed BEE transfers (`plan`), and the loads
consume `demand_factor` times their forecast, the elastic response to cheap P2P energy. The same
trades run twice on the emulated network (`driver`): with the ISP measuring only, and with it
enforcing its OPF-derived limits (export quotas and meters, import blocks, window updates).

Every figure comes from the run: BEE delivered from the transfers and ledgers, the cards' events,
the controller's counters, and line loading from an AC power flow of the injections the switches
measured per period (`eip.isp.measured`). The power flow of the planned trades is the reference
shown beside them.
"""

from eip.cases.four_node import grid as four_node_grid
from eip.isp.measured import flows_by_period
from eip.scenarios.base import RunContext, experiment
from eip.scenarios.grid_limits.driver import run_mode
from eip.scenarios.grid_limits.report import plot, report

SCHEMA = {
    "first_period": (int, 8, "grid period (0..11) the ISP's clock starts at; 8 = 16:00, L0 loaded"),
    "periods": (int, 3, "periods traded (after the first, which runs while the network comes up)"),
    "short_periods": (int, 2, "periods traded with --short"),
    "period_s": (float, 10.0, "wall seconds per period (the ISP's clock)"),
    "demand_factor": (float, 1.25, "loads consume this times their forecast"),
    "pace_share": (float, 0.8, "a trade is delivered at its power over this share of the period"),
    "cancel_share": (float, 0.95, "what is still open at this share of the period is cancelled"),
    "modes": (list, ["measure_only", "enforced"], "the runs: measure_only and/or enforced"),
}
MODES = {"measure_only": False, "enforced": True}


def measured_flows(run: dict, grid, period_s: float) -> dict:
    """period -> the power flow of what the switches measured in the run's traded periods."""
    rows = [r for r in run["isp"].get("periods", []) if r["period"] in run["periods"]]
    return {f.period: f for f in flows_by_period(grid, rows, period_s, use_elapsed=True)}


def mode_metrics(run: dict, grid, period_s: float, flows=None, planned=None) -> dict:
    """The run's figures: per period and in total, from its transfers, events and measurements
    (`flows`, `planned`: the measured and planned power flows, computed here when not given)."""
    flows = measured_flows(run, grid, period_s) if flows is None else flows
    planned = planned_flows(run["trades"], grid, period_s) if planned is None else planned
    one_segment_kw = run["quantum_bee"] * 3.6 / period_s
    per_period = []
    timeline = {r["period"]: r for r in run.get("timeline", [])}
    for p in run["periods"]:
        trades = [t for t in run["trades"] if t["period"] == p]
        f, ref = flows.get(p), planned.get(p)
        when = timeline.get(p, {})
        per_period.append({
            "period": p,
            "trades_closed_after_s": when.get("done_s"),
            "trades_cancelled": when.get("cancelled"),
            "controller_cpu_s": when.get("controller_cpu_s"),
            "planned_bee": sum(t["planned_bee"] for t in trades),
            "delivered_bee": sum(t["delivered_bee"] for t in trades),
            "measured": None if f is None else {
                "max_line_loading_percent": round(f.max_line_loading_percent, 1),
                "line_loading_percent": {f.line_name[i]: round(v, 1)
                                         for i, v in f.line_loading_percent.items()},
                "overloads": [{"name": o.name, "loading_percent": round(o.loading_percent, 1),
                               "excess_kw": round(o.excess_kw, 2)} for o in f.overloads],
                "losses_kw": round(f.losses_kw, 2), "slack_import_kw": round(f.slack_import_kw, 1),
            },
            "planned_max_line_loading_percent": None if ref is None
            else round(ref.max_line_loading_percent, 1),
        })  # fmt: skip
    planned_bee = sum(t["planned_bee"] for t in run["trades"])
    delivered = sum(t["delivered_bee"] for t in run["trades"])
    excess = [
        o["excess_kw"] for r in per_period if r["measured"] for o in r["measured"]["overloads"]
    ]
    events = run["events"]
    return {
        "per_period": per_period,
        "measured_periods": sum(1 for r in per_period if r["measured"]),
        "planned_bee": planned_bee,
        "delivered_bee": delivered,
        "curtailed_bee": planned_bee - delivered,
        "curtailed_percent": round(100.0 * (planned_bee - delivered) / max(1, planned_bee), 1),
        "curtailed_value_cny": round(sum((t["planned_bee"] - t["delivered_bee"]) / 1000
                                         * t["price_cny_per_kwh"] for t in run["trades"]), 3),
        "max_line_loading_percent": max((r["measured"]["max_line_loading_percent"]
                                         for r in per_period if r["measured"]), default=0.0),
        "overload_periods": sum(1 for r in per_period if r["measured"] and r["measured"]["overloads"]),
        "max_excess_kw": max(excess, default=0.0),
        "one_segment_kw": round(one_segment_kw, 3),
        "within_one_segment": max(excess, default=0.0) <= one_segment_kw,
        "limit_exceeded_events": sum(e["limit-exceeded"] for e in events.values()),
        "window_updates": sum(e["window-update"] for e in events.values()),
        "quota_blocks": sum(c["quota_blocks"] or 0 for c in run["cards"].values()),
        "import_blocks": sum(c["import_blocks"] or 0 for c in run["cards"].values()),
        "books_ok": run["books_ok"],
        "seconds": run["seconds"],
    }  # fmt: skip


def planned_flows(trades: list[dict], grid, period_s: float) -> dict:
    """The reference: a power flow of the planned trades as if all had been delivered."""
    mac = {c.name: c.mac.lower() for c in grid.cards}
    counts: dict = {}
    for t in trades:
        exported, imported = counts.setdefault(t["period"], ({}, {}))
        exported[mac[t["seller"]]] = exported.get(mac[t["seller"]], 0) + t["planned_bee"]
        imported[mac[t["buyer"]]] = imported.get(mac[t["buyer"]], 0) + t["planned_bee"]
    return {f.period: f for f in flows_by_period(grid, counts, period_s)}


@experiment("grid_limits", SCHEMA, needs_network=True, report=report)
def run(ctx: RunContext) -> dict:
    s = ctx.settings
    bad = [m for m in s["modes"] if m not in MODES]
    if bad or not s["modes"]:
        raise ValueError(f"settings.modes: {bad or 'empty'}; choose from {sorted(MODES)}")
    periods = s["short_periods"] if ctx.short else s["periods"]
    grid = four_node_grid()
    runs, measured, reference = {}, {}, []
    for mode in s["modes"]:
        raw = run_mode(ctx, MODES[mode], s, periods)
        flows = measured_flows(raw, grid, s["period_s"])
        planned = planned_flows(raw["trades"], grid, s["period_s"])
        runs[mode] = mode_metrics(raw, grid, s["period_s"], flows, planned)
        runs[mode]["trades"] = raw["trades"]
        measured[mode] = list(flows.values())
        reference = reference or list(planned.values())
    flows_for_plot = {"planned (reference)": reference, **measured}
    plot(flows_for_plot, ctx.path("line_loading.png"))
    out = {"runs": runs, "settings": dict(s), "periods_traded": periods}
    if "measure_only" in runs and "enforced" in runs:
        m, e = runs["measure_only"], runs["enforced"]
        out["enforcement"] = {
            "overload_removed": m["overload_periods"] > 0 and e["within_one_segment"],
            "bee_held_back": m["delivered_bee"] - e["delivered_bee"],
            "loading_points_saved": round(m["max_line_loading_percent"]
                                          - e["max_line_loading_percent"], 1),
        }  # fmt: skip
    return out
