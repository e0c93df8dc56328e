"""Static and dynamic exchange limits: the shared-headroom guarantee, congestion, BEE, the limit table."""

import itertools
import warnings

import pandapower as pp
import pytest

from eip.cases.four_node import grid as four_node_grid
from eip.isp.dynamic import DynamicLimits
from eip.isp.grids import GridCard, grid_from_net
from eip.isp.limits import derive_limits, kw_to_bee, limits_to_table, static_limits
from eip.isp.model import NodalInjections
from eip.isp.opf import apply_injections, run_opf
from eip.sdn.limits import LimitTable

warnings.simplefilter("ignore", FutureWarning)


def _mesh_net(rating_ka: float = 0.02):
    """Slack bus 0 and a 10 kV ring 0-1-2-0 with a spur 2-3; loads at 1, 2, 3."""
    net = pp.create_empty_network(sn_mva=1.0)
    for b in range(4):
        pp.create_bus(net, 10.0, index=b, min_vm_pu=0.9, max_vm_pu=1.1)
    eg = pp.create_ext_grid(net, 0, min_p_mw=-5, max_p_mw=5, min_q_mvar=-5, max_q_mvar=5)
    pp.create_poly_cost(net, eg, "ext_grid", cp1_eur_per_mw=500.0)
    for fb, tb, km, ka in ((0, 1, 2.0, rating_ka), (0, 2, 3.0, 0.03), (1, 2, 2.0, 0.03),
                           (2, 3, 1.0, 0.015)):  # fmt: skip
        pp.create_line_from_parameters(
            net, fb, tb, km, 0.5, 0.05, 0.0, ka, max_loading_percent=100.0
        )
    for b in (1, 2, 3):
        pp.create_load(net, b, p_mw=0.05)
    return grid_from_net(net, "mesh")


def _radial_net(rating_a_ka: float):
    """Slack bus 0 with two separate feeders: A 0-1, and B 0-2 then C 2-3."""
    net = pp.create_empty_network(sn_mva=1.0)
    for b in range(4):
        pp.create_bus(net, 10.0, index=b, min_vm_pu=0.9, max_vm_pu=1.1)
    eg = pp.create_ext_grid(net, 0, min_p_mw=-5, max_p_mw=5, min_q_mvar=-5, max_q_mvar=5)
    pp.create_poly_cost(net, eg, "ext_grid", cp1_eur_per_mw=500.0)
    for fb, tb, ka in ((0, 1, rating_a_ka), (0, 2, 0.03), (2, 3, 0.03)):
        pp.create_line_from_parameters(
            net, fb, tb, 2.0, 0.5, 0.05, 0.0, ka, max_loading_percent=100.0
        )
    for b in (1, 2, 3):
        pp.create_load(net, b, p_mw=0.05)
    return grid_from_net(net, "radial")


def _loadings_at(grid, p_kw: dict) -> float:
    apply_injections(grid, NodalInjections(0, p_kw))
    pp.runpp(grid.net)
    return float(grid.net.res_line.loading_percent.max())


P0 = {1: -150.0, 2: 40.0, 3: -60.0}


def test_every_node_at_its_full_limit_at_once_keeps_every_line_within_rating():
    grid = _mesh_net()
    inj = NodalInjections(0, P0)
    opf = run_opf(grid, inj)
    limits, basis = derive_limits(grid, opf, inj, 7200)
    nodes = basis.nodes
    lo = {b: P0[b] - basis.dminus_kw[k] for k, b in enumerate(nodes)}
    hi = {b: P0[b] + basis.dplus_kw[k] for k, b in enumerate(nodes)}
    worst = 0.0
    for corner in itertools.product((0, 1), repeat=len(nodes)):
        p = {b: (hi[b] if c else lo[b]) for b, c in zip(nodes, corner, strict=True)}
        worst = max(worst, _loadings_at(grid, p))
    assert worst <= 100.0 + 1.0
    assert worst >= 80.0  # the limits are tight, not trivially small
    # The reported limits are these box ends (here all on their natural side of zero).
    for b in nodes:
        assert limits.export_kw[b] == pytest.approx(max(0.0, hi[b]))
        assert limits.import_kw[b] == pytest.approx(max(0.0, -lo[b]))
    all_export = {b: limits.export_kw[b] for b in nodes}
    all_import = {b: -limits.import_kw[b] for b in nodes}
    assert _loadings_at(grid, all_export) <= 101.0
    assert _loadings_at(grid, all_import) <= 101.0


