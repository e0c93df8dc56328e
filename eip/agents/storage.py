"""`storage`: a price-responsive battery: charges when the price is low, discharges when it is high.

State of charge in Wh, kept within [0, capacity_wh] whatever fills: each period it bids (charge) or
asks (discharge) at most what the power limit and the room or energy left allow, and takes the
round-trip efficiency half on the way in and half on the way out (one-way sqrt(eta)). The price it
compares is the signal's mid price (buy + sell) / 2; low and high are fixed thresholds or a band
around the running mean of the mid prices it has seen so far (its own memory of the public signal,
no grid data). It bids at the grid's buy price and asks at the grid's sell price: the pool gives it
a better price when a peer offers one.
"""

import logging
import math

from eip.agents.base import (
    AgentView,
    Behaviour,
    Fill,
    OrderIntent,
    Param,
    at_period,
    energy_wh,
    grid_prices,
)
from eip.agents.params import REQUIRED
from eip.agents.registry import register_behaviour

log = logging.getLogger(__name__)

STORAGE_PARAMS = {
    "capacity_wh": Param(REQUIRED, "usable energy, Wh", minimum=0.0),
    "p_kw": Param(REQUIRED, "charge and discharge power limit, kW", minimum=0.0),
    "round_trip_efficiency": Param(
        0.9025, "energy out / energy in, (0, 1]", minimum=0.0, maximum=1.0 + 1e-12, strict=True
    ),
    "soc0_wh": Param(0.0, "initial state of charge, Wh", minimum=0.0),
    "charge_below_cny_per_kwh": Param(
        None,
        "charge when the mid price is at most this, CNY/kWh (default: the band)",
        "optional_number",
        minimum=0.0,
    ),
    "discharge_above_cny_per_kwh": Param(
        None,
        "discharge when the mid price is at least this, CNY/kWh (default: the band)",
        "optional_number",
        minimum=0.0,
    ),
    "band": Param(0.05, "low/high = running mean price x (1 -/+ band)", minimum=0.0, maximum=1.0),
    "reference_price_cny_per_kwh": Param(
        None,
        "a public price forecast per period, CNY/kWh: the price when neither the ISP's signal nor "
        "the pool's prices are known (default: none, then it waits for one)",
        "optional_series",
        minimum=0.0,
    ),
}


class Storage(Behaviour):
    """A battery trading on the price signal, state of charge within [0, capacity_wh]."""

    PARAMS = STORAGE_PARAMS

    def __init__(self, **params):
        super().__init__(**params)
        self.soc_wh = self.params["soc0_wh"]
        self.eta = math.sqrt(self.params["round_trip_efficiency"])  # one way
        self.prices_seen: list[float] = []
        self.mode = "idle"

    @classmethod
    def cross_check(cls, params: dict) -> tuple[str, str] | None:
        if params["soc0_wh"] > params["capacity_wh"]:
            return "soc0_wh", f"{params['soc0_wh']} is above capacity_wh {params['capacity_wh']}"
        return None

    def thresholds(self) -> tuple[float | None, float | None]:
        """(charge at or below, discharge at or above), CNY/kWh; None before any price is known."""
        p = self.params
        mean = sum(self.prices_seen) / len(self.prices_seen) if self.prices_seen else None
        low, high = p["charge_below_cny_per_kwh"], p["discharge_above_cny_per_kwh"]
        if low is None and mean is not None:
            low = mean * (1.0 - p["band"])
        if high is None and mean is not None:
            high = mean * (1.0 + p["band"])
        return low, high

    def battery_orders(self, view: AgentView, reserve_wh: float = 0.0,
                       must_charge_wh: float = 0.0) -> list[OrderIntent]:  # fmt: skip
        """Charge or discharge for the period; never below `reserve_wh`, at least `must_charge_wh`."""
        soc = float(view.state.get("soc_wh", self.soc_wh))
        self.soc_wh = min(max(soc, 0.0), self.params["capacity_wh"])
        ref = self.params["reference_price_cny_per_kwh"]
        buy, sell = grid_prices(view, None if ref is None else at_period(ref, view.period))
        low, high = self.thresholds()
        mid = None if buy is None else (buy + sell) / 2.0
        if mid is not None:
            self.prices_seen.append(mid)
        step_wh = energy_wh(self.params["p_kw"], view.period_s)  # power limit, at the terminals
        room_in = math.floor(min(step_wh, (self.params["capacity_wh"] - self.soc_wh) / self.eta))
        room_out = math.floor(min(step_wh, max(0.0, self.soc_wh - reserve_wh) * self.eta))
        self.mode = "idle"
        if must_charge_wh > 0 and room_in >= 1:
            self.mode = "must-charge"
            wh = min(room_in, math.ceil(must_charge_wh / self.eta))
            if mid is not None and low is not None and mid <= low:
                wh = room_in
            top = view.pool_top.best_ask_cny_per_kwh if view.pool_top else None
            price = max(p for p in (buy, top, 0.0) if p is not None)
            return [OrderIntent("buy", wh, price, view.period)]
        if buy is None:
            return []
        if low is not None and mid <= low and room_in >= 1:
            self.mode = "charge"
            return [OrderIntent("buy", room_in, buy, view.period)]
        if high is not None and mid >= high and room_out >= 1:
            self.mode = "discharge"
            return [OrderIntent("sell", room_out, sell, view.period)]
        return []

    def orders(self, view: AgentView) -> list[OrderIntent]:
        return self.battery_orders(view)

    def filled(self, fill: Fill) -> None:
        cap = self.params["capacity_wh"]
        if fill.side == "buy":
            soc = self.soc_wh + fill.quantity_bee * self.eta
        else:
            soc = self.soc_wh - fill.quantity_bee / self.eta
        if soc < -1.0 or soc > cap + 1.0:
            log.warning("%s: fill %s takes the state of charge to %.0f Wh, outside [0, %.0f]",
                        self.kind, fill, soc, cap)  # fmt: skip
        self.soc_wh = min(max(soc, 0.0), cap)

    def extra_status(self) -> dict:
        return {"soc_wh": round(self.soc_wh, 3), "mode": self.mode}


register_behaviour("storage", Storage)
