"""`eip bench opf`: per-period OPF + limit derivation against plain `pandapower.runopp` on the same net.

For each grid and period the same nodal injections are applied, then timed: (a) `run_opf` +
`derive_limits` (what the ISP does every period) and (b) a bare `pp.runopp` from the same starting
point (flat start, numba). Goals: (a)/(b) <= 1.5 on every grid, case118 (a) <= 1 s per period.
"""

import statistics
import time

from eip.bench import goal

GRIDS = ("four_node", "cigre_lv", "case33bw", "case118")


def _factory(name: str):
    from eip.cases import GRIDS as table
    from eip.isp.model import IspError

    if name not in table:
        raise IspError(f"unknown grid {name!r} (one of {', '.join(GRIDS)})")
    return table[name]


def bench_grid(name: str, periods: int = 12) -> dict:
    """Mean seconds per period of ISP (OPF + limits) and of bare runopp on grid `name`."""
    from eip.isp.grids import pandapower
    from eip.isp.limits import derive_limits
    from eip.isp.opf import apply_injections, run_opf

    pp = pandapower()
    grid = _factory(name)()
    net = grid.net

    def ours(inj):
        t0 = time.perf_counter()
        opf = run_opf(grid, inj)
        derive_limits(grid, opf, inj, grid.period_s)
        return time.perf_counter() - t0, opf.method

    def bare(inj):
        apply_injections(grid, inj)
        t0 = time.perf_counter()
        pp.runopp(net, init="flat", numba=True, calculate_voltage_angles=True)
        return time.perf_counter() - t0

    first = grid.base_injections_kw(0)
    ours(first), bare(first)  # warm-up: numba compilation, pandapower's first-call set-up
    t_ours, t_bare, methods = [], [], []
    for p in range(periods):
        inj = grid.base_injections_kw(p)
        b = bare(inj)
        o, method = ours(inj)
        t_bare.append(b)
        t_ours.append(o)
        methods.append(method)
    isp_s, runopp_s = statistics.mean(t_ours), statistics.mean(t_bare)
    return {
        "buses": len(net.bus),
        "periods": periods,
        "ac_periods": methods.count("ac"),
        "isp_ms_per_period": round(isp_s * 1000, 2),
        "runopp_ms_per_period": round(runopp_s * 1000, 2),
        "ratio": round(isp_s / runopp_s, 3),
    }


def run(periods: int = 12, grids: tuple = GRIDS) -> dict:
    results = {name: bench_grid(name, periods) for name in grids}
    goals = {
        f"ratio_{n}": goal(r["ratio"], 1.5, higher_is_better=False) for n, r in results.items()
    }
    if "case118" in results:
        goals["case118_s_per_period"] = goal(
            results["case118"]["isp_ms_per_period"] / 1000, 1.0, higher_is_better=False
        )
    flat = {f"{n}_{k}": v for n, r in results.items() for k, v in r.items()}
    return {"benchmark": "opf", **flat, "grids": results, "goals": goals}
