"""The ISP meters delivered BEE only (docs/protocol.md R3.3, registry 9.8): Mininet + OVS + `eip controller
--isp` + real cards and pool services.

Card A (v1c1) sells 2000 BEE to card B (v2c1) across both routers while B places pool orders. The
controller's status, from the switches' flow counters, shows A's metered export equal to the BEE
delivered (within one quantum), B's import equal to what it received, and zero export for B, the pure
buyer, although B sent SYN-ACKs, ACKs, receipts and pool orders through its firewall rule (their
packets are on its UNMETERED rule, read back with ovs-ofctl).
"""

import re
import subprocess

import pytest

from eip.card.harness import ledger_rows, wait_for
from eip.net.emulation import Emulation, default_limits
from eip.net.plan import plan_from_topo
from eip.sdn import pipeline as pl
from topologies.vpp_lans import VppLansTopo

pytestmark = pytest.mark.integration

QUANTUM = 10
SELLER, BUYER = "v1c1", "v2c1"
BEE_SOLD = 2000


@pytest.fixture
def emulation(tmp_path):
    topo = VppLansTopo(2, 2)
    limits = default_limits(plan_from_topo(topo), period_s=60.0, quantum_bee=QUANTUM)
    emu = Emulation(topo, tmp_path, limits=limits, isp=True)
    try:
        with emu:
            yield emu
    except Exception:
        if emu.net is not None:
            print(emu.net.dump_flows())
        print(emu.log_tail(40))
        raise


def flow_packets(switch: str, cookie: int) -> int:
    """The packet count Open vSwitch has for the rule with this cookie."""
    out = subprocess.run(
        ["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", switch, f"cookie={cookie:#x}/-1"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return sum(int(n) for n in re.findall(r"n_packets=(\d+)", out))


def card_status(emu, name: str) -> dict:
    return emu.status().get("cards", {}).get(name, {})


def test_only_delivered_bee_is_metered_and_a_pure_buyer_exports_nothing(emulation, tmp_path):
    net, plan = emulation.net, emulation.plan
    seller, buyer = net.card(SELLER, timeout=60), net.card(BUYER, timeout=60)
    assert wait_for(lambda: "imported_bee" in card_status(emulation, BUYER), 30, "the ISP status")
    before = {n: card_status(emulation, n) for n in (SELLER, BUYER)}

    # B's pool orders: bids below any ask, so they rest (the pool answers each with a fill record).
    for k in range(3):
        bid = buyer.call("order", side="ask", quantity=100 + k, price_micro_per_kbee=1_000)
        assert bid["fills"][0]["status"] == 5, bid  # resting
    result = seller.call("transfer", to=BUYER, quantity=BEE_SOLD, timeout=60)
    assert result["reason"] == "done" and result["delivered"] == BEE_SOLD, result
    credited = sum(q for _t, _s, q in ledger_rows(tmp_path / BUYER / "ledger.sqlite", "credit"))
    assert credited == BEE_SOLD

    def settled():  # the counters of the last segments reached the status (poll, then write)
        s = card_status(emulation, SELLER)
        b = card_status(emulation, BUYER)
        done = s.get("exported_bee", 0) - before[SELLER]["exported_bee"] >= BEE_SOLD
        return (s, b) if done and b.get("imported_bee", 0) >= BEE_SOLD else None

    s, b = wait_for(settled, 20, "the transfer in the controller's counters")
    exported_a = s["exported_bee"] - before[SELLER]["exported_bee"]
    imported_b = b["imported_bee"] - before[BUYER]["imported_bee"]
    print("seller", s, "buyer", b)
    assert BEE_SOLD <= exported_a <= BEE_SOLD + QUANTUM, s
    assert BEE_SOLD <= imported_b <= BEE_SOLD + QUANTUM, b
    assert b["exported_bee"] == before[BUYER]["exported_bee"] == 0, b  # the pure buyer
    assert b["allowed_packets"] == 0 and b["quota_blocks"] == 0, b
    assert s["imported_bee"] == before[SELLER]["imported_bee"] == 0, s  # B's ACKs are not imports
    # B did send: its SYN-ACK, ACKs, receipts and pool orders went through its UNMETERED rule.
    card_b = next(c for c in plan.cards if c.name == BUYER)
    no_b = [c.name for c in plan.cards].index(BUYER)
    unmetered = flow_packets(card_b.switch, pl.cookie(pl.K_UNMETERED, no_b))
    assert unmetered >= 3 + 3, unmetered  # 3 orders, and at least the SYN-ACK, an ACK and a receipt
    status = emulation.status()
    assert status["controller"]["openflow_errors"] == 0
    assert status["controller"]["handler_errors"] == 0
