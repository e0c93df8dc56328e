"""The ISP's economics: reversal exchanges (seed 000, section 7) and service fees (sections 7 and 10)."""

import math
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eip.isp.fees import (
    MIN_PROFIT_RATE,
    lmp_settlement_cny,
    losses_cost_cny,
    service_fees,
)
from eip.isp.model import IspError, NodalInjections, OpfResult, StaticLimits
from eip.isp.reversal import REVERSAL_PREMIUM, reversal_exchanges

MP = MappingProxyType


def limits(export_kw: dict, import_kw: dict, period_s: float = 7200.0) -> StaticLimits:
    return StaticLimits(0, period_s, MP(export_kw), MP(import_kw), MP({}), MP({}), MP({}))


def opf(cost_cny_per_h=100.0, lmp=None, losses_kw=0.0, period=0) -> OpfResult:
    lmp = lmp if lmp is not None else {1: 0.5, 2: 0.6, 3: 0.55}
    return OpfResult(period, "ac", MP({}), MP(lmp), losses_kw, MP({}), cost_cny_per_h)


# ------------------------------------------------------------------------------------------ reversal


def test_reversal_buys_excess_export_and_sells_missing_import_at_the_node():
    lim = limits({1: 100.0, 2: 50.0}, {1: 100.0, 2: 30.0})
    req = NodalInjections(3, {1: 160.0, 2: -70.0, 3: 500.0})  # bus 3 has no limit
    rev = reversal_exchanges(lim, req, {1: 0.5, 2: 0.8, 3: 9.0}, period_h=2.0)
    assert dict(rev.added_kw) == {1: -60.0, 2: 40.0}
    assert dict(rev.corrected.p_kw) == {1: 100.0, 2: -30.0, 3: 500.0}
    assert dict(rev.energy_kwh) == {1: 120.0, 2: 80.0}
    assert rev.cost_cny == pytest.approx((120 * 0.5 + 80 * 0.8) * (1 + REVERSAL_PREMIUM))
    assert rev.period == 3 and rev.corrected.period == 3 and not rev.empty


def test_no_reversal_within_limits_and_the_result_is_frozen():
    rev = reversal_exchanges(limits({1: 10.0}, {1: 10.0}), NodalInjections(0, {1: -10.0}), {1: 1})
    assert rev.empty and rev.cost_cny == 0 and dict(rev.corrected.p_kw) == {1: -10.0}
    with pytest.raises(AttributeError):
        rev.cost_cny = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        rev.added_kw[1] = 1.0  # type: ignore[index]


def test_the_reversal_uses_the_limits_period_when_no_period_h_is_given():
    rev = reversal_exchanges(limits({1: 0.0}, {}, period_s=1800), NodalInjections(0, {1: 4.0}))
    assert rev.energy_kwh[1] == pytest.approx(2.0) and rev.cost_cny == 0  # no LMP, no cost


buses = st.integers(0, 6)
kw = st.floats(-1000, 1000, allow_nan=False)
lim_kw = st.floats(0, 500, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(buses, kw, max_size=7),
    st.dictionaries(buses, lim_kw, max_size=7),
    st.dictionaries(buses, lim_kw, max_size=7),
    st.dictionaries(buses, st.floats(-1, 5, allow_nan=False), max_size=7),
)
def test_reversal_properties(p_kw, export_kw, import_kw, lmp):
    lim = limits(export_kw, import_kw)
    rev = reversal_exchanges(lim, NodalInjections(1, p_kw), lmp, period_h=2.0)
    assert set(rev.corrected.p_kw) == set(p_kw)  # per bus, same buses, nothing pairwise
    for bus, p in rev.corrected.p_kw.items():
        # within the limits, and moved no further than onto the nearest one (the least reversal)
        clamped = min(max(p_kw[bus], -import_kw.get(bus, math.inf)), export_kw.get(bus, math.inf))
        assert p == pytest.approx(clamped, abs=1e-6)  # the ISP ignores sub-microwatt excess
        assert p == pytest.approx(p_kw[bus] + rev.added_kw.get(bus, 0.0))
    for bus, added in rev.added_kw.items():
        assert added != 0 and rev.energy_kwh[bus] == pytest.approx(abs(added) * 2.0)
    assert rev.cost_cny >= 0
    expected = sum(
        e * max(0.0, lmp.get(b, 0.0)) * (1 + REVERSAL_PREMIUM) for b, e in rev.energy_kwh.items()
    )
    assert rev.cost_cny == pytest.approx(expected)


# -------------------------------------------------------------------------------------------- fees


