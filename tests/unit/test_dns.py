"""Energy DNS over real UDP on 127.0.0.1: register, resolve, move, authentication, robustness, CLI."""

import json
import os
import random
import socket
import subprocess
import sys
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from eip.dns import client
from eip.dns import records as r
from eip.dns.server import EnergyDnsServer
from eip.errors import EipError


def keypair(seed: int):
    key = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return key, public


KEY, PUB = keypair(1)
OTHER_KEY, OTHER_PUB = keypair(2)
EV = r.make_entry("ev1", "10.1.0.11", "02:00:00:00:01:01", "ev", "vpp1", PUB)


@pytest.fixture
def server():
    srv = EnergyDnsServer(("127.0.0.1", 0)).start()
    yield srv
    srv.stop()


def run_eip(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eip.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


# --- records ---


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", "EV_1"),
        ("name", "-ev"),
        ("name", "a" * 64),
        ("name", "mac"),
        ("energy_ip", "10.1.0.256"),
        ("mac", "02:00:00:00:01"),
        ("kind", "toaster"),
        ("vpp", "vpp 1"),
        ("public_key", b"\x00" * 31),
        ("updated_s", -1.0),
    ],
)
def test_entry_validation_names_the_bad_field(field, value):
    with pytest.raises(EipError, match=field):
        EV._replace(**{field: value}).checked()


def test_entry_round_trips_through_its_rrsets():
    entry = EV._replace(updated_s=1700000000.25)
    rrsets = r.to_rrsets(entry)
    assert [rs.name.to_text() for rs in rrsets] == [
        "ev1.energy.",
        "ev1.energy.",
        "020000000101.mac.energy.",
        "020000000101.mac.energy.",
    ]
    assert r.from_rrsets(rrsets, r.card_owner("ev1")) == entry
    assert r.from_rrsets(rrsets, r.mac_owner(entry.mac)) == entry
    assert rrsets[1][0].strings[:4] == (
        b"mac=02:00:00:00:01:01",
        b"kind=ev",
        b"vpp=vpp1",
        b"key=" + PUB.hex().encode(),
    )
    assert rrsets[3][0].strings[0] == b"name=ev1"


# --- register, resolve, move ---


def test_register_then_resolve_by_name_and_by_mac(server):
    done = client.register(EV, server.address, KEY.sign)
    assert done.updated_s > 0
    by_name = client.resolve("ev1", server.address)
    by_mac = client.resolve_mac("02:00:00:00:01:01", server.address)
    assert by_name == by_mac == done
    assert (by_name.energy_ip, by_name.kind, by_name.vpp, by_name.public_key) == (
        "10.1.0.11",
        "ev",
        "vpp1",
        PUB,
    )
    assert server.stats()["cards"] == 1
    assert server.stats()["updates"] == 1


def test_card_that_moves_is_followed_by_name_and_mac(server):
    client.register(EV, server.address, KEY.sign)
    moved = client.register(
        EV._replace(energy_ip="10.2.0.37", vpp="vpp2"), server.address, KEY.sign
    )
    assert client.resolve("ev1", server.address) == moved
    assert client.resolve_mac(EV.mac, server.address).energy_ip == "10.2.0.37"
    assert client.resolve_mac(EV.mac, server.address).vpp == "vpp2"
    assert server.stats()["cards"] == 1


def test_update_signed_with_another_key_is_refused_and_entry_unchanged(server):
    first = client.register(EV, server.address, KEY.sign)
    hijack = EV._replace(energy_ip="10.9.9.9", public_key=OTHER_PUB)
    with pytest.raises(
        EipError, match=r"REFUSED.*signature does not match the registered key of ev1"
    ):
        client.register(hijack, server.address, OTHER_KEY.sign)
    with pytest.raises(EipError, match="signature does not match"):
        client.unregister("ev1", server.address, OTHER_KEY.sign)
    assert client.resolve("ev1", server.address) == first
    assert client.resolve_mac(EV.mac, server.address) == first
    assert server.stats()["refused"] == 2


def test_forged_first_registration_is_refused(server):
    # A new name's UPDATE must be signed by the key it registers (proof of possession).
    with pytest.raises(EipError, match="signature does not match"):
        client.register(EV, server.address, OTHER_KEY.sign)
    with pytest.raises(EipError, match="unknown card ev1"):
        client.resolve("ev1", server.address)


