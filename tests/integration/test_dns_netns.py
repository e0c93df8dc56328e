"""Energy DNS across a real veth link: `eip dns serve` in one namespace, cards register and resolve
from another with the CLI (signed RFC 2136 UPDATEs and queries over UDP port 53).

    ns dns (10.53.0.1/24, eip dns serve :53) --veth-- ns card (10.53.0.2/24, eip dns register / resolve)
"""

import json
import sys
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eip.netns import link, namespaces

pytestmark = pytest.mark.integration

SERVER = "10.53.0.1"


def write_key(path, seed: int) -> str:
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return public.hex()


def eip(ns, *args: str):
    return ns.run(sys.executable, "-m", "eip.cli.main", *args, check=False)


def test_register_move_and_resolve_over_a_veth_link(tmp_path):
    ev_pub = write_key(tmp_path / "ev1.pem", 7)
    write_key(tmp_path / "thief.pem", 8)
    store = tmp_path / "zone.json"
    with namespaces("eipdns", "eipcard") as (dns_ns, card_ns):
        link(dns_ns, "d-eth0", f"{SERVER}/24", card_ns, "c-eth0", "10.53.0.2/24")
        server = dns_ns.popen(
            sys.executable,
            "-m",
            "eip.cli.main",
            "dns",
            "serve",
            "--bind",
            SERVER,
            "--store",
            str(store),
        )
        try:
            server_arg = ("--server", f"{SERVER}:53")
            deadline = time.monotonic() + 15
            while True:  # wait until the server answers across the link (NXDOMAIN = up)
                probe = eip(card_ns, "resolve", "ev1", *server_arg, "--timeout", "0.5")
                if "unknown card ev1" in probe.stderr:
                    break
                assert time.monotonic() < deadline, probe.stderr
                assert server.poll() is None, server.communicate()
            register = ("dns", "register", "ev1", "--mac", "02:00:00:00:01:01", "--kind", "ev")
            home = eip(
                card_ns,
                *register,
                "--ip",
                "10.1.0.11",
                "--vpp",
                "vpp1",
                "--key-file",
                str(tmp_path / "ev1.pem"),
                *server_arg,
            )
            assert home.returncode == 0, home.stderr
            # The EV moves to another VPP LAN: new Energy IP, same MAC and key.
            moved = eip(
                card_ns,
                *register,
                "--ip",
                "10.2.0.37",
                "--vpp",
                "vpp2",
                "--key-file",
                str(tmp_path / "ev1.pem"),
                *server_arg,
            )
            assert moved.returncode == 0, moved.stderr
            by_name = eip(card_ns, "resolve", "ev1", "--json", *server_arg)
            by_mac = eip(card_ns, "resolve", "02:00:00:00:01:01", "--json", *server_arg)
            assert by_name.returncode == 0 and by_mac.returncode == 0, (
                by_name.stderr + by_mac.stderr
            )
            hijack = eip(
                card_ns,
                *register,
                "--ip",
                "10.9.9.9",
                "--key-file",
                str(tmp_path / "thief.pem"),
                *server_arg,
            )
            after = eip(card_ns, "resolve", "ev1", "--json", *server_arg)
        finally:
            server.send_signal(2)  # Ctrl-C: the server logs its counters and exits 0
            _out, err = server.communicate(timeout=10)
    got, reverse = json.loads(by_name.stdout), json.loads(by_mac.stdout)
    assert got == reverse
    assert (got["name"], got["energy_ip"], got["mac"], got["vpp"]) == (
        "ev1",
        "10.2.0.37",
        "02:00:00:00:01:01",
        "vpp2",
    )
    assert got["public_key"] == ev_pub
    assert hijack.returncode == 1
    assert "signature does not match the registered key of ev1" in hijack.stderr
    assert json.loads(after.stdout) == got
    assert server.returncode == 0, err
    assert "registered ev1" in err and "updated ev1" in err and "'refused': 1" in err
    assert json.loads(store.read_text())["cards"][0]["energy_ip"] == "10.2.0.37"
