"""Continuous double auction (seed 002 4.4.1): price-time priority, partial fills, slot books."""

from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eip.markets import ASK, SEND, DoubleAuction, MarketError, Order
from eip.protocol.constants import BEE_ELECTRICITY

SLOT = 1800
T0 = 1_780_300_800


def order(oid, owner, side, qty, price, slot=0) -> Order:
    start = T0 + slot * SLOT
    return Order(oid, owner, side, BEE_ELECTRICITY, qty, price, start, start + SLOT)


def test_worked_example_trades_at_the_resting_price_with_partial_fills():
    cda = DoubleAuction(SLOT)
    cda.submit(order(1, "s1", SEND, 100, 200_000))
    cda.submit(order(2, "s2", SEND, 100, 180_000))
    cda.submit(order(3, "b1", ASK, 50, 150_000))  # does not cross: rests
    assert cda.best_bid(BEE_ELECTRICITY, T0) == 150_000
    assert cda.best_offer(BEE_ELECTRICITY, T0) == 180_000
    trades = cda.submit(order(4, "b2", ASK, 150, 250_000))
    assert [(t.seller, t.quantity, t.price_micro_per_kbee) for t in trades] == [
        ("s2", 100, 180_000),
        ("s1", 50, 200_000),
    ]
    view = cda.depth(BEE_ELECTRICITY, T0)
    assert view.bids == ((150_000, 50),) and view.offers == ((200_000, 50),)
    # a seller coming in low takes the best bid at the bid's price
    (t,) = cda.submit(order(5, "s3", SEND, 20, 100_000))
    assert (t.buyer, t.price_micro_per_kbee, t.buy_left) == ("b1", 150_000, 30)
    # other slots are other books
    assert cda.submit(order(6, "b3", ASK, 10, 999_000, slot=1)) == []
    assert cda.slots() == [(BEE_ELECTRICITY, T0), (BEE_ELECTRICITY, T0 + SLOT)]
    # cancel and gate closure
    assert cda.cancel("b1", 3).quantity == 30
    closed = cda.close_until(T0 + SLOT)
    assert [(o.owner, o.quantity) for o in closed] == [("s1", 50)]
    assert cda.slots() == [(BEE_ELECTRICITY, T0 + SLOT)] and len(cda) == 1


def test_refuses_orders_not_on_one_slot_or_with_a_green_requirement():
    cda = DoubleAuction(SLOT)
    with pytest.raises(MarketError, match="slot"):
        cda.submit(Order(1, "x", SEND, BEE_ELECTRICITY, 1, 1, T0 + 1, T0 + 1 + SLOT))
    with pytest.raises(MarketError, match="slot"):
        cda.submit(Order(1, "x", SEND, BEE_ELECTRICITY, 1, 1, T0, T0 + 2 * SLOT))
    with pytest.raises(MarketError, match="green"):
        cda.submit(Order(1, "x", ASK, BEE_ELECTRICITY, 1, 1, T0, T0 + SLOT, 100))


ops = st.lists(
    st.tuples(
        st.sampled_from((SEND, ASK, "cancel")),
        st.integers(1, 40),  # quantity or cancel target
        st.integers(90, 110),  # price (thousands)
        st.integers(0, 2),  # slot
        st.sampled_from(("a", "b", "c")),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(ops)
def test_cda_invariants_and_price_time_priority(stream):
    cda = DoubleAuction(SLOT)
    orders, filled, done = {}, defaultdict(int), set()
    arrival = {}
    per_slot = defaultdict(lambda: [0, 0])
    for i, (side, qty, price, slot, owner) in enumerate(stream):
        if side == "cancel":
            target = qty % (i or 1)
            if target in orders and cda.remaining(orders[target].owner, target):
                assert cda.cancel(orders[target].owner, target).quantity > 0
                done.add(target)
            continue
        o = order(i, owner, side, qty, price * 1000, slot)
        # best resting opposite orders before the submit, by price then arrival
        opp = cda.orders(BEE_ELECTRICITY, o.start_s, SEND if side == ASK else ASK)
        keys = [
            (x.price_micro_per_kbee if side == ASK else -x.price_micro_per_kbee, x.seq) for x in opp
        ]
        assert keys == sorted(keys)
        orders[i] = o
        arrival[i] = i
        trades = cda.submit(o)
        # the trades are exactly a prefix of the book in price-time order
        assert [t.sell_order_id if side == ASK else t.buy_order_id for t in trades] == [
            x.order_id for x in opp[: len(trades)]
        ]
        for t in trades:
            buy, sell = orders[t.buy_order_id], orders[t.sell_order_id]
            assert t.quantity > 0 and t.buy_left >= 0 and t.sell_left >= 0
            assert sell.price_micro_per_kbee <= t.price_micro_per_kbee <= buy.price_micro_per_kbee
            resting = sell if side == ASK else buy
            assert t.price_micro_per_kbee == resting.price_micro_per_kbee
            assert t.buy_order_id not in done and t.sell_order_id not in done
            filled[t.buy_order_id] += t.quantity
            filled[t.sell_order_id] += t.quantity
            per_slot[slot][0] += t.quantity
            per_slot[slot][1] += t.quantity
            for oid, left in ((t.buy_order_id, t.buy_left), (t.sell_order_id, t.sell_left)):
                assert filled[oid] + left == orders[oid].quantity
                if not left:
                    done.add(oid)
        # after the submit the book does not cross
        bid, offer = (
            cda.best_bid(BEE_ELECTRICITY, o.start_s),
            cda.best_offer(BEE_ELECTRICITY, o.start_s),
        )
        assert bid is None or offer is None or bid < offer
        for s in (SEND, ASK):
            for x in cda.orders(BEE_ELECTRICITY, o.start_s, s):
                assert x.order_id not in done and x.quantity > 0
    bought = sum(q for i, q in filled.items() if orders[i].side == ASK)
    sold = sum(q for i, q in filled.items() if orders[i].side == SEND)
    assert bought == sold
    assert all(b == s for b, s in per_slot.values())


def test_cancel_unknown_raises():
    with pytest.raises(MarketError):
        DoubleAuction().cancel("x", 1)
