"""`eip bench market`: orders/s matched in-process by the BEE pool and the double auction.

Both run the same kind of random order stream (half sends, half asks, prices spread around 0.25 $/kWh
so that about half of the orders cross the book, random quantities, owners and half-hour frames). The
baseline, timed in the same run on the same orders, is the least a Python matcher can do: a price-only
double auction over two `heapq` heaps of plain lists, with no time frames, ids, owners or trade records.
The ratios say what the pool's and the auction's rules cost on top of bare heap push/pop.

`run_in_process` is the in-process part; an end-to-end part (orders over Energy-TCP) may be added
beside it.
"""

import gc
import random
import time
from heapq import heappop, heappush

from eip.bench import goal
from eip.markets.auction import DoubleAuction
from eip.markets.orders import ASK, SEND, Order
from eip.markets.pool import BeePool
from eip.protocol.constants import BEE_ELECTRICITY, BEE_HEAT

T0_S = 1_780_300_800  # 2026-06-01 08:00 UTC, slot-aligned
SLOT_S = 1800
GOAL_ORDERS_PER_S = 100_000


def random_orders(n: int, seed: int = 1, slot_aligned: bool = False) -> list[Order]:
    """`n` random orders: 50 % sends, prices 0.25 $/kWh +- a spread, 48 half-hour slots ahead.

    Sends quote N(245k, 25k) and asks N(255k, 25k) micro-$/kWh (buyers bid a little above what
    sellers ask), so that about half of the incoming orders cross the book. With `slot_aligned` every frame is one
    slot (for the auction); otherwise a frame spans 1 to 4 slots (for the pool), and a fifth of the asks
    require a green ratio that a fraction of the sends do not offer.
    """
    rng = random.Random(seed)
    owners = [f"02:00:00:00:{k >> 8:02x}:{k & 0xFF:02x}" for k in range(1000)]
    out = []
    for i in range(n):
        side = SEND if rng.random() < 0.5 else ASK
        mean = 245_000 if side == SEND else 255_000
        price = max(1, int(rng.gauss(mean, 25_000)))
        start = T0_S + rng.randrange(48) * SLOT_S
        end = start + SLOT_S * (1 if slot_aligned else rng.randint(1, 4))
        bee_type = BEE_ELECTRICITY if slot_aligned or rng.random() < 0.9 else BEE_HEAT
        min_green = 0 if slot_aligned or side == SEND or rng.random() < 0.8 else 5000
        green = rng.randrange(10_001) if side == SEND else 0
        out.append(
            Order(
                i,
                owners[rng.randrange(1000)],
                side,
                bee_type,
                rng.randint(1, 5000),
                price,
                start,
                end,
                min_green,
                green,
            )
        )
    return out


def _baseline(orders: list[Order]) -> int:
    """Price-only matching on two heaps of [key, seq, remaining]; returns the crossing orders."""
    sends: list = []
    asks: list = []
    crossed = 0
    for seq, o in enumerate(orders):
        p = o.price_micro_per_kbee
        if o.side == ASK:
            opp, own, lim, key = sends, asks, p, -p
        else:
            opp, own, lim, key = asks, sends, -p, p
        left = o.quantity
        if opp and opp[0][0] <= lim:
            crossed += 1
            while left and opp and opp[0][0] <= lim:
                e = opp[0]
                q = e[2] if e[2] < left else left
                left -= q
                e[2] -= q
                if not e[2]:
                    heappop(opp)
        if left:
            heappush(own, [key, seq, left])
    return crossed


def _time(fn) -> tuple[float, object]:
    """(seconds fn() took, its result), with the cyclic GC collected first and paused while it runs
    (as `timeit` does): otherwise where a full collection happens to land, in the pool's run or in the
    baseline's, moves the pool-vs-baseline ratio by a factor of two between identical runs."""
    gc.collect()
    paused = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        out = fn()
        return time.perf_counter() - start, out
    finally:
        if paused:
            gc.enable()


def _run_pool(orders: list[Order]) -> tuple[int, int]:
    pool = BeePool()
    place = pool.place
    crossed = trades = 0
    for o in orders:
        t = place(o, T0_S)
        if t:
            crossed += 1
            trades += len(t)
    return crossed, trades


