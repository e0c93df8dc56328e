"""The device tests of `eip conformance --dut-cmd`: tests as data, each naming its rule and role.

Receiver role: the tool probes the DUT with Offers from a raw socket (valid, then malformed one
fault at a time: no option, quantity 0, wrong checksum, wrong version, truncated) and delivers
transfers from its own card (clean, every data segment twice, a forged signature, BEE sent without
a BEE codepoint), reading the DUT's ledger totals through the hook. Sender role: the DUT delivers to
the tool's card, whose receipts may be forged. A negative test passes when the DUT refuses what a
conforming receiver must refuse; every test says which rule it checks.
"""

import random
import time
from collections.abc import Callable
from typing import NamedTuple

from eip.conformance.rules import FAIL, NOT_DECLARED, PASS
from eip.errors import DecodeError, EipError
from eip.protocol import codec, mutate
from eip.protocol import constants as c
from eip.protocol.messages import offer_segment, segment_dscp
from eip.protocol.model import EnergyIp, EnergyTcp, OfferOption, Packet, RejectOption

ANSWER_S = 1.5  # a probe's answer is awaited this long (R6.9); silence for as long passes a drop
SETTLE_S = 3.0  # how long a transfer whose segments the DUT must refuse is left running
TRANSFER_BEE, SEND_BEE = 300, 200


class DutTest(NamedTuple):
    """One test as data: what it checks, under which rule, in which role, and how."""

    test_id: str
    rule: str
    title: str
    role: str  # receiver, sender or isp-client
    negative: bool
    run: Callable  # run(bench) -> (problem or None, what was checked)


# --- probes ------------------------------------------------------------------------------------
def offer_probe(bench, quantity: int = 50) -> tuple[bytes, int, int]:
    """A fresh Offer to the DUT's delivery port: (IPv4 payload, source port, ISN)."""
    sport, isn = random.randint(20000, 60000), random.getrandbits(32)
    opt = OfferOption(quantity=quantity, end_s=int(time.time()) + 3600)
    seg = offer_segment(sport, c.PORT_DELIVERY, isn, 1000, opt)
    eip = EnergyIp(0, 0, bench.tester_mac)
    pkt = Packet(
        bench.tester_ip, bench.dut_ip, eip, seg, dscp=segment_dscp(seg, c.PRIORITY_CLASSES[1])
    )
    return codec.encode_transport(pkt), sport, isn


def answers(datagrams: list[bytes]) -> list[EnergyTcp]:
    out = []
    for d in datagrams:
        try:
            p = codec.decode(d).payload
        except DecodeError:
            continue
        if type(p) is EnergyTcp:
            out.append(p)
    return out


def _accepted(bench, payload: bytes, sport: int, isn: int, quantity: int):
    segs = answers(bench.probe(payload, sport, ANSWER_S))
    acc = [s for s in segs if s.flags & c.ETCP_SYN and s.flags & c.ETCP_ACK]
    if not acc:
        return f"no Accept within {ANSWER_S} s (got {[hex(s.flags) for s in segs]})"
    s = acc[0]
    opt = next((o for o in s.options if isinstance(o, OfferOption)), None)
    if s.ack != (isn + 1) & 0xFFFFFFFF:
        return f"the Accept acknowledges {s.ack}, not ISN + 1 = {(isn + 1) & 0xFFFFFFFF}"
    if opt is None or not 1 <= opt.quantity <= quantity:
        return f"the Accept's offer option {opt} does not grant 1..{quantity} (R6.9)"
    return None


def t_offer_valid(bench):
    payload, sport, isn = offer_probe(bench)
    return _accepted(bench, payload, sport, isn, 50), "a valid Offer of 50 BEE"


def _rejected_malformed(bench, payload: bytes, sport: int) -> str | None:
    segs = answers(bench.probe(payload, sport, ANSWER_S))
    rst = [s for s in segs if s.flags & c.ETCP_RST]
    if any(s.flags & c.ETCP_SYN and s.flags & c.ETCP_ACK for s in segs):
        return "the DUT accepted it"
    if not rst:
        return f"no Reject within {ANSWER_S} s"
    reason = next((o.reason for o in rst[0].options if isinstance(o, RejectOption)), None)
    if reason != c.REJECT_MALFORMED:
        return f"rejected with reason {reason}, not {c.REJECT_MALFORMED} (malformed)"
    return None


