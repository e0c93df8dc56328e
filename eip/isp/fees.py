"""Energy Internet service fees: what the clients pay the ISP for one period, shared by network usage.

Seed 000, section 7: the costs of the ISP's measures (here: the reversal exchanges) and the losses not
captured in BEE transfers "will be reimbursed by Energy Internet Service fees and afforded by all clients
in the Energy Internet according to their network usage". Section 10 ("Grid Surplus"): the grid keeps a
profit rate of at least 10 %: profit = revenue from trading with resources - costs solved from OPF
>= 10 % of the latter; otherwise resources pay the deficit proportionally as a service fee.

The ISP's account for a period:

    opf_cost   = OPF generation cost rate x period_h
    reimbursed = losses_cost + reversal_cost                                (always)
    profit     = grid_revenue + losses_cost - opf_cost                      (before the surplus fee)
    surplus    = max(0, MIN_PROFIT_RATE x opf_cost - profit)
    total fee  = reimbursed + surplus

The losses are generated (so inside the OPF cost) but nobody's BEE paid for them: the losses fee is
counted as revenue. The reversal fee pays for the reversal exchanges one for one. So after fees,
profit = grid_revenue + fees - opf_cost - reversal_cost >= 10 % x opf_cost.

Usage = kWh each card moved through the grid (its metered BEE / 1000, export plus import). Each card
pays total x its share of the usage. With no usage at all the total is shared equally; with no cards
at all it is reported as `unallocated_cny`.
"""

import math
from dataclasses import dataclass
from types import MappingProxyType

from eip.isp.model import IspError, NodalInjections, OpfResult

MIN_PROFIT_RATE = 0.10
U32_MAX = 2**32 - 1  # a bill's usage and rate fields (R5.8)
# Below this OPF cost a profit rate is float noise over ~0 (hypothesis found -4e296 at a 2e-309 cost).
MIN_RATED_COST_CNY = 1e-9


@dataclass(frozen=True)
class Fees:
    """One period's service fees (frozen). Money in CNY."""

    period: int
    by_card_cny: MappingProxyType  # card MAC -> fee, >= 0
    total_cny: float  # = losses + reversal + surplus = sum(by_card) + unallocated
    losses_cny: float
    reversal_cny: float
    surplus_cny: float  # the 10 % profit top-up (0 when the grid already earns it)
    opf_cost_cny: float
    grid_revenue_cny: float
    profit_cny: float  # after fees: revenue + fees - opf_cost - reversal_cost
    profit_rate: (
        float | None
    )  # profit / opf_cost; None when the OPF cost is below MIN_RATED_COST_CNY
    unallocated_cny: float = 0.0


def losses_cost_cny(opf: OpfResult, period_h: float) -> float:
    """The period's losses valued at the mean LMP of the buses (negative prices count as 0)."""
    prices = [max(0.0, float(v)) for v in opf.lmp_cny_per_kwh.values()]
    mean = sum(prices) / len(prices) if prices else 0.0
    return max(0.0, float(opf.losses_kw)) * period_h * mean


def lmp_settlement_cny(opf: OpfResult, injections: NodalInjections, period_h: float) -> float:
    """The grid as counterparty of every net nodal injection, at the bus's LMP (seed 000, section 7:
    "had they not traded with each other, they still trade with the grid"): sum(-p x LMP) x period_h."""
    return sum(
        -p_kw * float(opf.lmp_cny_per_kwh.get(bus, 0.0)) * period_h
        for bus, p_kw in injections.p_kw.items()
    )


def service_fees(
    opf: OpfResult,
    period_h: float,
    losses_cost_cny: float,
    reversal_cost_cny: float,
    grid_revenue_cny: float,
    usage_kwh_by_card: dict,
) -> Fees:
    """The fees of one period, shared by usage; see the module docstring for the account."""
    for name, value in (
        ("period_h", period_h),
        ("losses_cost_cny", losses_cost_cny),
        ("reversal_cost_cny", reversal_cost_cny),
        ("grid_revenue_cny", grid_revenue_cny),
    ):
        if not math.isfinite(value):
            raise IspError(f"service fees: {name} is not finite: {value!r}")
    if period_h < 0 or losses_cost_cny < 0 or reversal_cost_cny < 0:
        raise IspError("service fees: period_h, losses and reversal costs must be >= 0")
    usage = {}
    for mac, kwh in usage_kwh_by_card.items():
        if not math.isfinite(kwh) or kwh < 0:
            raise IspError(f"service fees: usage of {mac} must be a finite kWh >= 0, got {kwh!r}")
        usage[str(mac).lower()] = float(kwh)
    opf_cost = max(0.0, float(opf.cost_cny_per_h) * period_h)
    profit_before = grid_revenue_cny + losses_cost_cny - opf_cost
    surplus = max(0.0, MIN_PROFIT_RATE * opf_cost - profit_before)
    total = losses_cost_cny + reversal_cost_cny + surplus
    by_card, unallocated = _share(total, usage)
    profit = grid_revenue_cny + total - opf_cost - reversal_cost_cny
    return Fees(
        opf.period,
        MappingProxyType(by_card),
        total,
        losses_cost_cny,
        reversal_cost_cny,
        surplus,
        opf_cost,
        grid_revenue_cny,
        profit,
        profit / opf_cost if opf_cost >= MIN_RATED_COST_CNY else None,
        unallocated,
    )


def fee_bills(fees: Fees, usage_kwh_by_card) -> dict:
    """card MAC -> (usage BEE, rate micro-currency per 1000 BEE) of one period's service-fee bills
    (R5.8, 1 BEE = 1 Wh): a bill for every card that moved BEE and owes a fee. A fee shared while no
    card moved anything (split evenly) has no usage to bill by and stays unbilled."""
    out = {}
    for mac, fee_cny in sorted(fees.by_card_cny.items()):
        usage_bee = min(round(float(usage_kwh_by_card.get(mac, 0.0)) * 1000), U32_MAX)
        rate = min(round(fee_cny * 1e9 / usage_bee), U32_MAX) if usage_bee >= 1 else 0
        if rate >= 1:
            out[mac] = (usage_bee, rate)
    return out


def _share(total: float, usage: dict) -> tuple[dict, float]:
    if not usage:
        return {}, total
    used = sum(usage.values())
    if used <= 0:
        return {mac: total / len(usage) for mac in usage}, 0.0
    return {mac: total * (kwh / used) for mac, kwh in usage.items()}, 0.0
