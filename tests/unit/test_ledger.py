"""The card ledger: both sides of a transfer agree, BEEs count exactly once, kill -9 loses nothing
half-done, and any edit of the file is found by verify (docs/card.md, sections Crash safety and Ledger)."""

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eip.card.ledger import (
    SCHEMA_VERSION,
    Ledger,
    LedgerError,
    VerifyResult,
    chain_hash,
    record_bytes,
)
from eip.cli.main import main
from eip.errors import EipError
from eip.etcp.keys import CardKey
from eip.etcp.model import Delivery, Endpoint, TransferInfo, transfer_id
from eip.protocol import constants as c
from eip.protocol.model import Bee
from eip.protocol.seq import seq_add
from eip.protocol.signing import delivery_message, receipt_message, records_digest

REPO = Path(__file__).resolve().parents[2]
SND_MAC = "02:00:00:00:01:01"
RCV_MAC = "02:00:00:00:02:01"
SND_KEY = CardKey.from_private_bytes(bytes([1]) * 32)
RCV_KEY = CardKey.from_private_bytes(bytes([2]) * 32)
MALLORY = CardKey.from_private_bytes(bytes([3]) * 32)
# 0.25 CNY/kWh = 250000 micro per 1000 Wh, 40 % green, 500 g/kWh = 500 mg/Wh.
TEMPLATE = Bee(bee_type=c.BEE_ELECTRICITY, green_ratio_bp=4000, carbon_mg_per_unit=500,
               quantity=1, price_micro_per_kbee=250_000, start_s=1000, end_s=4600)  # fmt: skip


class Flow:
    """One transfer between the sender and receiver cards, signing deliveries as both would."""

    def __init__(self, sport=10, rport=49152, isn=5000, template=TEMPLATE, total=1_000_000):
        self.snd = Endpoint(SND_MAC, "10.0.1.1", sport)
        self.rcv = Endpoint(RCV_MAC, "10.0.2.1", rport)
        self.isn = isn
        self.template = template
        self.total = total
        self.tid = transfer_id(self.snd, self.rcv, isn)
        self.next = seq_add(isn, 1)  # the SYN takes one sequence number

    def info(self, role: str) -> TransferInfo:
        snd_side = role == "send"
        local, peer = (self.snd, self.rcv) if snd_side else (self.rcv, self.snd)
        return TransferInfo(
            transfer_id=self.tid,
            role=role,
            peer_mac=peer.mac,
            peer_ip=peer.ip,
            local_port=local.port,
            peer_port=peer.port,
            isn=self.isn,
            template=self.template,
            quantity_total=self.total,
            quantum=10,
            next_seq=seq_add(self.isn, 1),
            opened_s=1.0,
        )

    def delivery(self, quantities, at_s=2.0, sender=SND_KEY, receiver=RCV_KEY, **bee_fields):
        """The next delivery record (direction credit) with BEEs of these quantities, signed."""
        start = seq = self.next
        bees = []
        for q in quantities:
            bees.append((seq, self.template._replace(quantity=q, **bee_fields)))
            seq = seq_add(seq, q)
        self.next = seq
        digest = records_digest(b for _, b in bees)
        msg = delivery_message(
            self.snd.mac, self.rcv.mac, self.snd.port, self.rcv.port, self.isn, start, seq, digest
        )
        ssig = sender.sign(msg)
        rsig = receiver.sign(receipt_message(msg, ssig))
        return Delivery(self.tid, "credit", start, seq, tuple(bees), ssig, rsig, at_s)


def debit(d: Delivery) -> Delivery:
    return d._replace(direction="debit")


def batch(deliveries, direction="credit"):
    return [(d._replace(direction=direction), d.end_seq) for d in deliveries]


def new_pair(tmp_path, flows=()):
    snd = Ledger.create(tmp_path / "snd.db", "pv-roof", "pv", SND_MAC, SND_KEY.public_bytes)
    rcv = Ledger.create(tmp_path / "rcv.db", "home-load", "load", RCV_MAC, RCV_KEY.public_bytes)
    snd.add_peer(RCV_MAC, "home-load", RCV_KEY.public_bytes)
    rcv.add_peer(SND_MAC, "pv-roof", SND_KEY.public_bytes)
    for flow in flows:
        assert snd.open_transfer(flow.info("send")) is True
        assert rcv.open_transfer(flow.info("receive")) is True
    return snd, rcv


