"""Grid models: the four-node data, costs, card-to-bus maps for every topology, library grids."""

import warnings

import pytest

from eip.cases import grid_for_plan
from eip.cases.four_node import PROFILES_KW as FOUR_NODE_PROFILES_KW
from eip.cases.four_node import grid as four_node_grid
from eip.isp.model import IspError
from eip.net.plan import plan_from_topo
from topologies import TOPOLOGIES

warnings.simplefilter("ignore", FutureWarning)


def _plan(name, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return plan_from_topo(TOPOLOGIES[name](*args), name)


def test_four_node_plants_are_gens_at_bus_1_with_the_seed_costs_in_cny_per_mw():
    grid = four_node_grid()
    net = grid.net
    assert sorted(net.bus.index) == [1, 2, 3, 4]
    assert dict(grid.dispatchable) == {"plant1": 0, "plant2": 1}
    assert list(net.gen.bus) == [1, 1]
    cost = net.poly_cost.set_index(["et", "element"])
    assert cost.loc[("gen", 0), "cp2_eur_per_mw2"] == pytest.approx(400.0)  # 0.0008 / 2 * 1e6
    assert cost.loc[("gen", 0), "cp1_eur_per_mw"] == pytest.approx(550.0)
    assert cost.loc[("gen", 1), "cp2_eur_per_mw2"] == pytest.approx(250.0)
    assert cost.loc[("gen", 1), "cp1_eur_per_mw"] == pytest.approx(350.0)
    assert list(net.ext_grid.bus) == [1]
    assert (net.line.c_nf_per_km == 0).all()
    assert (net.load.q_mvar == 0).all()


def test_four_node_cards_match_the_topology_and_its_plan():
    grid = four_node_grid()
    assert grid.bus_of_card == {
        "plant1": 1, "plant2": 1, "urban-load": 2, "pv": 2, "ev": 2, "rural-load": 3, "wind": 3,
        "storage": 4,
    }  # fmt: skip
    plan = _plan("four_node")
    from_plan = grid_for_plan(plan)
    assert from_plan.bus_of_mac == {c.mac: c.bus for c in plan.cards}
    assert from_plan.bus_of_mac == grid.bus_of_mac
    assert from_plan.vpp_of_bus == {1: "vpp1", 2: "vpp2", 3: "vpp3", 4: "vpp4"}


def test_four_node_base_injections_sum_the_card_profiles():
    grid = four_node_grid()
    inj = grid.base_injections_kw(5)
    p = FOUR_NODE_PROFILES_KW
    assert inj.period == 5
    assert inj.p_kw[2] == pytest.approx(p["urban-load"][5] + p["pv"][5] + p["ev"][5])
    assert inj.p_kw[3] == pytest.approx(p["rural-load"][5] + p["wind"][5])
    assert inj.p_kw[4] == pytest.approx(p["storage"][5])
    assert set(inj.p_kw) == {2, 3, 4}
    assert grid.base_injections_kw(17).p_kw == inj.p_kw  # 12 periods a day
    assert all(len(v) == 12 for v in p.values())


@pytest.mark.parametrize("name", ["cigre_lv", "case33bw"])
def test_library_grid_cards_map_to_their_pandapower_buses(name):
    plan = _plan(name)
    grid = grid_for_plan(plan)
    assert grid.name == name
    assert grid.bus_of_mac == {c.mac: c.bus for c in plan.cards}
    assert {c.bus for c in plan.cards} <= set(grid.injection_load)
    # base injections: net loads in the evening peak
    assert sum(grid.base_injections_kw(9).p_kw.values()) < 0


def test_vpp_lans_gets_one_bus_per_vpp_on_a_radial_feeder():
    plan = _plan("vpp_lans", 3, 4)
    grid = grid_for_plan(plan)
    assert grid.buses == (1, 2, 3)
    assert {c.bus for c in grid.cards if c.vpp == "vpp2"} == {2}
    assert list(zip(grid.net.line.from_bus, grid.net.line.to_bus, strict=True)) == [
        (0, 1), (1, 2), (2, 3)
    ]  # fmt: skip


def test_unknown_plan_is_refused():
    plan = _plan("four_node")
    from dataclasses import replace

    odd = replace(plan, name="mystery", cards=tuple(replace(c, bus=9) for c in plan.cards))
    with pytest.raises(IspError, match="no grid model"):
        grid_for_plan(odd)