def test_replayed_update_is_refused_and_retransmission_is_harmless(server):
    old = client.register(
        EV._replace(updated_s=round(time.time(), 6) - 10), server.address, KEY.sign
    )
    new = client.register(EV._replace(energy_ip="10.2.0.5"), server.address, KEY.sign)
    with pytest.raises(EipError, match="replayed or stale"):
        client.register(old, server.address, KEY.sign)
    assert client.register(new, server.address, KEY.sign) == new  # same UPDATE again: NOERROR
    assert client.resolve("ev1", server.address).energy_ip == "10.2.0.5"


def test_stale_timestamp_is_refused(server):
    with pytest.raises(EipError, match="from the server's clock"):
        client.register(EV._replace(updated_s=1000.0), server.address, KEY.sign)


def test_mac_held_by_another_card_is_refused(server):
    client.register(EV, server.address, KEY.sign)
    thief = EV._replace(name="ev2", public_key=OTHER_PUB)
    with pytest.raises(EipError, match="mac 02:00:00:00:01:01 is already registered to ev1"):
        client.register(thief, server.address, OTHER_KEY.sign)
    assert client.resolve_mac(EV.mac, server.address).name == "ev1"


ISP = "isp=10.0.0.254,02:00:00:00:00:fe,isp"
POOL = "pool-vpp1=10.1.0.254,02:00:00:fe:01:01,router"


def test_service_entries_resolve_by_name_and_no_card_can_take_or_change_them(tmp_path):
    services = [r.parse_service(ISP), r.parse_service(POOL)]
    srv = EnergyDnsServer(("127.0.0.1", 0), store_path=tmp_path / "zone.json", services=services)
    srv.start()
    try:
        isp = client.resolve("isp", srv.address)
        assert (isp.energy_ip, isp.mac, isp.kind, isp.public_key) == (
            "10.0.0.254", "02:00:00:00:00:fe", "isp", b"")  # fmt: skip
        assert client.resolve_mac("02:00:00:fe:01:01", srv.address).name == "pool-vpp1"
        # a card claiming the ISP's name, or the pool's MAC, is refused; the entries stay
        claim = EV._replace(name="isp", energy_ip="10.1.0.66")
        with pytest.raises(EipError, match="isp is a service entry of the zone"):
            client.register(claim, srv.address, KEY.sign)
        with pytest.raises(EipError, match="is a service entry of the zone, not deleted"):
            client.unregister("isp", srv.address, KEY.sign)
        thief = EV._replace(name="thief", mac="02:00:00:fe:01:01")
        with pytest.raises(EipError, match="already registered to pool-vpp1"):
            client.register(thief, srv.address, KEY.sign)
        client.register(EV, srv.address, KEY.sign)  # a card registers beside them as always
        assert client.resolve("isp", srv.address).energy_ip == "10.0.0.254"
    finally:
        srv.stop()
    # restarted on its store, the zone holds the card and the services again
    again = EnergyDnsServer(("127.0.0.1", 0), store_path=tmp_path / "zone.json",
                            services=services)  # fmt: skip
    assert sorted(e.name for e in again.entries()) == ["ev1", "isp", "pool-vpp1"]
    again.stop()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("isp", "expected NAME=IP,MAC,KIND"),
        ("isp=10.0.0.254,02:00:00:00:00:fe", "expected NAME=IP,MAC,KIND"),
        ("isp=10.0.0.256,02:00:00:00:00:fe,isp", "energy_ip"),
        ("pv1=10.1.0.11,02:00:00:00:01:01,pv", "kind must be one of router, server, isp"),
    ],
)
def test_a_bad_service_is_named(text, error):
    with pytest.raises(EipError, match=error):
        r.parse_service(text)
    # a card's entry needs its key: only a service may have none
    with pytest.raises(EipError, match="only a service entry"):
        r.make_entry("pv1", "10.1.0.11", "02:00:00:00:01:01", "pv")


def test_unregister_removes_both_names(server):
    client.register(EV, server.address, KEY.sign)
    client.unregister("ev1", server.address, KEY.sign)
    with pytest.raises(EipError, match="unknown card ev1"):
        client.resolve("ev1", server.address)
    with pytest.raises(EipError, match="unknown card 02:00:00:00:01:01"):
        client.resolve_mac(EV.mac, server.address)
    with pytest.raises(EipError, match="unknown card ev1"):
        client.unregister("ev1", server.address, KEY.sign)
    assert server.stats()["cards"] == 0