def new_receiver(path, flows=()):
    led = Ledger.create(path, "home-load", "load", RCV_MAC, RCV_KEY.public_bytes)
    led.add_peer(SND_MAC, "pv-roof", SND_KEY.public_bytes)
    for flow in flows:
        led.open_transfer(flow.info("receive"))
    return led


def fill(led: Ledger, flow: Flow, n: int, per: int = 3) -> list[Delivery]:
    ds = [flow.delivery([i + 1] * per) for i in range(n)]
    assert led.commit(batch(ds)) == n
    return ds


# ----------------------------------------------------------------------------- identity, peers, transfers


def test_create_then_open_keeps_identity_and_schema(tmp_path):
    path = tmp_path / "sub" / "card.db"
    with Ledger.create(path, "ev-7", "ev", "02:AA:00:00:00:07", SND_KEY.public_bytes, vpp="vpp-1"):
        pass
    with Ledger.open(path) as led:
        ident = led.identity
        assert ident.name == "ev-7"
        assert ident.kind == "ev"
        assert ident.mac == "02:aa:00:00:00:07"
        assert ident.public_key == SND_KEY.public_bytes
        assert ident.vpp == "vpp-1"
        assert ident.energy_ip == ""
        led.set_energy_ip("10.0.3.7")
        led.set_vpp("vpp-3")
        pragmas = led._conn.execute("PRAGMA journal_mode").fetchone()[0]
        assert pragmas == "wal"
        assert led._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert led._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with Ledger.open(path) as led:
        assert (led.identity.energy_ip, led.identity.vpp) == ("10.0.3.7", "vpp-3")
        meta = dict(led._conn.execute("SELECT key, value FROM meta"))
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert meta["public_key"] == SND_KEY.public_hex


def test_create_refuses_an_existing_file_and_bad_values(tmp_path):
    path = tmp_path / "card.db"
    Ledger.create(path, "a", "pv", SND_MAC, SND_KEY.public_bytes).close()
    with pytest.raises(LedgerError, match="already exists"):
        Ledger.create(path, "a", "pv", SND_MAC, SND_KEY.public_bytes)
    with pytest.raises(LedgerError, match="bad MAC"):
        Ledger.create(tmp_path / "x.db", "a", "pv", "02:00:00", SND_KEY.public_bytes)
    with pytest.raises(LedgerError, match="32 bytes"):
        Ledger.create(tmp_path / "y.db", "a", "pv", SND_MAC, b"short")
    with Ledger.open(path) as led, pytest.raises(LedgerError, match="bad Energy IP"):
        led.set_energy_ip("10.0.0.300")


def test_open_or_create_reopens_only_for_the_same_card(tmp_path):
    path = tmp_path / "card.db"
    with Ledger.open_or_create(path, "a", "pv", SND_MAC, SND_KEY.public_bytes) as led:
        led.set_vpp("v")
    with Ledger.open_or_create(path, "a", "pv", SND_MAC, SND_KEY.public_bytes) as led:
        assert led.identity.vpp == "v"
    with pytest.raises(LedgerError, match=f"belongs to {SND_MAC}"):
        Ledger.open_or_create(path, "b", "pv", RCV_MAC, RCV_KEY.public_bytes)


def test_add_peer_upserts(tmp_path):
    with new_receiver(tmp_path / "r.db") as led:
        assert led.peer_key(SND_MAC) == SND_KEY.public_bytes
        assert led.peer_key("02:00:00:00:09:09") is None
        led.add_peer(SND_MAC.upper(), "renamed", MALLORY.public_bytes)
        assert led.peer_key(SND_MAC) == MALLORY.public_bytes
        rows = led._conn.execute("SELECT mac, name FROM peers").fetchall()
        assert rows == [(SND_MAC, "renamed")]


