"""BEE pool (seed 000 section 6): a worked example by hand, and properties against a brute-force model."""

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eip.markets import ASK, SEND, BeePool, MarketError, Order
from eip.protocol.constants import BEE_ELECTRICITY, BEE_HEAT

H = 3600
T0 = 1_780_300_800  # slot-aligned


def order(oid, owner, side, qty, price, start=T0, end=T0 + H, **kw) -> Order:
    return Order(
        oid, owner, side, kw.pop("bee_type", BEE_ELECTRICITY), qty, price, start, end, **kw
    )


def test_worked_example_by_hand():
    pool = BeePool()
    # Two PV cards offer energy for 10:00-11:00; the cheaper one is 60 % green.
    assert pool.place(order(1, "pv-a", SEND, 500, 420_000, green_ratio_bp=6000), T0) == []
    assert pool.place(order(2, "pv-b", SEND, 300, 400_000), T0) == []
    # A load asks 600 Wh at up to 450 000: fills the cheaper 300 first, then 300 of pv-a's 500.
    trades = pool.place(order(7, "load", ASK, 600, 450_000), T0)
    assert [(t.seller, t.quantity, t.price_micro_per_kbee) for t in trades] == [
        ("pv-b", 300, 400_000),
        ("pv-a", 300, 420_000),
    ]
    assert trades[0].sell_left == 0 and trades[1].sell_left == 200 and trades[1].buy_left == 0
    assert pool.remaining("pv-a", 1) == 200 and pool.remaining("pv-b", 2) == 0
    # A green-minded ask (>= 70 %) at a high price cannot take pv-a's 60 % energy: it rests.
    assert pool.place(order(8, "ev", ASK, 100, 500_000, min_green_ratio_bp=7000), T0) == []
    # Browse the sends: only pv-a's remainder; best_match answers without placing.
    assert [(o.owner, o.quantity) for o in pool.browse(SEND, BEE_ELECTRICITY)] == [("pv-a", 200)]
    probe = order(9, "ev2", ASK, 50, 430_000)
    assert pool.best_match(probe).owner == "pv-a" and len(pool) == 2
    # An ask for another hour does not meet the 10:00-11:00 send.
    assert pool.place(order(10, "late", ASK, 50, 999_000, T0 + H, T0 + 2 * H), T0) == []
    # Cancel removes, expiry removes.
    assert pool.cancel("ev", 8).quantity == 100
    with pytest.raises(MarketError):
        pool.cancel("ev", 8)
    expired = pool.expire(T0 + H)
    assert [(o.owner, o.order_id) for o in expired] == [("pv-a", 1)]
    assert pool.browse(SEND, BEE_ELECTRICITY) == [] and len(pool) == 1


def test_partial_overlap_trades_in_the_overlap_and_remainder_keeps_its_frame():
    pool = BeePool()
    pool.place(order(1, "s", SEND, 100, 10, T0, T0 + 2 * H), T0)
    (t,) = pool.place(order(2, "b", ASK, 40, 10, T0 + H, T0 + 3 * H), T0)
    assert (t.start_s, t.end_s, t.quantity) == (T0 + H, T0 + 2 * H, 40)
    (rest,) = pool.browse(SEND, BEE_ELECTRICITY)
    assert (rest.start_s, rest.end_s, rest.quantity) == (T0, T0 + 2 * H, 60)


def test_no_self_trade_and_no_cross_type_trade():
    pool = BeePool()
    pool.place(order(1, "x", SEND, 10, 1), T0)
    assert pool.place(order(2, "x", ASK, 10, 5), T0) == []
    assert pool.place(order(3, "y", ASK, 10, 5, bee_type=BEE_HEAT), T0) == []
    assert len(pool.place(order(4, "y", ASK, 10, 5), T0)) == 1


def test_rejects_duplicates_and_past_frames():
    pool = BeePool()
    pool.place(order(1, "x", SEND, 10, 1), T0)
    with pytest.raises(MarketError, match="already resting"):
        pool.place(order(1, "x", SEND, 10, 1), T0)
    with pytest.raises(MarketError, match="not after now"):
        pool.place(order(2, "x", SEND, 10, 1), T0 + H)


# --- properties against a brute-force reference of the documented rules ---------------------------


class ReferencePool:
    """O(n) per order: the rules of eip.markets.pool written as plainly as possible."""

    def __init__(self):
        self.resting = []  # [order, remaining, seq]
        self.seq = 0

    def place(self, o: Order, now: int):
        self.resting = [r for r in self.resting if r[0].end_s > now]
        start = max(o.start_s, now)
        cands = []
        for r in self.resting:
            ro = r[0]
            if ro.side == o.side or ro.bee_type != o.bee_type or ro.owner == o.owner:
                continue
            send, ask = (ro, o) if o.side == ASK else (o, ro)
            if send.price_micro_per_kbee > ask.price_micro_per_kbee:
                continue
            if max(ro.start_s, start) >= min(ro.end_s, o.end_s):
                continue
            if send.green_ratio_bp < ask.min_green_ratio_bp:
                continue
            key = ro.price_micro_per_kbee if ro.side == SEND else -ro.price_micro_per_kbee
            cands.append((key, r[2], r))
        cands.sort(key=lambda c: (c[0], c[1]))
        left = o.quantity
        out = []
        for _, _, r in cands:
            if not left:
                break
            q = min(left, r[1])
            left -= q
            r[1] -= q
            out.append((r[0].owner, r[0].order_id, q, r[0].price_micro_per_kbee))
        self.resting = [r for r in self.resting if r[1]]
        if left:
            self.seq += 1
            self.resting.append([o, left, self.seq])
        return out

    def cancel(self, owner, oid):
        self.resting = [r for r in self.resting if (r[0].owner, r[0].order_id) != (owner, oid)]


