"""Energy-IP packets cross a real Linux router as IPv4 protocol 253 between raw sockets in namespaces."""

import json
import sys

import pytest

from eip.netns import link, namespaces
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, Packet

pytestmark = pytest.mark.integration

RECEIVER = """
import json, socket
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
s.settimeout(10)
print("ready", flush=True)
data, addr = s.recvfrom(65535)
print(json.dumps({"hex": data.hex(), "from": addr[0]}), flush=True)
"""

SENDER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 253)
s.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, int(sys.argv[2]) << 2)
s.sendto(bytes.fromhex(sys.argv[1]), (sys.argv[3], 0))
"""


def test_energy_packet_routed_between_lans_is_received_intact():
    bee = Bee(0, c.BEE_ELECTRICITY, 10000, 0, quantity=500, price_micro_per_kbee=420_000)
    pkt = Packet(
        "10.1.0.11",
        "10.2.0.21",
        EnergyIp(1, 0, "02:00:00:00:01:01", 3, 5, 5000),
        EnergyTcp(10, 49152, 5001, 1001, c.ETCP_ACK, 4000, records=(bee, bee)),
        dscp=8,
    )
    with namespaces("eipa", "eipr", "eipb") as (a, r, b):
        link(a, "a-eth0", "10.1.0.11/24", r, "r-eth0", "10.1.0.254/24")
        link(r, "r-eth1", "10.2.0.254/24", b, "b-eth0", "10.2.0.21/24")
        r.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        a.run("ip", "route", "add", "default", "via", "10.1.0.254")
        b.run("ip", "route", "add", "default", "via", "10.2.0.254")
        receiver = b.python(RECEIVER)
        try:
            assert receiver.stdout.readline().strip() == "ready"
            sent = a.run(
                sys.executable, "-c", SENDER, codec.encode_transport(pkt).hex(), "8", pkt.dst
            )
            assert sent.returncode == 0
            out, err = receiver.communicate(timeout=15)
        finally:
            receiver.kill()
        assert receiver.returncode == 0, err
        got = json.loads(out)
        received = codec.decode(bytes.fromhex(got["hex"]))
    assert got["from"] == "10.1.0.11"
    # The router forwarded it as plain IPv4: TTL one lower, DSCP kept, Energy layers untouched.
    assert received.ttl == pkt.ttl - 1
    assert received.dscp == 8
    assert received._replace(ttl=pkt.ttl, ident=0) == pkt
