"""`elastic_load`: bids from a linear demand curve through a base point (seed 000 section 10).

Per period the load knows its base demand q0 (kW) at a reference price p0 (CNY/kWh) and its price
elasticity e there (-0.5: +10 % price -> -5 % load), so q(p) = max(0, q0 (1 + e (p - p0) / p0)), the
curve of `eip.scenarios.four_node_day.economics.demand_kw`. It bids q(buy) at the grid's buy price
(it would take that much from the grid anyway), and the extra demand it would have down to the grid's
sell price in `blocks - 1` steps, each at the inverse-demand price of its last kWh. A higher price
signal moves the whole curve down: fewer BEE bid.
"""

from eip.agents.base import (
    AgentView,
    Behaviour,
    OrderIntent,
    Param,
    at_period,
    energy_wh,
    grid_prices,
)
from eip.agents.params import REQUIRED
from eip.agents.registry import register_behaviour


def demand_kw(q0_kw: float, p0: float, elasticity: float, price: float) -> float:
    """The linear demand curve through (q0, p0) with point elasticity `elasticity` there."""
    return max(0.0, q0_kw * (1.0 + elasticity * (price - p0) / p0))


def inverse_demand(q0_kw: float, p0: float, elasticity: float, q_kw: float) -> float:
    """The price at which the load wants `q_kw` (CNY/kWh)."""
    return p0 * (1.0 + (q_kw / q0_kw - 1.0) / elasticity)


class ElasticLoad(Behaviour):
    """A price-elastic load bidding its demand curve between the grid's sell and buy prices."""

    PARAMS = {
        "base_demand_kw": Param(
            REQUIRED, "demand q0 at the reference price, kW per period", "series", minimum=0.0
        ),
        "elasticity": Param(
            REQUIRED,
            "point price elasticity at (q0, p0), < 0",
            "number",
            minimum=-20.0,
            maximum=0.0,
            strict=True,
        ),
        "reference_price_cny_per_kwh": Param(
            REQUIRED, "p0, CNY/kWh per period", "series", minimum=0.0, strict=True
        ),
        "blocks": Param(
            4,
            "bid steps along the demand curve (1: one bid at the buy price)",
            "int",
            minimum=1,
            maximum=24,
        ),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.demand_kw = 0.0  # q(buy) of the last period decided

    def orders(self, view: AgentView) -> list[OrderIntent]:
        p = self.params
        q0 = at_period(p["base_demand_kw"], view.period)
        p0 = at_period(p["reference_price_cny_per_kwh"], view.period)
        e = p["elasticity"]
        buy, sell = grid_prices(view, p0)
        self.demand_kw = q_high = demand_kw(q0, p0, e, buy)
        out = []
        wh = int(energy_wh(q_high, view.period_s))
        if wh >= 1:
            out.append(OrderIntent("buy", wh, buy, view.period))
        if p["blocks"] == 1 or sell >= buy or q0 <= 0:
            return out
        q_low = demand_kw(q0, p0, e, sell)  # the demand if energy cost only the sell price
        steps = p["blocks"] - 1
        done_wh = wh
        for j in range(1, steps + 1):
            upper_kw = q_high + (q_low - q_high) * j / steps
            total_wh = int(energy_wh(upper_kw, view.period_s))
            price = min(buy, max(sell, inverse_demand(q0, p0, e, upper_kw)))
            if total_wh - done_wh >= 1:
                out.append(OrderIntent("buy", total_wh - done_wh, price, view.period))
                done_wh = total_wh
        return out

    def extra_status(self) -> dict:
        return {"demand_kw": round(self.demand_kw, 6)}


register_behaviour("elastic_load", ElasticLoad)
