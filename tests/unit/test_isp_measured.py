"""The power flow of what the switches measured (eip/isp/measured.py) and its loading plot."""

import json
import warnings

import pandapower as pp
import pytest

from eip.cases import cigre_lv, four_node
from eip.isp.measured import (
    flows_by_period,
    measured_injections,
    measured_plant_kw,
    measured_power_flow,
)
from eip.isp.model import IspError, NodalInjections
from eip.scenarios.loading_plot import plot_line_loading

warnings.simplefilter("ignore", FutureWarning)
warnings.simplefilter("ignore", DeprecationWarning)

DAY_PERIOD_S = 7200.0
TOL_KW = 1e-6  # the same net, the same solver: agreement to solver precision
TOL_PERCENT = 1e-6


@pytest.fixture(scope="module")
def grid():
    return four_node.grid()


def mac(grid, name: str) -> str:
    return next(c.mac for c in grid.cards if c.name == name)


def bee_of(kw: float, period_s: float = DAY_PERIOD_S) -> float:
    """kW held over a period in BEE (1 Wh each)."""
    return kw * period_s / 3.6


def counts_of(grid, card_kw: dict, emulated_s: float = DAY_PERIOD_S):
    """Signed kW per card name held for `emulated_s` -> (exported, imported) BEE by MAC, as the
    switches would count them."""
    exported = {mac(grid, n): bee_of(kw, emulated_s) for n, kw in card_kw.items() if kw > 0}
    imported = {mac(grid, n): bee_of(-kw, emulated_s) for n, kw in card_kw.items() if kw < 0}
    return exported, imported


def direct_run(injections: NodalInjections):
    """pandapower on a fresh four-node grid, injections set by the element names `inj@<bus>`."""
    net = four_node.grid().net
    by_name = {name: i for i, name in net.load.name.items()}
    for bus, kw in injections.p_kw.items():
        net.load.at[by_name[f"inj@{bus}"], "p_mw"] = -kw / 1000.0
    pp.runpp(net, calculate_voltage_angles=True)
    return net


# (a) ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("period", range(12))
def test_base_forecast_flows_equal_pandapower_on_the_grid(grid, period):
    inj = grid.base_injections_kw(period)
    flow = measured_power_flow(grid, inj)
    net = direct_run(inj)
    for i in net.line.index:
        assert flow.line_p_from_kw[i] == pytest.approx(
            net.res_line.at[i, "p_from_mw"] * 1e3, abs=TOL_KW
        )
        assert flow.line_loading_percent[i] == pytest.approx(
            net.res_line.at[i, "loading_percent"], abs=TOL_PERCENT
        )
    assert flow.losses_kw == pytest.approx(net.res_line.pl_mw.sum() * 1e3, abs=TOL_KW)
    assert flow.losses_kw > 0.5  # a real AC flow, not a lossless one
    assert flow.slack_import_kw == pytest.approx(-sum(inj.p_kw.values()) + flow.losses_kw, abs=1e-3)
    assert flow.overloads == ()
    assert flow.trafo_loading_percent == {}


def test_grid_net_is_not_touched(grid):
    before = grid.net.load.p_mw.tolist()
    measured_power_flow(grid, NodalInjections(9, {2: -500.0, 3: 0.0, 4: -200.0}))
    assert grid.net.load.p_mw.tolist() == before


def test_metered_counts_of_the_forecast_give_the_forecast_flows(grid):
    """Per-card BEE (as the switches count them) -> the same flows as the bus forecast, all day."""
    counts = {p: counts_of(grid, grid.card_forecast_kw(p)) for p in range(12)}
    flows = flows_by_period(grid, counts, DAY_PERIOD_S)
    assert [f.period for f in flows] == list(range(12))
    for f in flows:
        expected = measured_power_flow(grid, grid.base_injections_kw(f.period))
        for bus, kw in expected.injections_kw.items():
            assert f.injections_kw[bus] == pytest.approx(kw, abs=1e-9)
        assert f.losses_kw == pytest.approx(expected.losses_kw, abs=TOL_KW)
        assert dict(f.line_loading_percent) == pytest.approx(dict(expected.line_loading_percent))


# (b) ---------------------------------------------------------------------------------------------


def test_bee_to_kw_2000_bee_over_7200_s_is_1_kw(grid):
    inj = measured_injections(grid, {mac(grid, "wind"): 2000}, {}, period_s=7200.0)
    assert inj.p_kw[four_node.RURAL_BUS] == pytest.approx(1.0)
    assert inj.p_kw[four_node.URBAN_BUS] == 0.0 and inj.p_kw[four_node.STORAGE_BUS] == 0.0


