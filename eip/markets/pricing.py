"""Unified and Identified Pricing of a P2P community market and the daily bills (seed 002, 4.4.2, ch. 5).

Input: per household and per slot (half-hour in the thesis) generation and consumption in kWh. As in the
thesis's case study (section 5.1 A) generation is used by its own household first, so household i's
net demand in slot t is `d_i(t) = consumption - generation`: a buyer when positive, a seller of its
surplus `-d_i(t)` when negative. Energies are counted in integer Wh (the Ausgrid data has 3 decimals of
kWh) and prices in integer micro-$/kWh, so every balance below is exact.

Notation (seed 002): C_bfg, the price of buying from the grid (0.25 $/kWh); C_stg, the feed-in tariff
(0.06 $/kWh); P_d(t), the community's demand, the sum of the buyers' net demand; P_g(t), the community's
generation offered to the market, the sum of the sellers' surplus. Every P2P price lies in
[C_stg, C_bfg] ("the constraint for the P2P price ... is [C_stg, C_bfg]", 4.4.2), so nobody pays more
than the grid price or earns less than the feed-in tariff, and no bill exceeds the conventional one.

Unified Pricing (eq. 4.3-4.4), one price for the whole community in slot t:

    C_P2P(t) = lambda * C_x(t)                                   (4.3)
    C_x(t)   = [1 - P_g(t) / P_d(t)] * C_bfg   if P_d(t) > P_g(t)
               C_stg                           if P_d(t) <= P_g(t)   (4.4)

clamped to [C_stg, C_bfg] (the stated constraint; (4.4) alone falls below C_stg when P_g / P_d > 1 -
C_stg / C_bfg). There is no P2P price when nobody offers or nobody needs energy (thesis Fig. 5.2). The
traded energy, min(P_d, P_g), is allocated "followed by the descending order": the largest buyers are
served first when supply is short and the largest sellers sell first when demand is short.

Identified Pricing (eq. 4.6-4.8), one bid per buyer, starting at `initial bid` = C_bfg:

    b_i(t)  = b_i(t-1) + Delta b_i(t)                            (4.6)
    Delta b_i(t) = alpha * (u_i(t) - u_thR) * b_i(t-1)           (4.7)
    u_i(t)  = sum_{t0..t-1} x_i / sum_{t0..t-1} N                (4.8)

with alpha = 0.1, u_thR = 0.9; x_i the P2P energy household i bought and N the energy the community
offered, summed over the slots already cleared since the first offer (x(t) is only known after slot t
clears at b(t), so u uses the slots before t); no update while nothing has been offered (u undefined);
b_i clamped to [C_stg, C_bfg]. Each slot is then cleared by auction matching (`DoubleAuction`): buyers'
asks rest at their bids, sellers offer their surplus at C_stg in descending order of surplus, each meets
the highest bid first and trades at that bid, the buyer's identified price. This allocates to the highest
bidders and so maximises the community's welfare (eq. 4.9, `social_welfare_usd`).

Bills (eq. 4.5), household i over the day's slots h:

    sum_h B_i^h = sum_h C_i^h(x_i^h) + sum_h G_i^h               (4.5)

C_i^h: what i pays for P2P energy bought minus what it earns for P2P energy sold; G_i^h: the grid
settlement of what the P2P market does not cover, C_bfg per kWh still imported minus C_stg per kWh
still exported. The conventional bill is (4.5) with no P2P trade.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

from eip.markets.orders import ASK, SEND, MarketError, Order
from eip.protocol.constants import BEE_ELECTRICITY

SLOT_S = 1800  # half-hour slots, as in the Ausgrid data
GRID_BUY_MICRO_PER_KWH = 250_000  # C_bfg, 0.25 $/kWh (AGL, seed 002 5.1)
FEED_IN_MICRO_PER_KWH = 60_000  # C_stg, 0.06 $/kWh
ALPHA = 0.1  # eq. 4.7 rate of bid change (seed 002 5.1)
U_THR = 0.9  # eq. 4.7 task utilisation threshold u_thR
INITIAL_BID_MICRO_PER_KWH = 250_000  # "the initial bid of the customer is $0.25"
_MICRO_WH_PER_USD = 10**9  # Wh * micro-$/kWh -> $


class Tariff(NamedTuple):
    """Grid prices bounding every P2P price: C_bfg (buy from grid) and C_stg (feed-in)."""

    grid_buy_micro_per_kwh: int = GRID_BUY_MICRO_PER_KWH
    feed_in_micro_per_kwh: int = FEED_IN_MICRO_PER_KWH


DEFAULT_TARIFF = Tariff()


class P2PTrade(NamedTuple):
    """Energy from seller to buyer (household indices) in one slot at one price."""

    slot: int
    buyer: int
    seller: int
    energy_wh: int
    price_micro_per_kwh: int


class MarketResult(NamedTuple):
    """One day of a pricing scheme: prices seen per slot and household, trades, bills (eq. 4.5)."""

    scheme: str  # "conventional", "unified" or "identified"
    prices_micro_per_kwh: (
        tuple  # [slot][household]: unified price or household bid; None: no market
    )
    trades: tuple  # P2PTrade, in slot order
    bills_usd: tuple  # per household, $ for the day


class Bills(NamedTuple):
    """Daily bill per household under the three methods of seed 002 Table 5.3, $/day."""

    conventional: tuple
    unified: tuple
    identified: tuple


def net_demand_wh(generation_kwh, consumption_kwh) -> list[list[int]]:
    """d_i(t) in Wh, [household][slot]: consumption minus own generation (self-use first)."""
    if len(generation_kwh) != len(consumption_kwh) or not len(generation_kwh):
        raise MarketError(
            "households", "generation and consumption need the same households (>= 1)"
        )
    out = []
    n_slots = None
    for i, (gen, con) in enumerate(zip(generation_kwh, consumption_kwh, strict=True)):
        if len(gen) != len(con) or (n_slots is not None and len(gen) != n_slots):
            raise MarketError(f"household {i}", "every row needs the same number of slots")
        n_slots = len(gen)
        row = []
        for t, (g, c) in enumerate(zip(gen, con, strict=True)):
            g, c = float(g), float(c)
            if not (math.isfinite(g) and math.isfinite(c)) or g < 0 or c < 0:
                raise MarketError(f"household {i} slot {t}", "energies must be finite and >= 0 kWh")
            row.append(round(c * 1000) - round(g * 1000))
        out.append(row)
    return out


def _clamp(x: float, tariff: Tariff) -> int:
    return int(min(max(round(x), tariff.feed_in_micro_per_kwh), tariff.grid_buy_micro_per_kwh))


def unified_price_micro(
    demand_wh: int, supply_wh: int, tariff: Tariff = DEFAULT_TARIFF, learning_factor: float = 1.0
) -> int | None:
    """C_P2P(t) of eq. 4.3-4.4 in micro-$/kWh, clamped to [C_stg, C_bfg]; None without a market."""
    if demand_wh <= 0 or supply_wh <= 0:
        return None
    if demand_wh > supply_wh:
        cx = (1 - supply_wh / demand_wh) * tariff.grid_buy_micro_per_kwh  # (4.4), first case
    else:
        cx = tariff.feed_in_micro_per_kwh  # (4.4), second case
    return _clamp(learning_factor * cx, tariff)  # (4.3)


def identified_bid_update(bid: float, utilisation: float, alpha: float, u_thr: float) -> float:
    """b_i(t) = b_i(t-1) + alpha (u(t) - u_thR) b_i(t-1), eq. 4.6-4.7 (before the clamp)."""
    return bid + alpha * (utilisation - u_thr) * bid


def settle(
    net_wh: list[list[int]], trades: Sequence[P2PTrade], tariff: Tariff = DEFAULT_TARIFF
) -> tuple:
    """Daily bill per household, eq. 4.5: P2P cost plus grid settlement of the rest, in $."""
    n, buy, feed = len(net_wh), tariff.grid_buy_micro_per_kwh, tariff.feed_in_micro_per_kwh
    units = [0] * n  # Wh * micro-$/kWh
    import_wh = [sum(d for d in row if d > 0) for row in net_wh]
    export_wh = [sum(-d for d in row if d < 0) for row in net_wh]
    for tr in trades:
        value = tr.energy_wh * tr.price_micro_per_kwh
        units[tr.buyer] += value  # C_i^h(x_i^h): paid to the seller
        units[tr.seller] -= value
        import_wh[tr.buyer] -= tr.energy_wh
        export_wh[tr.seller] -= tr.energy_wh
    return tuple(
        (units[i] + import_wh[i] * buy - export_wh[i] * feed) / _MICRO_WH_PER_USD  # + G_i^h
        for i in range(n)
    )


def conventional(generation_kwh, consumption_kwh, tariff: Tariff = DEFAULT_TARIFF) -> MarketResult:
    """Grid only: every deficit bought at C_bfg, every surplus fed in at C_stg."""
    net = net_demand_wh(generation_kwh, consumption_kwh)
    prices = tuple((None,) * len(net) for _ in net[0])
    return MarketResult("conventional", prices, (), settle(net, (), tariff))


def _sides(net: list[list[int]], t: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(buyers, sellers) of slot t as (energy Wh, household), largest first, then lowest index."""
    buyers = sorted(
        ((row[t], i) for i, row in enumerate(net) if row[t] > 0), key=lambda x: (-x[0], x[1])
    )
    sellers = sorted(
        ((-row[t], i) for i, row in enumerate(net) if row[t] < 0), key=lambda x: (-x[0], x[1])
    )
    return buyers, sellers