def test_mac_change_moves_the_reverse_entry(server):
    client.register(EV, server.address, KEY.sign)
    client.register(EV._replace(mac="02:00:00:00:01:02"), server.address, KEY.sign)
    assert client.resolve_mac("02:00:00:00:01:02", server.address).name == "ev1"
    with pytest.raises(EipError, match="unknown card"):
        client.resolve_mac(EV.mac, server.address)


def test_unsigned_update_is_refused(server):
    update = dns.update.UpdateMessage("energy.")
    update.replace("ev1", 60, "A", "10.1.0.11")
    reply = dns.query.udp(update, *server.address[:1], port=server.address[1], timeout=2)
    assert reply.rcode() == dns.rcode.REFUSED
    assert server.stats()["refused"] == 1
    assert server.stats()["cards"] == 0


def test_update_for_a_mac_name_or_another_zone_is_rejected(server):
    bad_owner = dns.update.UpdateMessage("energy.")
    bad_owner.replace("020000000101.mac", 60, "A", "10.1.0.11")
    other_zone = dns.update.UpdateMessage("example.")
    other_zone.replace("ev1", 60, "A", "10.1.0.11")
    ip, port = server.address
    assert dns.query.udp(bad_owner, ip, port=port, timeout=2).rcode() == dns.rcode.REFUSED
    assert dns.query.udp(other_zone, ip, port=port, timeout=2).rcode() == dns.rcode.NOTAUTH


# --- QUERY behaviour, dig-style ---


def test_dig_style_a_and_txt(server):
    entry = client.register(EV, server.address, KEY.sign)
    ip, port = server.address
    a = dns.query.udp(dns.message.make_query("ev1.energy.", "A"), ip, port=port, timeout=2)
    assert a.rcode() == dns.rcode.NOERROR
    assert a.flags & dns.flags.AA
    assert [str(rd) for rd in a.answer[0]] == ["10.1.0.11"]
    assert a.answer[0].ttl == r.TTL_S
    txt = dns.query.udp(dns.message.make_query("EV1.Energy.", "TXT"), ip, port=port, timeout=2)
    assert txt.answer[0].name.to_text() == "EV1.Energy."
    assert txt.answer[0][0].strings == tuple(s.encode() for s in r.txt_strings(entry))
    rev = dns.query.udp(
        dns.message.make_query("020000000101.mac.energy.", "TXT"), ip, port=port, timeout=2
    )
    assert rev.answer[0][0].strings[0] == b"name=ev1"
    nodata = dns.query.udp(dns.message.make_query("ev1.energy.", "AAAA"), ip, port=port, timeout=2)
    assert (nodata.rcode(), nodata.answer, nodata.authority[0].rdtype) == (
        dns.rcode.NOERROR,
        [],
        dns.rdatatype.SOA,
    )
    soa = dns.query.udp(dns.message.make_query("energy.", "SOA"), ip, port=port, timeout=2)
    assert soa.answer[0][0].serial == 2  # one change since start


def test_nxdomain_and_refused_outside_the_zone(server):
    ip, port = server.address
    nx = dns.query.udp(dns.message.make_query("nobody.energy.", "A"), ip, port=port, timeout=2)
    assert nx.rcode() == dns.rcode.NXDOMAIN
    assert nx.flags & dns.flags.AA
    assert nx.authority[0].rdtype == dns.rdatatype.SOA
    deep = dns.query.udp(dns.message.make_query("x.ev1.energy.", "A"), ip, port=port, timeout=2)
    assert deep.rcode() == dns.rcode.NXDOMAIN
    out = dns.query.udp(dns.message.make_query("example.com.", "A"), ip, port=port, timeout=2)
    assert out.rcode() == dns.rcode.REFUSED
    assert not out.flags & dns.flags.AA
    assert server.stats()["nxdomain"] == 2
    assert server.stats()["refused"] == 1


