"""Reversal: the ISP's own exchanges at a bus, added when users' nodal injections would break the static limits.

Seed 000, section 7: "the Energy ISP may reverse the system operation associated purely with Energy
Internet users' behaviours by artificially adding new exchanges, without being aware of details about BEE
transfers between clients". The only input here is per bus (`NodalInjections`): who trades with whom is
not known and not needed.

For each bus with a limit:

- exporting more than `export_kw`: the ISP buys the excess at the node (it takes it off the grid there),
  added kW < 0;
- importing more than `import_kw`: the ISP sells the missing energy at the node (it supplies it there),
  added kW > 0.

Either way the ISP pays for the energy it moves at that bus's LMP plus `REVERSAL_PREMIUM` (the
counterparty's compensation for being moved off its own plan): cost = |kWh| x LMP x (1 + premium).
The cost is never negative: a negative LMP is taken as 0. Buses without a limit are left alone.
"""

from dataclasses import dataclass
from types import MappingProxyType

from eip.isp.model import IspError, NodalInjections, StaticLimits

REVERSAL_PREMIUM = 0.2  # 20 % above the node's LMP
TOLERANCE_KW = 1e-9


@dataclass(frozen=True)
class Reversal:
    """The ISP's added exchanges for one period (frozen)."""

    period: int
    added_kw: MappingProxyType  # bus -> kW the ISP adds to the bus's injection (sign: + supplies, - takes)
    energy_kwh: MappingProxyType  # bus -> |kWh| over the period
    cost_cny: float  # what the ISP pays for them (LMP x (1 + premium)), >= 0
    corrected: NodalInjections  # the injections the grid sees after the reversal
    premium: float = REVERSAL_PREMIUM

    @property
    def total_kwh(self) -> float:
        return sum(self.energy_kwh.values())

    @property
    def empty(self) -> bool:
        return not self.added_kw


def reversal_exchanges(
    limits: StaticLimits,
    requested: NodalInjections,
    lmp_cny_per_kwh=None,
    period_h: float | None = None,
    premium: float = REVERSAL_PREMIUM,
) -> Reversal:
    """The exchanges the ISP adds so every bus stays within [-import_kw, export_kw].

    `lmp_cny_per_kwh` (bus -> CNY/kWh, the OPF's) prices them; without it the cost is 0. `period_h`
    defaults to the limits' own period length.
    """
    if premium < 0:
        raise IspError(f"reversal premium must be >= 0, got {premium}")
    hours = limits.period_s / 3600.0 if period_h is None else float(period_h)
    if hours < 0:
        raise IspError(f"period_h must be >= 0, got {period_h}")
    lmp = dict(lmp_cny_per_kwh or {})
    added, energy, corrected = {}, {}, dict(requested.p_kw)
    cost = 0.0
    for bus, p_kw in requested.p_kw.items():
        upper = limits.export_kw.get(bus)
        lower = limits.import_kw.get(bus)
        target = p_kw
        if upper is not None and p_kw > upper + TOLERANCE_KW:
            target = float(upper)
        elif lower is not None and p_kw < -lower - TOLERANCE_KW:
            target = -float(lower)
        delta = target - p_kw
        if delta == 0.0:
            continue
        added[bus] = delta
        energy[bus] = abs(delta) * hours
        corrected[bus] = target
        cost += energy[bus] * max(0.0, float(lmp.get(bus, 0.0))) * (1.0 + premium)
    return Reversal(
        requested.period,
        MappingProxyType(added),
        MappingProxyType(energy),
        cost,
        NodalInjections(requested.period, corrected),
        premium,
    )
