"""The ISP's values. Its input holds nodal injections only: it cannot even express who trades with whom.

Units are in every name: kW, kWh, CNY. Positive injection = power into the grid at that bus.
"""

import math
from dataclasses import dataclass, field
from types import MappingProxyType

from eip.errors import EipError


class IspError(EipError):
    """The ISP could not compute a period (e.g. no OPF converged); the previous limits stay."""


def _frozen(mapping) -> MappingProxyType:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class NodalInjections:
    """Net active power injected at each bus for one period: bus index -> kW (and nothing else).

    Built only from per-bus numbers (metered flows or card reports aggregated by bus); pairwise trades
    have no place here by construction: keys must be bus indices and values plain numbers.
    """

    period: int
    p_kw: MappingProxyType  # bus -> kW

    def __init__(self, period: int, p_kw):
        if not isinstance(period, int) or period < 0:
            raise IspError(f"period must be a non-negative integer, got {period!r}")
        clean = {}
        for bus, value in dict(p_kw).items():
            if isinstance(bus, bool) or not isinstance(bus, int):
                raise IspError(f"injections are per bus: key {bus!r} is not a bus index")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise IspError(f"injection at bus {bus} must be a number of kW, got {value!r}")
            if not math.isfinite(value):
                raise IspError(f"injection at bus {bus} is not finite: {value!r}")
            clean[bus] = float(value)
        object.__setattr__(self, "period", period)
        object.__setattr__(self, "p_kw", _frozen(clean))


@dataclass(frozen=True)
class OpfResult:
    """What one period's OPF returns (frozen): dispatch, prices, losses, loadings."""

    period: int
    method: str  # "ac" or "dc"
    dispatch_kw: MappingProxyType  # ISP-dispatched generator name -> kW
    lmp_cny_per_kwh: MappingProxyType  # bus -> locational marginal price
    losses_kw: float
    line_loading_percent: MappingProxyType  # line index -> % of rating
    cost_cny_per_h: float  # generation cost rate
    bus_p_kw: MappingProxyType = field(default_factory=lambda: _frozen({}))  # bus -> net injection


@dataclass(frozen=True)
class StaticLimits:
    """Ex-ante limits for one period: what each bus, card and VPP uplink may import and export."""

    period: int
    period_s: float
    export_kw: MappingProxyType  # bus -> kW
    import_kw: MappingProxyType  # bus -> kW
    card_export_bee: MappingProxyType  # card MAC -> BEE per period
    card_import_bee: MappingProxyType
    vpp_export_bee: MappingProxyType  # VPP -> BEE per period over its uplink
    method: str = "ptdf"
