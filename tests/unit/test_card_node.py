"""The card as a plain object (eip/card/node.py): two CardNodes back to back in memory, no socket, no root.

A `Bench` carries each node's `Transmit` actions to the other as IPv4 datagrams (a 20-byte header in
front of the encoded Energy-IP packet, as the raw socket would deliver it), flushes each node after
every datagram as the daemon does after a batch, and runs the timers on a virtual clock.
"""

import dataclasses
import struct

from eip.card.actions import Answer, Stop, Transmit
from eip.card.config import CardConfig, Peer
from eip.card.harness import ledger_rows
from eip.card.node import CardNode, open_ledger
from eip.etcp.base import REJECT_NO_SERVICE
from eip.etcp.keys import CardKey
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.checksum import internet_checksum
from eip.protocol.model import RejectOption

IPS = {"a": "10.1.0.1", "b": "10.1.0.2"}
MACS = {"a": "02:00:00:00:01:01", "b": "02:00:00:00:01:02"}
WALL_S = 1_700_000_000.0


def ipv4(src: str, dst: str, dscp: int, payload: bytes) -> bytes:
    """The IPv4 datagram a raw protocol-253 socket would deliver for `payload`."""
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, dscp << 2, 20 + len(payload), 0, 0x4000, 64,
                                c.IP_PROTO_ENERGY, 0, bytes(map(int, src.split("."))),
                                bytes(map(int, dst.split(".")))))  # fmt: skip
    struct.pack_into("!H", hdr, 10, internet_checksum(bytes(hdr)))
    return bytes(hdr) + payload


class Bench:
    def __init__(self, tmp_path, dup_to_b: bool = False, **config):
        self.tmp = tmp_path
        self.overrides = config  # CardConfig fields for both nodes, e.g. time_scale=10.0
        self.keys = {n: CardKey.load_or_create(tmp_path / n / "key.pem") for n in IPS}
        self.nodes = {n: self.node(n) for n in IPS}
        self.now = 100.0
        self.dup_to_b = dup_to_b
        self.wire: list[tuple[str, bytes]] = []  # (destination node, datagram)
        self.answers: dict = {}
        self.sent: list[tuple[str, Transmit]] = []
        self.sent_at: list[tuple[float, str, Transmit]] = []  # (now, node, datagram) as sent

    def config(self, name: str) -> CardConfig:
        other = "b" if name == "a" else "a"
        peer = Peer(other, IPS[other], MACS[other], self.keys[other].public_bytes)
        cfg = CardConfig(name=name, kind="pv" if name == "a" else "load", mac=MACS[name],
                          state_dir=self.tmp / name, energy_ip=IPS[name], interface="lo",
                          vpp="vpp1", peers=(peer,), window_bee=200)  # fmt: skip
        return dataclasses.replace(cfg, **self.overrides)

    def node(self, name: str) -> CardNode:
        cfg = self.config(name)
        key = self.keys[name]
        return CardNode(cfg, key, open_ledger(cfg, key), IPS[name], lambda: WALL_S + self.now)

    def perform(self, name: str, actions: list) -> None:
        node = self.nodes[name]
        for action in actions:
            if type(action) is Transmit:
                self.sent.append((name, action))
                self.sent_at.append((self.now, name, action))
                dst = next(n for n, ip in IPS.items() if ip == action.dst_ip)
                data = ipv4(node.energy_ip, action.dst_ip, action.dscp, action.data)
                self.wire.append((dst, data))
                if dst == "b" and self.dup_to_b:
                    self.wire.append((dst, data))
            elif type(action) is Answer:
                self.answers[action.client] = action
            else:
                assert type(action) is Stop

    def control(self, name: str, client: str, **req) -> None:
        node = self.nodes[name]
        self.perform(name, node.on_control(req, self.now, client))
        self.perform(name, node.flush())

    def run(self, until=lambda: False, max_steps: int = 20_000) -> None:
        for _ in range(max_steps):
            if until():
                return
            if self.wire:
                dst, data = self.wire.pop(0)
                node = self.nodes[dst]
                self.perform(dst, node.on_datagram(data, self.now))
                self.perform(dst, node.flush())
                self.now += 0.0001
                continue
            deadlines = [d for d in (n.next_deadline() for n in self.nodes.values()) if d]
            if not deadlines:
                return
            self.now = max(self.now, min(deadlines))
            for name, node in self.nodes.items():
                self.perform(name, node.on_timer(self.now))
                self.perform(name, node.flush())

    def credited(self, name: str) -> int:
        return sum(
            q for _tid, _seq, q in ledger_rows(self.nodes[name].config.ledger_path, "credit")
        )

    def debited(self, name: str) -> int:
        return sum(q for _tid, _seq, q in ledger_rows(self.nodes[name].config.ledger_path, "debit"))

    def close(self) -> None:
        for node in self.nodes.values():
            node.ledger.close()


