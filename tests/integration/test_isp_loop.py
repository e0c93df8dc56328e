"""The Energy ISP in the loop of an emulation, on the scenario's clock (Mininet + OVS + real cards).

Seed 000's four-node grid from grid period 8 (16:00, the evening peak), 3 s periods, enforcing: the
cards' static-limit notices carry the scenario's period index (8, 9, ...) and period length, the
limits in them are the OPF's (not the fixed table of 1,000,000 BEE), and the controller's quotas are
the same numbers. The run's ISP summary has them per period.
"""

import time

import pytest

from eip.card.harness import wait_for
from eip.net.emulation import Emulation
from topologies.four_node import FourNodeTopo

pytestmark = pytest.mark.integration

PERIOD_S = 3.0
FIRST = 8
FIXED = 1_000_000


@pytest.fixture
def emulation(tmp_path):
    emu = Emulation(FourNodeTopo(), tmp_path, period_s=PERIOD_S, isp_first_period=FIRST,
                    isp_enforce=True, pools=False, sden=False)  # fmt: skip
    try:
        with emu:
            yield emu
    except Exception:
        print(emu.log_tail(40))
        raise


def test_notices_carry_the_scenarios_period_and_the_isps_limits_are_in_force(emulation):
    emu, plan = emulation, emulation.plan
    assert emu.clock_start_s is not None
    # into the run's second period (ISP period 9), away from its boundaries
    time.sleep(max(0.0, emu.period_start_s(1) + 1.0 - time.monotonic()))
    assert time.monotonic() < emu.period_start_s(2) - 0.5, "the test machine is too slow"
    cards = {c.name: emu.net.card(c.name).call("status") for c in plan.cards}

    def settled():  # a status written in period 9
        s = emu.status()
        return s if s.get("isp", {}).get("period") == FIRST + 1 else None

    status = wait_for(settled, 5, "the controller's status of period 9")
    isp = status["isp"]
    assert isp["method"] in ("ac", "dc") and not isp["fail_safe"], isp
    for card in plan.cards:
        notice = cards[card.name]["static_limit"]
        assert notice is not None, card.name
        assert (notice["period"], notice["period_s"]) == (FIRST + 1, 3), (card.name, notice)
        assert cards[card.name]["period"] == FIRST + 1
        published = isp["cards"][card.mac]
        assert notice["export_limit"] == published["export_bee"] != FIXED, (card.name, notice)
        assert notice["import_limit"] == published["import_bee"]
        assert status["cards"][card.name]["quota_bee"] == published["export_bee"]
    # the loads may export nothing in the evening peak: the limits bind
    assert (
        isp["cards"][next(c.mac for c in plan.cards if c.name == "urban-load")]["export_bee"] == 0
    )
    events = emu.net.card("wind").call("events")["events"]
    periods = [int(e["detail"].split()[1]) for e in events if e["kind"] == "static-limit"]
    assert periods[-2:] == [FIRST, FIRST + 1], periods

    summary = emu.isp_summary()
    assert summary["in_loop"] and summary["enforce"] and summary["period_s"] == PERIOD_S
    rows = {r["period"]: r for r in summary["periods"]}
    assert {FIRST, FIRST + 1} <= set(rows), summary["periods"]
    assert rows[FIRST]["measured"] is not None  # the switches' counters of period 8
    lim = rows[FIRST + 1]["published"]["limits_bee"]["wind"]
    assert lim["export_bee"] == isp["cards"][next(c.mac for c in plan.cards if c.name == "wind")]["export_bee"]  # fmt: skip