def test_transfers_open_idempotently_list_and_close(tmp_path):
    a, b = Flow(isn=7), Flow(rport=49153, isn=9)
    with new_receiver(tmp_path / "r.db") as led:
        assert led.open_transfer(a.info("receive")) is True
        assert led.open_transfer(a.info("receive")._replace(quantity_total=5)) is False
        assert led.transfer(a.tid) == a.info("receive")  # unchanged, round-trips every field
        assert led.transfer("nope") is None
        led.open_transfer(b.info("receive"))
        assert [t.transfer_id for t in led.open_transfers()] == sorted([a.tid, b.tid])
        led.close_transfer(a.tid, "done", 9.0)
        led.close_transfer(a.tid, "reset", 10.0)  # keeps the first reason
        assert led.transfer(a.tid).state == "closed"
        assert led.transfer(a.tid).close_reason == "done"
        assert [t.transfer_id for t in led.open_transfers()] == [b.tid]
        assert led.counts() == {"transfers_open": 1, "transfers_closed": 1, "bees": 0, "records": 0}
        with pytest.raises(LedgerError, match="unknown transfer"):
            led.close_transfer("nope", "done", 1.0)


# ----------------------------------------------------------------------------- both sides agree


def test_sender_and_receiver_profiles_agree(tmp_path):
    power = Flow()
    rights = Flow(rport=49153, isn=77, template=Bee(bee_type=c.BEE_CARBON_RIGHT, price_micro_per_kbee=80_000_000))  # fmt: skip
    snd, rcv = new_pair(tmp_path, [power, rights])
    ds = [power.delivery([100, 200, 300]), power.delivery([400]), rights.delivery([1000, 500])]
    assert rcv.commit(batch(ds, "credit")) == 3
    assert snd.commit(batch(ds, "debit")) == 3
    ps, pr = snd.profile(), rcv.profile()

    assert ps["energy_wh"]["sent"]["electricity"] == 1000
    assert pr["energy_wh"]["received"] == ps["energy_wh"]["sent"]
    assert pr["energy_wh"]["sent"] == ps["energy_wh"]["received"] == {"electricity": 0, "heat": 0, "gas": 0}  # fmt: skip
    # 1000 Wh at 0.25/kWh = 0.25; 1500 g of carbon rights at 80/1000 g = 120.
    assert ps["money_earned"] == pytest.approx(120.25)
    assert ps["money_balance"] == pytest.approx(120.25)
    assert pr["money_paid"] == pytest.approx(120.25)
    assert pr["money_balance"] == -ps["money_balance"]
    assert pr["carbon_rights_g"] == 1500
    assert ps["carbon_rights_g"] == -1500
    assert pr["green_certificates_wh"] == pytest.approx(400.0)  # 40 % of 1000 Wh
    assert ps["green_certificates_wh"] == 0
    assert pr["carbon_footprint_kg"] == pytest.approx(0.5)  # 1000 Wh x 500 mg/Wh
    assert ps["carbon_footprint_kg"] == 0
    assert ps["identity"]["mac"] == SND_MAC
    assert pr["identity"]["name"] == "home-load"

    st_, rt = ps["trades"][power.tid], pr["trades"][power.tid]
    assert (st_["role"], rt["role"]) == ("send", "receive")
    assert (st_["peer_mac"], st_["peer_name"]) == (RCV_MAC, "home-load")
    assert (rt["peer_mac"], rt["peer_name"]) == (SND_MAC, "pv-roof")
    assert st_["quantity_done"] == rt["quantity_done"] == 1000
    assert st_["bees"] == rt["bees"] == 4
    assert st_["money"] == -rt["money"] == pytest.approx(0.25)
    assert ps["trades"][rights.tid]["bee_type"] == "carbon-right"
    assert ps["counts"] == pr["counts"] == {
        "transfers_open": 2, "transfers_closed": 0, "bees": 6, "records": 3}  # fmt: skip

    debited = set(snd._conn.execute("SELECT transfer_id, seq FROM bees"))
    credited = set(rcv._conn.execute("SELECT transfer_id, seq FROM bees"))
    assert debited == credited
    assert snd.verify() == VerifyResult(True, 3, None, "ok")
    assert rcv.verify() == VerifyResult(True, 3, None, "ok")
    assert snd.transfer(power.tid).next_seq == rcv.transfer(power.tid).next_seq == 5001 + 1000


