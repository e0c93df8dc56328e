"""`household`: a home of seed 002's community market; each slot it buys its net demand or sells its
surplus in the pool.

Its net demand per slot (consumption minus its own generation, Wh: positive = it needs energy,
negative = a surplus), as the thesis counts it (self-use first), is its own forecast. It bids at most
the grid's price for what it needs (under Identified Pricing the pool charges it its identified bid,
never more) and offers its surplus at the feed-in tariff, the least the grid would pay. What the pool
does not match it takes from, or feeds into, the grid outside the pool.
"""

from eip.agents.base import AgentView, Behaviour, OrderIntent, Param, at_period
from eip.agents.params import REQUIRED
from eip.agents.registry import register_behaviour


class Household(Behaviour):
    """A prosumer household trading its net position slot by slot."""

    PARAMS = {
        "net_wh": Param(REQUIRED, "net demand per slot, Wh (negative: a surplus)", "series"),
        "grid_buy_price": Param(
            0.25, "the grid's price per kWh: the most it pays", "number", minimum=0.0
        ),
        "feed_in_price": Param(
            0.06, "the feed-in tariff per kWh: the least it sells at", "number", minimum=0.0
        ),
    }

    def orders(self, view: AgentView) -> list[OrderIntent]:
        wh = round(at_period(self.params["net_wh"], view.period))
        if wh > 0:
            return [OrderIntent("buy", wh, self.params["grid_buy_price"], view.period)]
        if wh < 0:
            return [OrderIntent("sell", -wh, self.params["feed_in_price"], view.period)]
        return []


register_behaviour("household", Household)
