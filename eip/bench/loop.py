"""`eip bench loop`: the closed loop's cost per period, enforcing against measuring only (root).

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