def test_green_certificates_count_type_4_and_green_share(tmp_path):
    certs = Flow(template=Bee(bee_type=c.BEE_GREEN_CERTIFICATE))
    heat = Flow(rport=49153, template=Bee(bee_type=c.BEE_HEAT, green_ratio_bp=2500, carbon_mg_per_unit=200))  # fmt: skip
    with new_receiver(tmp_path / "r.db", [certs, heat]) as led:
        led.commit(batch([certs.delivery([700]), heat.delivery([1000, 1000])]))
        p = led.profile()
        assert p["green_certificates_wh"] == pytest.approx(700 + 500)
        assert p["energy_wh"]["received"]["heat"] == 2000
        assert p["units_by_type"]["received"]["green-certificate"] == 700
        assert p["carbon_footprint_kg"] == pytest.approx(0.4)
        assert p["money_balance"] == 0


# ----------------------------------------------------------------------------- exactly once, contiguity


def test_same_batch_twice_is_applied_once(tmp_path):
    flow = Flow()
    with new_receiver(tmp_path / "r.db", [flow]) as led:
        items = batch([flow.delivery([5, 5]), flow.delivery([7])])
        assert led.commit(items) == 2
        before = (led.counts(), led.profile(), led.head())
        assert led.commit(items) == 0
        assert (led.counts(), led.profile(), led.head()) == before
        assert led.counts()["bees"] == 3


def test_batch_mixing_new_and_duplicate_applies_only_new(tmp_path):
    flow = Flow()
    with new_receiver(tmp_path / "r.db", [flow]) as led:
        d1, d2 = flow.delivery([1]), flow.delivery([2])
        d3, d4 = flow.delivery([3]), flow.delivery([4])
        assert led.commit(batch([d1, d2])) == 2
        assert led.commit(batch([d1, d2, d3, d2, d4, d4])) == 2
        assert led.counts()["records"] == 4
        assert led.profile()["energy_wh"]["received"]["electricity"] == 10
        assert led.transfer(flow.tid).next_seq == d4.end_seq
        assert led.verify().ok


def test_gap_wrong_direction_and_conflicts_are_refused_and_write_nothing(tmp_path):
    flow = Flow()
    with new_receiver(tmp_path / "r.db", [flow]) as led:
        d1 = flow.delivery([10])
        flow.delivery([10])  # skipped: d3 leaves a gap
        d3 = flow.delivery([10])
        with pytest.raises(LedgerError, match="does not start at next_seq 5011"):
            led.commit(batch([d1, d3]))
        assert led.counts()["records"] == 0  # d1 was rolled back with the batch
        with pytest.raises(LedgerError, match="takes credit deliveries, got debit"):
            led.commit(batch([d1], "debit"))
        led.commit(batch([d1]))
        longer = d1._replace(end_seq=d1.end_seq + 1, bees=(*d1.bees, (d1.end_seq, TEMPLATE)))
        with pytest.raises(LedgerError, match="conflicts with the recorded"):
            led.commit(batch([longer]))
        altered = d1._replace(bees=((d1.start_seq, TEMPLATE._replace(quantity=10, price_micro_per_kbee=1)),))  # fmt: skip
        with pytest.raises(LedgerError, match="different range or BEEs"):
            led.commit(batch([altered]))
        with pytest.raises(LedgerError, match="BEE at seq 5021 where 5011 was expected"):
            led.commit([(d3._replace(start_seq=d1.end_seq), d3.end_seq)])
        with pytest.raises(LedgerError, match="unknown transfer"):
            led.commit(batch([d1._replace(transfer_id="x")]))
        with pytest.raises(LedgerError, match="more than a delivery record can"):
            led.commit(batch([Flow().delivery([2**30, 2**30])]))
        with pytest.raises(LedgerError, match="64 bytes"):
            flow.next = d1.end_seq
            led.commit(batch([flow.delivery([1])._replace(sender_sig=b"x")]))
        assert led.counts()["records"] == 1
        assert led.verify().ok