def test_time_scale_makes_the_emulated_period(grid):
    # 6 wall seconds x 60 = a 360 s emulated period: 2000 Wh in 0.1 h is 20 kW.
    inj = measured_injections(grid, {mac(grid, "wind"): 2000}, {}, period_s=6.0, time_scale=60.0)
    assert inj.p_kw[four_node.RURAL_BUS] == pytest.approx(20.0)
    same = measured_injections(grid, {mac(grid, "wind"): 2000}, {}, period_s=360.0)
    assert same.p_kw == inj.p_kw


def test_imports_subtract_cards_sum_per_bus_and_bee_wh_scales(grid):
    exported = {mac(grid, "pv"): 3000, mac(grid, "wind"): 500}
    imported = {mac(grid, "urban-load"): 5000, mac(grid, "ev").upper(): 2000}  # MACs in any case
    inj = measured_injections(grid, exported, imported, period_s=3600.0, bee_wh=2.0, period=7)
    assert inj.period == 7
    assert inj.p_kw[four_node.URBAN_BUS] == pytest.approx((3000 - 5000 - 2000) * 2.0 / 1000)
    assert inj.p_kw[four_node.RURAL_BUS] == pytest.approx(1.0)


def test_plants_are_not_nodal_injections_but_set_the_plants(grid):
    exported = {mac(grid, "plant2"): 2000 * 250}  # 250 kW over a two-hour period
    inj = measured_injections(grid, exported, {}, DAY_PERIOD_S)
    assert set(inj.p_kw) == set(grid.buses) and sum(inj.p_kw.values()) == 0.0
    plants = measured_plant_kw(grid, exported, {}, DAY_PERIOD_S)
    assert plants == pytest.approx({"plant1": 0.0, "plant2": 250.0})
    flow = measured_power_flow(grid, grid.base_injections_kw(9), plants)
    assert flow.plant_kw["plant2"] == pytest.approx(250.0)
    base = measured_power_flow(grid, grid.base_injections_kw(9))
    assert flow.slack_import_kw == pytest.approx(base.slack_import_kw - 250.0, abs=1e-3)
    with pytest.raises(IspError, match="nope"):
        measured_power_flow(grid, grid.base_injections_kw(9), {"nope": 1.0})


def test_bad_period_or_counts_are_errors(grid):
    with pytest.raises(IspError, match="period_s"):
        measured_injections(grid, {}, {}, period_s=0.0)
    with pytest.raises(IspError, match="time_scale"):
        measured_injections(grid, {}, {}, period_s=6.0, time_scale=-1.0)
    with pytest.raises(IspError, match="non-negative"):
        measured_injections(grid, {mac(grid, "pv"): -5}, {}, period_s=6.0)


# (c) ---------------------------------------------------------------------------------------------


def test_storage_buying_the_wind_at_the_evening_peak_overloads_l0(grid):
    """Period 9 (18:00-20:00): L0 (13 A, ~225 kVA) carries 96 % in the forecast. Storage charging
    160 kW from 200 kW of rural wind pulls the extra power over L0 and L3 (10 A, ~173 kVA)."""
    base = measured_power_flow(grid, grid.base_injections_kw(9))
    assert base.overloads == () and 90.0 < base.line_loading_percent[0] < 100.0
    trade = dict(grid.card_forecast_kw(9)) | {"wind": 200.0, "storage": -160.0}
    exported, imported = counts_of(grid, trade)  # 6 s x 1200 = 7200 s emulated
    flow = flows_by_period(grid, {9: (exported, imported)}, period_s=6.0, time_scale=1200.0)[0]
    assert flow.injections_kw[four_node.STORAGE_BUS] == pytest.approx(-160.0)
    over = {o.index: o for o in flow.overloads}
    assert 0 in over and over[0].element == "line" and over[0].name == "L0 grid-urban"
    o = over[0]
    assert o.loading_percent == pytest.approx(flow.line_loading_percent[0])
    assert o.loading_percent > 110.0 and o.max_loading_percent == 100.0
    assert o.excess_percent == pytest.approx(o.loading_percent - 100.0)
    rated_kw = 3**0.5 * 10.0 * 0.013 * 1000  # sqrt(3) V I at nominal voltage
    assert o.excess_kw == pytest.approx(o.excess_percent / 100 * rated_kw)
    assert set(over) == {i for i, pct in flow.line_loading_percent.items() if pct > 100.0}
    back = json.loads(json.dumps(flow.as_dict()))  # results.json-ready
    assert back["overloads"][0]["name"] == "L0 grid-urban"
    assert back["line_loading_percent"]["0"] == pytest.approx(o.loading_percent, abs=1e-5)


