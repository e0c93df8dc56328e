"""The Energy ISP controller on real switches: forwarding, the card firewall, policing and islanding.

Mininet + Open vSwitch (userspace datapath) + `eip controller` (os-ken) + real cards. On failure the
test prints the switches' flows and meters; the emulation is always torn down.
"""

import json
import sys
import time

import pytest

from eip.card.harness import wait_for
from eip.net.emulation import Emulation, default_limits
from eip.net.nodes import EicHost
from eip.net.plan import plan_from_topo
from eip.reliability.hostile import FLOOD, SNIFF, SPOOF
from topologies.vpp_lans import VppLansTopo

pytestmark = pytest.mark.integration

QUANTUM = 10


class RogueTopo(VppLansTopo):
    """Two VPPs of two cards, plus a host on LAN 1 that is not a registered card."""

    def build(self, *args, **kwargs):
        super().build(*args, **kwargs)
        self.addHost("rogue", cls=EicHost, mac="02:00:00:00:01:99", ip="10.1.0.99/24",
                     gateway="10.1.0.254")  # fmt: skip
        self.addLink("rogue", "s1", port1=0, port2=50)


@pytest.fixture
def emulation(tmp_path, request):
    topo = getattr(request, "param", None) or RogueTopo(2, 2)
    plan = plan_from_topo(topo)
    limits = default_limits(plan, period_s=4.0, quantum_bee=QUANTUM)
    # v1c1 may export only 300 BEE per 4 s period: 8 segments/s, the quota cuts it earlier.
    limits["cards"] = {"02:00:00:00:01:01": {"export_bee": 300, "import_bee": 1_000_000}}
    emu = Emulation(topo, tmp_path, limits=limits)
    try:
        with emu:
            yield emu
    except Exception:
        if emu.net is not None:
            print(emu.net.dump_flows())
        raise


def run_in(emu, host: str, script: str, *args) -> str:
    out, err, code = emu.net.host(host).pexec([sys.executable, "-c", script, *map(str, args)])
    assert code == 0, err
    return out


def test_cards_talk_across_lans_through_routers(emulation):
    result = emulation.net.card("v1c2").call("transfer", to="v2c1", quantity=3000, timeout=60)
    assert result["reason"] == "done" and result["delivered"] == 3000
    status = emulation.status()
    assert status["controller"]["openflow_errors"] == 0
    assert status["controller"]["handler_errors"] == 0


def test_spoofed_and_unregistered_senders_are_dropped_and_counted(emulation):
    net = emulation.net
    sniffer = net.host("v2c1").popen([sys.executable, "-c", SNIFF, "v2c1-eth0", "10.1.0.12", "4"])
    assert sniffer.stdout.readline().strip() == b"ready"
    router_mac = "02:00:00:fe:01:01"
    # v1c1's port: its own IP but another card's MAC, then its own MAC with another IP.
    run_in(emulation, "v1c1", SPOOF, "v1c1-eth0", "02:00:00:00:01:02", router_mac, "10.1.0.12",
           "10.2.0.11", 20)  # fmt: skip
    run_in(emulation, "v1c1", SPOOF, "v1c1-eth0", "02:00:00:00:01:01", router_mac, "10.1.0.12",
           "10.2.0.11", 20)  # fmt: skip
    # A host that is no registered card, claiming v1c2's identity.
    run_in(emulation, "rogue", SPOOF, "rogue-eth0", "02:00:00:00:01:02", router_mac, "10.1.0.12",
           "10.2.0.11", 20)  # fmt: skip
    out, _ = sniffer.communicate(timeout=30)
    assert json.loads(out.decode().splitlines()[-1]) == []  # nothing reached the receiver

    def dropped():
        s = emulation.status()
        return s if sum(_drops(s).values()) >= 60 else None

    status = wait_for(dropped, 15, "the firewall counters")
    drops = _drops(status)
    assert drops.get("s1:2", 0) >= 40 and drops.get("s1:50", 0) >= 20, drops


def _drops(status) -> dict:
    """Dropped protocol-253 packets per switch port, from the controller's status."""
    out = {}
    for sw_name, sw in status.get("switches", {}).items():
        for kind in ("dropped_spoofed", "dropped_unregistered"):
            for port, n in sw.get(kind, {}).items():
                out[f"{sw_name}:{port}"] = out.get(f"{sw_name}:{port}", 0) + n
    return out


def test_a_card_ignoring_its_window_is_policed_to_its_quota(emulation):
    net = emulation.net
    period_s, quota = 4.0, 300
    sniffer = net.host("v2c1").popen([sys.executable, "-c", SNIFF, "v2c1-eth0", "10.1.0.11", "11"])
    assert sniffer.stdout.readline().strip() == b"ready"
    sent = int(run_in(emulation, "v1c1", FLOOD, "10.1.0.11", "10.2.0.11", "02:00:00:00:01:01",
                      200, 9, QUANTUM))  # fmt: skip
    out, _ = sniffer.communicate(timeout=30)
    times = json.loads(out.decode().splitlines()[-1])
    per_period: dict[int, int] = {}
    for t in times:
        per_period[int(t // period_s)] = per_period.get(int(t // period_s), 0) + QUANTUM
    assert sent > 1000 and len(times) > 10, (sent, per_period)
    assert max(per_period.values()) <= quota + QUANTUM, per_period
    blocked = emulation.status()["cards"]
    assert any(c.get("quota_blocks", 0) for c in blocked.values()), blocked


def test_islanding_gives_unreachable_and_rejoin_restores(emulation):
    net = emulation.net
    net.island("vpp2")
    tid = net.card("v1c2").call("offer", to="v2c2", quantity=2000)["transfer_id"]

    def islanded_event():
        events = net.card("v1c2").call("events")["events"]
        return [e for e in events if e["kind"] == "unreachable" and "islanded" in e["detail"]]

    assert wait_for(islanded_event, 15, "an Energy unreachable (islanded)")
    inside = net.card("v2c1").call("transfer", to="v2c2", quantity=500, timeout=60)
    assert inside["reason"] == "done"  # local trading goes on inside the island
    net.rejoin("vpp2")
    time.sleep(0.5)
    result = net.card("v1c2").call("wait", transfer_id=tid, timeout=90)
    assert result["reason"] == "done" and result["delivered"] == 2000