def test_other_opcodes_get_notimp(server):
    notify = dns.message.make_query("energy.", "SOA")
    notify.set_opcode(dns.opcode.NOTIFY)
    reply = dns.query.udp(notify, server.address[0], port=server.address[1], timeout=2)
    assert reply.rcode() == dns.rcode.NOTIMP
    assert server.stats()["notimp"] == 1


def test_malformed_and_random_bytes_never_stop_the_server(server):
    client.register(EV, server.address, KEY.sign)
    rng = random.Random(2024)
    valid = dns.message.make_query("ev1.energy.", "A").to_wire()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.settimeout(2)
    sent = 0

    def sync(ident: int) -> bytes:
        """Send a garbage query with a proper header; it gets FORMERR with its id (syncs the burst)."""
        sock.sendto(ident.to_bytes(2) + b"\x01\x00\x00\x01" + bytes(6) + b"\xff", server.address)
        while True:
            data, _ = sock.recvfrom(65535)
            if data[:2] == ident.to_bytes(2):
                return data

    for i in range(600):
        if i % 3 == 0:
            wire = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
        else:  # a valid query with a few bytes flipped or cut short: reaches the deeper parsers
            wire = bytearray(valid[: rng.randrange(len(valid) + 1)])
            for _ in range(rng.randrange(1, 4)):
                if wire:
                    wire[rng.randrange(len(wire))] = rng.randrange(256)
            wire = bytes(wire)
        sock.sendto(wire, server.address)
        sent += 1
        if i % 50 == 49:  # keep bursts below the socket buffers
            data = sync(0x1234 + i)
            assert data[3] & 0x0F == dns.rcode.FORMERR
            assert data[2] & 0x80  # QR
            sent += 1
    sock.close()
    assert client.resolve("ev1", server.address).energy_ip == "10.1.0.11"
    stats = server.stats()
    assert stats["malformed"] >= 200
    assert stats["errors"] == 0
    assert stats["malformed"] + stats["queries"] + stats["notimp"] + stats["updates"] <= sent + 10


def test_zone_handles_every_truncation_of_an_update_without_raising():
    srv = EnergyDnsServer(("127.0.0.1", 0))
    try:
        update = dns.update.UpdateMessage("energy.")
        update.replace("ev1", 60, "A", "10.1.0.11")
        wire = update.to_wire()
        for cut in range(len(wire) + 1):
            reply = srv.handle(wire[:cut])
            assert reply is None or len(reply) >= 12
        assert srv.handle(b"\x00" * 3) is None
        assert srv.handle(b"\x00\x01\x80\x00" + b"\x00" * 8) is None  # a response: never answered
    finally:
        srv.stop()


# --- persistence ---


def test_zone_persists_across_restart(tmp_path):
    store = tmp_path / "zone.json"
    with EnergyDnsServer(("127.0.0.1", 0), store_path=store) as srv:
        entry = client.register(EV, srv.address, KEY.sign)
    doc = json.loads(store.read_text())
    assert doc["cards"][0]["name"] == "ev1"
    assert not list(tmp_path.glob(".zone.json.*"))  # atomic write left no temp file
    with EnergyDnsServer(("127.0.0.1", 0), store_path=store) as srv:
        assert client.resolve("ev1", srv.address) == entry
        assert client.resolve_mac(EV.mac, srv.address) == entry
        # Trust on first use survives the restart: the stored key still guards the name.
        with pytest.raises(EipError, match="signature does not match"):
            client.register(EV._replace(public_key=OTHER_PUB), srv.address, OTHER_KEY.sign)


def test_corrupt_store_is_a_clear_error(tmp_path):
    store = tmp_path / "zone.json"
    store.write_text("{not json")
    with pytest.raises(EipError, match="zone store"):
        EnergyDnsServer(("127.0.0.1", 0), store_path=store)


# --- client errors ---


def test_no_server_is_a_clear_error():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))  # a port where nobody answers
    port = sock.getsockname()[1]
    try:
        with pytest.raises(EipError, match=f"no answer from DNS server 127.0.0.1:{port}"):
            client.resolve("ev1", ("127.0.0.1", port), timeout=0.4)
    finally:
        sock.close()


def test_parse_server():
    assert client.parse_server("10.0.0.53") == ("10.0.0.53", 53)
    assert client.parse_server("10.0.0.53:5353") == ("10.0.0.53", 5353)
    with pytest.raises(EipError, match="IP\\[:PORT\\]"):
        client.parse_server("dns.example:53")


