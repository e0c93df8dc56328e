"""The BEE pool of seed 000 section 6: waiting send and ask requests, each with a time frame and price.

"When a client needs to buy or sell energy, it may choose to browse the list of available BEEs, or it
may communicate its exchange request to the platform, who will search the BEE pool for the best match.
Remainder quantity will be left in the pool and wait for future BEE." (seed 000, section 6)

Matching rules (`BeePool.place`): an incoming order matches resting orders of the other side that are

- of the same BEE type,
- price compatible: the ask's limit >= the send's limit,
- deliverable: their time frames overlap after `now_s` (the trade's frame is that overlap),
- green enough: the send's green ratio >= the ask's `min_green_ratio_bp`,
- of another owner (a card never trades with itself).

Among them the best price comes first (lowest send, highest ask), then the earliest arrival (price-time
priority). Each trade is at the **resting order's price**: the order that waited set the price and the
newcomer, whose limit is at least as good, accepted it (as in a continuous double auction). Incompatible
resting orders are skipped, not removed, and keep their priority. The remainder of the incoming order
rests in the pool. A resting remainder keeps its original time frame: BEE are a quantity over a frame,
and a partial trade in part of the frame leaves the rest of the quantity offered in all of it.

Data structures: resting orders sit in binary heaps of `(price key, seq, Resting)` items (price key =
price for sends, -price for asks, so a heap top is the best; `Resting` holds the order, its remaining
quantity and, by name, the fields matching reads), one heap per (BEE type, side, start bucket a, end
bucket z) with a = start_s // bucket_s and z = ceil(end_s / bucket_s). An incoming order [s, e) looks
only at the heaps that can overlap it (a <= (e - 1) // bucket_s, z > s // bucket_s, a >= (s - longest
frame) // bucket_s; the list is cached per window) and merges their best compatible items in
price-time order, so resting orders of other delivery slots cost nothing. A dict (owner, order id) ->
Resting serves cancel; a heap of (end_s, seq, Resting) serves expiry. Cancelled and expired orders are
marked (left 0) and dropped lazily at heap tops, and the heaps are compacted when marked orders
outnumber live ones: O(log n) amortised per order plus the compatible-skips.
"""

from heapq import heapify, heappop, heappush, merge

from eip.markets.orders import ASK, SEND, MarketError, Order, Trade

_NEW = tuple.__new__


class Resting:
    """An order resting in the pool: the order, the quantity `left` of it (0 once cancelled or expired),
    its arrival number, and the fields matching reads, copied out of the order for speed."""

    __slots__ = (
        "end_s",
        "green_ratio_bp",
        "left",
        "min_green_ratio_bp",
        "order",
        "order_id",
        "owner",
        "price_micro_per_kbee",
        "seq",
        "start_s",
    )

    def __init__(self, order: Order, left: int, seq: int) -> None:
        self.order = order
        self.left = left
        self.seq = seq
        (
            self.order_id,
            self.owner,
            _,
            _,
            _,
            self.price_micro_per_kbee,
            self.start_s,
            self.end_s,
            self.min_green_ratio_bp,
            self.green_ratio_bp,
            _,
        ) = order

    def as_order(self) -> Order:
        """The order with the quantity still resting and its arrival number."""
        return self.order._resting(self.left, self.seq)


def _in_priority(heap: list):
    """The items of `heap` best first, without changing it (best-first walk of the heap tree)."""
    if not heap:
        return
    n = len(heap)
    key, seq, _ = heap[0]
    frontier = [(key, seq, 0)]
    while frontier:
        _, _, i = heappop(frontier)
        yield heap[i]
        for j in (2 * i + 1, 2 * i + 2):
            if j < n:
                key, seq, _ = heap[j]
                heappush(frontier, (key, seq, j))


