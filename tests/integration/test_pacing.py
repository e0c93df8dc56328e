"""Deliveries paced as power with real card daemons: the wall time of a transfer is its energy over its
power (x the card's time scale), and a card obeys the ISP's window update as a rate (R6.10).

Under the controller (Mininet + OVS + `eip controller`): a transfer across two routers and a pool sale.
On a veth pair (tests/integration/test_card.py's `pair`, whose load card takes the PV host for its
ISP): the aggregate WUP caps the sum of two transfers.
"""

import sys
import threading
import time

import pytest

from eip.card.harness import ledger_rows, wait_for
from eip.net.emulation import Emulation, default_limits
from eip.net.plan import plan_from_topo
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import window_update_segment
from eip.protocol.model import EnergyIp, Packet
from tests.integration.test_card import ISP_SEND, pair  # noqa: F401 (pair: the fixture)
from topologies.vpp_lans import VppLansTopo

pytestmark = pytest.mark.integration

TIME_SCALE = 5.0  # emulated seconds per wall second


@pytest.fixture
def emulation(tmp_path):
    topo = VppLansTopo(2, 2)
    limits = default_limits(plan_from_topo(topo), period_s=60.0, quantum_bee=10)
    emu = Emulation(topo, tmp_path, limits=limits, card_args=("--time-scale", str(TIME_SCALE)))
    try:
        with emu:
            assert emu.net.card_args == ("--time-scale", str(TIME_SCALE))
            yield emu
    except Exception:
        if emu.net is not None:
            print(emu.net.dump_flows())
        raise


def timed(fn):
    t0 = time.monotonic()
    result = fn()
    return result, time.monotonic() - t0


def test_a_paced_transfer_under_the_controller_takes_its_energy_over_its_power(emulation):
    net = emulation.net
    card = net.card("v1c1", timeout=60)
    status = card.call("status")
    assert status["time_scale"] == TIME_SCALE and status["quantum_bee"] == 10
    # 1500 BEE at 100 BEE per emulated second, 5 emulated s per wall s: 500 BEE/s, 3 s of wall time.
    paced, wall_s = timed(lambda: card.call("transfer", to="v2c1", quantity=1500,
                                            power_bee_per_s=100, timeout=60))  # fmt: skip
    assert paced["reason"] == "done" and paced["delivered"] == 1500, paced
    assert 2.7 < wall_s < 4.5, wall_s
    # Without a power the same transfer goes as fast as the windows allow.
    fast, fast_s = timed(lambda: card.call("transfer", to="v2c1", quantity=1500, timeout=60))
    assert fast["reason"] == "done" and fast_s < 2.0 and fast_s < wall_s / 2, (fast_s, wall_s)


def test_a_pool_sale_is_delivered_at_the_order_power(emulation, tmp_path):
    net = emulation.net
    seller, buyer = net.card("v1c1", timeout=60), net.card("v1c2", timeout=60)
    # 60 BEE per emulated second, x5: 300 BEE per wall second; 600 BEE take 2 s.
    sell = seller.call("order", side="send", quantity=600, price_micro_per_kbee=400_000,
                       power_bee_per_s=60)  # fmt: skip
    assert sell["state"] == "resting"
    buy = buyer.call("order", side="ask", quantity=600, price_micro_per_kbee=500_000)
    assert buy["fills"][0]["quantity"] == 600
    t0 = time.monotonic()

    def credited():
        rows = ledger_rows(tmp_path / "v1c2" / "ledger.sqlite", "credit")
        return sum(q for _t, _s, q in rows)

    wait_for(lambda: credited() == 600, 30, "the sale to be delivered", poll_s=0.05)
    wall_s = time.monotonic() - t0
    assert 1.6 < wall_s < 3.5, wall_s


def isp_wup(ns_isp, dst_ip: str, window: int) -> None:
    """Play the ISP: send an aggregate window update (both ports 0) from the ISP's address."""
    isp = EnergyIp(0, c.EIP_FLAG_ISP, "02:00:00:00:00:fe")
    wup = Packet("10.1.0.11", dst_ip, isp, window_update_segment(window))
    payload = codec.encode_transport(wup).hex()
    assert ns_isp.run(sys.executable, "-c", ISP_SEND, dst_ip, payload).returncode == 0


def test_the_aggregate_window_update_caps_the_sum_of_two_real_transfers(pair):  # noqa: F811
    pv, load, _mallory, (ns_pv, _ns_load, _ns_mal) = pair
    isp_wup(ns_pv, "10.1.0.21", 400)  # the load card may send 400 BEE per second in all
    wait_for(lambda: load.ctl.call("status")["isp_window"] == 400, 10, "the window update")
    results: dict = {}

    def send(key):
        results[key] = load.ctl.call("transfer", to="pv", quantity=1000, timeout=60)

    threads = [threading.Thread(target=send, args=(k,)) for k in ("a", "b")]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    rates = wait_for(lambda: [tr["rate_bee_per_s"] for tr in load.ctl.call("status")["transfers"]
                              if tr["role"] == "send"] or None, 10, "two transfers")  # fmt: skip
    for t in threads:
        t.join(90)
    wall_s = time.monotonic() - t0
    assert all(r["reason"] == "done" and r["delivered"] == 1000 for r in results.values()), results
    assert sum(rates) <= 400 + 1e-6, rates
    assert 4.3 < wall_s < 7.5, wall_s  # 2000 BEE at 400 BEE/s together: 5 s
    # Lifted, a transfer is as fast as the windows allow again.
    isp_wup(ns_pv, "10.1.0.21", c.NO_LIMIT)
    wait_for(lambda: load.ctl.call("status")["isp_window"] is None, 10, "the lifted window")
    fast, fast_s = timed(lambda: load.ctl.call("transfer", to="pv", quantity=1000, timeout=60))
    assert fast["reason"] == "done" and fast_s < 2.0, fast_s
    debits = ledger_rows(load.ledger_path, "debit")
    assert debits == ledger_rows(pv.ledger_path, "credit") and len(debits) == 300