def test_transformers_are_reported_on_cigre_lv():
    """CIGRE LV's feeder trafos carry 70-86 % of their rating in the period-9 forecast; 1.5 times
    that load puts the residential (R0-R1) and commercial (C0-C1) ones over 100 %."""
    lv = cigre_lv.grid()
    base = measured_power_flow(lv, lv.base_injections_kw(9))
    assert set(base.trafo_loading_percent) == {0, 1, 2} and base.overloads == ()
    assert all(60.0 < v < 100.0 for v in base.trafo_loading_percent.values())
    assert base.losses_kw > 0 and base.slack_import_kw > 0
    heavy = {b: 1.5 * kw for b, kw in lv.base_injections_kw(9).p_kw.items()}
    loaded = measured_power_flow(lv, NodalInjections(9, heavy))
    assert [(o.element, o.name) for o in loaded.overloads] == [
        ("trafo", "Trafo R0-R1"),
        ("trafo", "Trafo C0-C1"),
    ]


def test_non_convergence_is_an_isp_error(grid):
    with pytest.raises(IspError, match="did not converge"):
        measured_power_flow(grid, NodalInjections(3, {2: -50000.0, 3: 0.0, 4: -50000.0}))


# (d) ---------------------------------------------------------------------------------------------


def test_unknown_macs_are_an_error_naming_them(grid):
    with pytest.raises(IspError, match=r"02:00:00:00:09:09.*02:00:00:00:09:0a"):
        measured_injections(
            grid, {"02:00:00:00:09:09": 10, mac(grid, "pv"): 10}, {"02:00:00:00:09:0a": 5}, 6.0
        )


def test_records_of_the_isp_are_read_and_duplicates_refused(grid):
    exported, imported = counts_of(grid, grid.card_forecast_kw(8))  # 60 s x 120
    records = [
        {"kind": "clock", "epoch_s": 0.0, "first_period": 8},
        {"kind": "published", "period": 8},
        {"kind": "measured", "period": 8, "elapsed_s": 60.0, "exported_bee": exported,
         "imported_bee": imported},
    ]  # fmt: skip
    (flow,) = flows_by_period(grid, records, period_s=60.0, time_scale=120.0)
    assert flow.period == 8
    assert flow.injections_kw[four_node.URBAN_BUS] == pytest.approx(
        grid.base_injections_kw(8).p_kw[four_node.URBAN_BUS]
    )
    with pytest.raises(IspError, match=r"\[8\]"):
        flows_by_period(grid, records + records[2:], period_s=60.0, time_scale=120.0)


def test_summary_rows_by_card_name_and_elapsed_time(grid):
    """Rows of eip.net.isp_records.summarize (by card name); a short period's elapsed_s."""
    card_kw = grid.card_forecast_kw(9)
    exported, imported = counts_of(grid, card_kw, emulated_s=3600.0)  # half a period's BEE
    name_of = {c.mac: c.name for c in grid.cards}
    cards = {name_of[m]: {"exported_bee": b, "imported_bee": 0} for m, b in exported.items()}
    cards |= {name_of[m]: {"exported_bee": 0, "imported_bee": b} for m, b in imported.items()}
    rows = [
        {"period": 8, "published": {}, "measured": None},  # nothing metered: no flow
        {"period": 9, "published": {}, "measured": {"elapsed_s": 30.0, "cards": cards}},
    ]
    (full,) = flows_by_period(grid, rows, period_s=60.0, time_scale=120.0)
    (short,) = flows_by_period(grid, rows, period_s=60.0, time_scale=120.0, use_elapsed=True)
    base = grid.base_injections_kw(9).p_kw
    for bus, kw in base.items():
        assert full.injections_kw[bus] == pytest.approx(kw / 2)  # averaged over the whole period
        assert short.injections_kw[bus] == pytest.approx(kw)  # over the 30 s that ran
    with pytest.raises(IspError, match="no-such-card"):
        flows_by_period(
            grid,
            [{"period": 9, "measured": {"cards": {"no-such-card": {"exported_bee": 1}}}}],
            period_s=60.0,
        )


# (e) ---------------------------------------------------------------------------------------------


def test_plot_of_two_runs_is_written(grid, tmp_path):
    enforced = [measured_power_flow(grid, grid.base_injections_kw(p)) for p in range(8, 12)]
    free = []
    for p in range(8, 12):
        inj = dict(grid.base_injections_kw(p).p_kw)
        inj[four_node.STORAGE_BUS] -= 200.0
        inj[four_node.RURAL_BUS] += 200.0
        free.append(measured_power_flow(grid, NodalInjections(p, inj)))
    assert any(f.overloads for f in free)
    path = plot_line_loading({"enforced": enforced, "measurement only": free}, tmp_path / "l.png")
    assert path.exists() and path.stat().st_size > 10_000
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError):
        plot_line_loading({}, tmp_path / "none.png")
