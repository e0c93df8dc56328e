"""The contract of a trading behaviour: what it sees (`AgentView`), what it decides (`OrderIntent`).

A behaviour is a plain object in the style of `eip.card.node.CardNode`: it holds no socket, clock or
process. Its host (later the card) gives it a view of what a real participant knows - the time, its
own ledger totals and resting orders, the public BEE pool's best prices and the Energy ISP's public
price signal for its node - and gets back the orders to place. Fills come back through `on_fill`.
It never sees grid data (topology, line flows, LMP computations): seed 000 section 7.

Prices here are CNY per kWh (floats); on the wire they are integer micro-currency per 1000 BEE
(`to_wire_price`, `from_wire_price`). Quantities are integer BEE, 1 BEE = 1 Wh.
"""

import logging
import math
from types import MappingProxyType
from typing import NamedTuple

from eip.agents.params import Param, check_params
from eip.markets.orders import I32_MAX, I32_MIN, MarketError

log = logging.getLogger(__name__)

KWH_PER_BEE = 0.001  # 1 BEE = 1 Wh of electricity (seed 000 Fig. 2)
SIDES = ("buy", "sell")  # the card's order words: buy = ask (takes energy), sell = send
EMPTY = MappingProxyType({})


def to_wire_price(price_cny_per_kwh: float, kwh_per_bee: float = KWH_PER_BEE) -> int:
    """CNY/kWh -> the wire's `price_micro_per_kbee` (micro-CNY per 1000 BEE), range-checked."""
    value = round(price_cny_per_kwh * kwh_per_bee * 1e9)
    if not I32_MIN <= value <= I32_MAX:
        raise MarketError("price_micro_per_kbee", f"{price_cny_per_kwh} CNY/kWh does not fit")
    return value


def from_wire_price(price_micro_per_kbee: int, kwh_per_bee: float = KWH_PER_BEE) -> float:
    """The wire's `price_micro_per_kbee` -> CNY/kWh."""
    return price_micro_per_kbee / (kwh_per_bee * 1e9)


def frame_s(period: int, period_s: float, epoch_s: float = 0.0) -> tuple[int, int]:
    """The half-open time frame `[start_s, end_s)` of `period`, periods counted from `epoch_s`."""
    start = int(epoch_s + period * period_s)
    return start, int(epoch_s + (period + 1) * period_s)


class PriceSignal(NamedTuple):
    """The Energy ISP's public prices for one node and period."""

    buy_cny_per_kwh: float  # what the grid charges for energy taken at this node
    sell_cny_per_kwh: float  # what the grid pays for energy fed in at this node


class PoolTop(NamedTuple):
    """The public BEE pool's best resting prices for the period (None: that side is empty)."""

    best_bid_cny_per_kwh: float | None = None
    best_ask_cny_per_kwh: float | None = None


class EnergyTotals(NamedTuple):
    """The card's own ledger totals of electricity so far."""

    sent_wh: int = 0
    received_wh: int = 0


class RestingOrder(NamedTuple):
    """One of the card's own orders still resting in the pool."""

    order_id: int
    side: str
    quantity_bee: int  # what remains
    price_cny_per_kwh: float
    period: int


class AgentView(NamedTuple):
    """Everything a behaviour may know when it decides; no grid data."""

    now_s: float
    period: int  # the delivery period the decision is for
    period_s: float  # the period's length in emulated seconds (7200 in the four-node day)
    price_signal: PriceSignal | None = None
    pool_top: PoolTop | None = None
    energy_wh: EnergyTotals = EnergyTotals()
    resting: tuple = ()  # RestingOrder, ...
    state: MappingProxyType = EMPTY  # behaviour-specific measurements (forecast_kw, soc_wh)


class _IntentFields(NamedTuple):
    side: str
    quantity_bee: int
    price_cny_per_kwh: float
    period: int


class OrderIntent(_IntentFields):
    """An order a behaviour wants placed: `quantity_bee` to buy or sell at most/least at a price."""

    __slots__ = ()

    def __new__(cls, side: str, quantity_bee: int, price_cny_per_kwh: float, period: int):
        if side not in SIDES:
            raise MarketError("side", f"{side!r} is not 'buy' or 'sell'")
        if type(quantity_bee) is not int or quantity_bee < 1:
            raise MarketError("quantity_bee", f"{quantity_bee!r} is not an int >= 1")
        if not isinstance(price_cny_per_kwh, int | float) or not math.isfinite(price_cny_per_kwh):
            raise MarketError("price_cny_per_kwh", f"{price_cny_per_kwh!r} is not a finite number")
        if type(period) is not int or period < 0:
            raise MarketError("period", f"{period!r} is not an int >= 0")
        return tuple.__new__(cls, (side, quantity_bee, float(price_cny_per_kwh), period))

    def price_micro_per_kbee(self, kwh_per_bee: float = KWH_PER_BEE) -> int:
        """The limit price in the wire's unit."""
        return to_wire_price(self.price_cny_per_kwh, kwh_per_bee)

    def order_request(self, period_s: float, epoch_s: float = 0.0,
                      kwh_per_bee: float = KWH_PER_BEE) -> dict:  # fmt: skip
        """The arguments of the card's `order` control request (eip.card.ops.parse_order)."""
        start_s, end_s = frame_s(self.period, period_s, epoch_s)
        return {"op": "order", "side": self.side, "quantity": self.quantity_bee,
                "price_micro_per_kbee": self.price_micro_per_kbee(kwh_per_bee),
                "start_s": start_s, "end_s": end_s, "wait": 0}  # fmt: skip


