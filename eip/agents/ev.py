"""`ev`: an electric vehicle: a price-responsive battery that leaves on trips.

In its trip periods it is away (no orders) and the trip's energy leaves its state of charge. At
home it trades like `storage`, with two constraints that make it reach `target_soc_wh` by the next
departure: it never discharges below what the remaining home periods can still refill at full
power, and when that reserve is reached it must charge (bidding at the grid's buy price or the
pool's best ask, whichever is higher, so that the bid fills).
"""

import logging
import math

from eip.agents.base import AgentView, OrderIntent, Param, energy_wh
from eip.agents.params import REQUIRED
from eip.agents.registry import register_behaviour
from eip.agents.storage import STORAGE_PARAMS, Storage

log = logging.getLogger(__name__)


class Ev(Storage):
    """A vehicle battery with trips: away in `trip_periods`, at `target_soc_wh` when it leaves."""

    PARAMS = {
        **STORAGE_PARAMS,
        "trip_periods": Param(REQUIRED, "periods of the day the EV is away", "periods"),
        "trip_energy_wh": Param(
            REQUIRED,
            "energy each trip takes from the battery, Wh (one value or one per trip)",
            "series",
            minimum=0.0,
        ),
        "target_soc_wh": Param(
            None,
            "least state of charge at departure, Wh (default: the trip's energy)",
            "optional_number",
            minimum=0.0,
        ),
        "periods_per_day": Param(
            12, "periods in a day (trip periods repeat daily)", "int", minimum=1
        ),
    }

    def __init__(self, **params):
        super().__init__(**params)
        self.away = False
        self.departures: list[tuple[int, float]] = []  # (period, state of charge when leaving)
        self.travel_shortfall_wh = 0.0

    @classmethod
    def cross_check(cls, params: dict) -> tuple[str, str] | None:
        bad = super().cross_check(params)
        if bad:
            return bad
        trips, energy, ppd = (
            params["trip_periods"],
            params["trip_energy_wh"],
            params["periods_per_day"],
        )
        if any(k >= ppd for k in trips):
            return "trip_periods", f"{list(trips)} has a period >= periods_per_day {ppd}"
        if len(energy) not in (1, len(trips)):
            return "trip_energy_wh", f"{len(energy)} values for {len(trips)} trips"
        for name in ("trip_energy_wh", "target_soc_wh"):
            values = params[name] if name == "trip_energy_wh" else (params[name] or 0.0,)
            if max(values) > params["capacity_wh"]:
                return name, f"{max(values)} is above capacity_wh {params['capacity_wh']}"
        return None

    def trip(self, day_period: int) -> tuple[float, float]:
        """(trip energy, target at departure) of the trip leaving in `day_period`, Wh."""
        trips, energy = self.params["trip_periods"], self.params["trip_energy_wh"]
        need = energy[trips.index(day_period) % len(energy)]
        target = self.params["target_soc_wh"]
        return need, (need if target is None else target)

    def next_departure(self, period: int) -> tuple[int, float] | None:
        """(home periods before the next trip, its target Wh), or None without trips."""
        trips, ppd = self.params["trip_periods"], self.params["periods_per_day"]
        if not trips:
            return None
        for m in range(1, ppd + 1):
            if (period + m) % ppd in trips:
                return m, self.trip((period + m) % ppd)[1]
        return None

    def orders(self, view: AgentView) -> list[OrderIntent]:
        day_period = view.period % self.params["periods_per_day"]
        self.away = day_period in self.params["trip_periods"]
        if self.away:
            need, _ = self.trip(day_period)
            self.departures.append((view.period, self.soc_wh))
            if need > self.soc_wh + 1e-9:
                self.travel_shortfall_wh += need - self.soc_wh
                log.warning("ev: trip of period %d needs %.0f Wh, has %.0f", view.period, need,
                            self.soc_wh)  # fmt: skip
            self.soc_wh = max(0.0, self.soc_wh - need)
            self.mode = "away"
            return []
        nxt = self.next_departure(view.period)
        if nxt is None:
            return self.battery_orders(view)
        home_periods, target = nxt
        refill_wh = energy_wh(self.params["p_kw"], view.period_s) * self.eta  # SoC per period
        reserve = max(0.0, target - (home_periods - 1) * refill_wh)
        must = max(0.0, reserve - float(view.state.get("soc_wh", self.soc_wh)))
        return self.battery_orders(view, reserve_wh=reserve, must_charge_wh=math.ceil(must))

    def extra_status(self) -> dict:
        return {**super().extra_status(), "away": self.away,
                "departures": tuple(self.departures),
                "travel_shortfall_wh": round(self.travel_shortfall_wh, 3)}  # fmt: skip


register_behaviour("ev", Ev)
