"""An EV card moves to another VPP LAN mid-transfer: new Energy IP, same MAC and ledger, DNS follows.

Topology: a Linux router namespace with two bridges (VPP LANs 10.1.0.0/24 and 10.2.0.0/24) that also
runs Energy DNS; a PV card on LAN 1 and an EV card plugged first into LAN 1, then into LAN 2.
"""

import json
import subprocess
import sys
import time

import pytest

from eip.card.harness import CardProcess, ledger_rows, wait_for
from eip.netns import namespaces, sh

pytestmark = pytest.mark.integration

PV_MAC, EV_MAC = "02:00:00:00:01:01", "02:00:00:00:03:01"
SUBNETS = ["--vpp-subnet", "vpp1=10.1.0.0/24", "--vpp-subnet", "vpp2=10.2.0.0/24"]


def plug(router, bridge: str, ns, ifname: str, cidr: str, gateway: str, tag: str) -> str:
    """A veth from a host namespace into a router bridge; returns the router-side port name."""
    port = f"r{tag}"
    sh("ip", "link", "add", ifname, "netns", ns.name, "type", "veth", "peer", "name", port,
       "netns", router.name)  # fmt: skip
    router.run("ip", "link", "set", port, "master", bridge)
    router.run("ip", "link", "set", port, "up")
    ns.run("ip", "addr", "add", cidr, "dev", ifname)
    ns.run("ip", "link", "set", ifname, "up")
    ns.run("ethtool", "-K", ifname, "tx", "off", check=False)
    ns.run("ip", "route", "add", "default", "via", gateway)
    return port


def resolve(router, name: str) -> dict:
    done = router.run(sys.executable, "-m", "eip.cli.main", "resolve", name, "--server",
                      "127.0.0.1", "--json")  # fmt: skip
    return json.loads(done.stdout)


def test_ev_moves_to_another_vpp_mid_transfer(tmp_path):
    with namespaces("eipr", "eippv", "eipev") as (router, ns_pv, ns_ev):
        router.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        for bridge, cidr in (("br1", "10.1.0.254/24"), ("br2", "10.2.0.254/24")):
            router.run("ip", "link", "add", bridge, "type", "bridge")
            router.run("ip", "addr", "add", cidr, "dev", bridge)
            router.run("ip", "link", "set", bridge, "up")
        plug(router, "br1", ns_pv, "pv-eth0", "10.1.0.11/24", "10.1.0.254", "pv")
        ev_port = plug(router, "br1", ns_ev, "ev-eth0", "10.1.0.50/24", "10.1.0.254", "ev")
        dns = router.popen(sys.executable, "-m", "eip.cli.main", "dns", "serve", "--port", "53",
                           "--store", str(tmp_path / "zone.json"))  # fmt: skip
        cards = []
        try:
            time.sleep(0.5)
            common = ["--dns", "10.1.0.254", "--window-bee", "4000", *SUBNETS]
            pv = CardProcess("pv", ns_pv.name, tmp_path / "pv", [
                "--name", "pv", "--kind", "pv", "--mac", PV_MAC, "--state-dir",
                str(tmp_path / "pv"), *common])  # fmt: skip
            ev = CardProcess("ev", ns_ev.name, tmp_path / "ev", [
                "--name", "ev", "--kind", "ev", "--mac", EV_MAC, "--state-dir",
                str(tmp_path / "ev"), *common])  # fmt: skip
            (tmp_path / "pv").mkdir()
            (tmp_path / "ev").mkdir()
            cards = [pv.start(), ev.start()]
            assert resolve(router, "ev")["energy_ip"] == "10.1.0.50"
            assert ev.ctl.call("status")["vpp"] == "vpp1"

            total = 150_000
            tid = pv.ctl.call("offer", to="ev", quantity=total)["transfer_id"]
            credited = lambda: sum(q for _t, _s, q in ledger_rows(ev.ledger_path, "credit"))  # noqa: E731
            wait_for(lambda: credited() >= 10_000, 60, "the first credits")

            # Unplug the EV from LAN 1 and plug it into LAN 2, with an address there.
            router.run("ip", "link", "set", ev_port, "nomaster")
            router.run("ip", "link", "set", ev_port, "master", "br2")
            ns_ev.run("ip", "addr", "flush", "dev", "ev-eth0")
            ns_ev.run("ip", "addr", "add", "10.2.0.50/24", "dev", "ev-eth0")
            ns_ev.run("ip", "route", "replace", "default", "via", "10.2.0.254")
            assert credited() < total

            wait_for(lambda: credited() == total, 120, "the transfer to finish after the move")
            assert pv.ctl.call("wait", transfer_id=tid, timeout=60)["reason"] == "done"
            status = ev.ctl.call("status")
            assert (status["mac"], status["energy_ip"], status["vpp"]) == (
                EV_MAC,
                "10.2.0.50",
                "vpp2",
            )
            assert status["home_vpp"] == "vpp1"
            entry = wait_for(lambda: resolve(router, "ev")["energy_ip"] == "10.2.0.50" and
                             resolve(router, "ev"), 10, "DNS to follow the move")  # fmt: skip
            assert entry["mac"] == EV_MAC
            assert ledger_rows(pv.ledger_path, "debit") == ledger_rows(ev.ledger_path, "credit")
            assert ev.ctl.call("profile")["identity"]["mac"] == EV_MAC
            events = [e["kind"] for e in ev.ctl.call("events")["events"]]
            assert "moved" in events
            for card in cards:
                done = subprocess.run([sys.executable, "-m", "eip.cli.main", "ledger", "verify",
                                       str(card.ledger_path)], capture_output=True, text=True)  # fmt: skip
                assert done.returncode == 0, done.stdout
        finally:
            for card in cards:
                card.stop()
            dns.terminate()
            dns.wait(10)