# --- CLI ---


def test_cli_register_and_resolve(server, tmp_path):
    pem = tmp_path / "ev1.pem"
    pem.write_bytes(
        KEY.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    env = {"EIP_DNS": f"{server.address[0]}:{server.address[1]}"}
    done = run_eip(
        "dns",
        "register",
        "ev1",
        "--ip",
        "10.1.0.11",
        "--mac",
        "02:00:00:00:01:01",
        "--kind",
        "ev",
        "--vpp",
        "vpp1",
        "--key-file",
        str(pem),
        env=env,
    )
    assert done.returncode == 0, done.stderr
    out = run_eip("resolve", "ev1", env=env)
    assert out.returncode == 0, out.stderr
    assert (
        "10.1.0.11" in out.stdout and "02:00:00:00:01:01" in out.stdout and PUB.hex() in out.stdout
    )
    as_json = run_eip("resolve", "02:00:00:00:01:01", "--json", "--server", env["EIP_DNS"])
    assert json.loads(as_json.stdout)["name"] == "ev1"
    assert json.loads(as_json.stdout)["public_key"] == PUB.hex()


def test_cli_errors_have_no_traceback(server, tmp_path):
    env = {"EIP_DNS": f"{server.address[0]}:{server.address[1]}"}
    unknown = run_eip("resolve", "nobody", env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "eip resolve: error: unknown card nobody"
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    try:
        silent = run_eip("resolve", "ev1", "--server", f"127.0.0.1:{port}", "--timeout", "0.4")
    finally:
        sock.close()
    assert silent.returncode == 1
    assert (
        silent.stderr.strip() == f"eip resolve: error: no answer from DNS server 127.0.0.1:{port}"
    )
    bad_key = tmp_path / "bad.pem"
    bad_key.write_text("not a key")
    reg = run_eip(
        "dns",
        "register",
        "ev1",
        "--ip",
        "10.1.0.11",
        "--mac",
        "02:00:00:00:01:01",
        "--kind",
        "ev",
        "--key-file",
        str(bad_key),
        env=env,
    )
    assert reg.returncode == 1
    assert "Traceback" not in reg.stderr and "key file" in reg.stderr
    bad_kind = run_eip(
        "dns",
        "register",
        "ev1",
        "--ip",
        "10.1.0.11",
        "--mac",
        "02:00:00:00:01:01",
        "--kind",
        "toaster",
        "--key-file",
        str(bad_key),
        env=env,
    )
    assert bad_kind.returncode == 1 and "Traceback" not in bad_kind.stderr


def _signed_update_wire() -> bytes:
    entry = EV._replace(updated_s=round(time.time(), 6))
    owner = r.card_owner("ev1")
    update = dns.update.UpdateMessage("energy.")
    update.delete(owner)
    for rrset in r.card_rrsets(entry):
        update.add(owner, rrset)
    sig = KEY.sign(r.update_content("energy.", "add", "ev1", entry.updated_s, entry))
    update.add(owner, r.sig_rrset(owner, sig, entry.updated_s))
    return update.to_wire()


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_fuzzed_datagrams_are_answered_or_dropped_never_raise(fuzz_server, data):
    base = data.draw(st.sampled_from([_SIGNED_UPDATE, _QUERY]))
    wire = bytearray(base)
    for _ in range(data.draw(st.integers(0, 6))):
        wire[data.draw(st.integers(0, len(wire) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(wire))))
    wire = bytes(wire[:cut]) + data.draw(st.binary(max_size=8))
    reply = fuzz_server.handle(wire)
    assert reply is None or len(reply) >= 12
    if reply is not None:
        assert reply[:2] == wire[:2]  # the id is echoed
    assert fuzz_server.stats()["errors"] == 0


_SIGNED_UPDATE = _signed_update_wire()
_QUERY = dns.message.make_query("ev1.energy.", "ANY").to_wire()


@pytest.fixture(scope="module")
def fuzz_server():
    """Not started: the fuzz test feeds `handle()` directly, thousands of datagrams a second."""
    srv = EnergyDnsServer(("127.0.0.1", 0))
    yield srv
    stats = srv.stats()
    srv.stop()
    assert stats["malformed"] > 0 and stats["queries"] + stats["updates"] > 0