class BeePool:
    """A pool of resting send and ask orders; `place` matches an order and rests its remainder.

    `bucket_s` is the width of the start-time buckets the books are split into (default half an hour):
    a trade needs overlapping frames, so an order only looks at the buckets that can overlap it.
    """

    __slots__ = (
        "_books",
        "_cache",
        "_dead",
        "_expiry",
        "_heaps",
        "_index",
        "_maxlen",
        "_seq",
        "bucket_s",
    )

    def __init__(self, bucket_s: int = 1800) -> None:
        if type(bucket_s) is not int or bucket_s <= 0:
            raise MarketError("bucket_s", f"{bucket_s!r} must be a positive int")
        self.bucket_s = bucket_s
        # (bee_type, side) -> {start_s // bucket_s: heap of (key, seq, Resting)}
        self._books: dict[tuple[int, int], dict[int, list]] = {}
        self._heaps: dict[tuple[int, int, int, int], list] = {}  # (bee_type, side, a, z) -> heap
        # (bee_type, side) -> longest frame a heap can hold, (z - a) buckets
        self._maxlen: dict[tuple[int, int], int] = {}
        self._index: dict[tuple[str, int], Resting] = {}  # (owner, order_id) -> live order
        self._expiry: list = []  # heap of (end_s, seq, Resting)
        self._seq = 0
        self._dead = 0  # marked orders still in the book heaps
        self._cache: dict[tuple, list] = {}  # (bee_type, side, lo, hi, z_min) -> candidate heaps

    def __len__(self) -> int:
        """Resting orders."""
        return len(self._index)

    def _candidates(self, bee_type: int, side: int, start: int, end: int, lim: int) -> list[list]:
        """The heaps of `side` whose orders can overlap [start, end) and whose best entry crosses
        `lim`: start buckets from (start - longest frame) to end, end buckets after start.

        The heap list for a (lo, hi, z_min) window is cached until a heap is added or dropped."""
        bkey = (bee_type, side)
        buckets = self._books.get(bkey)
        if not buckets:
            return []
        b = self.bucket_s
        lo = (start - self._maxlen[bkey]) // b
        hi = (end - 1) // b
        z_min = start // b + 1
        ckey = (bee_type, side, lo, hi, z_min)
        heaps = self._cache.get(ckey)
        if heaps is None:
            heaps = self._cache[ckey] = [
                h
                for a, row in buckets.items()
                if lo <= a <= hi
                for z, h in row.items()
                if z >= z_min
            ]
        return [h for h in heaps if h and h[0][0] <= lim]  # the top's price key crosses

    def place(self, order: Order, now_s: int = 0) -> list[Trade]:
        """Match `order` against the best compatible resting orders; rest its remainder.

        Expires orders whose frame has passed first. Raises `MarketError` if the order's frame has
        passed or its (owner, order id) is already resting.
        """
        oid, owner, side, bt, left, price, start, end, _, _, _ = order
        key = (owner, oid)
        if end <= now_s:
            raise MarketError("end_s", f"time frame ends at {end}, not after now ({now_s})")
        exp = self._expiry
        if exp and exp[0][0] <= now_s:
            self.expire(now_s)
        if key in self._index:
            raise MarketError("order_id", f"{oid} of {owner} is already resting")
        frame_start = start
        if start < now_s:
            start = now_s
        trades: list[Trade] = []
        if side == ASK:
            lim = price
            heaps = self._candidates(bt, SEND, start, end, lim)
        else:
            lim = -price
            heaps = self._candidates(bt, ASK, start, end, lim)
        if heaps:
            left = self._match(order, start, end, lim, heaps, trades)
        if left:
            self._seq = seq = self._seq + 1
            r = Resting(order, left, seq)
            b = self.bucket_s
            hkey = (bt, side, frame_start // b, -(-end // b))
            book = self._heaps.get(hkey)
            if book is None:
                book = self._new_heap(hkey, end - frame_start)
            heappush(book, (-lim, seq, r))  # key: price for sends, -price for asks
            self._index[key] = r
            heappush(exp, (end, seq, r))
        return trades

    def _new_heap(self, hkey: tuple[int, int, int, int], length_s: int) -> list:
        bt, side, a, z = hkey
        book = self._heaps[hkey] = []
        self._books.setdefault((bt, side), {}).setdefault(a, {})[z] = book
        self._maxlen[(bt, side)] = max(self._maxlen.get((bt, side), 0), (z - a) * self.bucket_s)
        self._cache.clear()
        return book

    def _match(
        self, order: Order, start: int, end: int, lim: int, heaps: list, trades: list
    ) -> int:
        """Fill `order` from the crossing `heaps` in price-time order (a k-way merge of their best
        compatible entries); returns the quantity left."""
        oid, owner, side, bt, left, _, _, _, min_green, green, _ = order
        is_ask = side == ASK
        index = self._index
        append = trades.append
        skipped = []  # (heap, item) set aside as incompatible, pushed back at the end
        front = []  # (key, seq, heap) of each heap's best compatible item
        advance = heaps  # the heaps to advance to their best compatible item
        while True:
            for h in advance:
                while h:
                    key, seq, r = h[0]
                    if key > lim:
                        break
                    if not r.left:  # cancelled or expired
                        heappop(h)
                        self._dead -= 1
                        continue
                    s = r.start_s
                    f = r.end_s
                    if (
                        (s if s > start else start) >= (f if f < end else end)
                        or r.owner == owner
                        or (
                            r.green_ratio_bp < min_green if is_ask else green < r.min_green_ratio_bp
                        )
                    ):
                        skipped.append((h, heappop(h)))
                        continue
                    front.append((key, seq, h))
                    break
            if not front:
                break
            best = min(front) if len(front) > 1 else front[0]
            h = best[2]
            r = h[0][2]
            s = r.start_s
            f = r.end_s
            if s < start:
                s = start
            if f > end:
                f = end
            rem = r.left
            q = rem if rem < left else left
            left -= q
            r.left = rem = rem - q
            price = r.price_micro_per_kbee
            if is_ask:
                t = (
                    oid,
                    r.order_id,
                    owner,
                    r.owner,
                    q,
                    price,
                    s,
                    f,
                    bt,
                    r.green_ratio_bp,
                    left,
                    rem,
                )
            else:
                t = (r.order_id, oid, r.owner, owner, q, price, s, f, bt, green, rem, left)
            append(_NEW(Trade, t))
            if rem:  # the incoming order is filled; the resting one keeps the rest
                break
            heappop(h)
            del index[(r.owner, r.order_id)]
            if not left:
                break
            front.remove(best)
            advance = (h,)  # only the heap just filled from has a new best item
        for h, item in skipped:
            heappush(h, item)
        return left

    def cancel(self, owner: str, order_id: int) -> Order:
        """Remove a resting order; returns it with the quantity that was still resting."""
        r = self._index.pop((owner, order_id), None)
        if r is None:
            raise MarketError("order_id", f"{order_id} of {owner} is not resting")
        return self._kill(r)

    def expire(self, now_s: int) -> list[Order]:
        """Remove the orders whose time frame has passed (end_s <= now_s); returns them."""
        exp = self._expiry
        out = []
        while exp and exp[0][0] <= now_s:
            r = heappop(exp)[2]
            if r.left:
                del self._index[(r.owner, r.order_id)]
                out.append(self._kill(r))
        return out

    def _kill(self, r: Resting) -> Order:
        removed = r.as_order()
        r.left = 0
        self._dead += 1
        if self._dead > 1024 and self._dead > len(self._index):
            self._compact()
        return removed

    def _compact(self) -> None:
        for hkey, book in list(self._heaps.items()):
            book[:] = [item for item in book if item[2].left]
            if book:
                heapify(book)
            else:
                bt, side, a, z = hkey
                del self._heaps[hkey]
                row = self._books[(bt, side)][a]
                del row[z]
                if not row:
                    del self._books[(bt, side)][a]
        self._maxlen = {
            bkey: max(((z - a) * self.bucket_s for a, row in rows.items() for z in row), default=0)
            for bkey, rows in self._books.items()
        }
        self._expiry[:] = [item for item in self._expiry if item[2].left]
        heapify(self._expiry)
        self._dead = 0
        self._cache.clear()

    def remaining(self, owner: str, order_id: int) -> int:
        """Quantity of the order still resting (0 if it is not in the pool)."""
        r = self._index.get((owner, order_id))
        return r.left if r else 0

    def browse(
        self,
        side: int,
        bee_type: int,
        start_s: int = 0,
        end_s: int = 2**32,
        limit: int = 50,
    ) -> list[Order]:
        """Up to `limit` resting orders of `side` and `bee_type` whose frames overlap [start_s, end_s),
        best first; each with its remaining quantity and arrival number (`seq`)."""
        if side not in (SEND, ASK):
            raise MarketError("side", f"{side!r} is not 1 (send) or 2 (ask)")
        out = []
        if limit <= 0:
            return out
        heaps = self._candidates(bee_type, side, start_s, end_s, 2**40)
        for _, _, r in merge(*map(_in_priority, heaps)):
            if r.left and r.start_s < end_s and start_s < r.end_s:
                out.append(r.as_order())
                if len(out) >= limit:
                    break
        return out

    def best_match(self, order: Order, now_s: int = 0) -> Order | None:
        """The resting order `order` would trade with first if placed now, or None (query only)."""
        start = max(order.start_s, now_s)
        if order.side == ASK:
            lim = order.price_micro_per_kbee
            heaps = self._candidates(order.bee_type, SEND, start, order.end_s, lim)
        else:
            lim = -order.price_micro_per_kbee
            heaps = self._candidates(order.bee_type, ASK, start, order.end_s, lim)
        for key, _, r in merge(*map(_in_priority, heaps)):
            if key > lim:
                return None
            if (
                r.left
                and r.end_s > now_s
                and max(r.start_s, start) < min(r.end_s, order.end_s)
                and r.owner != order.owner
                and (
                    r.green_ratio_bp >= order.min_green_ratio_bp
                    if order.side == ASK
                    else order.green_ratio_bp >= r.min_green_ratio_bp
                )
            ):
                return r.as_order()
        return None
