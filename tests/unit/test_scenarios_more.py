"""The pure parts of the thesis_households, sden_slicing and cigre_lv_vpp experiments."""

import pytest

from eip.markets.pricing import P2PTrade
from eip.scenarios.schema import load_scenario
from eip.scenarios.sden_slicing import fig5_profile, offline_slots, slot_checks
from eip.scenarios.thesis_households import (
    expected_p2p,
    findings,
    household_profiles,
    load_average_profile,
    load_thesis_bills,
    model,
)
from eip.sdn.sden_service import profile_server


@pytest.fixture(scope="module")
def households():
    gg, gc = load_average_profile()
    return household_profiles(load_thesis_bills(), gg, gc, seed=2)


def test_profiles_scale_generation_by_pv_capacity_and_are_deterministic(households):
    gg, gc = load_average_profile()
    assert len(gg) == len(gc) == 48 and len(households) == 15
    ref = sum(h["pv_kw"] for h in households) / 15
    big = max(households, key=lambda h: h["pv_kw"])
    assert sum(big["gen_kwh"]) == pytest.approx(sum(gg) * big["pv_kw"] / ref, rel=1e-3)
    assert all(sum(h["gen_kwh"]) == 0 for h in households if h["pv_kw"] == 0)
    again = household_profiles(load_thesis_bills(), gg, gc, seed=2)
    assert [h["con_kwh"] for h in again] == [h["con_kwh"] for h in households]


def test_conventional_bills_are_calibrated_to_table_5_3(households):
    for row in model(households)["rows"]:
        assert row["ours"]["conventional"] == pytest.approx(row["thesis"]["conventional"], abs=2e-3)


def test_chapter_5_findings_hold(households):
    f = findings(model(households)["rows"])
    assert f["p2p_lowers_total_bill"] and f["no_bill_above_conventional"]
    assert f["identified_favours_large_pv"] and f["largest_pv_customer"] == 12
    assert f["unified_favours_no_pv"] and f["no_pv_customers"] == [5, 9, 10]


def test_expected_p2p_counts_both_sides_in_the_window():
    trades = [P2PTrade(3, 0, 1, 100, 200_000), P2PTrade(9, 1, 0, 50, 100_000)]
    got = expected_p2p(trades, 2, range(0, 5))
    assert got[0] == {"bought_bee": 100, "sold_bee": 0, "paid_usd": 0.02, "earned_usd": 0.0}
    assert got[1]["sold_bee"] == 100 and got[1]["earned_usd"] == pytest.approx(0.02)


def test_fig5_profile_server_reproduces_fig5_slices():
    macs = [f"02:00:00:00:01:0{k}" for k in range(1, 8)]
    profile = fig5_profile(macs, 6000, 1.0, "", {"kind": "sauna", "rate": 6, "packets": 60})
    srv = profile_server(profile)
    from eip.protocol.model import RequestOption

    decisions = []
    for mac, packets, cls in zip(macs, (30, 27, 30, 45, 12, 16, 60), (1, 1, 1, 2, 2, 2, 2),
                                 strict=True):  # fmt: skip
        w = profile["windows"][mac]
        opt = RequestOption(packets * 10, w["start_s"], w["end_s"], w["deadline_s"], 1, cls)
        decisions.append(srv.request(6000, mac, opt).accepted)
    assert decisions == [True] * 6 + [False]
    srv.allocate(6000 + 29 * 600)
    assert [h.delivered for h in srv.history] == [tuple(s["delivered"]) for s in offline_slots()]


def test_fig5_slices_respect_supply_and_strict_priority():
    checks = slot_checks(offline_slots())
    assert checks["served_packets_by_class"] == {"emergency": 0, "priority1": 87, "priority2": 73}
    assert checks["max_from_supply_minus_supply"] <= 0
    assert checks["max_allocated_minus_capacity"] <= 0
    assert checks["priority1_served_first"]
    assert checks["buffer_draw_packets"] > 0


@pytest.mark.parametrize("name", ["thesis_households", "sden_slicing", "cigre_lv_vpp"])
@pytest.mark.parametrize("short", [False, True])
def test_scenario_files_validate(name, short):
    scenario = load_scenario(f"scenarios/{name}.yaml", short=short)
    assert scenario.name == name and scenario.expect