def test_losses_and_reversal_are_reimbursed_by_usage_when_the_grid_earns_its_10_percent():
    o = opf(cost_cny_per_h=100.0, losses_kw=10.0)  # mean LMP 0.55
    losses = losses_cost_cny(o, 2.0)
    assert losses == pytest.approx(10 * 2 * 0.55)
    fees = service_fees(
        o, 2.0, losses, 6.0, 300.0, {"02:00:00:00:01:01": 30, "02:00:00:00:01:02": 10}
    )
    assert fees.surplus_cny == 0  # revenue 300 vs cost 200: 50 % profit already
    assert fees.total_cny == pytest.approx(losses + 6.0)
    assert fees.by_card_cny["02:00:00:00:01:01"] == pytest.approx(fees.total_cny * 0.75)
    assert fees.by_card_cny["02:00:00:00:01:02"] == pytest.approx(fees.total_cny * 0.25)
    assert fees.profit_cny == pytest.approx(300 + fees.total_cny - 200 - 6)


def test_a_deficit_below_the_10_percent_profit_rate_becomes_a_fee():
    o = opf(cost_cny_per_h=100.0)  # OPF cost 200 over 2 h
    fees = service_fees(o, 2.0, 0.0, 0.0, 190.0, {"a": 1.0, "b": 3.0})
    assert fees.surplus_cny == pytest.approx(0.1 * 200 - (190 - 200))  # 30
    assert fees.profit_rate == pytest.approx(MIN_PROFIT_RATE)
    assert fees.by_card_cny["b"] == pytest.approx(22.5)


def test_no_usage_shares_equally_and_no_cards_leaves_the_fee_unallocated():
    o = opf(cost_cny_per_h=100.0)
    even = service_fees(o, 1.0, 5.0, 5.0, 0.0, {"a": 0.0, "b": 0.0})
    assert even.by_card_cny["a"] == even.by_card_cny["b"] == pytest.approx(even.total_cny / 2)
    nobody = service_fees(o, 1.0, 5.0, 5.0, 0.0, {})
    assert nobody.unallocated_cny == nobody.total_cny > 0 and not nobody.by_card_cny


def test_zero_opf_cost_has_no_profit_rate_and_bad_inputs_are_errors():
    assert service_fees(opf(cost_cny_per_h=0.0), 1.0, 0, 0, 0, {"a": 1}).profit_rate is None
    with pytest.raises(IspError):
        service_fees(opf(), 1.0, -1.0, 0, 0, {})
    with pytest.raises(IspError):
        service_fees(opf(), 1.0, 0, 0, 0, {"a": -2.0})
    with pytest.raises(IspError):
        service_fees(opf(), 1.0, 0, 0, math.nan, {})


def test_lmp_settlement_is_the_grid_as_counterparty_of_each_bus():
    o = opf(lmp={1: 0.5, 2: 0.7})
    assert lmp_settlement_cny(o, NodalInjections(0, {1: 100.0, 2: -120.0}), 2.0) == pytest.approx(
        (-100 * 0.5 + 120 * 0.7) * 2
    )


money = st.floats(0, 1e4, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(
    cost=money,
    period_h=st.floats(0.01, 24),
    losses=money,
    reversal=money,
    revenue=st.floats(-1e4, 1e5, allow_nan=False),
    usage=st.dictionaries(
        st.sampled_from([f"02:00:00:00:01:{k:02x}" for k in range(8)]),
        st.floats(0, 1e4, allow_nan=False),
        min_size=1,
    ),
)
def test_fee_properties(cost, period_h, losses, reversal, revenue, usage):
    fees = service_fees(opf(cost_cny_per_h=cost), period_h, losses, reversal, revenue, usage)
    scale = max(1.0, fees.total_cny, abs(revenue), cost * period_h)
    # fees >= 0, and they add up to what is reimbursed (losses + reversal + the profit top-up)
    assert all(f >= 0 for f in fees.by_card_cny.values())
    assert sum(fees.by_card_cny.values()) == pytest.approx(
        fees.total_cny, rel=1e-9, abs=1e-9 * scale
    )
    assert fees.total_cny == pytest.approx(losses + reversal + fees.surplus_cny)
    assert fees.total_cny >= losses + reversal - 1e-9 * scale
    # the grid keeps at least 10 % on its OPF cost after fees
    opf_cost = cost * period_h
    assert fees.profit_cny >= MIN_PROFIT_RATE * opf_cost - 1e-9 * scale
    if fees.profit_rate is not None:
        assert fees.profit_rate >= MIN_PROFIT_RATE - 1e-9 * scale / max(opf_cost, 1e-300)
    # no top-up when the grid already earns its 10 %
    if revenue + losses - opf_cost >= MIN_PROFIT_RATE * opf_cost:
        assert fees.surplus_cny == 0
    # proportional to usage
    used = sum(usage.values())
    for mac, kwh in usage.items():
        share = kwh / used if used > 0 else 1 / len(usage)
        assert fees.by_card_cny[mac] == pytest.approx(
            fees.total_cny * share, rel=1e-9, abs=1e-9 * scale
        )
