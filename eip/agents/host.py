"""The bookkeeping a host (the card, a test) does for its behaviour: views in, wire orders out, fills back.

`HostedAgent` wraps one behaviour. Each period the host calls `orders(view)`, places each returned
`WireOrder` with the pool (the card: `PoolClient.place`) and reports the order id with `placed`; every
`PoolFill` answering an order goes to `on_pool_fill`, which hands partial and complete fills to the
behaviour. It also keeps the behaviour's resting orders for the next view (`resting`). Plain object:
no socket, no clock. Behaviours count in Wh, so the wire's BEE are 1 Wh each here (KWH_PER_BEE).
"""

from typing import NamedTuple

from eip.agents.base import (
    AgentView,
    Behaviour,
    OrderIntent,
    RestingOrder,
    fill_from_pool,
    frame_s,
)
from eip.markets.orders import ASK, FILL_COMPLETE, FILL_PARTIAL, SEND

SIDE_CODE = {"sell": SEND, "buy": ASK}  # the wire's order side (1 send, 2 ask)


class WireOrder(NamedTuple):
    """An intent in the wire's terms: the arguments of `PoolClient.place` after the pool address."""

    intent: OrderIntent
    side: int
    quantity: int
    price_micro_per_kbee: int
    start_s: int
    end_s: int


class HostedAgent:
    """One behaviour, its placed orders (order id -> intent) and what is left of each."""

    def __init__(self, behaviour: Behaviour, period_s: float, epoch_s: float = 0.0):
        self.behaviour = behaviour
        self.period_s = period_s
        self.epoch_s = epoch_s
        self.placed_orders: dict[int, list] = {}  # order id -> [intent, BEE left]

    def period_at(self, now_s: float) -> int:
        """The period `now_s` falls in (periods counted from `epoch_s`)."""
        return max(0, int((now_s - self.epoch_s) // self.period_s))

    def view(self, now_s: float, **known) -> AgentView:
        """The view at `now_s`: its period, the period's length and the resting orders filled in;
        `known` are the other `AgentView` fields (price_signal, pool_top, energy_wh, state)."""
        return AgentView(
            now_s, self.period_at(now_s), self.period_s, resting=self.resting(), **known
        )

    def orders(self, view: AgentView) -> list[WireOrder]:
        """The behaviour's decision for `view.period`, as wire orders framed on that period."""
        self.expire(view.period)
        out = []
        for intent in self.behaviour.decide(view):
            start_s, end_s = frame_s(intent.period, self.period_s, self.epoch_s)
            out.append(WireOrder(intent, SIDE_CODE[intent.side], intent.quantity_bee,
                                 intent.price_micro_per_kbee(), start_s, end_s))  # fmt: skip
        return out

    def placed(self, order_id: int, order: WireOrder) -> None:
        """The host placed `order` under `order_id`."""
        self.placed_orders[order_id] = [order.intent, order.quantity]

    def on_pool_fill(self, order_id: int, pool_fill):
        """A fill answering one of the host's orders: the behaviour's new status, or None if it is not
        the behaviour's order or not a trade (resting, cancelled, rejected)."""
        entry = self.placed_orders.get(order_id)
        if entry is None or pool_fill.status not in (FILL_PARTIAL, FILL_COMPLETE):
            return None
        entry[1] = max(0, entry[1] - pool_fill.quantity)
        if pool_fill.status == FILL_COMPLETE or entry[1] == 0:
            del self.placed_orders[order_id]
        return self.behaviour.on_fill(fill_from_pool(entry[0], pool_fill))

    def open_before(self, period: int) -> list[int]:
        """The ids of placed orders of periods before `period` with BEE left: to withdraw."""
        return [o for o, (intent, left) in self.placed_orders.items()
                if intent.period < period and left > 0]  # fmt: skip

    def expire(self, period: int) -> None:
        """Forget the orders of periods before `period` (their frame has ended)."""
        for oid in [o for o, (intent, _) in self.placed_orders.items() if intent.period < period]:
            del self.placed_orders[oid]

    def resting(self) -> tuple:
        """The behaviour's orders still open, for the next `AgentView`."""
        return tuple(
            RestingOrder(oid, intent.side, left, intent.price_cny_per_kwh, intent.period)
            for oid, (intent, left) in self.placed_orders.items()
        )
