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

Layout: `model` (profiles, bills, findings, expected P2P), `driver` (the trades on the network and the
ledgers), `report` (tables and plot); this module holds the settings and runs them in order.
"""

from eip.markets.pricing import DEFAULT_TARIFF, net_demand_wh, social_welfare_usd
from eip.scenarios.base import RunContext, experiment
from eip.scenarios.schema import Choice
from eip.scenarios.thesis_households.agents import run_agents
from eip.scenarios.thesis_households.driver import ledger_p2p, run_network, slot_range
from eip.scenarios.thesis_households.model import (
    N_SLOTS,
    calibrate_scale,
    expected_p2p,
    findings,
    household_profiles,
    load_average_profile,
    load_thesis_bills,
    model,
)
from eip.scenarios.thesis_households.report import plot_bills, report

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
    "bee_per_wh": (int, 1, "BEE carried per Wh traded (1 BEE = 1 Wh; plan only)"),
    "trading": (
        Choice(("agents", "plan")),
        "plan",
        "agents: each household card bids or offers its net position per slot in its VPP's "
        "pool, cleared by Identified Pricing on the network; plan: the model's trades sent "
        "as direct offers",
    ),
    "slot_wall_s": (
        (int, float),
        3.0,
        "agents: wall seconds per half-hour slot (the ISP's period)",
    ),
    "clear_quiet_s": (
        (int, float),
        0.5,
        "agents: the pool clears a slot this long after its last order",
    ),
    "settle_timeout_s": ((int, float), 60.0, "agents: how long the last deliveries may take"),
}


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
            slots = slot_range(s, ctx.short)
        if s["trading"] == "agents":
            metrics["network"] = run_agents(ctx, profiles, n, slots, s)
        else:
            metrics["network"] = run_network(ctx, profiles, n, slots, s["bee_per_wh"])
    return metrics


__all__ = ["N_SLOTS", "SCHEMA", "calibrate_scale", "expected_p2p", "findings", "household_profiles",
           "ledger_p2p", "load_average_profile", "load_thesis_bills", "model", "plot_bills",
           "report", "run", "run_network"]  # fmt: skip
