"""The SDEN energy server in the controller: request -> accept -> delivery -> ack, and a reject."""

import pytest

from eip.card.harness import ledger_rows, wait_for
from eip.net.emulation import Emulation
from topologies.vpp_lans import VppLansTopo

pytestmark = pytest.mark.integration


def test_request_accept_delivery_ack_and_reject(tmp_path):
    with Emulation(VppLansTopo(2, 1), tmp_path) as emu:
        client = emu.net.card("v1c1")
        result = client.call("ask", peer="server", port=1, quantity=300, priority=1, wait=1,
                             timeout=60)  # fmt: skip
        assert result["reason"] == "done" and result["delivered"] == 300
        credits = ledger_rows(tmp_path / "v1c1" / "ledger.sqlite", "credit")
        assert sum(q for _t, _s, q in credits) == 300
        assert all(t.startswith("02:00:00:00:00:fd:1>") for t, _s, _q in credits)  # from the server
        # More than the shared supply over the horizon: rejected with a reason and a retry time.
        big = client.call("ask", peer="server", port=1, quantity=10_000_000, wait=1, timeout=60)
        assert big["reason"] == "rejected"
        events = client.call("events")["events"]
        rejected = [e for e in events if e["kind"] == "rejected"]
        assert rejected, events
        # Too much for the supply forecast over the horizon: reason 1 or, if it cannot be met
        # whatever else is admitted, 4 (deadline-infeasible), both with retry-after.
        assert any(
            r in rejected[-1]["detail"] for r in ("insufficient-supply", "deadline-infeasible")
        )
        status = wait_for(lambda: emu.status().get("sden", {}).get("accepted") and emu.status(),
                          10, "the server's counters")  # fmt: skip
        assert status["sden"]["accepted"] == 1 and status["sden"]["rejected"] == 1
        assert status["sden"]["delivered_bee"] == 300
