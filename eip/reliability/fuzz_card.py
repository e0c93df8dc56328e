"""The `card` fuzz target: mutated datagrams into a real `CardNode` (eip/card/node.py), no socket, no root.

The node has a ledger, a key and the sample exchange's peers in a temporary state directory and is
driven only through its public methods, as the daemon drives it: `on_datagram`, then `flush` (ledger
commit, then the segments to send), and `on_timer` from time to time. Accepted: any return; the
rejection must be counted (`malformed` for every datagram the codec rejects, `ignored` for ones not for
this card) and `packets_in` must equal the datagrams fed. An exception escaping the node is a finding
(the real loop would count it in `errors`).
"""

import tempfile
import time
from pathlib import Path

from eip.errors import DecodeError
from eip.proc import rss_kib
from eip.protocol import codec
from eip.reliability.mutate import FuzzResult, Mutator, record_finding, seed_datagrams


def offline_card(state_dir: Path, name: str = "load"):
    """A `CardNode` of the sample exchange's LOAD card, its state (key, ledger) in `state_dir`.

    Its peers are the sample cards with their fixed demo keys, so the sample SYNs open real connections
    and the fuzzed segments reach Energy-TCP, the signature checks and the ledger.
    """
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    from eip.card.config import CardConfig, Peer
    from eip.card.node import CardNode, open_ledger
    from eip.etcp.keys import CardKey
    from eip.sample import EV, LOAD, PV, SERVER, STORAGE, sample_key

    def pub(who: str) -> bytes:
        return sample_key(who).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)

    peers = (
        Peer("pv", PV[1], PV[0], pub("pv")),
        Peer("storage", STORAGE[1], STORAGE[0], pub("storage")),
        Peer("ev", EV[1], EV[0], pub("pv")),
        Peer("server", SERVER[1], SERVER[0], pub("pv")),
    )
    cfg = CardConfig(name=name, kind="load", mac=LOAD[0], state_dir=Path(state_dir),
                     energy_ip=LOAD[1], interface="lo", vpp="vpp2", peers=peers)  # fmt: skip
    cfg.state_dir.mkdir(parents=True, exist_ok=True)
    key = CardKey.load_or_create(cfg.key_path)
    return CardNode(cfg, key, open_ledger(cfg, key), LOAD[1], time.time)


def fuzz_card(n: int, seed: int = 3, seeds: list[bytes] | None = None,
              state_dir: Path | None = None) -> FuzzResult:  # fmt: skip
    """Feed `n` mutated datagrams (90% re-addressed to the card) to `CardNode.on_datagram`.

    Each datagram's batch is flushed as the real loop does (ledger commit, then the segments to send,
    counted). Checks: nothing escapes, `packets_in` equals the datagrams fed, `malformed` equals the
    datagrams the codec rejects, and the card's ledger verifies at the end.
    """
    from eip.card.actions import Transmit
    from eip.card.ledger import Ledger
    from eip.sample import LOAD

    tmp = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="eip-fuzz-card-")
        state_dir = Path(tmp.name)
    try:
        card = offline_card(state_dir)
        mut = Mutator(seeds or seed_datagrams(), seed)
        dst = bytes(int(x) for x in LOAD[1].split("."))
        res = FuzzResult("card", rss_before_kib=rss_kib())
        clock = time.perf_counter
        expect_malformed = 0
        sent = 0
        now = 1000.0
        start = clock()
        for i in range(n):
            _op, data = mut.next(dst)
            try:
                codec.decode(data)
            except DecodeError:
                expect_malformed += 1
            now += 0.001
            t0 = clock()
            try:
                actions = card.on_datagram(data, now) + card.flush()
                sent += sum(1 for a in actions if type(a) is Transmit)
                res.outcomes["handled"] += 1
            except Exception as exc:
                record_finding(res, exc, data)
            if i % 64 == 0:  # the loop's timers, as the daemon runs them
                try:
                    actions = card.on_timer(now) + card.flush()
                    sent += sum(1 for a in actions if type(a) is Transmit)
                except Exception as exc:
                    record_finding(res, exc, b"timer")
            dt = clock() - t0
            if dt > res.max_us:
                res.max_us = dt
            res.packets += 1
        res.seconds = clock() - start
        res.max_us *= 1e6
        res.rss_after_kib = rss_kib()
        stats = dict(card.stats)
        res.outcomes.update({k: stats[k] for k in ("malformed", "ignored", "rejected_in",
                                                   "accepted_in", "resets_sent")})  # fmt: skip
        res.extra.update(
            counters=stats,
            expected_malformed=expect_malformed,
            counters_consistent=stats["packets_in"] == n and stats["malformed"] == expect_malformed,
            open_connections=len(card.by_id),
            sent=sent,
        )
        path = card.config.ledger_path
        card.ledger.close()
        ledger = Ledger.open(path)
        try:
            verdict = ledger.verify()
        finally:
            ledger.close()
        res.extra["ledger_verifies"] = verdict.ok
        if not verdict.ok:
            record_finding(res, AssertionError(f"ledger: {verdict.reason}"), b"ledger")
        return res
    finally:
        if tmp is not None:
            tmp.cleanup()