def unified_pricing(
    generation_kwh,
    consumption_kwh,
    tariff: Tariff = DEFAULT_TARIFF,
    learning_factor: float | Sequence[float] = 1.0,
) -> MarketResult:
    """Unified Pricing (eq. 4.3-4.4) with allocation in descending order, and the bills (eq. 4.5).

    `learning_factor` is lambda of eq. 4.3, one value or one per slot; the thesis gives no value, so 1.
    """
    net = net_demand_wh(generation_kwh, consumption_kwh)
    n_slots = len(net[0])
    lams = (
        [learning_factor] * n_slots
        if isinstance(learning_factor, (int, float))
        else list(learning_factor)
    )
    if len(lams) != n_slots:
        raise MarketError("learning_factor", f"needs one value or {n_slots}, got {len(lams)}")
    trades, prices = [], []
    for t in range(n_slots):
        buyers, sellers = _sides(net, t)
        price = unified_price_micro(
            sum(b[0] for b in buyers), sum(s[0] for s in sellers), tariff, lams[t]
        )
        prices.append((price,) * len(net))
        if price is None:
            continue
        bi = si = 0
        b_left, s_left = buyers[0][0], sellers[0][0]
        while bi < len(buyers) and si < len(sellers):  # descending order on both sides
            q = min(b_left, s_left)
            trades.append(P2PTrade(t, buyers[bi][1], sellers[si][1], q, price))
            b_left -= q
            s_left -= q
            if not b_left:
                bi += 1
                b_left = buyers[bi][0] if bi < len(buyers) else 0
            if not s_left:
                si += 1
                s_left = sellers[si][0] if si < len(sellers) else 0
    return MarketResult("unified", tuple(prices), tuple(trades), settle(net, trades, tariff))


