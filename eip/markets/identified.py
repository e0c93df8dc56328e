"""Identified Pricing (seed 002, eq. 4.6-4.8) slot by slot: the offline model's market and the pool's.

`IdentifiedMarket` holds what the rule remembers: each buyer's bid, what it bought and what the
community offered in the slots cleared so far (eip/markets/pricing.py has the equations). `clear`
takes one slot's buy and sell orders, updates the bids for every slot since the last one it
cleared, and matches by auction: the buyers' asks rest at their identified bids (capped by their own
limit), the sellers' sends meet the highest bid first and trade at it. A household the market has
not seen yet gets the bid it would have had: every update so far applied with nothing bought.

`IdentifiedPool` is the BEE pool service's call market (eip/apps/pool_service.py, `eip pool serve
--pricing identified`): the orders of a slot rest until `quiet_s` passes without a new one for it,
then the slot clears once; an order for a slot already cleared is refused.
"""

from eip.markets.auction import DoubleAuction
from eip.markets.orders import ASK, SEND, MarketError, Order, Trade


class IdentifiedMarket:
    """The bids and the utilisation of Identified Pricing, over the slots cleared so far."""

    def __init__(self, tariff=None, alpha: float | None = None, u_thr: float | None = None,
                 initial_bid_micro_per_kwh: int | None = None, slot_s: int | None = None):  # fmt: skip
        from eip.markets import pricing as p

        self.tariff = tariff or p.DEFAULT_TARIFF
        self.alpha = p.ALPHA if alpha is None else alpha
        self.u_thr = p.U_THR if u_thr is None else u_thr
        self.initial_bid = p.INITIAL_BID_MICRO_PER_KWH if initial_bid_micro_per_kwh is None else (
            initial_bid_micro_per_kwh)  # fmt: skip
        self.slot_s = p.SLOT_S if slot_s is None else slot_s
        self._update = p.identified_bid_update
        self.bids: dict[str, float] = {}
        self.consumed: dict[str, int] = {}  # owner -> P2P energy bought (4.8 numerator)
        self.offered = 0  # the community's offers over the cleared slots (4.8 denominator)
        self._updates: list[int] = []  # `offered` at each slot's update (0: no update)
        self._next: int | None = None  # the next slot whose update is due

    def _clamp(self, x: float) -> int:
        t = self.tariff
        return int(min(max(round(x), t.feed_in_micro_per_kwh), t.grid_buy_micro_per_kwh))

    def advance(self, slot: int) -> None:
        """Apply the bid update (4.6-4.7) of every slot up to `slot`, for the owners known."""
        if self._next is None:
            self._next = slot
        while self._next <= slot:
            off = self.offered
            if off:
                for owner, bid in self.bids.items():
                    u = self.consumed[owner] / off
                    self.bids[owner] = self._clamp(self._update(bid, u, self.alpha, self.u_thr))
            self._updates.append(off)
            self._next += 1

    def bid(self, owner: str) -> int:
        """The owner's identified bid for the slot advanced to (a new owner: every update so far)."""
        if owner not in self.bids:
            b = float(self.initial_bid)
            for off in self._updates:
                if off:
                    b = self._clamp(self._update(b, 0.0, self.alpha, self.u_thr))
            self.bids[owner], self.consumed[owner] = b, 0
        return self._clamp(self.bids[owner])

    def clear(self, slot: int, buys: list[Order], sells: list[Order]) -> list[Trade]:
        """Clear one slot: buys in time priority, sells largest first (`in_priority`)."""
        self.advance(slot)
        for o in (*buys, *sells):
            self.bid(o.owner)
        trades: list[Trade] = []
        if buys and sells:
            auction = DoubleAuction(self.slot_s)
            for o in buys:
                price = min(o.price_micro_per_kbee, self.bid(o.owner))
                auction.submit(o._replace(price_micro_per_kbee=price))
            for o in sells:
                trades += auction.submit(o)
        for t in trades:
            self.consumed[t.buyer] += t.quantity
        self.offered += sum(o.quantity for o in sells)
        return trades


def in_priority(orders: list[Order]) -> tuple[list[Order], list[Order]]:
    """(buys, sells) of one slot: buys by owner (the households' order), sells largest first, then
    by owner (seed 002: the largest sellers sell first)."""
    buys = sorted((o for o in orders if o.side == ASK), key=lambda o: (o.owner, o.seq))
    sells = sorted((o for o in orders if o.side == SEND), key=lambda o: (-o.quantity, o.owner))
    return buys, sells


class IdentifiedPool:
    """The pool service's call market: one batch of orders per slot, cleared once it is quiet."""

    def __init__(self, market: IdentifiedMarket | None = None, quiet_s: float = 0.5):
        if not quiet_s > 0:
            raise MarketError("quiet_s", f"{quiet_s!r} must be > 0")
        self.market = market or IdentifiedMarket()
        self.quiet_s = quiet_s
        self.batches: dict[int, list[Order]] = {}  # slot -> its orders, until it clears
        self.last_at: dict[int, float] = {}  # slot -> when its latest order came
        self.cleared: set[int] = set()
        self.stats = {"slots_cleared": 0, "late_orders": 0}

    def slot_of(self, order: Order) -> int:
        s = self.market.slot_s
        if order.start_s % s or order.end_s != order.start_s + s:
            raise MarketError("start_s", f"[{order.start_s}, {order.end_s}) is not one {s} s slot")
        return order.start_s // s

    def submit(self, order: Order, now: float) -> None:
        """Rest `order` in its slot's batch; MarketError if the slot has cleared already."""
        slot = self.slot_of(order)
        if slot in self.cleared or (self.cleared and slot < max(self.cleared)):
            self.stats["late_orders"] += 1
            raise MarketError("start_s", f"slot {slot} has cleared already")
        batch = self.batches.setdefault(slot, [])
        if any((o.owner, o.order_id) == (order.owner, order.order_id) for o in batch):
            raise MarketError("order_id", f"{order.order_id} of {order.owner} is already resting")
        batch.append(order)
        self.last_at[slot] = now

    def cancel(self, owner: str, order_id: int) -> Order:
        """Withdraw a resting order of a slot not yet cleared."""
        for batch in self.batches.values():
            for o in batch:
                if (o.owner, o.order_id) == (owner, order_id):
                    batch.remove(o)
                    return o
        raise MarketError("order_id", f"{order_id} of {owner} is not resting")

    def best_match(self, order: Order, now_s: int = 0):
        """A call market shows no book before it clears."""
        return None

    def due(self, now: float) -> list[Trade]:
        """Clear, in slot order, every batch quiet for `quiet_s`; their trades."""
        trades: list[Trade] = []
        for slot in sorted(self.batches):
            if now - self.last_at[slot] < self.quiet_s:
                break  # a later slot waits for this one
            buys, sells = in_priority(self.batches.pop(slot))
            del self.last_at[slot]
            trades += self.market.clear(slot, buys, sells)
            self.cleared.add(slot)
            self.stats["slots_cleared"] += 1
        return trades
