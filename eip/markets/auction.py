"""A continuous double auction (CDA) with price-time priority (seed 002, section 4.4.1).

Buyers (asks) and sellers (sends) quote limit prices; "the user chooses the distributed energy service
provider with the lower quotation. The service provider selects users with higher quotations ... if the
selling price is greater than the bid, the platform judges that the transaction cannot be carried out"
(seed 002, 4.4.1). So an incoming order trades at once with the best resting orders of the other side
while they cross (ask limit >= send limit): best price first, then earliest arrival. Each trade is at the
**resting order's price**; partial fills are allowed and the remainder rests in the book.

Clearing by time slot: every delivery slot `[k * slot_s, (k + 1) * slot_s)` of every BEE type is a
separate book; an order must cover exactly one slot (`start_s` a multiple of `slot_s`, `end_s = start_s +
slot_s`). `close_slot` / `close_until` end trading in a slot (gate closure) and return its unfilled orders.
The CDA matches on price alone: an order with a minimum green ratio is refused (use the `BeePool`, which
matches on time frames and green ratio), and, like an anonymous exchange, it does not prevent an owner's
ask from meeting its own send.

Each book is two binary heaps of entries `[price key, seq, remaining, order]` (key = price for sends,
-price for asks); cancelled entries are marked and dropped lazily at the heap top.
"""

from heapq import heapify, heappop, heappush
from typing import NamedTuple

from eip.markets.orders import ASK, SEND, MarketError, Order, Trade

_NEW = tuple.__new__


class BookView(NamedTuple):
    """Aggregated depth of one book: (price, total quantity) per level, best first."""

    bee_type: int
    slot_start_s: int
    bids: tuple  # asks of buyers, highest price first
    offers: tuple  # sends of sellers, lowest price first


