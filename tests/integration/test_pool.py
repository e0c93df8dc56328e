"""The BEE pool on a VPP router: orders over Energy-TCP, a match, and the sale delivered as real BEEs."""

import pytest

from eip.card.harness import ledger_rows, wait_for
from eip.net.emulation import Emulation
from topologies.vpp_lans import VppLansTopo

pytestmark = pytest.mark.integration


def test_matched_orders_become_a_signed_transfer_between_the_cards(tmp_path):
    with Emulation(VppLansTopo(1, 3), tmp_path) as emu:
        seller, buyer, other = (emu.net.card(n) for n in ("v1c1", "v1c2", "v1c3"))
        sell = seller.call("order", side="send", quantity=1000, price_micro_per_kbee=400_000)
        assert sell["state"] == "resting" and sell["fills"][0]["status"] == 5
        # A bid below the ask rests too; a crossing bid is matched at the resting (ask) price.
        low = other.call("order", side="ask", quantity=500, price_micro_per_kbee=300_000)
        assert [f["status"] for f in low["fills"]] == [5]
        buy = buyer.call("order", side="ask", quantity=600, price_micro_per_kbee=500_000)
        fill = buy["fills"][0]
        assert (fill["status"], fill["quantity"], fill["price_micro_per_kbee"]) == (2, 600, 400_000)
        assert fill["peer_mac"] == "02:00:00:00:01:01"

        def delivered():
            rows = ledger_rows(tmp_path / "v1c2" / "ledger.sqlite", "credit")
            return sum(q for _t, _s, q in rows) == 600

        wait_for(delivered, 60, "the sale to be delivered as BEEs")
        assert ledger_rows(tmp_path / "v1c1" / "ledger.sqlite", "debit") == ledger_rows(
            tmp_path / "v1c2" / "ledger.sqlite", "credit"
        )
        profile = buyer.call("profile")
        assert profile["energy_wh"]["received"]["electricity"] == 600
        assert profile["money_balance"] == pytest.approx(-0.24)  # 0.6 kWh at 0.40 per kWh
        orders = seller.call("orders")["orders"]
        assert orders[0]["filled"] == 600 and orders[0]["state"] == "partial"
        assert ledger_rows(tmp_path / "v1c3" / "ledger.sqlite", "credit") == set()
