"""The ISP in every emulation's loop: its clock restarts with the scenario's first period, its
measurement-only mode keeps the fixed table in force, and its records give the run's per-period table
(eip.isp.isp.restart_clock, MeasuringIsp, take_records; eip.net.isp_records.summarize)."""

from eip.isp.isp import MeasuringIsp, restart_clock
from eip.net.isp_records import summarize
from eip.protocol.codec import decode_frame
from eip.protocol.model import StaticLimitNotice
from eip.sdn.limits import LimitTable
from tests.unit.test_isp_period import NoDynamic, bus_plan, stub_isp
from tests.unit.test_sdn_support import QUANTUM, deliver, started

FIXED = 1_000_000


def fixed_table(period_s: float) -> LimitTable:
    return LimitTable.from_mapping({"period_s": period_s, "quantum_bee": QUANTUM,
                                    "default": {"export_bee": FIXED, "import_bee": FIXED}})  # fmt: skip


def notices(fakes, card) -> list:
    outs = fakes[card.switch].packet_outs
    return [decode_frame(p[1])[2].payload for p in outs if p[0] == card.port]


def isp_at(first: int, enforce: bool = True, period_s: float = 4.0):
    """A stub ISP started at t = 0 in period `first`, the controller over it, as the app does."""
    plan = bus_plan()
    isp = stub_isp(plan)
    isp._dynamic_cls = NoDynamic
    isp.period_s, isp.epoch_s = period_s, -first * period_s  # as start_isp(now=0, first)
    isp.run_period(first, isp.forecast(first))
    outer = isp if enforce else MeasuringIsp(isp, fixed_table(period_s))
    ctl, fakes = started(plan, outer.limit_table(), isp=outer)
    return ctl, fakes, isp, outer


def test_the_clock_restart_makes_the_next_tick_the_scenarios_first_period():
    ctl, fakes, isp, outer = isp_at(8)
    card = ctl.plan.cards[0]
    deliver(fakes, ctl.tick(10.0))  # the network came up slowly: the ISP's clock ran to period 10
    assert ctl.period == 10
    ctl.limits = restart_clock(outer, ctl.limits, 12.5, 8)  # the scenario starts at t = 12.5
    deliver(fakes, ctl.tick(12.6))
    assert ctl.period == 8 and isp.last.period == 8 and isp.epoch_s == 12.5 - 8 * 4.0
    n = notices(fakes, card)[-1]
    assert type(n) is StaticLimitNotice and (n.period, n.period_s) == (8, 4)
    assert n.export_limit == isp.limit_table().card(card.mac).export_bee != FIXED
    deliver(fakes, ctl.tick(16.5))  # one period later: period 9, on the new clock
    assert ctl.period == 9 and notices(fakes, card)[-1].period == 9
    records = isp.take_records()
    assert [r["kind"] for r in records].count("clock") == 1
    assert isp.take_records() == []  # taken once


def test_measuring_only_the_fixed_table_stays_in_force_and_the_isp_still_publishes():
    ctl, fakes, isp, outer = isp_at(0, enforce=False)
    card = ctl.plan.cards[0]
    published = isp.limit_table().card(card.mac).export_bee
    assert published != FIXED
    assert ctl.status()["cards"][card.name]["quota_bee"] == FIXED
    deliver(fakes, ctl.tick(4.1))
    assert isp.last.period == 1  # the OPF ran for period 1
    assert ctl.status()["cards"][card.name]["quota_bee"] == FIXED
    assert ctl.status()["isp"]["enforce"] is False
    assert ctl.status()["isp"]["cards"][card.mac]["export_bee"] == isp.limit_table().card(card.mac).export_bee  # fmt: skip
    assert outer.dynamic_windows({card.mac: 10**6}, 1.0) == {}
    n = notices(fakes, card)[-1]
    assert (n.period, n.period_s, n.export_limit) == (1, 4, FIXED)


def test_records_become_the_runs_per_period_table_by_card_name():
    names = {"aa": "a", "bb": "b"}
    pub = {"method": "ac", "fail_safe": False, "vpps": {}, "lmp_cny_per_kwh": {"1": 0.5},
           "line_loading_percent": {}, "losses_kw": 0.1, "bus_export_kw": {}, "bus_import_kw": {}}  # fmt: skip

    def published(period, export):
        cards = {
            "aa": {"export_bee": export, "import_bee": 5},
            "bb": {"export_bee": 0, "import_bee": 9},
        }
        return {"kind": "published", "period": period, "cards": cards, **pub}

    def measured(period, a):
        return {"kind": "measured", "period": period, "elapsed_s": 4.0,
                "exported_bee": {"aa": a, "bb": 0}, "imported_bee": {"aa": 0, "bb": a}}  # fmt: skip

    records = [
        published(8, 1),
        published(9, 2),
        published(10, 3),  # while the network came up
        {"kind": "clock", "epoch_s": 0.0, "first_period": 8},
        measured(10, 7),
        published(8, 11),
        measured(8, 20),
        published(9, 12),
    ]
    status = {"isp": {"period": 9}, "cards": {"a": {"used_bee": 30, "import_used_bee": 0},
                                              "b": {"used_bee": 0, "import_used_bee": 30}}}  # fmt: skip
    rows = summarize(records, status, names, 8)
    assert [r["period"] for r in rows] == [8, 9]
    assert rows[0]["published"]["limits_bee"]["a"] == {"export_bee": 11, "import_bee": 5}
    assert rows[0]["published"]["lmp_cny_per_kwh"] == {"1": 0.5}
    assert rows[0]["measured"]["cards"]["a"] == {"exported_bee": 20, "imported_bee": 0}
    assert rows[1]["measured"]["cards"]["b"] == {"exported_bee": 0, "imported_bee": 30}
    assert "still running" in rows[1]["measured"]["source"]
    # no boundary at the clock start: period 8's limits were published before it
    rows = summarize(records[:1] + records[3:4] + [measured(8, 4)], {}, names, 8)
    assert rows[0]["published"]["limits_bee"]["a"]["export_bee"] == 1
    assert rows[0]["measured"]["cards"]["a"]["exported_bee"] == 4


def test_every_card_of_a_vpp_lans_or_cigre_ev_plan_gets_a_bus_of_the_grid():
    """The plans put vpp_lans cards and CIGRE LV's roaming EV at bus 0, which no grid has: the ISP
    failed (safe) on every vpp_lans plan and the controller refused the CIGRE EV plan."""
    from eip.cases import TOPOLOGIES, cigre_lv, grid_for_plan
    from eip.isp.isp import start_isp
    from eip.net.plan import plan_from_case

    lans = plan_from_case(TOPOLOGIES["vpp_lans"](2, 2))
    isp, table = start_isp(grid_for_plan(lans), lans, fixed_table(60.0), 0.0, 0)
    assert isp.last is not None and not isp.last.fail_safe
    assert {isp.card_bus[c.mac.lower()] for c in lans.cards} == {1, 2}
    assert table.card(lans.cards[0].mac).export_bee != FIXED
    from eip.net.plan import plan_from_topo
    from topologies.grid import CigreEvTopo

    plan = plan_from_topo(CigreEvTopo())
    ev = next(c for c in plan.cards if c.name == cigre_lv.EV.name)
    assert ev.bus == 0
    grid = grid_for_plan(plan)  # raised IspError("card ev: bus 0 is not a node of grid 'cigre_lv'")
    home = next(c for c in plan.cards if c.vpp == ev.vpp and c.name != ev.name)
    assert grid.bus_of_mac[ev.mac] == home.bus in grid.injection_load