def test_a_congested_line_lowers_exactly_the_limits_of_the_nodes_that_load_it():
    inj = NodalInjections(0, {1: -150.0, 2: -60.0, 3: -60.0})
    results = {}
    for label, rating in (("free", 0.05), ("congested", 0.0095)):
        grid = _radial_net(rating)
        opf = run_opf(grid, inj)
        results[label] = (static_limits(grid, opf, inj, 7200), opf)
    free, congested = results["free"][0], results["congested"][0]
    assert results["congested"][1].line_loading_percent[0] > 90.0
    assert congested.import_kw[1] < free.import_kw[1] - 50.0  # node 1 loads line A
    for b in (2, 3):  # PTDF of line A on buses 2 and 3 is 0: unchanged
        assert congested.import_kw[b] == pytest.approx(free.import_kw[b], rel=1e-6)
        assert congested.export_kw[b] == pytest.approx(free.export_kw[b], rel=1e-6)


def test_bee_conversion_one_kw_for_two_hours_is_2000_bee():
    assert kw_to_bee(1.0, 7200) == 2000
    assert kw_to_bee(0.5, 3600) == 500
    assert kw_to_bee(-3.0, 7200) == 0


def test_four_node_limits_block_urban_imports_on_the_congested_line_and_convert_to_a_table():
    grid = four_node_grid()
    inj = grid.base_injections_kw(9)
    opf = run_opf(grid, inj)
    limits = static_limits(grid, opf, inj, 7200)
    assert opf.line_loading_percent[0] > 90.0
    assert limits.import_kw[4] == 0.0  # storage behind the congested L0 may not charge
    assert limits.export_kw[3] > 100.0  # rural wind may export more
    plant1 = grid.cards[0]
    assert plant1.name == "plant1" and limits.card_export_bee[plant1.mac] == 500 * 2000
    table = limits_to_table(limits, quantum_bee=10, period_s=60)
    parsed = LimitTable.from_mapping(table)
    assert parsed.period_s == 60 and parsed.quantum_bee == 10
    for c in grid.cards:
        assert parsed.card(c.mac).export_bee == limits.card_export_bee[c.mac]
        assert parsed.card(c.mac).import_bee == limits.card_import_bee[c.mac]
    assert parsed.vpps == dict(limits.vpp_export_bee)
    assert set(parsed.vpps) == {"vpp1", "vpp2", "vpp3", "vpp4"}


def _dynamic_setup():
    grid = _mesh_net(0.03)
    cards = (GridCard("a", "pv", "02:00:00:00:01:01", "vpp1", 1),
             GridCard("b", "pv", "02:00:00:00:01:02", "vpp1", 2),
             GridCard("c", "pv", "02:00:00:00:01:03", "vpp1", 3))  # fmt: skip
    grid = grid.with_cards(cards)
    inj = NodalInjections(0, {1: 0.0, 2: 0.0, 3: 0.0})
    opf = run_opf(grid, inj)
    limits, basis = derive_limits(grid, opf, inj, 3600)
    return limits, basis, [c.mac for c in cards]


def test_dynamic_windows_shrink_with_own_use_and_grow_when_others_use_less():
    limits, basis, (a, b, c) = _dynamic_setup()
    dyn = DynamicLimits(limits, basis, horizon_s=60)
    static_window = {m: limits.card_export_bee[m] * 60 // 3600 for m in (a, b, c)}
    at_start = dyn.update({}, 0)
    assert at_start[a] == pytest.approx(static_window[a], abs=1)
    # Everyone used 3/4 of its static limit in half the period: windows shrink.
    heavy = {m: limits.card_export_bee[m] * 3 // 4 for m in (a, b, c)}
    shrunk = dyn.update(heavy, 1800)
    assert all(0 <= shrunk[m] < static_window[m] for m in (a, b, c))
    # c's spur line is its own: no shared headroom to gain, 1/4 left for half the period.
    assert shrunk[c] == pytest.approx(static_window[c] / 2, abs=2)
    # Same own use, but the others stopped: headroom on shared lines returns to a.
    others_idle = {a: heavy[a], b: 0, c: 0}
    grown = dyn.update(others_idle, 1800)
    assert grown[a] > shrunk[a]
    assert grown[a] <= static_window[a] + 1  # never above the static rate
    # Used up and more: never below zero.
    over = {m: 2 * limits.card_export_bee[m] for m in (a, b, c)}
    assert all(v == 0 for v in dyn.update(over, 1800).values())
    assert all(v == 0 for v in dyn.update({}, 3600).values())


def test_dynamic_without_basis_spreads_the_remaining_static_limit():
    limits, _basis, (a, _b, _c) = _dynamic_setup()
    dyn = DynamicLimits(limits, None, horizon_s=100)
    half = limits.card_export_bee[a] // 2
    window = dyn.update({a: half}, 1800)[a]
    assert window == pytest.approx(limits.card_export_bee[a] / 3600 * 100, abs=2)
