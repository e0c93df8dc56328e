"""Energy DNS in an emulation (Mininet + OVS + controller): every card registers itself on the first
VPP router's DNS, and with `peers="dns"` cards know no other card from their config and find each
other through it, by name for a transfer and by MAC for the sender's key."""

import json

import pytest
import yaml

from eip.net.emulation import Emulation, default_limits
from eip.net.plan import plan_from_topo
from eip.reliability.faults import settled_books
from topologies.vpp_lans import VppLansTopo

pytestmark = pytest.mark.integration


def test_cards_find_each_other_through_energy_dns(tmp_path):
    topo = VppLansTopo(2, 2)
    limits = default_limits(plan_from_topo(topo), period_s=60.0, quantum_bee=10)
    with Emulation(topo, tmp_path, limits=limits, pools=False, sden=False, peers="dns") as emu:
        config = yaml.safe_load((emu.net.card_dir("v1c1") / "card.yaml").read_text())
        assert config["peers"] == [] and config["dns"] == "10.1.0.254:53"
        # ... and the ISP and its own VPP's pool by name, which the zone holds as service entries
        assert (config["isp"], config["pool"]) == ("isp", "pool-vpp1")
        zone = json.loads((tmp_path / "dns-zone.json").read_text())
        assert sorted(c["name"] for c in zone["cards"]) == [
            "isp", "pool-vpp1", "pool-vpp2", "v1c1", "v1c2", "v2c1", "v2c2"]  # fmt: skip
        status = emu.net.card("v2c1", timeout=90).call("status")
        assert status["isp_ip"] == "10.0.0.254"  # found by name at start
        # across both routers, by name: the sender resolves v2c2, the receiver v1c1's key by MAC
        done = emu.net.card("v1c1", timeout=90).call("transfer", to="v2c2", quantity=300,
                                                     timeout=60)  # fmt: skip
        assert done["reason"] == "done" and done["delivered"] == 300, done
        back = emu.net.card("v2c2", timeout=90).call("transfer", to="v1c1", quantity=100,
                                                     timeout=60)  # fmt: skip
        assert back["reason"] == "done" and back["delivered"] == 100, back
        books = settled_books(emu)
        assert books["ok"], books
        with pytest.raises(Exception, match="no-such-card"):
            emu.net.card("v1c1").call("transfer", to="no-such-card", quantity=10, timeout=10)
