"""The trades of the grid-limits scenario: each card's whole energy of a period as P2P transfers.

Per grid period of the four-node day (`eip.cases.four_node.PROFILES_KW`): renewables and storage sell
to the loads of their own bus first (pv, storage -> urban-load; wind -> rural-load, its surplus to
urban-load), and every load, the charging storage and the EV buy the rest from the plants (plant2, the
cheaper, up to 80 % of its capacity, then plant1). The loads consume `demand_factor` times their forecast: the
elastic response to cheap P2P energy that loads line L0 past its rating in the evening peak.

Energy on the wire follows the ISP's clock (docs/isp.md): a period of `period_s` wall seconds stands for
a grid period at the same power, and 1 BEE = 1 Wh, so `kw` for a period is kw x period_s / 3.6 BEE.
"""

import math
from dataclasses import dataclass

from eip.cases.four_node import PLANTS, PROFILES_KW

RENEWABLE_PRICE_CNY_PER_KWH = (
    0.40  # what the local sellers ask; the plants ask their marginal cost b
)
PLANT_SHARE = 0.8


@dataclass(frozen=True)
class Trade:
    """One transfer of a period: seller -> buyer at `kw` for the period, `price_cny_per_kwh`."""

    seller: str
    buyer: str
    kw: float
    price_cny_per_kwh: float

    def bee(self, period_s: float) -> int:
        """Its energy on the wire: kw x period_s / 3.6 BEE (1 BEE = 1 Wh), at least one."""
        return max(1, math.floor(self.kw * period_s / 3.6))

    @property
    def price_micro_per_kbee(self) -> int:
        """CNY/kWh -> micro-CNY per 1000 BEE (1000 BEE = 1 kWh)."""
        return round(self.price_cny_per_kwh * 1e6)


def trades_for(period: int, demand_factor: float = 1.0) -> list[Trade]:
    """The transfers of grid period `period` (0..11), in a fixed order."""
    kw = {name: prof[period % len(prof)] for name, prof in PROFILES_KW.items()}
    need = {
        "urban-load": -kw["urban-load"] * demand_factor,
        "rural-load": -kw["rural-load"] * demand_factor,
        "ev": max(0.0, -kw["ev"]),
        "storage": max(0.0, -kw["storage"]),
    }
    out: list[Trade] = []

    def sell(seller: str, buyer: str, p_kw: float, price: float) -> float:
        p_kw = min(p_kw, need[buyer])
        if p_kw > 1e-6:
            out.append(Trade(seller, buyer, round(p_kw, 3), price))
            need[buyer] -= p_kw
        return p_kw

    r = RENEWABLE_PRICE_CNY_PER_KWH
    sell("pv", "urban-load", kw["pv"], r)
    left = kw["wind"] - sell("wind", "rural-load", kw["wind"], r)
    sell("wind", "urban-load", left, r)
    sell("storage", "urban-load", max(0.0, kw["storage"]), r)
    ev_out = max(0.0, kw["ev"])
    sell("ev", "urban-load", ev_out, r)
    # The plants sell at most PLANT_SHARE of their capacity, so their own export quota (their
    # capacity, docs/isp.md) never binds: what is curtailed is the grid's doing.
    room = {name: cap * PLANT_SHARE for name, _a, _b, cap in PLANTS}
    cost = {name: b for name, _a, b, _cap in PLANTS}
    for plant in sorted(room, key=lambda n: cost[n]):  # the cheaper first
        for buyer in ("urban-load", "rural-load", "ev", "storage"):
            room[plant] -= sell(plant, buyer, min(room[plant], need[buyer]), cost[plant])
    return out