def test_sequence_numbers_wrap_modulo_2_32(tmp_path):
    flow = Flow(isn=0xFFFFFFF0)
    snd, rcv = new_pair(tmp_path, [flow])
    ds = [flow.delivery([5, 6]), flow.delivery([7, 8]), flow.delivery([9])]
    assert ds[1].start_seq > ds[1].end_seq  # this one wraps
    assert rcv.commit(batch(ds)) == 3
    assert snd.commit(batch(ds, "debit")) == 3
    assert rcv.commit(batch(ds)) == 0
    assert rcv.verify().ok and snd.verify().ok
    assert rcv.transfer(flow.tid).next_seq == seq_add(0xFFFFFFF1, 35)
    assert rcv.profile()["energy_wh"]["received"]["electricity"] == 35


# ----------------------------------------------------------------------------- durability


def test_close_and_reopen_keeps_everything(tmp_path):
    flow = Flow()
    snd, rcv = new_pair(tmp_path, [flow])
    fill(rcv, flow, 5)
    rcv.close_transfer(flow.tid, "done", 3.0)
    profile, head = rcv.profile(), rcv.head()
    rcv.close()
    snd.close()
    with Ledger.open(tmp_path / "rcv.db") as again:
        assert again.profile() == profile
        assert again.head() == head
        assert head[0] == 5
        assert again.transfer(flow.tid).close_reason == "done"
        assert again.verify() == VerifyResult(True, 5, None, "ok")


CHILD = textwrap.dedent(
    """
    import sys
    from eip.card.ledger import Ledger
    from tests.unit.test_ledger import Flow, batch
    flow = Flow()
    led = Ledger.open(sys.argv[1])
    n = 0
    while True:
        led.commit(batch([flow.delivery([1, 2, 3, 4]) for _ in range(20)]))
        n += 1
        print(n, flush=True)
    """
)


def test_kill_9_in_a_commit_loop_leaves_a_whole_verifiable_ledger(tmp_path):
    path = tmp_path / "r.db"
    flow = Flow()
    new_receiver(path, [flow]).close()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        for _ in range(25):
            acknowledged = int(child.stdout.readline())
        time.sleep(0.003)  # land somewhere inside a later commit
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    with Ledger.open(path) as led:
        result = led.verify()
        assert result.ok, result
        records = led.counts()["records"]
        assert records >= acknowledged * 20  # everything reported committed is there
        assert records % 20 == 0  # whole batches only
        assert led.counts()["bees"] == records * 4  # every record has all its BEE rows
        per_record = led._conn.execute(
            "SELECT COUNT(*), SUM(quantity) FROM bees GROUP BY record_no"
        ).fetchall()
        assert set(per_record) == {(4, 10)}
        last_end = led._conn.execute(
            "SELECT end_seq FROM records ORDER BY record_no DESC"
        ).fetchone()
        assert led.transfer(flow.tid).next_seq == last_end[0] == 5001 + records * 10


# ----------------------------------------------------------------------------- tamper detection


def tamper(path, *sql):
    conn = sqlite3.connect(path)  # foreign keys off: an attacker edits the file as it likes
    for stmt in sql:
        conn.execute(stmt)
    conn.commit()
    conn.close()


def rechain(path):
    """What a tamperer who knows the format does next: recompute every hash so the chain is whole."""
    conn = sqlite3.connect(path)
    prev = bytes(32)
    rows = conn.execute(
        "SELECT record_no, transfer_id, direction, start_seq, end_seq, digest, sender_sig, "
        "receiver_sig, at_s FROM records ORDER BY record_no"
    ).fetchall()
    for no, *fields in rows:
        h = chain_hash(prev, record_bytes(no, *fields))
        conn.execute(
            "UPDATE records SET prev_hash = ?, hash = ? WHERE record_no = ?", (prev, h, no)
        )
        prev = h
    conn.commit()
    conn.close()


def redigest(path, record_no):
    conn = sqlite3.connect(path)
    rows = conn.execute(
        "SELECT flags, bee_type, green_ratio_bp, carbon_mg_per_unit, attr1, attr2, attr3, attr4, "
        "attr5, quantity, price_micro_per_kbee, start_s, end_s FROM bees WHERE record_no = ? "
        "ORDER BY seq",
        (record_no,),
    ).fetchall()
    digest = records_digest(Bee(*r) for r in rows)
    conn.execute("UPDATE records SET digest = ? WHERE record_no = ?", (digest, record_no))
    conn.commit()
    conn.close()