@st.composite
def order_streams(draw):
    n = draw(st.integers(1, 60))
    ops = []
    for i in range(n):
        if ops and draw(st.integers(0, 9)) == 0:
            ops.append(("cancel", draw(st.integers(0, len(ops) - 1))))
            continue
        side = draw(st.sampled_from((SEND, ASK)))
        start = T0 + draw(st.integers(0, 5)) * 900 + draw(st.sampled_from((0, 0, 0, 123)))
        length = draw(st.integers(1, 4)) * 900 - draw(st.sampled_from((0, 0, 7)))
        ops.append(
            (
                "place",
                Order(
                    i,
                    draw(st.sampled_from(("a", "b", "c", "d"))),
                    side,
                    draw(st.sampled_from((BEE_ELECTRICITY, BEE_ELECTRICITY, BEE_HEAT))),
                    draw(st.integers(1, 50)),
                    draw(st.integers(95, 105)) * 1000,
                    start,
                    start + length,
                    draw(st.sampled_from((0, 0, 5000))) if side == ASK else 0,
                    draw(st.integers(0, 10_000)) if side == SEND else 0,
                ),
                draw(st.integers(0, 3)) * 900,
            )
        )
    return ops


@settings(max_examples=300, deadline=None)
@given(order_streams(), st.sampled_from((900, 1800, 3600)))
def test_pool_matches_the_reference_and_keeps_its_invariants(ops, bucket_s):
    pool, ref = BeePool(bucket_s), ReferencePool()
    filled = defaultdict(int)
    orders = {}
    done = set()
    now = T0
    for op in ops:
        if op[0] == "cancel":
            target = ops[op[1]]
            if target[0] != "place":
                continue
            o = target[1]
            if pool.remaining(o.owner, o.order_id):
                assert pool.cancel(o.owner, o.order_id).order_id == o.order_id
                assert pool.remaining(o.owner, o.order_id) == 0
                done.add(o.order_id)
            ref.cancel(o.owner, o.order_id)
            continue
        _, o, advance = op
        now += advance
        if o.end_s <= now:
            continue
        for x in pool.expire(now):
            done.add(x.order_id)
        orders[o.order_id] = o
        trades = pool.place(o, now)
        expected = ref.place(o, now)
        assert [(t.seller if o.side == ASK else t.buyer,
                 t.sell_order_id if o.side == ASK else t.buy_order_id,
                 t.quantity, t.price_micro_per_kbee) for t in trades] == expected  # fmt: skip
        for t in trades:
            buy, sell = orders[t.buy_order_id], orders[t.sell_order_id]
            assert t.quantity > 0 and t.buy_left >= 0 and t.sell_left >= 0
            assert sell.price_micro_per_kbee <= t.price_micro_per_kbee <= buy.price_micro_per_kbee
            assert buy.start_s <= t.start_s < t.end_s <= buy.end_s and t.start_s >= now
            assert sell.start_s <= t.start_s and t.end_s <= sell.end_s
            assert sell.green_ratio_bp >= buy.min_green_ratio_bp and buy.owner != sell.owner
            assert t.buy_order_id not in done and t.sell_order_id not in done  # never matched again
            filled[t.buy_order_id] += t.quantity
            filled[t.sell_order_id] += t.quantity
            for oid, left in ((t.buy_order_id, t.buy_left), (t.sell_order_id, t.sell_left)):
                assert filled[oid] + left == orders[oid].quantity  # no order matched twice
                if left == 0:
                    done.add(oid)
        for side in (SEND, ASK):
            for bt in (BEE_ELECTRICITY, BEE_HEAT):
                for r in pool.browse(side, bt, limit=10**6):
                    assert r.order_id not in done and r.quantity > 0 and r.end_s > now
        assert len(pool) == len(ref.resting)
    # energy bought equals energy sold
    assert sum(filled[i] for i, o in orders.items() if o.side == ASK) == sum(
        filled[i] for i, o in orders.items() if o.side == SEND
    )


@given(st.integers(2, 30))
def test_price_time_priority_earlier_order_at_the_same_price_fills_first(n):
    pool = BeePool()
    for i in range(n):
        pool.place(order(i, f"s{i}", SEND, 10, 100_000), T0)
    trades = pool.place(order(99, "b", ASK, 10 * n - 5, 100_000), T0)
    assert [t.sell_order_id for t in trades] == list(range(n))
    assert [t.quantity for t in trades][-1] == 5
    assert [o.order_id for o in pool.browse(SEND, BEE_ELECTRICITY)] == [n - 1]


def test_browse_is_best_first_and_limited():
    pool = BeePool()
    for i, p in enumerate((5, 3, 9, 3, 7)):
        pool.place(order(i, f"s{i}", SEND, 10, p), T0)
    got = pool.browse(SEND, BEE_ELECTRICITY, limit=3)
    assert [(o.price_micro_per_kbee, o.order_id) for o in got] == [(3, 1), (3, 3), (5, 0)]
    assert [o.seq for o in got] == [2, 4, 1]