def test_a_full_transfer_between_two_nodes(tmp_path):
    bench = Bench(tmp_path)
    bench.control("a", "c1", op="transfer", to="b", quantity=1000)
    bench.run(until=lambda: "c1" in bench.answers)
    answer = bench.answers["c1"]
    assert answer.ok and answer.payload["reason"] == "done", answer
    assert answer.payload["delivered"] == 1000 and answer.payload["role"] == "send"
    bench.run()
    assert bench.debited("a") == bench.credited("b") == 1000
    a, b = bench.nodes["a"], bench.nodes["b"]
    assert a.stats["deliveries_committed"] > 0 and b.stats["accepted_in"] == 1
    assert not a.by_id and not b.by_id  # both sides closed the transfer
    # Class 1: its data segments marked BEE, its control segments not (R3.3, helper M's a04d49a).
    dscps = {t.dscp for who, t in bench.sent if who == "a"}
    assert dscps == {c.PRIORITY_CLASSES[1], c.BEE_PRIORITY_CLASSES[1]}
    assert a.ledger.verify().ok and b.ledger.verify().ok
    bench.close()


def test_control_requests_are_answered_without_a_socket(tmp_path):
    bench = Bench(tmp_path)
    bench.control("a", "status", op="status")
    status = bench.answers["status"]
    assert status.ok and status.payload["name"] == "a" and status.payload["energy_ip"] == IPS["a"]
    bench.control("a", "bad", op="offer", to="b", quantity=0)
    assert not bench.answers["bad"].ok and "quantity >= 1" in bench.answers["bad"].payload
    bench.control("a", "who", op="offer", to="nobody", quantity=5)
    assert not bench.answers["who"].ok and "unknown peer" in bench.answers["who"].payload
    bench.control("a", "offer", op="offer", to="b", quantity=30)
    tid = bench.answers["offer"].payload["transfer_id"]
    bench.control("a", "wait", op="wait", transfer_id=tid)
    assert "wait" not in bench.answers  # answered when the transfer closes
    bench.run(until=lambda: "wait" in bench.answers)
    assert bench.answers["wait"].payload == {
        "transfer_id": tid, "reason": "done", "role": "send", "quantity_total": 30, "delivered": 30,
    }  # fmt: skip
    node = bench.nodes["a"]
    actions = node.on_control({"op": "stop"}, bench.now, "stop")
    assert actions[0].ok and type(actions[-1]) is Stop
    bench.close()


def test_a_duplicated_segment_is_credited_once(tmp_path):
    bench = Bench(tmp_path, dup_to_b=True)  # every datagram to b arrives twice
    bench.control("a", "c1", op="transfer", to="b", quantity=500)
    bench.run(until=lambda: "c1" in bench.answers)
    bench.run()
    assert bench.answers["c1"].payload["reason"] == "done"
    assert bench.credited("b") == 500 == bench.debited("a")
    b = bench.nodes["b"]
    assert b.stats["packets_in"] == 2 * sum(1 for who, _t in bench.sent if who == "a")
    assert b.ledger.verify().ok
    bench.close()


def test_a_syn_to_a_port_without_service_is_rejected_with_its_named_reason(tmp_path):
    bench = Bench(tmp_path)
    bench.control("a", "c1", op="transfer", to="b", quantity=10, port=99)
    bench.run(until=lambda: "c1" in bench.answers)
    assert bench.answers["c1"].payload["reason"] == "rejected"
    rejects = [codec.decode(ipv4(IPS["b"], t.dst_ip, t.dscp, t.data)).payload
               for who, t in bench.sent if who == "b"]  # fmt: skip
    opts = [o for seg in rejects for o in seg.options if isinstance(o, RejectOption)]
    assert [o.reason for o in opts] == [REJECT_NO_SERVICE]
    b = bench.nodes["b"]
    assert b.stats["rejected_in"] == 1
    assert b.events[-1]["kind"] == "rejected-in"
    assert b.events[-1]["detail"].endswith(c.REJECT_REASONS[REJECT_NO_SERVICE])
    bench.close()


