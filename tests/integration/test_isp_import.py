"""Real cards under the Energy ISP (Mininet + OVS + `eip controller --isp`, enforcing): the switch
holds a card's imports to its static import limit of the period.

Seed 000's four-node grid in the evening peak: plant1 (vpp1, bus 1) sells to rural-load (vpp3, bus 3)
across both routers, in paced transfers of about the load's whole import limit each. The card's own
admission grants each transfer up to the limit (R5.3), so only the switch can stop the second one: the
controller blocks the load's incoming BEE when its metered import reaches the limit and answers the
plant LimitExceeded static. Nothing is lost: the books agree and the rest arrives in later periods.
"""

import time

import pytest

from eip.card.harness import wait_for
from eip.net.emulation import Emulation, default_limits
from eip.net.plan import plan_from_topo
from eip.reliability.faults import settled_books
from topologies.four_node import FourNodeTopo

pytestmark = pytest.mark.integration

QUANTUM = 10
PERIOD_S = 8.0
FIRST_PERIOD = 8  # the evening peak of the seed's day
SELLER, BUYER = "plant1", "rural-load"


@pytest.fixture
def emulation(tmp_path):
    topo = FourNodeTopo()
    limits = default_limits(plan_from_topo(topo), period_s=PERIOD_S, quantum_bee=QUANTUM)
    emu = Emulation(topo, tmp_path, limits=limits, isp=True, isp_enforce=True,
                    isp_first_period=FIRST_PERIOD)  # fmt: skip
    try:
        with emu:
            yield emu
    except Exception:
        print(emu.log_tail(40))
        raise


def period_start(emu) -> dict:
    """Wait for a period boundary; the status just after it."""
    first = wait_for(lambda: emu.status().get("isp", {}).get("period"), 30, "the ISP's period")
    return wait_for(
        lambda: (s := emu.status()).get("isp", {}).get("period", first) > first and s,
        30,
        "the next period",
    )


def test_the_switch_holds_a_card_to_its_import_limit(emulation):
    plan = emulation.plan
    buyer = next(c for c in plan.cards if c.name == BUYER)
    status = period_start(emulation)
    period = status["isp"]["period"]
    limit = status["isp"]["cards"][buyer.mac]["import_bee"]
    assert status["cards"][BUYER]["import_bee"] == limit
    print("period", period, "rural-load import limit", limit, "BEE")
    assert 4 * QUANTUM <= limit <= 5000, limit
    seller = emulation.net.card(SELLER, timeout=30)
    # Each transfer alone fits the limit; two take twice as long as a third of the period.
    power = limit / (PERIOD_S / 3)
    ids = [
        seller.call("offer", to=BUYER, quantity=limit, power_bee_per_s=power)["transfer_id"]
        for _ in range(2)
    ]
    used, blocked = 0, False
    end = time.monotonic() + PERIOD_S
    while time.monotonic() < end:
        s = emulation.status()
        if s.get("isp", {}).get("period") != period:
            break
        card = s["cards"][BUYER]
        used = max(used, card.get("import_used_bee", 0))
        blocked = blocked or card.get("import_blocked", False)
        time.sleep(0.2)
    print("imported this period", used, "blocked", blocked)
    assert blocked, "the controller never blocked the buyer's imports"
    assert used <= limit + 3 * QUANTUM, (used, limit)
    events = seller.call("events")["events"]
    exceeded = [e for e in events if e["kind"] == "limit-exceeded"]
    assert exceeded and all(e["detail"] == "static" for e in exceeded), events[-10:]
    # Nothing lost or duplicated, whatever the transfers' outcome: the books agree and verify.
    for tid in ids:
        seller.call("wait", transfer_id=tid, timeout=90)
    books = settled_books(emulation)
    assert books["ok"], books
    assert emulation.status()["cards"][BUYER]["import_blocks"] >= 1