def t_offer_no_option(bench):
    payload, sport, _ = offer_probe(bench)
    payload = mutate.without_options(payload, bench.tester_ip, bench.dut_ip)
    return _rejected_malformed(bench, payload, sport), "a SYN with no request or offer option"


def t_offer_zero(bench):
    payload, sport, _ = offer_probe(bench, quantity=1)
    payload = bytearray(payload)
    t = mutate.tcp_offset(payload)
    # the offer option's quantity is its first field after kind and length (docs/protocol.md 6.2)
    o = t + 24
    payload[o + 2 : o + 6] = (0).to_bytes(4, "big")
    payload = bytes(mutate.fix_transport(payload, bench.tester_ip, bench.dut_ip))
    return _rejected_malformed(bench, payload, sport), "an Offer of quantity 0"


def silent(bench, payload: bytes, sport: int | None, what: str):
    """The DUT drops `payload` without a word (to port `sport`; any datagram when None) and still
    accepts a valid Offer afterwards: a fault neither answered nor fatal."""
    got = bench.probe(payload, sport, ANSWER_S)
    if sport is None and got:
        return f"the DUT answered {what} with {len(got)} datagrams", what
    segs = answers(got)
    if segs:
        return f"the DUT answered {what} with flags {[hex(s.flags) for s in segs]}", what
    payload, sport, isn = offer_probe(bench)  # and it still serves: not stopped by the fault
    problem = _accepted(bench, payload, sport, isn, 50)
    return (f"after it, a valid Offer: {problem}" if problem else None), what


def t_bad_checksum(bench):
    payload, sport, _ = offer_probe(bench)
    return silent(bench, mutate.bad_tcp_checksum(payload), sport, "an Offer with a wrong checksum")


def t_wrong_version(bench):
    payload, sport, _ = offer_probe(bench)
    bad = mutate.wrong_version(payload, bench.tester_ip, bench.dut_ip)
    return silent(bench, bad, sport, "an Offer with Energy-IP version 2")


def t_truncated(bench):
    payload, sport, _ = offer_probe(bench)
    return silent(bench, mutate.truncated(payload), sport, "an Offer cut by 9 bytes")


# --- transfers ---------------------------------------------------------------------------------
def _received(bench) -> int:
    return int(bench.totals().get("by_peer", {}).get(bench.tester_mac, {}).get("received_bee", 0))


def _deliver(bench, mode: str | None, quantity: int = TRANSFER_BEE):
    before = _received(bench)
    bench.mutator.set(mode)
    try:
        answer = bench.tester_call("transfer", to="dut", quantity=quantity)
    finally:
        bench.mutator.set(None)
    delta = _received(bench) - before
    what = (
        f"{quantity} BEE delivered{f' ({mode})' if mode else ''}, {bench.mutator.injected} faults"
    )
    if answer.get("delivered") != quantity:
        return f"the transfer ended {answer.get('reason')!r} after {answer.get('delivered')}", what
    if delta != quantity:
        return f"the DUT credits {delta} BEE from the tester, {quantity} were delivered", what
    return None, what


def t_transfer(bench):
    return _deliver(bench, None)


def t_duplicates(bench):
    return _deliver(bench, "duplicate")


def t_forged(bench):
    return _deliver(bench, "forge-once")


def t_unmarked(bench):
    """BEE sent with a class selector, not a BEE codepoint: nothing credited until marked (R3.6)."""
    before = _received(bench)
    bench.mutator.set("unmark")
    bench.tester_call("offer", to="dut", quantity=100)
    time.sleep(SETTLE_S)
    early = _received(bench) - before
    bench.mutator.set(None)
    deadline = time.monotonic() + 30
    while _received(bench) - before < 100 and time.monotonic() < deadline:
        time.sleep(0.5)
    what = f"100 BEE, {bench.mutator.injected} data segments sent without a BEE codepoint"
    if early:
        return f"the DUT credited {early} BEE that arrived without a BEE codepoint", what
    late = _received(bench) - before
    if late != 100:
        return f"once marked, the DUT credits {late} BEE, not 100", what
    return None, what


def _sent(bench) -> int:
    return int(bench.totals().get("by_peer", {}).get(bench.tester_mac, {}).get("sent_bee", 0))


def _tester_received(bench) -> int:
    totals = bench.tester_call("totals")
    return int(totals.get("by_peer", {}).get(bench.dut_mac, {}).get("received_bee", 0))