@pytest.fixture
def ten(tmp_path):
    """A receiver ledger of 10 good records (3 BEEs each), closed, and its path."""
    flow = Flow()
    path = tmp_path / "r.db"
    with new_receiver(path, [flow]) as led:
        fill(led, flow, 10)
        assert led.verify() == VerifyResult(True, 10, None, "ok")
    return path, flow


def verify(path) -> VerifyResult:
    with Ledger.open(path) as led:
        return led.verify()


def test_altered_bee_quantity_is_found(ten):
    path, _ = ten
    tamper(path, "UPDATE bees SET quantity = quantity + 1 WHERE record_no = 4 AND seq = (SELECT MAX(seq) FROM bees WHERE record_no = 4)")  # fmt: skip
    result = verify(path)
    assert (result.ok, result.first_bad, result.records) == (False, 4, 3)
    assert (
        result.reason == "BEE rows do not match the record digest (BEE altered, added or deleted)"
    )


def test_altered_bee_price_with_recomputed_digest_and_chain_fails_the_signature(ten):
    path, _ = ten
    tamper(path, "UPDATE bees SET price_micro_per_kbee = 1 WHERE record_no = 6")
    assert verify(path)[:3] == (False, 5, 6)
    redigest(path, 6)
    rechain(path)
    result = verify(path)
    assert (result.first_bad, result.reason) == (6, "bad sender signature")


def test_moved_bee_seq_is_found(ten):
    path, _ = ten
    tamper(path, "UPDATE bees SET seq = seq + 100000 WHERE record_no = 2 AND seq = (SELECT MAX(seq) FROM bees WHERE record_no = 2)")  # fmt: skip
    result = verify(path)
    assert result.first_bad == 2
    assert "not contiguous" in result.reason


def test_deleted_bee_is_found(ten):
    path, _ = ten
    tamper(path, "DELETE FROM bees WHERE record_no = 9 AND seq = (SELECT MIN(seq) FROM bees WHERE record_no = 9)")  # fmt: skip
    result = verify(path)
    assert result.first_bad == 9
    assert result.reason.startswith("BEE rows do not match the record digest")


def test_altered_signature_is_found_even_after_rechaining(ten):
    path, _ = ten
    tamper(path, "UPDATE records SET receiver_sig = zeroblob(64) WHERE record_no = 3")
    result = verify(path)
    assert (result.first_bad, result.reason) == (3, "hash does not match the record's fields (record altered)")  # fmt: skip
    rechain(path)
    result = verify(path)
    assert (result.first_bad, result.reason) == (3, "bad receiver signature (receipt)")
    tamper(path, "UPDATE records SET sender_sig = zeroblob(64) WHERE record_no = 2")
    rechain(path)
    assert verify(path)[2:] == (2, "bad sender signature")


def test_deleted_record_is_found(ten):
    path, _ = ten
    tamper(path, "DELETE FROM bees WHERE record_no = 5", "DELETE FROM records WHERE record_no = 5")
    result = verify(path)
    assert result.first_bad == 6
    assert result.reason == "record numbers jump from #4 to #6 (record deleted)"
    assert result.records == 4


def test_deleted_record_renumbered_and_rechained_is_found(ten):
    path, _ = ten
    tamper(
        path,
        "DELETE FROM bees WHERE record_no = 5",
        "DELETE FROM records WHERE record_no = 5",
        "UPDATE bees SET record_no = record_no - 1 WHERE record_no > 5",
        "UPDATE records SET record_no = record_no - 1 WHERE record_no > 5",
    )
    rechain(path)
    result = verify(path)
    assert result.first_bad == 5
    assert result.reason.startswith("range [")  # the sequence space has a hole


