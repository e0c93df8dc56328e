"""Unified and Identified Pricing and bills (seed 002 4.4.2, eq. 4.3-4.8, Table 5.3)."""

import csv
import math
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eip.data import reference
from eip.markets.pricing import (
    MarketError,
    Tariff,
    bills,
    conventional,
    identified_bid_update,
    identified_pricing,
    net_demand_wh,
    social_welfare_usd,
    unified_price_micro,
    unified_pricing,
)

C_BFG, C_STG = 250_000, 60_000
REFERENCE = reference("thesis_bills.csv")


def toy_day():
    """3 households, 48 half-hours: 0 a 5 kW PV, 1 a 1.5 kW PV, 2 no PV (Table 5.3's kinds)."""

    def pv(kw, t):
        h = t / 2
        return (
            round(max(0.0, kw * 0.5 * math.sin(math.pi * (h - 6) / 12)), 3) if 6 <= h <= 18 else 0.0
        )

    def load(base, t):
        return round(base * 0.5 * (1.5 if 17 <= t / 2 <= 21 else 1.0), 3)

    gen = [[pv(kw, t) for t in range(48)] for kw in (5.0, 1.5, 0.0)]
    con = [[load(b, t) for t in range(48)] for b in (0.8, 1.0, 1.2)]
    return gen, con


def test_unified_price_eq_4_3_4_4():
    assert unified_price_micro(1000, 0) is None  # no generation: no P2P price (Fig. 5.2)
    assert unified_price_micro(0, 1000) is None
    assert unified_price_micro(1000, 1000) == C_STG  # P_d <= P_g: C_stg
    assert unified_price_micro(1000, 2000) == C_STG
    assert unified_price_micro(1000, 200) == 200_000  # (1 - 0.2) * 0.25
    assert unified_price_micro(1000, 200, learning_factor=0.5) == 100_000  # (4.3)
    assert unified_price_micro(1000, 900) == C_STG  # (1 - 0.9) * 0.25 = 0.025 -> clamp
    assert unified_price_micro(1000, 200, learning_factor=2.0) == C_BFG  # clamp above


def test_identified_bid_update_eq_4_6_4_7():
    assert identified_bid_update(0.25, 0.9, 0.1, 0.9) == 0.25
    assert identified_bid_update(0.25, 0.0, 0.1, 0.9) == pytest.approx(0.25 * (1 - 0.09))
    assert identified_bid_update(0.2, 1.0, 0.1, 0.9) == pytest.approx(0.2 * 1.01)


def test_identified_first_market_slot_bids_the_initial_price_then_decays():
    gen, con = toy_day()
    result = identified_pricing(gen, con)
    slots = [p for p in result.prices_micro_per_kwh if p[0] is not None]
    assert slots[0] == (C_BFG,) * 3  # initial bid 0.25 $/kWh
    # household 0 never buys, u = 0 < u_thR: its bid falls 9 % a slot, then sits at C_stg
    assert slots[1][0] == round(C_BFG * 0.91)
    assert slots[-1][0] == C_STG
    assert social_welfare_usd(result) > 0  # eq. 4.9


def test_toy_case_directions_of_table_5_3():
    gen, con = toy_day()
    b = bills(gen, con)
    for i in range(3):  # P2P never raises a bill and lowers at least one
        assert b.unified[i] <= b.conventional[i] + 1e-12
        assert b.identified[i] <= b.conventional[i] + 1e-12
    assert sum(b.unified) < sum(b.conventional) and sum(b.identified) < sum(b.conventional)
    assert b.identified[0] < b.unified[0]  # identified pricing favours the large PV
    assert b.unified[2] < b.identified[2]  # unified pricing favours the household without PV


def test_reference_table_5_3_shows_the_same_directions():
    rows = [r for r in csv.reader(line for line in REFERENCE.open() if not line.startswith("#"))][
        1:
    ]
    kw = {int(r[0]): float(r[1]) for r in rows}
    conv, up, ip = ({int(r[0]): float(r[k]) for r in rows} for k in (2, 3, 4))
    assert all(up[i] <= conv[i] for i in kw)
    assert sum(ip.values()) < sum(conv.values())
    large = [i for i in kw if kw[i] >= 3]
    none = [i for i in kw if kw[i] == 0]
    assert all(ip[i] < up[i] for i in large) and all(up[i] < ip[i] for i in none)


def test_conventional_bill_by_hand():
    # one slot: household 0 imports 2 kWh, household 1 exports 1 kWh
    r = conventional([[0.0], [1.5]], [[2.0], [0.5]])
    assert r.bills_usd == pytest.approx((0.5, -0.06))


def test_bad_input_is_refused():
    with pytest.raises(MarketError):
        net_demand_wh([[1.0]], [[1.0, 2.0]])
    with pytest.raises(MarketError):
        net_demand_wh([[-1.0]], [[1.0]])
    with pytest.raises(MarketError):
        unified_pricing([[1.0]], [[1.0]], learning_factor=[1.0, 1.0])


days = st.integers(1, 6).flatmap(
    lambda n: st.integers(1, 8).flatmap(
        lambda t: st.tuples(
            st.lists(
                st.lists(st.floats(0, 5).map(lambda x: round(x, 3)), min_size=t, max_size=t),
                min_size=n,
                max_size=n,
            ),
            st.lists(
                st.lists(st.floats(0, 5).map(lambda x: round(x, 3)), min_size=t, max_size=t),
                min_size=n,
                max_size=n,
            ),
        )
    )
)


@settings(max_examples=200, deadline=None)
@given(days, st.floats(0.2, 2.0))
def test_pricing_invariants(day, lam):
    gen, con = day
    net = net_demand_wh(gen, con)
    base = conventional(gen, con).bills_usd
    for result in (unified_pricing(gen, con, Tariff(), lam), identified_pricing(gen, con)):
        bought, sold = defaultdict(int), defaultdict(int)
        for tr in result.trades:
            assert tr.energy_wh > 0 and C_STG <= tr.price_micro_per_kwh <= C_BFG
            assert net[tr.buyer][tr.slot] > 0 > net[tr.seller][tr.slot]
            bought[tr.buyer, tr.slot] += tr.energy_wh
            sold[tr.seller, tr.slot] += tr.energy_wh
        for t in range(len(net[0])):
            demand = sum(row[t] for row in net if row[t] > 0)
            supply = sum(-row[t] for row in net if row[t] < 0)
            b = sum(v for (i, s), v in bought.items() if s == t)
            s_ = sum(v for (i, s), v in sold.items() if s == t)
            assert b == s_ == min(demand, supply)  # energy bought = sold, all that can trade does
        for (i, t), v in bought.items():
            assert v <= net[i][t]
        for (i, t), v in sold.items():
            assert v <= -net[i][t]
        for p, c in zip(result.bills_usd, base, strict=True):
            assert p <= c + 1e-9  # prices in [C_stg, C_bfg]: nobody loses against the grid
        # money is conserved: the community pays the grid what the bills say
        assert sum(result.bills_usd) - sum(base) == pytest.approx(
            -sum(tr.energy_wh for tr in result.trades) * (C_BFG - C_STG) / 1e9, abs=1e-9
        )
