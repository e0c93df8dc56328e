"""The card hosts its trading behaviour (docs/agents.md "Hosting"): at each new period, orders out.

`AgentHost` is the helper object a `CardNode` owns when its config has a `behaviour:`. Plain logic:
it is told the events (a static-limit notice with a period index, a pool fill, the time) and returns
the node's actions. The period index is the ISP's (its static-limit notices); a card that never hears
a notice runs its own clock, one period every `period_s / time_scale` wall seconds after a grace
period of the same length. Orders go out through the node's `place_order` (the `order` op's path);
sells are paced over the order's frame (`pace=frame`); what did not trade in its period is cancelled
in the pool when the next period begins. Frames are emulated seconds anchored at the
first boundary of the `period_s` grid of the wall clock at or after the first period the card decides
(`slot_start`, the same for every card): period k is [anchor + (k - k0) period_s, ... + period_s),
so frames of different periods never overlap, across cards too, and a frame-paced fill takes one
period.
"""

import logging
import math
from collections import deque

from eip.agents.base import EnergyTotals, PriceSignal, from_wire_price
from eip.agents.host import HostedAgent
from eip.card.config import BehaviourConfig
from eip.card.ops import OrderRequest
from eip.protocol import constants as c

log = logging.getLogger(__name__)

ORDERS_KEPT = 200  # the placed orders `status` lists (newest)


def slot_start(wall_s: float, period_s: float) -> int:
    """The next boundary of the `period_s` grid of the wall clock at or after `wall_s`: every card
    that hears the same notice (within ms of each other) gets the same anchor, so their frames of
    one period are the same and no frame of one period overlaps another card's of the next. Not
    the boundary before: the pool clips a frame to start no earlier than now, which would shorten
    the first period's frame and speed up its frame-paced sales."""
    return int(math.ceil(wall_s / period_s) * period_s)


class AgentHost:
    """One hosted behaviour of a card: decides at each new period, books the fills of its orders."""

    def __init__(self, node, config: BehaviourConfig):
        self.node = node
        self.config = config
        self.hosted = HostedAgent(config.build(), config.period_s)
        self.anchored = False  # hosted.epoch_s set from the first period's wall time
        self.last_period: int | None = None
        self.clock = "none"  # "isp" once a notice came, "own" when the card runs its own periods
        self.own_start: float | None = None  # own clock: when its period 0 begins (node time)
        self.placed: deque = deque(maxlen=ORDERS_KEPT)
        self.fills = 0
        # What the card knows beyond its ledger: the ISP's price signal for its node (its price
        # notices), the pool's top of book and its own measurements (AgentView.state). None / empty
        # until someone tells it.
        self.price_signal = None
        self.pool_top = None
        self.state: dict = {}

    @property
    def wall_period_s(self) -> float:
        """A period in wall seconds: its emulated length over the card's time scale."""
        return self.config.period_s / self.node.config.time_scale

    # --- events ------------------------------------------------------------------------------
    def on_notice(self, period: int, now: float) -> list:
        """A static-limit notice of the ISP for `period`: decide it if it is new."""
        self.clock = "isp"
        return self.start_period(period, now)

    def on_price(self, notice) -> list:
        """The ISP's price notice for the card's node (R5.7): the price signal of the next views,
        unless the behaviour is configured not to take it (`isp_prices: false`)."""
        if not self.config.isp_prices:
            return []
        self.price_signal = PriceSignal(
            from_wire_price(notice.buy_price_micro_per_kbee),
            from_wire_price(notice.sell_price_micro_per_kbee),
        )
        return []

    def on_timer(self, now: float) -> list:
        """The card's own clock, used only while no notice has ever come."""
        if self.clock == "isp":
            return []
        if self.own_start is None:
            self.own_start = now + self.wall_period_s  # a grace period for the ISP's first notice
            return []
        if now < self.own_start:
            return []
        self.clock = "own"
        return self.start_period(int((now - self.own_start) // self.wall_period_s), now)

    def next_deadline(self) -> float | None:
        """When the own clock's next period begins (None under the ISP's clock)."""
        if self.clock == "isp" or self.own_start is None:
            return None
        nxt = 0 if self.last_period is None else self.last_period + 1
        return self.own_start + nxt * self.wall_period_s

    def on_fill(self, order_id: int, fill) -> None:
        """A pool fill of one of the card's orders: to the behaviour if it is one of its orders."""
        if self.hosted.on_pool_fill(order_id, fill) is not None:
            self.fills += 1

    # --- deciding ----------------------------------------------------------------------------
    def start_period(self, period: int, now: float) -> list:
        """Decide `period` once (a duplicate or older period does nothing) and place its orders."""
        if self.last_period is not None and period <= self.last_period:
            return []
        # what did not trade in its period is withdrawn from the pool before new orders go out
        out: list = []
        for order_id in self.hosted.open_before(period):
            out += self.node.cancel_order(order_id, now)
        self.hosted.expire(period)
        if not self.config.trades_in(period):
            return out  # outside the behaviour's first_period..last_period: no orders
        if not self.anchored:
            self.hosted.epoch_s = slot_start(self.node.wall(), self.config.period_s) - period * (
                self.config.period_s
            )
            self.anchored = True
        self.last_period = period
        view = self.hosted.view(
            self.hosted.epoch_s + period * self.config.period_s,
            price_signal=self.price_signal, pool_top=self.pool_top,
            energy_wh=self.energy_totals(), state=dict(self.state),
        )  # fmt: skip
        orders = self.hosted.orders(view)
        for order in orders:
            req = OrderRequest(self.node.default_pool(), order.side, order.quantity,
                               order.price_micro_per_kbee, c.BEE_ELECTRICITY, order.start_s,
                               order.end_s)  # fmt: skip
            order_id, actions = self.node.place_order(req, "frame", now)
            self.hosted.placed(order_id, order)
            self.placed.append({"order_id": order_id, "period": period, "side": order.intent.side,
                                "quantity": order.quantity,
                                "price_micro_per_kbee": order.price_micro_per_kbee,
                                "start_s": order.start_s, "end_s": order.end_s})  # fmt: skip
            out += actions
        log.info("period %d: %s placed %d orders", period, self.config.kind, len(orders))
        return out

    def energy_totals(self) -> EnergyTotals:
        """The card's own ledger totals of electricity (Wh = BEE)."""
        energy = self.node.ledger.profile().get("energy_wh", {})
        sent = energy.get("sent", {}).get("electricity", 0)
        received = energy.get("received", {}).get("electricity", 0)
        return EnergyTotals(int(sent), int(received))

    def status(self) -> dict:
        """The behaviour's status and the orders it placed (with the pool's answers so far)."""
        orders = []
        for placed in self.placed:
            known = self.node.pool.orders.get(placed["order_id"], {})
            orders.append({**placed, "state": known.get("state"), "filled": known.get("filled", 0)})
        return {"kind": self.config.kind, "period_s": self.config.period_s, "clock": self.clock,
                "last_period": self.last_period, "fills": self.fills,
                "behaviour": dict(self.hosted.behaviour.status()), "orders": orders}  # fmt: skip
