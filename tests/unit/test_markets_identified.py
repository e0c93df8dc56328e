"""Identified Pricing as the pool's call market (eip/markets/identified.py) and in the pool service."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eip.apps.pool_service import PoolService
from eip.markets import ASK, SEND, MarketError, Order
from eip.markets.identified import IdentifiedMarket, IdentifiedPool
from eip.markets.pricing import SLOT_S, identified_pricing, net_demand_wh
from eip.protocol import constants as c
from eip.protocol.model import EnergyIp, EnergyTcp, Packet, PoolFill, PoolOrder

MACS = [f"02:00:00:00:01:{k:02x}" for k in range(1, 16)]
T0 = 1_800_000_000 // SLOT_S * SLOT_S  # a slot boundary


def orders_of_slot(net: list[list[int]], t: int, slot0: int = 0) -> list[Order]:
    """What the household cards place for slot t (net Wh: + need, - surplus)."""
    start = T0 + (slot0 + t) * SLOT_S
    out = []
    for i, row in enumerate(net):
        if row[t] > 0:
            out.append(
                Order(t, MACS[i], ASK, c.BEE_ELECTRICITY, row[t], 250_000, start, start + SLOT_S)
            )
        elif row[t] < 0:
            out.append(Order(t, MACS[i], SEND, c.BEE_ELECTRICITY, -row[t], 60_000, start,
                             start + SLOT_S))  # fmt: skip
    return out


profiles = st.integers(2, 6).flatmap(lambda n: st.integers(1, 8).flatmap(lambda slots: st.lists(
    st.lists(st.tuples(st.sampled_from([0.0, 0.0, 0.2, 0.9]), st.sampled_from([0.1, 0.3, 0.6])),
             min_size=slots, max_size=slots), min_size=n, max_size=n)))  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(profiles, st.randoms(use_true_random=False))
def test_the_pool_clears_as_the_offline_model_whatever_the_arrival_order(rows, rnd):
    """Orders reaching the pool in any order, slot by slot, give the model's trades and prices."""
    gen = [[g for g, _ in row] for row in rows]
    con = [[x for _, x in row] for row in rows]
    model = identified_pricing(gen, con)
    net = net_demand_wh(gen, con)
    pool = IdentifiedPool(quiet_s=0.5)
    got = []
    now = 0.0
    for t in range(len(net[0])):
        batch = orders_of_slot(net, t)
        rnd.shuffle(batch)
        for o in batch:
            pool.submit(o, now)
        assert pool.due(now + 0.4) == []  # not quiet yet
        now += 1.0
        for tr in pool.due(now):
            got.append((t, MACS.index(tr.buyer), MACS.index(tr.seller), tr.quantity,
                        tr.price_micro_per_kbee))  # fmt: skip
    assert got == [tuple(tr) for tr in model.trades]


def test_a_slot_clears_once_quiet_late_orders_are_refused_and_cancels_work_before():
    pool = IdentifiedPool(IdentifiedMarket(), quiet_s=0.5)
    s = T0
    buy1 = Order(1, MACS[0], ASK, c.BEE_ELECTRICITY, 300, 250_000, s, s + SLOT_S)
    buy2 = Order(2, MACS[1], ASK, c.BEE_ELECTRICITY, 200, 250_000, s, s + SLOT_S)
    sell = Order(3, MACS[2], SEND, c.BEE_ELECTRICITY, 400, 60_000, s, s + SLOT_S)
    for k, o in enumerate((buy1, buy2, sell)):
        pool.submit(o, 10.0 + 0.1 * k)
    assert pool.cancel(MACS[1], 2) == buy2  # withdrawn before the slot cleared
    assert pool.due(10.6) == []  # 0.4 s after the last order
    (trade,) = pool.due(10.8)
    # the first slot: every bid is the initial one (C_bfg); the seller meets the buyer at it
    assert (trade.buyer, trade.seller, trade.quantity, trade.price_micro_per_kbee) == (
        MACS[0], MACS[2], 300, 250_000)  # fmt: skip
    with pytest.raises(MarketError, match="has cleared already"):
        pool.submit(buy2._replace(order_id=9), 11.0)
    with pytest.raises(MarketError, match="is not one 1800 s slot"):
        pool.submit(buy2._replace(order_id=10, start_s=s + 1, end_s=s + 1 + SLOT_S), 11.0)
    with pytest.raises(MarketError, match="is not resting"):
        pool.cancel(MACS[0], 1)
    # the next slot: buyer 1 bought 300 of the 400 offered (u = 0.75 < 0.9): its bid falls 1.5 %
    nxt = IdentifiedMarket()
    nxt.clear(0, [buy1], [sell])
    nxt.advance(1)
    assert nxt.bid(MACS[0]) == round(250_000 * (1 + 0.1 * (0.75 - 0.9)))
    assert nxt.bid(MACS[5]) == round(250_000 * (1 + 0.1 * (0 - 0.9)))  # a new household


def _order_packet(mac: str, ip: str, rec: PoolOrder, seq: int) -> Packet:
    seg = EnergyTcp(40000, c.PORT_BEE_POOL, seq, 0, c.ETCP_ACK | c.ETCP_PSH, 1000, records=(rec,))
    return Packet(ip, "10.1.0.254", EnergyIp(0, 0, mac), seg)


def test_the_pool_service_answers_resting_and_sends_both_sides_their_fills_when_it_clears():
    service = PoolService("02:00:00:fe:01:01", "10.1.0.254", call=IdentifiedPool(quiet_s=0.5))
    s = T0
    buy = PoolOrder(0, 1, ASK, c.BEE_ELECTRICITY, 1, 250, 250_000, s, s + SLOT_S)
    sell = PoolOrder(0, 7, SEND, c.BEE_ELECTRICITY, 1, 400, 60_000, s, s + SLOT_S)
    (answer,) = service.on_packet(_order_packet(MACS[0], "10.1.0.11", buy, 1), 5.0)
    (fill,) = answer.payload.records
    assert c.FILL_STATUSES[fill.status] == "resting" and fill.quantity == 250
    service.on_packet(_order_packet(MACS[1], "10.1.0.12", sell, 1), 5.1)
    assert service.on_timer(5.3) == []
    notices = service.on_timer(5.7)
    by_dst = {p.dst: p.payload.records[0] for p in notices}
    assert set(by_dst) == {"10.1.0.11", "10.1.0.12"}
    to_buyer, to_seller = by_dst["10.1.0.11"], by_dst["10.1.0.12"]
    assert isinstance(to_buyer, PoolFill) and to_buyer.order_id == 1 and to_buyer.quantity == 250
    assert to_buyer.peer_mac == MACS[1] and to_buyer.peer_ip == "10.1.0.12"
    assert to_seller.order_id == 7 and to_seller.peer_ip == "10.1.0.11"
    assert to_buyer.price_micro_per_kbee == to_seller.price_micro_per_kbee == 250_000
    assert service.stats["trades"] == 1 and service.stats["bee_matched"] == 250
