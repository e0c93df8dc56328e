"""The per-period OPF: four-node dispatch and prices, DC fallback, failure, nodal-only input."""

import logging
import warnings

import pandapower as pp
import pytest

from eip.cases.four_node import CARBON_T_PER_MWH
from eip.cases.four_node import grid as four_node_grid
from eip.isp.grids import grid_from_net
from eip.isp.model import IspError, NodalInjections
from eip.isp.opf import run_opf

warnings.simplefilter("ignore", FutureWarning)


@pytest.fixture(scope="module")
def day():
    grid = four_node_grid()
    return grid, [run_opf(grid, grid.base_injections_kw(p)) for p in range(12)]


def test_four_node_runs_twelve_ac_periods(day):
    _grid, results = day
    assert [r.period for r in results] == list(range(12))
    assert all(r.method == "ac" for r in results)


def test_four_node_dispatch_follows_merit_order(day):
    _grid, results = day
    plant1 = sum(r.dispatch_kw["plant1"] for r in results)  # b = 0.55
    plant2 = sum(r.dispatch_kw["plant2"] for r in results)  # b = 0.35
    assert plant2 > 5 * plant1 > 0
    for r in results:  # plant1 only runs once plant2's marginal cost reaches 0.55 CNY/kWh
        if r.dispatch_kw["plant1"] > 1.0:
            assert r.dispatch_kw["plant2"] > 300.0 * 0.99


def test_four_node_prices_losses_and_carbon_are_plausible(day):
    _grid, results = day
    for r in results:
        assert all(0.3 < lmp < 0.8 for lmp in r.lmp_cny_per_kwh.values())
        # loss-differentiated LMPs: the load buses pay more than the plant bus
        assert r.lmp_cny_per_kwh[2] > r.lmp_cny_per_kwh[1]
        assert r.cost_cny_per_h > 0
    losses_kwh = sum(r.losses_kw * 2 for r in results)
    thermal_mwh = sum(sum(r.dispatch_kw.values()) * 2 for r in results) / 1000
    assert 80.0 < losses_kwh < 120.0  # seed Fig. 10: 95.6-103.3 kWh
    assert 2.3 < thermal_mwh * CARBON_T_PER_MWH < 2.8  # seed Fig. 10: 2.37-2.75 t
    # the congested line of the evening peak
    assert max(r.line_loading_percent[0] for r in results) > 90.0


def test_four_node_plant_cost_is_half_a_p_squared_plus_b_p(day):
    _grid, results = day
    r = results[9]
    p1, p2 = r.dispatch_kw["plant1"], r.dispatch_kw["plant2"]
    expected = 0.5 * 0.0008 * p1**2 + 0.55 * p1 + 0.5 * 0.0005 * p2**2 + 0.35 * p2
    assert r.cost_cny_per_h == pytest.approx(expected, rel=1e-3)
    # marginal plant1 sets the plant bus's price: 0.55 + 0.0008 P1
    assert r.lmp_cny_per_kwh[1] == pytest.approx(0.55 + 0.0008 * p1, rel=1e-3)


def test_runs_do_not_leak_state_between_periods(day):
    grid, results = day
    again = run_opf(grid, grid.base_injections_kw(3))
    assert again.dispatch_kw["plant2"] == pytest.approx(results[3].dispatch_kw["plant2"], rel=1e-5)


def _two_bus(max_vm_slack: float, min_vm_load: float, ext_max_p_mw: float = 5.0):
    net = pp.create_empty_network(sn_mva=1.0)
    pp.create_bus(net, 10.0, index=0, min_vm_pu=0.9, max_vm_pu=max_vm_slack)
    pp.create_bus(net, 10.0, index=1, min_vm_pu=min_vm_load, max_vm_pu=1.1)
    eg = pp.create_ext_grid(net, 0, min_p_mw=-5, max_p_mw=ext_max_p_mw, min_q_mvar=-5, max_q_mvar=5)
    pp.create_poly_cost(net, eg, "ext_grid", cp1_eur_per_mw=500.0)
    pp.create_line_from_parameters(net, 0, 1, 10.0, 1.0, 0.1, 0.0, 0.1, max_loading_percent=100.0)
    pp.create_load(net, 1, p_mw=0.1)
    return grid_from_net(net, "two_bus")


def test_ac_failure_falls_back_to_dc_with_one_warning(caplog):
    grid = _two_bus(max_vm_slack=1.0, min_vm_load=1.0)  # no voltage can serve the load: AC fails
    with caplog.at_level(logging.WARNING, logger="eip.isp.opf"):
        result = run_opf(grid, NodalInjections(5, {1: -500.0}))
    assert result.method == "dc"
    assert result.losses_kw == 0.0
    warnings_ = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings_] == [
        "AC OPF did not converge in period 5, using DC OPF"
    ]
    assert result.lmp_cny_per_kwh[1] == pytest.approx(0.5, rel=1e-3)


def test_when_no_opf_converges_isp_error_names_the_period_and_both_reasons():
    grid = _two_bus(max_vm_slack=1.0, min_vm_load=1.0, ext_max_p_mw=0.1)  # 0.5 MW load, 0.1 supply
    with pytest.raises(IspError) as info:
        run_opf(grid, NodalInjections(3, {1: -500.0}))
    text = str(info.value)
    assert "period 3" in text and "AC:" in text and "DC:" in text


def test_injections_at_unknown_buses_are_refused():
    grid = four_node_grid()
    with pytest.raises(IspError, match="buses \\[7\\]"):
        run_opf(grid, NodalInjections(0, {7: 10.0}))


@pytest.mark.parametrize(
    "bad",
    [
        {("urban-load", "pv"): 10.0},  # a pairwise trade
        {"pv": 10.0},  # a card name
        {2: {3: 10.0}},  # nested: who sends to whom
        {2: "10"},
        {True: 1.0},
        {2: float("nan")},
    ],
)
def test_nodal_injections_cannot_hold_pairwise_trades(bad):
    with pytest.raises(IspError):
        NodalInjections(0, bad)


def test_nodal_injections_are_per_bus_kw():
    inj = NodalInjections(2, {2: -10, 3: 5.5})
    assert dict(inj.p_kw) == {2: -10.0, 3: 5.5}
    with pytest.raises(TypeError):
        inj.p_kw[2] = 1.0  # frozen
