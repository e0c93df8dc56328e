"""The card marks its datagrams BEE or not (R3.3) and credits BEE only under a BEE codepoint (R3.6).

Two CardNodes back to back (tests/unit/test_card_node.py's Bench); a `RemarkingBench` rewrites the
DSCP of what one card sends, as a cheater or a broken sender would.
"""

from eip.card.actions import Transmit
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import carries_bee
from eip.protocol.model import EnergyTcp
from tests.unit.test_card_node import Bench, ipv4


class RemarkingBench(Bench):
    """A Bench whose card `who` has the DSCP of each datagram rewritten by `remark(dscp, seg)`."""

    def __init__(self, tmp_path, who: str, remark):
        super().__init__(tmp_path)
        self.who, self.remark = who, remark

    def perform(self, name: str, actions: list) -> None:
        if name == self.who:
            actions = [self._remarked(name, a) if type(a) is Transmit else a for a in actions]
        super().perform(name, actions)

    def _remarked(self, name: str, tx: Transmit) -> Transmit:
        seg = codec.decode(ipv4(self.nodes[name].energy_ip, tx.dst_ip, tx.dscp, tx.data)).payload
        return tx._replace(dscp=self.remark(tx.dscp, seg))


def transfer(bench: Bench, quantity: int = 1000) -> dict:
    bench.control("a", "c1", op="transfer", to="b", quantity=quantity, timeout=30)
    bench.run(until=lambda: "c1" in bench.answers)
    return bench.answers["c1"].payload


def segments_sent(bench: Bench, name: str) -> list[tuple[int, EnergyTcp]]:
    node = bench.nodes[name]
    return [
        (tx.dscp, codec.decode(ipv4(node.energy_ip, tx.dst_ip, tx.dscp, tx.data)).payload)
        for who, tx in bench.sent
        if who == name
    ]


def test_every_segment_is_marked_by_what_it_carries(tmp_path):
    bench = Bench(tmp_path)
    assert transfer(bench)["reason"] == "done"
    bench.run()
    for name in ("a", "b"):
        sent = segments_sent(bench, name)
        assert sent
        for dscp, seg in sent:
            want = c.BEE_PRIORITY_CLASSES[1] if carries_bee(seg) else c.PRIORITY_CLASSES[1]
            assert dscp == want, (name, dscp, seg)
    assert any(carries_bee(s) for _, s in segments_sent(bench, "a"))
    assert not any(carries_bee(s) for _, s in segments_sent(bench, "b"))  # the buyer sends none
    assert bench.credited("b") == 1000
    bench.close()


def test_bee_marked_as_control_is_not_credited(tmp_path):
    bench = RemarkingBench(tmp_path, "a", lambda dscp, seg: c.PRIORITY_CLASSES[1])
    result = transfer(bench)
    bench.run()
    assert result["reason"] != "done" and result["delivered"] == 0, result
    assert bench.credited("b") == 0
    assert bench.nodes["b"].stats["unmarked_bee"] > 0
    bench.close()


def test_unmarked_bee_is_not_credited(tmp_path):
    bench = RemarkingBench(tmp_path, "a", lambda dscp, seg: 0)  # a raw sender's default DSCP
    transfer(bench)
    bench.run()
    assert bench.credited("b") == 0 and bench.nodes["b"].stats["unmarked_bee"] > 0
    bench.close()


def test_any_bee_codepoint_is_credited_and_control_may_be_marked_bee(tmp_path):
    # BEE data as an emergency (44); control marked as BEE (the sender only pays for it).
    bench = RemarkingBench(tmp_path, "a", lambda dscp, seg: c.DSCP_EMERGENCY_BEE)
    assert transfer(bench)["reason"] == "done"
    bench.run()
    assert bench.credited("b") == 1000 and "unmarked_bee" not in bench.nodes["b"].stats
    bench.close()