def test_swapped_records_are_found(ten):
    path, _ = ten
    tamper(
        path,
        "UPDATE records SET record_no = -1 WHERE record_no = 3",
        "UPDATE records SET record_no = 3 WHERE record_no = 4",
        "UPDATE records SET record_no = 4 WHERE record_no = -1",
        "UPDATE bees SET record_no = -1 WHERE record_no = 3",
        "UPDATE bees SET record_no = 3 WHERE record_no = 4",
        "UPDATE bees SET record_no = 4 WHERE record_no = -1",
    )
    result = verify(path)
    assert (result.first_bad, result.records) == (3, 2)
    assert result.reason == "broken chain: prev_hash is not the hash of record #2"


def test_forged_record_signed_with_another_key_is_found(ten):
    path, flow = ten
    forged = flow.delivery([1_000_000], sender=MALLORY, receiver=RCV_KEY)
    with Ledger.open(path) as led:
        assert led.commit(batch([forged])) == 1  # the ledger trusts its caller to have verified
        result = led.verify()
    assert result == VerifyResult(False, 10, 11, "bad sender signature")


def test_receipt_by_another_key_is_found(ten):
    path, flow = ten
    with Ledger.open(path) as led:
        led.commit(batch([flow.delivery([5], receiver=MALLORY)]))
        assert led.verify()[2:] == (11, "bad receiver signature (receipt)")


def test_unknown_peer_key_is_reported(ten):
    path, _ = ten
    tamper(path, "DELETE FROM peers")
    assert verify(path)[2:] == (1, f"unknown public key for peer {SND_MAC}")


def test_orphan_bee_row_is_reported(ten):
    path, flow = ten
    tamper(path, f"INSERT INTO bees SELECT transfer_id, seq + 999999, direction, bee_type, quantity, price_micro_per_kbee, carbon_mg_per_unit, green_ratio_bp, attr1, attr2, attr3, attr4, attr5, start_s, end_s, flags, 42 FROM bees WHERE transfer_id = '{flow.tid}' LIMIT 1")  # fmt: skip
    result = verify(path)
    assert (result.ok, result.records, result.first_bad) == (False, 10, 42)
    assert "has no record #42" in result.reason


# ----------------------------------------------------------------------------- bad files