class DoubleAuction:
    """Per (BEE type, slot) order books; `submit` matches an order and rests its remainder."""

    __slots__ = ("_books", "_dead", "_index", "_seq", "slot_s")

    def __init__(self, slot_s: int = 1800) -> None:
        if type(slot_s) is not int or slot_s <= 0:
            raise MarketError("slot_s", f"{slot_s!r} must be a positive int")
        self.slot_s = slot_s
        self._books: dict[tuple[int, int], tuple[list, list]] = {}  # -> (sends heap, asks heap)
        self._index: dict[tuple[str, int], tuple[list, tuple[int, int]]] = {}
        self._seq = 0
        self._dead = 0

    def __len__(self) -> int:
        """Resting orders in all books."""
        return len(self._index)

    def submit(self, order: Order) -> list[Trade]:
        """Match `order` in its slot's book at the resting orders' prices; rest the remainder."""
        start = order.start_s
        if start % self.slot_s or order.end_s != start + self.slot_s:
            raise MarketError(
                "start_s", f"[{start}, {order.end_s}) is not one {self.slot_s} s slot"
            )
        if order.min_green_ratio_bp:
            raise MarketError(
                "min_green_ratio_bp", "the auction matches on price only; use the pool"
            )
        owner = order.owner
        key = (owner, order.order_id)
        index = self._index
        if key in index:
            raise MarketError("order_id", f"{order.order_id} of {owner} is already resting")
        bt = order.bee_type
        bkey = (bt, start)
        book = self._books.get(bkey)
        if book is None:
            book = self._books[bkey] = ([], [])
        side = order.side
        price = order.price_micro_per_kbee
        if side == ASK:
            opp, own, lim, rest_key = book[0], book[1], price, -price
        else:
            opp, own, lim, rest_key = book[1], book[0], -price, price
        trades: list[Trade] = []
        left = order.quantity
        if opp and opp[0][0] <= lim:
            end = order.end_s
            oid = order.order_id
            green = order.green_ratio_bp
            append = trades.append
            while opp:
                e = opp[0]
                if e[0] > lim:
                    break
                rem = e[2]
                if rem == 0:
                    heappop(opp)
                    self._dead -= 1
                    continue
                o = e[3]
                q = rem if rem < left else left
                left -= q
                rem -= q
                e[2] = rem
                if rem == 0:
                    heappop(opp)
                    del index[(o.owner, o.order_id)]
                if side == ASK:
                    t = (oid, o.order_id, owner, o.owner, q, o.price_micro_per_kbee, start, end,
                         bt, o.green_ratio_bp, left, rem)  # fmt: skip
                else:
                    t = (o.order_id, oid, o.owner, owner, q, o.price_micro_per_kbee, start, end,
                         bt, green, rem, left)  # fmt: skip
                append(_NEW(Trade, t))
                if not left:
                    break
        if left:
            self._seq = seq = self._seq + 1
            e = [rest_key, seq, left, order]
            heappush(own, e)
            index[key] = (e, bkey)
        return trades

    def cancel(self, owner: str, order_id: int) -> Order:
        """Remove a resting order; returns it with the quantity that was still resting."""
        found = self._index.pop((owner, order_id), None)
        if found is None:
            raise MarketError("order_id", f"{order_id} of {owner} is not resting")
        e = found[0]
        removed = e[3]._resting(e[2], e[1])
        e[2] = 0
        self._dead += 1
        if self._dead > 1024 and self._dead > len(self._index):
            for sends, asks in self._books.values():
                for heap in (sends, asks):
                    heap[:] = [x for x in heap if x[2]]
                    heapify(heap)
            self._dead = 0
        return removed

    def remaining(self, owner: str, order_id: int) -> int:
        """Quantity of the order still resting (0 if it is not in a book)."""
        found = self._index.get((owner, order_id))
        return found[0][2] if found else 0

    def slots(self) -> list[tuple[int, int]]:
        """Open books as (bee_type, slot_start_s), in order."""
        return sorted(self._books)

    def orders(self, bee_type: int, slot_start_s: int, side: int) -> list[Order]:
        """Resting orders of one side of a book in priority order, with remaining quantity and seq."""
        if side not in (SEND, ASK):
            raise MarketError("side", f"{side!r} is not 1 (send) or 2 (ask)")
        book = self._books.get((bee_type, slot_start_s))
        if book is None:
            return []
        heap = book[0] if side == SEND else book[1]
        return [e[3]._resting(e[2], e[1]) for e in sorted(heap) if e[2]]

    def best_bid(self, bee_type: int, slot_start_s: int) -> int | None:
        """Highest resting ask (buyer) price of the book, or None."""
        o = self.orders(bee_type, slot_start_s, ASK)
        return o[0].price_micro_per_kbee if o else None

    def best_offer(self, bee_type: int, slot_start_s: int) -> int | None:
        """Lowest resting send (seller) price of the book, or None."""
        o = self.orders(bee_type, slot_start_s, SEND)
        return o[0].price_micro_per_kbee if o else None

    def depth(self, bee_type: int, slot_start_s: int, levels: int = 5) -> BookView:
        """The book's best `levels` price levels on each side with their total quantities."""

        def agg(orders: list[Order]) -> tuple:
            out: list[list[int]] = []
            for o in orders:
                if out and out[-1][0] == o.price_micro_per_kbee:
                    out[-1][1] += o.quantity
                elif len(out) < levels:
                    out.append([o.price_micro_per_kbee, o.quantity])
                else:
                    break
            return tuple((p, q) for p, q in out)

        return BookView(
            bee_type,
            slot_start_s,
            agg(self.orders(bee_type, slot_start_s, ASK)),
            agg(self.orders(bee_type, slot_start_s, SEND)),
        )

    def close_slot(self, bee_type: int, slot_start_s: int) -> list[Order]:
        """End trading in one book: remove it and return its unfilled orders (asks first)."""
        out = self.orders(bee_type, slot_start_s, ASK) + self.orders(bee_type, slot_start_s, SEND)
        book = self._books.pop((bee_type, slot_start_s), None)
        if book is not None:
            self._dead -= sum(1 for heap in book for e in heap if not e[2])
        for o in out:
            del self._index[(o.owner, o.order_id)]
        return out

    def close_until(self, now_s: int) -> list[Order]:
        """Close every book whose slot has ended (slot end <= now_s); return their unfilled orders."""
        out: list[Order] = []
        for bt, start in self.slots():
            if start + self.slot_s <= now_s:
                out += self.close_slot(bt, start)
        return out
