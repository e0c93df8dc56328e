"""Renewable generation (the common part of `pv` and `wind`): ask the forecast at marginal cost.

Each period it offers its forecast energy, never more: the `forecast_kw` parameter per period, or a
newer forecast the host measures and passes as `view.state["forecast_kw"]`. Its ask is its marginal
cost (about 0), raised to the grid's sell price when the ISP publishes one: energy the pool does not
take goes to the grid at that price, so selling a peer less would lose money. Without a signal it
asks the public price forecast `reference_price_cny_per_kwh` if it has one (in a continuous double
auction a resting ask is paid its own price, so an ask at 0 would give the energy away).
"""

from eip.agents.base import AgentView, Behaviour, OrderIntent, Param, at_period, energy_wh
from eip.agents.params import REQUIRED
from eip.markets.orders import MarketError


class Renewable(Behaviour):
    """A non-dispatchable generator selling its forecast output."""

    PARAMS = {
        "forecast_kw": Param(REQUIRED, "forecast output, kW per period", "series", minimum=0.0),
        "marginal_cost_cny_per_kwh": Param(0.0, "marginal cost, CNY/kWh", "number", minimum=0.0),
        "reference_price_cny_per_kwh": Param(
            None,
            "a public price forecast per period, CNY/kWh: the ask when the ISP publishes no "
            "signal (default: none, ask the marginal cost)",
            "optional_series",
            minimum=0.0,
        ),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.forecast_wh = 0  # of the last period decided

    def orders(self, view: AgentView) -> list[OrderIntent]:
        forecast_kw = view.state.get(
            "forecast_kw", at_period(self.params["forecast_kw"], view.period)
        )
        if not forecast_kw >= 0:
            raise MarketError("forecast_kw", f"{forecast_kw!r} is not a power >= 0")
        self.forecast_wh = int(energy_wh(forecast_kw, view.period_s))
        price = self.params["marginal_cost_cny_per_kwh"]
        ref = self.params["reference_price_cny_per_kwh"]
        if view.price_signal is not None:
            price = max(price, view.price_signal.sell_cny_per_kwh)
        elif ref is not None:
            price = max(price, at_period(ref, view.period))
        if self.forecast_wh < 1:
            return []
        return [OrderIntent("sell", self.forecast_wh, price, view.period)]

    def extra_status(self) -> dict:
        return {"forecast_wh": self.forecast_wh}