def test_not_a_ledger_files_give_clear_errors(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not SQLite\n" * 20)
    with pytest.raises(
        LedgerError, match=r"notes\.txt: not an eip ledger \(file is not a database\)"
    ):
        Ledger.open(text)
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    with pytest.raises(LedgerError, match=r"other\.db: not an eip ledger \(no meta table\)"):
        Ledger.open(other)
    assert (
        sqlite3.connect(other).execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    )  # untouched
    with pytest.raises(LedgerError, match=r"missing\.db: no such file"):
        Ledger.open(tmp_path / "missing.db")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(LedgerError, match="not a file"):
        Ledger.open(tmp_path)


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "r.db"
    new_receiver(path).close()
    tamper(path, "UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(LedgerError, match="schema version 99 is newer than this eip reads"):
        Ledger.open(path)
    tamper(path, "UPDATE meta SET value = 'x' WHERE key = 'format'")
    with pytest.raises(EipError, match="not an eip ledger"):
        Ledger.open(path)


# ----------------------------------------------------------------------------- command line


def run_eip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eip.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )


def test_cli_verify_ok_then_bad(ten, capsys):
    path, _ = ten
    done = run_eip("ledger", "verify", str(path))
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok: 10 records verified\n", "")
    tamper(path, "UPDATE bees SET quantity = 999 WHERE record_no = 7")
    done = run_eip("ledger", "verify", str(path))
    assert done.returncode == 1
    assert (
        done.stdout
        == "bad record #7: BEE rows do not match the record digest (BEE altered, added or deleted)\n"
    )
    assert main(["ledger", "verify", str(path)]) == 1
    assert capsys.readouterr().out.startswith("bad record #7")


def test_cli_verify_bad_files_exit_1_without_traceback(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a database at all, " * 50)
    for target, message in ((text, "not an eip ledger"), (tmp_path / "gone.db", "no such file")):
        done = run_eip("ledger", "verify", str(target))
        assert done.returncode == 1
        assert message in done.stderr
        assert done.stderr.startswith("eip ledger: error: ledger ")
        assert "Traceback" not in done.stderr


def test_cli_show_json_and_table(tmp_path):
    flow = Flow()
    _snd, rcv = new_pair(tmp_path, [flow])
    fill(rcv, flow, 4)
    rcv.close()
    done = run_eip("ledger", "show", str(tmp_path / "rcv.db"), "--json")
    assert done.returncode == 0
    profile = json.loads(done.stdout)
    assert profile["identity"]["mac"] == RCV_MAC
    assert profile["energy_wh"]["received"]["electricity"] == 3 * (1 + 2 + 3 + 4)
    assert profile["money_balance"] == pytest.approx(-30 * 0.25 / 1000)
    assert profile["trades"][flow.tid]["quantity_done"] == 30
    done = run_eip("ledger", "show", str(tmp_path / "rcv.db"))
    assert done.returncode == 0
    for text in (
        "home-load",
        RCV_MAC,
        "green certificates",
        "money balance",
        "pv-roof",
        "30 / 1,000,000",
    ):
        assert text in done.stdout
    done = run_eip("ledger", "show", str(tmp_path / "gone.db"))
    assert done.returncode == 1
    assert "no such file" in done.stderr


# ----------------------------------------------------------------------------- properties, speed


bee_fields = st.fixed_dictionaries(
    {
        "bee_type": st.sampled_from(sorted(c.BEE_TYPES)),
        "price_micro_per_kbee": st.integers(-(2**31), 2**31 - 1),
        "carbon_mg_per_unit": st.integers(0, 2**32 - 1),
        "green_ratio_bp": st.integers(0, 10_000),
    }
)
deliveries_st = st.lists(
    st.tuples(st.lists(st.integers(1, 2**28), min_size=1, max_size=5), bee_fields),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    spec=deliveries_st,
    cuts=st.lists(st.integers(0, 12), max_size=4),
    isn=st.integers(0, 2**32 - 1),
)
def test_random_batches_keep_verify_ok_and_sums_exact(tmp_path_factory, spec, cuts, isn):
    tmp = tmp_path_factory.mktemp("prop")
    flow = Flow(isn=isn)
    snd, rcv = new_pair(tmp, [flow])
    ds = [flow.delivery(qs, **fields) for qs, fields in spec]
    bounds = sorted({0, len(ds), *(min(x, len(ds)) for x in cuts)})
    for lo, hi in itertools.pairwise(bounds):
        assert rcv.commit(batch(ds[lo:hi])) == hi - lo
        assert snd.commit(batch(ds[: hi + 1], "debit")) == len(ds[lo : hi + 1]) - (lo > 0)
    assert rcv.commit(batch(ds)) == 0 == snd.commit(batch(ds, "debit"))
    assert rcv.verify() == VerifyResult(True, len(ds), None, "ok")
    assert snd.verify() == VerifyResult(True, len(ds), None, "ok")

    bees = [b for d in ds for _, b in d.bees]
    by_type = {name: sum(b.quantity for b in bees if b.bee_type == t) for t, name in c.BEE_TYPES.items()}  # fmt: skip
    money = sum(b.price_micro_per_kbee * b.quantity for b in bees) / 1e9
    ps, pr = snd.profile(), rcv.profile()
    assert pr["units_by_type"]["received"] == by_type == ps["units_by_type"]["sent"]
    assert ps["money_balance"] == pytest.approx(money)
    assert pr["money_balance"] == -ps["money_balance"]
    assert pr["counts"]["bees"] == len(bees) == ps["counts"]["bees"]
    assert ps["trades"][flow.tid]["quantity_done"] == sum(b.quantity for b in bees)
    snd.close()
    rcv.close()


def test_batch_of_100_deliveries_of_10_bees_commits_in_under_50_ms(tmp_path):
    flows = [Flow(rport=49152 + i, isn=1000 * i) for i in range(10)]
    with new_receiver(tmp_path / "r.db", flows) as led:
        times = []
        for _ in range(8):
            items = batch([f.delivery([100] * 10) for f in flows for _ in range(10)])
            t0 = time.perf_counter()
            assert led.commit(items) == 100
            times.append(time.perf_counter() - t0)
        assert led.counts()["bees"] == 8000
        assert sorted(times)[len(times) // 2] < 0.050, times
