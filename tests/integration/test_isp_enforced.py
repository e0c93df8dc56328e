"""The Energy ISP's OPF-derived limits are the ones the switches enforce (Mininet + OVS + `eip controller --isp`).

Seed 000's four-node grid in the evening peak (grid period 8, 16:00): line L0 (grid-urban) is loaded,
so the urban bus may not export and the EV card at that bus gets a low static export limit. The EV
card floods protocol 253 far above it towards the rural load. The receiver sees at most the ISP's quota
of each period plus one segment, and the card meter on the switch has exactly the rate the ISP's limit
gives.
"""

import json
import math
import re
import subprocess
import sys
import time

import pytest

from eip.card.harness import wait_for
from eip.net.emulation import Emulation, default_limits
from eip.net.plan import plan_from_topo
from tests.integration.test_controller import FLOOD, SNIFF
from topologies.four_node import FourNodeTopo

pytestmark = pytest.mark.integration

QUANTUM = 10
PERIOD_S = 4.0
FIRST_PERIOD = 8  # the evening peak of the seed's day: L0 congested
EV, RECEIVER = "ev", "rural-load"


@pytest.fixture
def emulation(tmp_path):
    topo = FourNodeTopo()
    plan = plan_from_topo(topo)
    # With --isp the limits file only gives period_s and quantum_bee (and a fallback for period 0).
    limits = default_limits(plan, period_s=PERIOD_S, quantum_bee=QUANTUM)
    emu = Emulation(topo, tmp_path, limits=limits, start_cards=False, isp=True, isp_enforce=True,
                    isp_first_period=FIRST_PERIOD)  # fmt: skip
    try:
        with emu:
            yield emu
    except Exception:
        if emu.net is not None:
            print(emu.net.dump_flows())
        print(emu.log_tail(40))
        raise


def dump_meters(switch: str) -> dict:
    """meter id -> (pktps rate, burst) as Open vSwitch has them."""
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-meters", switch],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    meters = {}
    for m in re.finditer(r"meter=(\d+)\s+pktps.*?rate=(\d+)(?:\s+burst_size=(\d+))?", out, re.S):
        meters[int(m.group(1))] = (int(m.group(2)), int(m.group(3) or 0))
    return meters


def isp_status(emu) -> dict | None:
    s = emu.status()
    isp = s.get("isp", {})
    return s if isp.get("period") is not None and "cards" in s else None


def test_the_switch_enforces_the_opf_derived_limit(emulation):
    net, plan = emulation.net, emulation.plan
    ev = next(c for c in plan.cards if c.name == EV)
    rx = next(c for c in plan.cards if c.name == RECEIVER)
    status = wait_for(lambda: isp_status(emulation), 30, "the ISP's first period in the status")
    isp = status["isp"]
    assert isp["method"] in ("ac", "dc") and not isp["fail_safe"], isp
    assert isp["period"] >= FIRST_PERIOD
    # L0 is loaded: the urban bus (2) may not export, and the EV's export limit is low
    assert isp["bus_export_kw"]["2"] < 1.0, isp["bus_export_kw"]
    ev_quota = isp["cards"][ev.mac]["export_bee"]
    assert 0 < ev_quota < 200, isp["cards"]

    # Idle: every card meter on the switches has the rate of the ISP's limit in force.
    def consistent():
        s = emulation.status()
        meters = {sw.name: dump_meters(sw.name) for sw in plan.switches if sw.role != "wan"}
        again = emulation.status()
        if s.get("isp", {}).get("period") != again.get("isp", {}).get("period"):
            return None  # a period boundary in between: look again
        return s, meters

    s, meters = wait_for(consistent, 15, "a status and meters of the same period")
    for card in plan.cards:
        c = s["cards"][card.name]
        limit = s["isp"]["cards"][card.mac]["export_bee"]
        assert c["quota_bee"] == limit
        rate, _burst = meters[card.switch][c["meter_id"]]
        assert rate == c["rate_pktps"], (card.name, rate, c)
        if c["window_bee"] is None:
            assert rate == max(1, math.ceil(limit / PERIOD_S / QUANTUM)), (card.name, rate, limit)

    # The EV floods at 100 segments/s (1000 BEE/s, 3.6 MW) for three periods.
    sniffer = net.host(RECEIVER).popen(
        [sys.executable, "-c", SNIFF, f"{RECEIVER}-eth0", ev.ip, "13"]
    )
    assert sniffer.stdout.readline().strip() == b"ready"
    flooder = net.host(EV).popen(
        [sys.executable, "-c", FLOOD, ev.ip, rx.ip, ev.mac, "100", "12", str(QUANTUM)]
    )
    imported, deadline = 0, time.monotonic() + 14
    while flooder.poll() is None and time.monotonic() < deadline:
        card = emulation.status().get("cards", {}).get(RECEIVER, {})
        imported = max(imported, card.get("import_used_bee", 0))
        time.sleep(0.3)
    fl_out, fl_err = flooder.communicate(timeout=30)
    assert flooder.returncode == 0, fl_err
    sent = int(fl_out.decode().split()[-1])
    out, _ = sniffer.communicate(timeout=60)
    times = json.loads(out.decode().splitlines()[-1])
    time.sleep(1.5)  # one more status write
    final = emulation.status()
    epoch = final["epoch_s"]
    history = final["isp"]["history"]
    received: dict[int, int] = {}
    for t in times:
        p = math.floor((t - epoch) / PERIOD_S)
        received[p] = received.get(p, 0) + QUANTUM
    print("sent", sent, "received BEE per period", received, "EV quota per period",
          {p: h["export_bee"][ev.mac] for p, h in history.items()}, "imported", imported)  # fmt: skip
    assert sent > 1000 and times, (sent, len(times))
    for p, bee in sorted(received.items()):
        quota = history[str(p)]["export_bee"][ev.mac]
        assert bee <= quota + QUANTUM, (p, bee, quota, history)
    # the flood was held: far less than sent, and the quota blocks happened
    assert sum(received.values()) < sent * QUANTUM / 5
    assert final["cards"][EV]["quota_blocks"] >= 2
    # the ISP saw the EV's export and the receiver's import as nodal injections, and kept going
    assert final["isp"]["periods_run"] >= 4 and final["isp"]["errors"] == 0
    assert imported > 0  # the receiver's imports are metered (its table-2 rule)
    assert final["controller"]["openflow_errors"] == 0
    assert final["controller"]["handler_errors"] == 0
