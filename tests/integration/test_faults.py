"""Faults during a running emulation: card and controller crashes, a WAN link flap, OVS detached.

One `Emulation(vpp_lans(2, 2))` runs the whole module; after each fault every pair of ledgers agrees
(debits == credits per transfer) and every ledger verifies.
"""

import pytest

from eip.net.emulation import Emulation, default_limits
from eip.net.plan import plan_from_topo
from eip.reliability import faults
from topologies.vpp_lans import VppLansTopo

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    topo = VppLansTopo(2, 2)
    limits = default_limits(plan_from_topo(topo), period_s=10.0, quantum_bee=10)
    em = Emulation(topo, tmp_path_factory.mktemp("faults"), limits=limits)
    try:
        with em:
            yield em
    except Exception:
        if em.net is not None:
            print(em.net.dump_flows())
        raise


def assert_books(report):
    books = report["books"]
    assert books["ok"], books
    assert books["lost_bee"] == 0 and books["duplicates"] == 0, books


@pytest.mark.parametrize("victim", ["v2c1", "v1c1"])
def test_card_killed_mid_transfer_resumes(emu, victim):
    report = faults.card_crash(emu, "v1c1", "v2c1", victim, total=100_000)
    assert 0 < report["credited_at_kill"] < 100_000, report  # really mid-transfer
    assert report["result"] == "done" and report["delivered"] == 100_000, report
    assert_books(report)


def test_controller_killed_switches_keep_forwarding_then_resync(emu):
    report = faults.controller_crash(emu, "v1c2", "v2c2", total=300_000)
    assert report["bee_while_down"] > 0, report  # the switches forward with the rules they have
    assert report["kept_while_down"], report
    assert report["resynced"], (report["flows_before"], report["flows_after"])
    assert sum(c["meters"] for c in report["flows_after"].values()) > 0
    assert report["result"] == "done" and report["delivered"] == 300_000, report
    assert_books(report)


def test_wan_link_down_and_up_mid_transfer(emu):
    report = faults.wan_flap(emu, "v1c2", "v2c1", "vpp2", total=200_000)
    assert report["result"] == "done" and report["delivered"] == 200_000, report
    assert_books(report)


def test_ovs_loses_and_regains_its_controller(emu):
    report = faults.switch_detach(emu, "v1c1", "v2c2", total=200_000)
    # OVS flushes a bridge's flows and meters when its last controller is removed: fail-closed,
    # nothing is forwarded unpoliced until the controller is back and reinstalls them.
    if report["flows_while_detached"]["s1"]["flows"] == 0:
        assert report["bee_while_detached"] == 0, report
    assert report["resynced"], report
    assert report["result"] == "done" and report["delivered"] == 200_000, report
    assert_books(report)
