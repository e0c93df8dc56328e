"""`plant`: one of the Energy ISP's thermal plants, selling at its quadratic marginal cost.

Cost 1/2 a P^2 + b P (P in kW, CNY/h; seed 000 section 10), so the marginal cost at P is a P + b.
Each period it offers its capacity in `blocks` equal steps, each at the marginal cost of the step's
top: the ask rises with quantity and every block covers its cost. Never more than its capacity.
With the ISP's price signal it is the grid selling at its node's price: every block is asked at
the grid's buy price, for the cards buy what they take from the grid at that price (seed 000 s.5);
its cost is the ISP's, whose next OPF prices the demand that was served.
"""

from eip.agents.base import AgentView, Behaviour, OrderIntent, Param, energy_wh
from eip.agents.params import REQUIRED
from eip.agents.registry import register_behaviour


class Plant(Behaviour):
    """A dispatchable plant with a quadratic cost."""

    PARAMS = {
        "a_cny_per_kw2h": Param(REQUIRED, "quadratic cost coefficient a, CNY/kW^2h", minimum=0.0),
        "b_cny_per_kwh": Param(REQUIRED, "linear cost coefficient b, CNY/kWh", minimum=0.0),
        "capacity_kw": Param(REQUIRED, "largest output, kW", minimum=0.0),
        "blocks": Param(5, "offer steps from 0 to capacity", "int", minimum=1, maximum=100),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.dispatch_kw = 0.0  # what sold in the last period decided, as average power
        self.period_s = 0.0

    def marginal_cost_cny_per_kwh(self, p_kw: float) -> float:
        """a P + b."""
        return self.params["a_cny_per_kw2h"] * p_kw + self.params["b_cny_per_kwh"]

    def cost_cny_per_h(self, p_kw: float) -> float:
        """1/2 a P^2 + b P."""
        return 0.5 * self.params["a_cny_per_kw2h"] * p_kw**2 + self.params["b_cny_per_kwh"] * p_kw

    def orders(self, view: AgentView) -> list[OrderIntent]:
        cap, n = self.params["capacity_kw"], self.params["blocks"]
        self.period_s = view.period_s
        self.dispatch_kw = 0.0
        out, done_wh = [], 0
        for j in range(1, n + 1):
            top_kw = cap * j / n
            total_wh = int(energy_wh(top_kw, view.period_s))
            if total_wh - done_wh >= 1:
                price = self.marginal_cost_cny_per_kwh(top_kw)
                if view.price_signal is not None:  # the grid sells at its node's price
                    price = view.price_signal.buy_cny_per_kwh
                out.append(OrderIntent("sell", total_wh - done_wh, price, view.period))
                done_wh = total_wh
        return out

    def filled(self, fill) -> None:
        if self.period_s and fill.period == self.last_period:
            self.dispatch_kw = self.period_filled_wh["sell"] * 3.6 / self.period_s

    def extra_status(self) -> dict:
        return {"dispatch_kw": round(self.dispatch_kw, 6)}


register_behaviour("plant", Plant)