class Fill(NamedTuple):
    """Part of an intent that traded: `quantity_bee` at `price_cny_per_kwh`."""

    side: str
    quantity_bee: int
    price_cny_per_kwh: float
    period: int


def fill_from_pool(intent: OrderIntent, pool_fill, kwh_per_bee: float = KWH_PER_BEE) -> Fill:
    """The `Fill` of a wire `PoolFill` (partial or complete) answering the order placed for `intent`."""
    price = from_wire_price(pool_fill.price_micro_per_kbee, kwh_per_bee)
    return Fill(intent.side, int(pool_fill.quantity), price, intent.period)


def at_period(values: tuple, period: int) -> float:
    """A per-period parameter's value for `period` (a one-value series is constant; cyclic)."""
    return values[period % len(values)]


def energy_wh(p_kw: float, period_s: float) -> float:
    """The energy of `p_kw` held for a period of `period_s` seconds, in Wh."""
    return p_kw * period_s / 3.6


def grid_prices(view: AgentView, fallback: float | None = None) -> tuple:
    """(buy, sell) CNY/kWh: the ISP's signal, else the pool's best ask/bid, else `fallback`."""
    if view.price_signal is not None:
        return view.price_signal.buy_cny_per_kwh, view.price_signal.sell_cny_per_kwh
    top = view.pool_top or PoolTop()
    buy = top.best_ask_cny_per_kwh if top.best_ask_cny_per_kwh is not None else fallback
    sell = top.best_bid_cny_per_kwh if top.best_bid_cny_per_kwh is not None else fallback
    if buy is None or sell is None:
        buy = sell = buy if buy is not None else sell
    return buy, sell


class Behaviour:
    """A trading behaviour. Subclasses set `kind`, `PARAMS` and implement `orders(view)`.

    The host calls `decide(view)` once at the start of each period (a second call for the same or an
    earlier period returns []), places the intents as orders whose frame is that period, and hands
    every fill to `on_fill`. Orders that do not trade expire with their period.
    """

    kind: str = ""
    PARAMS: MappingProxyType = EMPTY

    def __init__(self, **params):
        self.params = check_params(type(self), params)
        self.last_period: int | None = None
        self.bought_wh = 0
        self.sold_wh = 0
        self.money_cny = 0.0  # + received for sales, - paid for purchases
        self.period_filled_wh = {"buy": 0, "sell": 0}  # in the last decided period

    @classmethod
    def cross_check(cls, params: dict) -> tuple[str, str] | None:
        """(parameter, problem) if the parameters are inconsistent with each other, else None."""
        return None

    def orders(self, view: AgentView) -> list[OrderIntent]:
        """The intents for `view.period` (subclasses)."""
        raise NotImplementedError

    def decide(self, view: AgentView) -> list[OrderIntent]:
        """The orders for `view.period`, once per period; quantities are >= 1 BEE."""
        if self.last_period is not None and view.period <= self.last_period:
            return []
        self.last_period = view.period
        self.period_filled_wh = {"buy": 0, "sell": 0}
        intents = list(self.orders(view))
        for intent in intents:
            if not isinstance(intent, OrderIntent):
                raise MarketError("intent", f"{self.kind} returned {intent!r}, not an OrderIntent")
            if intent.period != view.period:
                raise MarketError("period", f"{self.kind} ordered for {intent.period}, "
                                  f"not the period decided ({view.period})")  # fmt: skip
        log.debug("%s period %d: %d orders", self.kind, view.period, len(intents))
        return intents

    def filled(self, fill: Fill) -> None:
        """A subclass's own bookkeeping of a fill (state of charge, dispatch)."""

    def on_fill(self, fill: Fill) -> MappingProxyType:
        """Take a fill of one of this behaviour's orders; returns the new `status()`."""
        if fill.side not in SIDES or fill.quantity_bee < 0:
            raise MarketError("fill", f"{fill!r} is not a buy/sell of >= 0 BEE")
        value = fill.quantity_bee * KWH_PER_BEE * fill.price_cny_per_kwh
        if fill.side == "buy":
            self.bought_wh += fill.quantity_bee
            self.money_cny -= value
        else:
            self.sold_wh += fill.quantity_bee
            self.money_cny += value
        if fill.period == self.last_period:
            self.period_filled_wh[fill.side] += fill.quantity_bee
        self.filled(fill)
        return self.status()

    def extra_status(self) -> dict:
        """A subclass's own status fields."""
        return {}

    def status(self) -> MappingProxyType:
        """What the behaviour has done so far (read-only)."""
        return MappingProxyType({
            "kind": self.kind, "last_period": self.last_period, "bought_wh": self.bought_wh,
            "sold_wh": self.sold_wh, "money_cny": round(self.money_cny, 6), **self.extra_status(),
        })  # fmt: skip


__all__ = [
    "EMPTY", "KWH_PER_BEE", "SIDES", "AgentView", "Behaviour", "EnergyTotals", "Fill",
    "OrderIntent", "Param", "PoolTop", "PriceSignal", "RestingOrder", "at_period", "energy_wh",
    "fill_from_pool", "frame_s", "from_wire_price", "grid_prices", "to_wire_price",
]  # fmt: skip
