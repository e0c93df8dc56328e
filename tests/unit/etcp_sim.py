"""A deterministic discrete-event simulator for two Energy-TCP connections (eip/etcp/connection.py).

A virtual clock, a link with loss, duplication, reordering, corruption (dropped as a bad checksum would
be) and delay, and per node an in-memory "ledger" {(transfer_id, seq): Bee} filled from Persist effects
with an exactly-once check on every insert. Nodes can crash (their connection object is thrown away; the
ledger and the TransferInfo that the Persist effects imply survive) and be rebuilt with
`Connection.resume`. Segments are routed by destination IP, so a node can move (mobility).
"""

import heapq
import random
from dataclasses import dataclass, field

from eip.etcp.connection import Connection
from eip.etcp.keys import CardKey
from eip.etcp.model import Closed, Endpoint, Event, Opened, Persist, Send
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, Packet
from eip.protocol.seq import SEQ_MOD


def units(seg: EnergyTcp) -> int:
    return sum(r.quantity for r in seg.records if type(r) is Bee)


@dataclass
class Link:
    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0  # probability that a segment is held back by up to `spread_s`
    corrupt: float = 0.0
    delay_s: float = 0.005
    spread_s: float = 0.02
    # A policer on the sender's data segments, as an OVS pktps meter with a burst: 0 = none.
    police_pktps: float = 0.0
    police_burst: int = 0


@dataclass
class Node:
    name: str
    ep: Endpoint
    key: CardKey
    window: int
    conn: Connection | None = None
    alive: bool = True
    ledger: dict = field(default_factory=dict)
    info: object = (
        None  # the TransferInfo the Opened and Persist effects imply (what a ledger holds)
    )
    records: list = field(default_factory=list)  # (start_seq, end_seq, sender_sig, receiver_sig)
    closed: list = field(default_factory=list)
    events: list = field(default_factory=list)
    timer_token: int = 0
    crash_after_persists: int | None = None  # crash between commit and send after N Persist batches
    persist_batches: int = 0
    restart_after: tuple | None = (
        None  # (delay_s, with_receipts) after a crash_after_persists crash
    )
    max_in_flight: int = 0
    isp: float | None = None  # the ISP's rate for this node's connection (WUP), BEE/s
    direction: str = ""


