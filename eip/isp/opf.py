"""The per-period OPF: nodal injections in, a frozen `OpfResult` out.

AC OPF first (pandapower `runopp`, PIPS interior point); if it does not converge, one WARNING line and
the DC OPF (`rundcopp`); if that fails too, `IspError` naming the period and both reasons, and the
caller keeps the previous period's limits (fail safe).
"""

import logging
from types import MappingProxyType

from eip.isp.grids import GridModel, pandapower
from eip.isp.model import IspError, NodalInjections, OpfResult

log = logging.getLogger(__name__)

MW_TO_KW = 1000.0


def apply_injections(grid: GridModel, injections: NodalInjections) -> None:
    """Reset every injection element of `grid` to the given per-bus kW (0 for buses not given)."""
    unknown = sorted(set(injections.p_kw) - set(grid.injection_load))
    if unknown:
        raise IspError(
            f"period {injections.period}: buses {unknown} carry no injection in grid {grid.name!r}"
        )
    net = grid.net
    idx = [grid.injection_load[b] for b in grid.buses]
    net.load.loc[idx, "p_mw"] = [-injections.p_kw.get(b, 0.0) / MW_TO_KW for b in grid.buses]


def run_opf(grid: GridModel, injections: NodalInjections, init: str = "flat") -> OpfResult:
    """Dispatch the ISP's plants for one period's nodal injections: AC OPF, DC OPF fallback."""
    pp = pandapower()
    apply_injections(grid, injections)
    net = grid.net
    period = injections.period
    try:
        pp.runopp(net, init=init, numba=True, calculate_voltage_angles=True)
        method = "ac"
    except Exception as ac_exc:
        log.warning("AC OPF did not converge in period %d, using DC OPF", period)
        try:
            pp.rundcopp(net)
            method = "dc"
        except Exception as dc_exc:
            raise IspError(
                f"period {period}: no OPF converged on grid {grid.name!r}: AC: {_reason(ac_exc)}; "
                f"DC: {_reason(dc_exc)}"
            ) from None
    return _result(grid, period, method)


def _reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}".strip()


def _result(grid: GridModel, period: int, method: str) -> OpfResult:
    net = grid.net
    res_gen = net.res_gen
    dispatch = {
        name: float(res_gen.at[g, "p_mw"]) * MW_TO_KW for name, g in grid.dispatchable.items()
    }
    lmp = {int(b): float(v) / MW_TO_KW for b, v in net.res_bus["lam_p"].items()}
    losses_kw = float(net.res_line.pl_mw.sum()) * MW_TO_KW
    if len(net.trafo):
        losses_kw += float(net.res_trafo.pl_mw.sum()) * MW_TO_KW
    loading = {int(i): float(v) for i, v in net.res_line.loading_percent.items()}
    bus_p = {int(b): -float(v) * MW_TO_KW for b, v in net.res_bus.p_mw.items()}
    return OpfResult(
        period=period,
        method=method,
        dispatch_kw=MappingProxyType(dispatch),
        lmp_cny_per_kwh=MappingProxyType(lmp),
        losses_kw=losses_kw if method == "ac" else 0.0,
        line_loading_percent=MappingProxyType(loading),
        cost_cny_per_h=float(net.res_cost),
        bus_p_kw=MappingProxyType(bus_p),
    )