def test_a_sender_resumes_after_a_crash_and_nothing_is_credited_twice(tmp_path):
    bench = Bench(tmp_path)
    bench.control("a", "c1", op="transfer", to="b", quantity=2000)
    bench.run(until=lambda: 0 < bench.debited("a") < 2000)
    assert 0 < bench.debited("a") < 2000
    # Crash: the node object, its in-flight segments and its waiting client are gone; the ledger stays.
    bench.nodes["a"].ledger.close()
    bench.wire = [(dst, data) for dst, data in bench.wire if dst != "a"]
    bench.nodes["a"] = bench.node("a")
    assert bench.nodes["a"].resume(bench.now) == []
    assert [e["kind"] for e in bench.nodes["a"].events] == ["resumed"]
    bench.perform("a", bench.nodes["a"].flush())
    bench.run()
    assert bench.debited("a") == bench.credited("b") == 2000
    assert bench.nodes["a"].ledger.transfer(next(iter(ledger_rows(
        bench.nodes["a"].config.ledger_path, "debit")))[0]).state == "closed"  # fmt: skip
    assert bench.nodes["a"].ledger.verify().ok and bench.nodes["b"].ledger.verify().ok
    bench.close()


def test_cancel_ends_an_open_transfer_and_keeps_what_was_delivered(tmp_path):
    bench = Bench(tmp_path)
    bench.control("a", "c1", op="offer", to="b", quantity=1000, power_bee_per_s=100)
    tid = bench.answers["c1"].payload["transfer_id"]
    bench.run(until=lambda: bench.now > 103.0)  # about 300 BEE at 100 BEE/s
    bench.control("a", "c2", op="cancel", transfer_id=tid)
    assert bench.answers["c2"].ok and bench.answers["c2"].payload == {"cancelled": tid}
    bench.run()
    assert not bench.nodes["a"].by_id and not bench.nodes["b"].by_id
    assert 100 <= bench.debited("a") == bench.credited("b") < 1000
    bench.control("a", "c3", op="wait", transfer_id=tid)
    assert bench.answers["c3"].payload["reason"] == "cancelled"
    bench.control("a", "c4", op="cancel", transfer_id=tid)  # closed: a clear error
    assert not bench.answers["c4"].ok and tid in bench.answers["c4"].payload


def test_a_replayed_offer_of_a_finished_transfer_is_rejected_and_changes_nothing(tmp_path):
    """R6.12: the same sender ports and ISN name the same transfer; a receiver refuses an Offer for
    one it already holds (it used to re-open it in memory and fail inside the ledger commit)."""
    bench = Bench(tmp_path)
    bench.control("a", "c1", op="transfer", to="b", quantity=500)
    bench.run(until=lambda: "c1" in bench.answers)
    bench.run()
    assert bench.answers["c1"].payload["reason"] == "done" and bench.credited("b") == 500
    syn = next(t for who, t in bench.sent if who == "a")  # a's Offer, as first sent
    b = bench.nodes["b"]
    before = (b.ledger.counts(), b.stats["errors"])
    replies = b.on_datagram(ipv4(IPS["a"], IPS["b"], syn.dscp, syn.data), bench.now)
    replies += b.flush()
    (reject,) = [codec.decode(ipv4(IPS["b"], IPS["a"], r.dscp, r.data)).payload
                 for r in replies if type(r) is Transmit]  # fmt: skip
    assert reject.flags & c.ETCP_RST and any(
        type(o) is RejectOption and o.reason == c.REJECT_MALFORMED for o in reject.options
    )  # fmt: skip
    assert (b.ledger.counts(), b.stats["errors"]) == before and b.stats["rejected_in"] == 1
    assert not b.by_id and bench.credited("b") == 500 and b.ledger.verify().ok
    # the ledger's times are Unix time (R1.4), opened as closed
    (trade,) = b.ledger.profile()["trades"].values()
    assert WALL_S < trade["opened_s"] <= trade["closed_s"] < WALL_S + 10_000
    bench.close()