class Sim:
    def __init__(self, seed=0, link: Link | None = None, window_a=200, window_b=200, wire=False):
        self.rng = random.Random(seed)
        self.link = link or Link()
        self.t = 0.0
        self._heap: list = []
        self._n = 0
        self.wire = wire  # round-trip every segment through the codec
        self.a = Node("a", Endpoint("02:00:00:00:01:01", "10.0.1.1", 49152),
                      CardKey.from_private_bytes(bytes([1]) * 32), window_a)  # fmt: skip
        self.b = Node("b", Endpoint("02:00:00:00:02:01", "10.0.2.1", c.PORT_DELIVERY),
                      CardKey.from_private_bytes(bytes([2]) * 32), window_b)  # fmt: skip
        self.accept_args: dict = {}
        self.reject_with: tuple | None = None
        self.tamper = None  # f(seg) -> seg, applied to segments of the BEE sender
        self.sign_override: dict = {}  # node name -> sign callable (a forger)
        self.segments_processed = 0
        self.link_stats = {"sent": 0, "lost": 0, "corrupt": 0, "dup": 0, "delivered": 0}
        self.send_log: list = []  # (t, node name, seg)
        self.rcpts_delivered: set = set()  # (seq) units covered by RCPTs that reached the sender
        self.on_send = None  # hook(sim, node, seg, una) for extra checks

    # --------------------------------------------------------------------- set-up
    def peer(self, node: Node) -> Node:
        return self.b if node is self.a else self.a

    def sign_of(self, node: Node):
        return self.sign_override.get(node.name, node.key.sign)

    def open_offer(self, quantity=1000, quantum=10, isn=5000, template=None, **kw):
        template = template or Bee(bee_type=1, green_ratio_bp=5000, price_micro_per_kbee=700_000)
        self.a.direction, self.b.direction = "debit", "credit"
        conn, eff = Connection.open_offer(
            self.t, self.a.ep, self.b.ep, template, quantity, quantum, isn, self.sign_of(self.a),
            self.b.key.public_bytes, self.a.window, **kw,
        )  # fmt: skip
        self.a.conn = conn
        self.apply(self.a, eff)

    def open_request(self, quantity=1000, isn=7000, bee_type=1, **kw):
        self.a.direction, self.b.direction = "credit", "debit"
        conn, eff = Connection.open_request(
            self.t, self.a.ep, self.b.ep, bee_type, quantity, isn, self.sign_of(self.a),
            self.b.key.public_bytes, self.a.window, **kw,
        )  # fmt: skip
        self.a.conn = conn
        self.apply(self.a, eff)

    @property
    def sender(self) -> Node:
        return self.a if self.a.direction == "debit" else self.b

    @property
    def receiver(self) -> Node:
        return self.peer(self.sender)

    # --------------------------------------------------------------------- effects
    def apply(self, node: Node, effects: list) -> None:
        una = node.info.next_seq if node.info is not None else None
        persisted = False
        for e in effects:
            kind = type(e)
            if kind is Opened:
                node.info = e.transfer
                una = e.transfer.next_seq
            elif kind is Persist:
                d = e.delivery
                assert d.direction == node.direction
                assert d.start_seq == node.info.next_seq, "a delivery must start at next_seq"
                expect = d.start_seq
                for seq, bee in d.bees:
                    k = (d.transfer_id, seq)
                    assert k not in node.ledger, f"{node.name}: {k} persisted twice"
                    assert seq == expect
                    node.ledger[k] = bee
                    expect = (expect + bee.quantity) % SEQ_MOD
                assert expect == d.end_seq == e.next_seq
                node.info = node.info._replace(next_seq=e.next_seq)
                node.records.append((d.start_seq, d.end_seq, d.sender_sig, d.receiver_sig))
                una = e.next_seq
                persisted = True
            elif kind is Send:
                if persisted and node.crash_after_persists is not None:
                    node.persist_batches += 1
                    if node.persist_batches >= node.crash_after_persists:
                        node.crash_after_persists = None
                        self.crash(node)
                        if node.restart_after is not None:
                            delay, receipts = node.restart_after
                            self.at(self.t + delay, lambda s, n=node, r=receipts: s.restart(n, r))
                        return
                self.transmit(node, e.seg, una)
            elif kind is Closed:
                node.closed.append(e.reason)
                if node.info is not None:
                    node.info = node.info._replace(state="closed", close_reason=e.reason)
            elif kind is Event:
                node.events.append(e)
        self.arm(node)

    def arm(self, node: Node) -> None:
        if node.conn is None:
            return
        dl = node.conn.next_deadline
        if dl is not None:
            node.timer_token += 1
            self._push(max(dl, self.t), ("timer", node, node.timer_token))

    def transmit(self, node: Node, seg: EnergyTcp, una) -> None:
        n = units(seg)
        if n and node is self.sender and una is not None:
            in_flight = (seg.seq + n - una) % SEQ_MOD
            node.max_in_flight = max(node.max_in_flight, in_flight)
            limit = self.receiver.window  # R6.5: the ISP's WUP is a rate, checked by the tests
            assert in_flight <= limit, f"{in_flight} units in flight > limit {limit}"
        if self.on_send is not None:
            self.on_send(self, node, seg, una)
        self.send_log.append((self.t, node.name, seg))
        if self.tamper is not None and node is self.sender:
            seg = self.tamper(seg)
        dst_ip, src_ip = node.conn.remote.ip, node.ep.ip
        if self.wire:
            etype = next((r.bee_type for r in seg.records if type(r) is Bee), 0)
            pkt = Packet(src_ip, dst_ip, EnergyIp(etype, origin_mac=node.ep.mac), seg)
            seg = codec.decode(codec.encode(pkt)).payload
        link, rng = self.link, self.rng
        self.link_stats["sent"] += 1
        if link.police_pktps and node is self.sender and n and not self._police(link):
            self.link_stats["policed"] = self.link_stats.get("policed", 0) + 1
            return
        if rng.random() < link.loss:
            self.link_stats["lost"] += 1
            return
        if rng.random() < link.corrupt:
            self.link_stats["corrupt"] += 1  # the checksum would fail: dropped
            return
        copies = 2 if rng.random() < link.dup else 1
        self.link_stats["dup"] += copies - 1
        for _ in range(copies):
            d = link.delay_s
            if rng.random() < link.reorder:
                d += rng.random() * link.spread_s
            self._push(self.t + d, ("seg", dst_ip, seg, src_ip))

    def _police(self, link: Link) -> bool:
        """Token bucket of the policer: True if this packet passes."""
        last, tokens = getattr(self, "_police_state", (self.t, float(link.police_burst)))
        tokens = min(float(link.police_burst), tokens + (self.t - last) * link.police_pktps)
        passed = tokens >= 1.0
        self._police_state = (self.t, tokens - 1.0 if passed else tokens)
        return passed

    # --------------------------------------------------------------------- nodes
    def crash(self, node: Node) -> None:
        node.conn = None
        node.alive = False
        node.timer_token += 1

    def restart(self, node: Node, with_receipts=True) -> None:
        assert node.info is not None and node.info.state == "open"
        node.alive = True
        peer = self.peer(node)
        conn, eff = Connection.resume(
            self.t, node.info, node.ep, peer.ep.ip, self.sign_of(node), peer.key.public_bytes,
            node.window, receipts=tuple(node.records) if with_receipts else (),
        )  # fmt: skip
        node.conn = conn
        if node.isp is not None:
            conn.set_isp_window(node.isp, self.t)
        self.apply(node, eff)

    def move(self, node: Node, ip: str) -> None:
        node.ep = node.ep._replace(ip=ip)
        if node.conn is not None:
            node.conn.local = node.ep  # what the daemon does; the connection notices on its own
            self.arm(node)

    def set_isp(self, node: Node, w) -> None:
        node.isp = w
        if node.conn is not None:
            node.conn.set_isp_window(w, self.t)
            self.arm(node)

    def at(self, t: float, fn) -> None:
        self._push(t, ("call", fn))

    # --------------------------------------------------------------------- the loop
    def _push(self, t, ev) -> None:
        self._n += 1
        heapq.heappush(self._heap, (t, self._n, ev))

    def _deliver(self, dst_ip, seg, src_ip) -> None:
        node = self.a if self.a.ep.ip == dst_ip else self.b if self.b.ep.ip == dst_ip else None
        if node is None or not node.alive:
            return
        self.link_stats["delivered"] += 1
        if node.conn is None:
            if not seg.flags & c.ETCP_SYN or seg.flags & c.ETCP_ACK or node.info is not None:
                return
            if self.reject_with is not None:
                rej = Connection.reject(seg, *self.reject_with)
                self.transmit_raw(node, rej, src_ip)
                return
            peer = self.peer(node)
            node.direction = "credit" if peer.direction == "debit" else "debit"
            conn, eff = Connection.accept(
                self.t, node.ep, peer.ep._replace(ip=src_ip), seg, self.accept_args.get("granted", 10**9),
                self.accept_args.get("isn", 123456), self.sign_of(node), peer.key.public_bytes,
                node.window, template=self.accept_args.get("template"),
                quantum=self.accept_args.get("quantum", 10),
            )  # fmt: skip
            node.conn = conn
            if node.isp is not None:
                conn.set_isp_window(node.isp, self.t)
            self.apply(node, eff)
            return
        self.segments_processed += 1
        if node is self.sender:
            for r in seg.records:
                if type(r).__name__ == "Receipt":
                    self.rcpts_delivered.add((r.start_seq, r.end_seq))
        self.apply(node, node.conn.on_segment(self.t, seg, src_ip))

    def transmit_raw(self, node: Node, seg, dst_ip) -> None:
        self._push(self.t + self.link.delay_s, ("seg", dst_ip, seg, node.ep.ip))

    def run(self, until: float = 600.0, stop_when_closed=True) -> None:
        while self._heap:
            t, _n, ev = heapq.heappop(self._heap)
            if t > until:
                heapq.heappush(self._heap, (t, _n, ev))
                break
            self.t = t
            kind = ev[0]
            if kind == "seg":
                self._deliver(ev[1], ev[2], ev[3])
            elif kind == "timer":
                node, token = ev[1], ev[2]
                if node.conn is not None and token == node.timer_token:
                    dl = node.conn.next_deadline
                    if dl is not None and dl <= self.t:
                        self.apply(node, node.conn.on_timer(self.t))
                    else:
                        self.arm(node)
            elif kind == "call":
                ev[1](self)
            if stop_when_closed and self.done():
                break

    def done(self) -> bool:
        return all(n.closed for n in (self.a, self.b) if n.info is not None) and (
            self.a.closed or self.b.closed
        )

    # --------------------------------------------------------------------- checks
    def seqs(self, node: Node) -> set:
        return set(node.ledger)

    def total_units(self, node: Node) -> int:
        return sum(b.quantity for b in node.ledger.values())

    def sent_bee(self, node: Node, after_s: float = 0.0) -> list[tuple[float, int]]:
        """(time, BEE units) of every data segment `node` sent after `after_s`, retransmissions too."""
        return [(t, units(seg)) for t, who, seg in self.send_log
                if who == node.name and t >= after_s and units(seg)]  # fmt: skip


def max_burst_bee(sends: list[tuple[float, int]], rate_bee_per_s: float) -> float:
    """The largest excess over `rate_bee_per_s` of what was sent in any interval [t_i, t_j]:
    max over i <= j of (units sent in [t_i, t_j]) - rate * (t_j - t_i). A token bucket keeps it
    within its depth."""
    worst, low, cum = 0.0, float("inf"), 0
    for t, n in sends:
        low = min(low, cum - rate_bee_per_s * t)  # cum before this send, as a start point
        cum += n
        worst = max(worst, cum - rate_bee_per_s * t - low)
    return worst