def t_send(bench):
    before, got = _sent(bench), _tester_received(bench)
    bench.hook("offer", to="tester", quantity=SEND_BEE)
    deadline = time.monotonic() + 30
    while _tester_received(bench) - got < SEND_BEE and time.monotonic() < deadline:
        time.sleep(0.3)
    sent, received = _sent(bench) - before, _tester_received(bench) - got
    what = f"the DUT asked to send {SEND_BEE} BEE"
    if received != SEND_BEE:
        return f"the tester received {received} BEE", what
    if sent != SEND_BEE:
        return f"the DUT's ledger counts {sent} sent, the tester received {received}", what
    return None, what


def t_forged_receipts(bench):
    """Receipts that do not verify: the DUT must not count the range delivered (R7.12)."""
    before = _sent(bench)
    bench.mutator.set("forge-receipts")
    bench.hook("offer", to="tester", quantity=SEND_BEE)
    time.sleep(SETTLE_S)
    early = _sent(bench) - before
    forged = bench.mutator.injected
    bench.mutator.set(None)
    deadline = time.monotonic() + 30
    while _sent(bench) - before < SEND_BEE and time.monotonic() < deadline:
        time.sleep(0.5)
    what = f"{SEND_BEE} BEE sent by the DUT, {forged} receipts forged"
    if early:
        return f"the DUT counted {early} BEE delivered on receipts that do not verify", what
    late = _sent(bench) - before
    if late != SEND_BEE:
        return f"with valid receipts again, the DUT counts {late} BEE sent, not {SEND_BEE}", what
    return None, what


TESTS = (
    DutTest("dut.offer.valid", "R6.9", "a valid Offer is accepted, granting at most the offer",
            "receiver", False, t_offer_valid),
    DutTest("dut.offer.no-option", "R6.9", "a SYN without request or offer option is rejected "
            "with reason 8", "receiver", True, t_offer_no_option),
    DutTest("dut.offer.zero-quantity", "R6.9", "an Offer of quantity 0 is rejected with reason 8",
            "receiver", True, t_offer_zero),
    DutTest("dut.checksum", "R6.3", "a segment whose checksum does not verify is discarded",
            "receiver", True, t_bad_checksum),
    DutTest("dut.version", "R4.1", "a header of another version is discarded", "receiver", True,
            t_wrong_version),
    DutTest("dut.truncated", "R8.1", "a truncated packet is discarded and the DUT goes on",
            "receiver", True, t_truncated),
    DutTest("dut.transfer", "R6.4", "a transfer is credited exactly, BEE by BEE", "receiver",
            False, t_transfer),
    DutTest("dut.duplicates", "R6.4", "every data segment twice: each BEE credited once",
            "receiver", True, t_duplicates),
    DutTest("dut.forged-signature", "R7.11", "a range whose SIG does not verify is not credited",
            "receiver", True, t_forged),
    DutTest("dut.unmarked-bee", "R3.6", "BEE without a BEE codepoint is not credited", "receiver",
            True, t_unmarked),
    DutTest("dut.send", "R7.12", "the DUT delivers what it was asked and counts it once receipted",
            "sender", False, t_send),
    DutTest("dut.forged-receipts", "R7.12", "a range is not counted delivered on a receipt that "
            "does not verify", "sender", True, t_forged_receipts),
)  # fmt: skip


def run_tests(bench, roles: set[str], only=None, on_result=None, tests=TESTS) -> list[dict]:
    """Run every test of a declared role (the others are NOT-DECLARED); one result per test."""
    results = []
    for test in tests:
        if only and only not in test.test_id:
            continue
        start = time.time()
        if test.role not in roles:
            outcome, problem, what = NOT_DECLARED, None, f"the DUT does not declare {test.role}"
        else:
            try:
                problem, what = test.run(bench)
            except EipError as exc:
                problem, what = f"the test could not run: {exc}", "-"
            bench.mutator.set(None)
            outcome = FAIL if problem else PASS
        r = {"test_id": test.test_id, "rule": test.rule, "title": test.title, "side": test.role,
             "negative": test.negative, "outcome": outcome,
             "checked": 0 if outcome == NOT_DECLARED else 1, "detail": what,
             "failures": [{"frame": 0, "problem": problem, "rule": test.rule}] if problem else [],
             "start_s": start, "duration_s": round(time.time() - start, 3)}  # fmt: skip
        results.append(r)
        if on_result is not None:
            on_result(r)
    return results