def _run_auction(orders: list[Order]) -> tuple[int, int]:
    auction = DoubleAuction(SLOT_S)
    submit = auction.submit
    crossed = trades = 0
    for o in orders:
        t = submit(o)
        if t:
            crossed += 1
            trades += len(t)
    return crossed, trades


def run_in_process(n_orders: int = 200_000, seed: int = 1) -> dict:
    """Orders/s matched by `BeePool.place` and `DoubleAuction.submit`, and the heapq baseline."""
    pool_orders = random_orders(n_orders, seed)
    auction_orders = random_orders(n_orders, seed, slot_aligned=True)
    fields = [tuple(o) for o in pool_orders[: min(n_orders, 50_000)]]
    t_validate, _ = _time(lambda: [Order(*f) for f in fields])
    t_pool, (pool_crossed, pool_trades) = _time(lambda: _run_pool(pool_orders))
    t_pool_base, _ = _time(lambda: _baseline(pool_orders))
    t_auction, (auction_crossed, auction_trades) = _time(lambda: _run_auction(auction_orders))
    t_auction_base, _ = _time(lambda: _baseline(auction_orders))
    pool_rate = n_orders / t_pool
    auction_rate = n_orders / t_auction
    return {
        "benchmark": "market",
        "orders": n_orders,
        "pool_orders_per_s": round(pool_rate),
        "pool_crossing_fraction": round(pool_crossed / n_orders, 3),
        "pool_trades": pool_trades,
        "auction_orders_per_s": round(auction_rate),
        "auction_crossing_fraction": round(auction_crossed / n_orders, 3),
        "auction_trades": auction_trades,
        "heapq_baseline_pool_orders_per_s": round(n_orders / t_pool_base),
        "heapq_baseline_auction_orders_per_s": round(n_orders / t_auction_base),
        "pool_vs_heapq_baseline": round(t_pool_base / t_pool, 3),
        "auction_vs_heapq_baseline": round(t_auction_base / t_auction, 3),
        "order_validation_per_s": round(len(fields) / t_validate),
        "goals": {
            "pool_orders_per_s": goal(pool_rate, GOAL_ORDERS_PER_S),
            "auction_orders_per_s": goal(auction_rate, GOAL_ORDERS_PER_S),
        },
    }


def run_network(n_orders: int = 400) -> dict:
    """End to end: orders from two cards to the pool on their VPP router, over Energy-TCP, each
    answered (a round trip through Mininet, OVS and the controller), alternating sells and bids so
    half of them match and turn into BEE transfers."""
    import os
    import tempfile
    import time

    from eip.net.emulation import Emulation
    from topologies.vpp_lans import VppLansTopo

    if os.geteuid() != 0:
        return {"skipped": "needs root (Mininet, Open vSwitch)"}
    with (
        tempfile.TemporaryDirectory(prefix="eip-market-") as tmp,
        Emulation(VppLansTopo(1, 2), tmp, sden=False) as emu,
    ):
        seller, buyer = emu.net.card("v1c1"), emu.net.card("v1c2")
        matched = 0
        t0 = time.perf_counter()
        for i in range(n_orders):
            if i % 2 == 0:
                seller.call("order", side="send", quantity=10, price_micro_per_kbee=400_000)
            else:
                answer = buyer.call("order", side="ask", quantity=10, price_micro_per_kbee=450_000)
                matched += sum(f["quantity"] for f in answer["fills"] if f["status"] in (1, 2))
        elapsed = time.perf_counter() - t0
    return {
        "orders": n_orders,
        "seconds": round(elapsed, 3),
        "orders_per_s": round(n_orders / elapsed, 1),
        "bee_matched": matched,
    }


def run(n_orders: int = 200_000, seed: int = 1, network_orders: int = 400) -> dict:
    """The in-process figures and, in the same run, the end-to-end orders/s through the network."""
    result = run_in_process(n_orders, seed)
    if network_orders:
        result["end_to_end"] = run_network(network_orders)
        e2e = result["end_to_end"].get("orders_per_s")
        if e2e:
            result["end_to_end_vs_pool_in_process"] = round(e2e / result["pool_orders_per_s"], 5)
    return result
