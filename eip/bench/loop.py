"""`eip bench loop`: the closed loop's cost per period, enforcing against measuring only (root).

`--day` runs the closed-loop day instead: four_node_day traded by the cards' own behaviours (orders
decided in the cards, matched in the WAN pool, paced deliveries), per period the BEE delivered and
the controller's CPU, and how long after the day's end the last deliveries closed.

Runs the grid-limits trades (eip/scenarios/grid_limits: the four-node evening peak, every card's
energy on the wire as paced transfers) twice in one process: with the ISP measuring only (the
baseline) and enforcing. Per period: how long opening the trades took, when the last of them closed
(against the period, its deadline), the controller's CPU seconds, and the BEE and packets delivered
per second. The ratios compare enforcing with the baseline of the same run.
"""

import tempfile
import time
from pathlib import Path

from eip.bench import goal
from eip.scenarios.base import RunContext
from eip.scenarios.grid_limits import SCHEMA
from eip.scenarios.grid_limits.driver import run_mode

GOAL_SLOWEST_OVER_DEADLINE = 1.0  # every period's trades closed within the period
GOAL_CPU_RATIO = 2.0  # enforcing costs the controller at most twice the measuring CPU per period
# A sale is paced over one period from its fill, so the day's last deliveries end within a period of
# its end; the driver sees it after two idle polls 1 s apart.
SETTLE_POLLS_S = 2.0


def settings(period_s: float) -> dict:
    """The grid-limits defaults with this period length."""
    return {k: default for k, (_t, default, _h) in SCHEMA.items()} | {"period_s": period_s}


def figures(run: dict, period_s: float) -> dict:
    """Per-period and overall figures of one run (its `timeline` and trades)."""
    rows = run["timeline"]
    delivered = sum(t["delivered_bee"] for t in run["trades"])
    wall_s = max(1e-9, len(rows) * period_s)
    done = [r["done_s"] for r in rows]
    return {
        "periods": rows,
        "slowest_period_s": max(done, default=0.0),
        "slowest_over_deadline": round(max(done, default=0.0) / period_s, 3),
        "controller_cpu_s_per_period": round(
            sum(r["controller_cpu_s"] for r in rows) / max(1, len(rows)), 3
        ),
        "bee_per_s": round(delivered / wall_s, 1),
        "packets_per_s": round(delivered / run["quantum_bee"] / wall_s, 1),
        "delivered_bee": delivered,
        "planned_bee": sum(t["planned_bee"] for t in run["trades"]),
    }


def run(periods: int = 3, period_s: float = 10.0) -> dict:
    """Both runs; figures, ratios and goals."""
    from eip.net.emulation import Emulation

    s = settings(period_s)
    out: dict = {"benchmark": "loop", "periods": periods, "period_s": period_s}
    with tempfile.TemporaryDirectory(prefix="eip-loop-") as tmp:
        for label, enforce in (("measure_only", False), ("enforced", True)):
            root = Path(tmp) / label
            ctx = RunContext(
                "grid_limits", s, "energy-internet", root,
                emulation=lambda topo, root=root, **kw: Emulation(topo, root / "state", **kw),
            )  # fmt: skip
            t0 = time.perf_counter()
            raw = run_mode(ctx, enforce, s, periods)
            out[label] = figures(raw, period_s) | {"wall_s": round(time.perf_counter() - t0, 1)}
    base, enf = out["measure_only"], out["enforced"]
    cpu_ratio = enf["controller_cpu_s_per_period"] / max(1e-9, base["controller_cpu_s_per_period"])
    out["cpu_ratio_enforced_over_measuring"] = round(cpu_ratio, 3)
    out["goals"] = {
        "slowest period within its deadline (enforcing)": goal(
            enf["slowest_over_deadline"], GOAL_SLOWEST_OVER_DEADLINE, higher_is_better=False
        ),
        "controller CPU enforcing / measuring": goal(
            cpu_ratio, GOAL_CPU_RATIO, higher_is_better=False
        ),
    }
    return out


# ------------------------------------------------------------------------ the closed-loop day


def day_settings(periods: int, period_s: float) -> dict:
    """four_node_day traded by the cards' behaviours (the shipped choices) on the ISP's scale."""
    from eip.scenarios.four_node_day import settings_with_defaults

    return settings_with_defaults({"trading": "agents", "isp_prices": True, "periods": periods,
                                   "first_period": 8, "period_s": period_s,
                                   "kwh_per_bee": 7.2 / period_s})  # fmt: skip


def day_figures(traded: dict, period_s: float) -> dict:
    """Per-period and overall figures of one closed-loop day (its `timeline` and cards)."""
    rows = traded["timeline"]
    delivered = sum(c["received_bee"] for c in traded["cards"].values())
    wall_s = max(1e-9, len(rows) * period_s)
    return {
        "periods": rows,
        "settle_s": traded["settle_s"],  # after the last period's end, until no transfer was open
        "settle_over_period": round(traded["settle_s"] / period_s, 3),
        "driver_late_s_max": max((r["driver_late_s"] for r in rows), default=0.0),
        "controller_cpu_s_per_period": round(
            sum(r["controller_cpu_s"] for r in rows) / max(1, len(rows)), 3
        ),
        "bee_per_s": round(delivered / wall_s, 1),
        "packets_per_s": round(delivered / traded["quantum_bee"] / wall_s, 1),
        "delivered_bee": delivered,
        "sold_bee": sum(c["filled_sell_bee"] for c in traded["cards"].values()),
    }


def run_day(periods: int = 3, period_s: float = 6.0) -> dict:
    """The closed-loop day twice (ISP measuring only, then enforcing); figures, ratios and goals."""
    from eip.net.emulation import Emulation
    from eip.scenarios.four_node_day import agents, day_params

    s = day_settings(periods, period_s)
    plist = [8 + i for i in range(periods)]
    out: dict = {"benchmark": "loop-day", "periods": periods, "period_s": period_s}
    with tempfile.TemporaryDirectory(prefix="eip-loop-day-") as tmp:
        for label, enforce in (("measure_only", False), ("enforced", True)):
            root = Path(tmp) / label
            root.mkdir(parents=True)
            ctx = RunContext(
                "four_node_day", s, "energy-internet", root,
                emulation=lambda topo, root=root, enforce=enforce, **kw: Emulation(
                    topo, root / "state", isp=True, isp_enforce=enforce, **kw),
            )  # fmt: skip
            t0 = time.perf_counter()
            traded = agents.trade(ctx, day_params(s), plist, s)
            out[label] = day_figures(traded, period_s) | {
                "wall_s": round(time.perf_counter() - t0, 1),
                "problems": traded["problems"],
            }
    base, enf = out["measure_only"], out["enforced"]
    cpu_ratio = enf["controller_cpu_s_per_period"] / max(1e-9, base["controller_cpu_s_per_period"])
    out["cpu_ratio_enforced_over_measuring"] = round(cpu_ratio, 3)
    out["goals"] = {
        "last deliveries within a period of the day's end (enforcing)": goal(
            enf["settle_over_period"], 1.0 + SETTLE_POLLS_S / period_s, higher_is_better=False
        ),
        "controller CPU enforcing / measuring": goal(
            cpu_ratio, GOAL_CPU_RATIO, higher_is_better=False
        ),
    }
    return out