def identified_pricing(
    generation_kwh,
    consumption_kwh,
    tariff: Tariff = DEFAULT_TARIFF,
    alpha: float = ALPHA,
    u_thr: float = U_THR,
    initial_bid_micro_per_kwh: int = INITIAL_BID_MICRO_PER_KWH,
    slot_s: int = SLOT_S,
) -> MarketResult:
    """Identified Pricing (eq. 4.6-4.8) cleared by auction matching, and the bills (eq. 4.5): the
    market of `eip.markets.identified`, which the BEE pool service also clears on the network."""
    from eip.markets.identified import IdentifiedMarket

    net = net_demand_wh(generation_kwh, consumption_kwh)
    n, n_slots = len(net), len(net[0])
    market = IdentifiedMarket(tariff, alpha, u_thr, initial_bid_micro_per_kwh, slot_s)
    trades, prices = [], []
    for t in range(n_slots):
        market.advance(t)
        slot_bids = tuple(market.bid(str(i)) for i in range(n))
        buyers, sellers = _sides(net, t)
        prices.append(slot_bids if buyers and sellers else (None,) * n)
        start = t * slot_s
        buys = [Order(i, str(i), ASK, BEE_ELECTRICITY, wh, tariff.grid_buy_micro_per_kwh, start,
                      start + slot_s) for wh, i in sorted(buyers, key=lambda x: x[1])]  # fmt: skip
        sells = [Order(j, str(j), SEND, BEE_ELECTRICITY, wh, tariff.feed_in_micro_per_kwh, start,
                       start + slot_s) for wh, j in sellers]  # largest surplus first  # fmt: skip
        for tr in market.clear(t, buys, sells):
            trades.append(P2PTrade(t, int(tr.buyer), int(tr.seller), tr.quantity,
                                   tr.price_micro_per_kbee))  # fmt: skip
    return MarketResult("identified", tuple(prices), tuple(trades), settle(net, trades, tariff))


def social_welfare_usd(result: MarketResult) -> float:
    """Eq. 4.9: sum over slots and buyers of b_i(t) * d_i(t), d_i(t) the P2P energy i bought, $."""
    return sum(t.energy_wh * t.price_micro_per_kwh for t in result.trades) / _MICRO_WH_PER_USD


def bills(
    generation_kwh,
    consumption_kwh,
    tariff: Tariff = DEFAULT_TARIFF,
    learning_factor: float | Sequence[float] = 1.0,
    alpha: float = ALPHA,
    u_thr: float = U_THR,
    initial_bid_micro_per_kwh: int = INITIAL_BID_MICRO_PER_KWH,
) -> Bills:
    """Daily bill per household: conventional (grid only), Unified and Identified Pricing (Table 5.3)."""
    return Bills(
        conventional(generation_kwh, consumption_kwh, tariff).bills_usd,
        unified_pricing(generation_kwh, consumption_kwh, tariff, learning_factor).bills_usd,
        identified_pricing(
            generation_kwh, consumption_kwh, tariff, alpha, u_thr, initial_bid_micro_per_kwh
        ).bills_usd,
    )
