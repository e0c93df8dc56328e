"""The BEE pool as a network service (seed 000 section 6), hosted on a VPP router: orders in, fills out.

A pool exchange is a single-segment Energy-TCP transaction on port 2 (docs/markets.md): a card sends a
data segment of PoolOrder records; the pool answers with one segment of PoolFill records whose ack
covers the orders (one unit each, R6.4). A lost answer is recovered by the card retransmitting the same
segment: the pool keeps its answers and repeats them, so no order is placed twice. When a new order
matches a resting one, the pool also sends the resting order's owner an unsolicited fill, repeated
until that card acknowledges it. Matched sellers then deliver the BEEs to their buyers themselves.

With a call market (`call=IdentifiedPool(...)`, `eip pool serve --pricing identified`) an order is
answered "resting" and waits in its slot's batch; when the slot clears (eip/markets/identified.py)
both sides of every trade get an unsolicited fill.
"""

import logging
import random
import selectors
import socket
import time
from collections import OrderedDict

from eip.errors import DecodeError, EipError
from eip.markets.orders import Order, fills_for, status_fill
from eip.markets.pool import BeePool
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import segment_dscp
from eip.protocol.model import EnergyIp, EnergyTcp, Packet, PoolFill, PoolOrder
from eip.protocol.seq import seq_add

log = logging.getLogger(__name__)
RETRY_S = 0.5
MAX_TRIES = 10
ANSWERS_KEPT = 10_000
MAX_FILLS_PER_SEGMENT = 30
# Fills carry no BEE: class 1 without the BEE mark (R3.3), never metered as a card's energy.
DSCP_FILLS = c.PRIORITY_CLASSES[1]


class PoolService:
    """The pool's protocol logic: given the time and a packet, returns the packets to send."""

    def __init__(self, mac: str, ip: str, pool: BeePool | None = None, call=None):
        self.mac, self.ip = mac, ip
        self.call = call  # a call market (IdentifiedPool): orders wait for their slot to clear
        self.pool = call if call is not None else (pool or BeePool())
        self.seq = random.getrandbits(31)
        self.where: dict[str, tuple[str, int]] = {}  # owner MAC -> (Energy IP, port) for notices
        self.answers: OrderedDict = OrderedDict()  # (mac, port, seq) -> answer, for retransmissions
        self.pending: dict[
            tuple[str, int, int], list
        ] = {}  # (ip, port, ack) -> [packet, due, tries]
        self.next_order_seq = 0
        self.stats = {"orders": 0, "trades": 0, "bee_matched": 0, "duplicates": 0, "notices": 0}

    def _packet(self, dst_ip: str, dport: int, ack: int, fills: tuple) -> Packet:
        seg = EnergyTcp(c.PORT_BEE_POOL, dport, self.seq, ack, c.ETCP_ACK | c.ETCP_PSH, 1_000_000,
                        records=fills)  # fmt: skip
        self.seq = seq_add(self.seq, len(fills))
        return Packet(
            self.ip, dst_ip, EnergyIp(0, 0, self.mac), seg, dscp=segment_dscp(seg, DSCP_FILLS)
        )

    def on_packet(self, pkt: Packet, now: float) -> list[Packet]:
        seg = pkt.payload
        if type(seg) is not EnergyTcp or seg.dport != c.PORT_BEE_POOL or seg.flags & c.ETCP_SYN:
            return []
        if not seg.records:  # an acknowledgment of a notice
            self.pending.pop((pkt.src, seg.sport, seg.ack), None)
            return []
        key = (pkt.eip.origin_mac, seg.sport, seg.seq)
        if key in self.answers:
            self.stats["duplicates"] += 1
            return [self.answers[key]]
        owner = pkt.eip.origin_mac
        self.where[owner] = (pkt.src, seg.sport)
        fills: list[PoolFill] = []
        out: list[Packet] = []
        for rec in seg.records:
            if type(rec) is not PoolOrder:
                continue
            fills += self._order(rec, owner, pkt, now, out)
        answer = self._packet(pkt.src, seg.sport, seq_add(seg.seq, len(seg.records)),
                              tuple(fills[:MAX_FILLS_PER_SEGMENT]))  # fmt: skip
        self.answers[key] = answer
        while len(self.answers) > ANSWERS_KEPT:
            self.answers.popitem(last=False)
        return [answer, *out]

    def _order(self, rec: PoolOrder, owner: str, pkt: Packet, now: float, out: list) -> list:
        self.stats["orders"] += 1
        try:
            if rec.action == 2:  # cancel
                cancelled = self.pool.cancel(owner, rec.order_id)
                return [status_fill(cancelled, 3, cancelled.quantity)]
            self.next_order_seq += 1
            order = Order.from_wire(rec, owner, seq=self.next_order_seq)
        except EipError as exc:
            log.info("order %d of %s refused: %s", rec.order_id, owner, exc)
            return [PoolFill(0, rec.order_id, "00:00:00:00:00:00", 4, "0.0.0.0", 0,
                             rec.price_micro_per_kbee, rec.start_s, max(rec.end_s, rec.start_s))]  # fmt: skip
        if rec.action == 3:  # query: the best match, without placing
            best = self.pool.best_match(order, int(time.time()))
            return [status_fill(best, 5, best.quantity)] if best else []
        if self.call is not None:
            try:
                self.call.submit(order, now)
            except EipError as exc:
                log.info("order %d of %s refused: %s", rec.order_id, owner, exc)
                return [status_fill(order, 4, 0)]
            return fills_for(order, [])  # resting until its slot clears
        trades = self.pool.place(order, int(time.time()))
        ips = {o: self.where[o][0] for o in self.where}
        for t in trades:
            self._count(t)
            resting = t.seller if order.side == 2 else t.buyer
            out += self._notify(resting, t.fill_for(3 - order.side, pkt.src), now)
        return fills_for(order, trades, ips)

    def _count(self, t) -> None:
        self.stats["trades"] += 1
        self.stats["bee_matched"] += t.quantity

    def _notify(self, owner: str, fill: PoolFill, now: float) -> list[Packet]:
        """An unsolicited fill to an order's owner, repeated until it is acknowledged."""
        if owner not in self.where:
            return []
        ip, port = self.where[owner]
        notice = self._packet(ip, port, 0, (fill,))
        self.pending[(ip, port, notice.payload.seq + 1)] = [notice, now + RETRY_S, 1]
        self.stats["notices"] += 1
        return [notice]

    def on_timer(self, now: float) -> list[Packet]:
        """Clear the call market's quiet slots; repeat notices not yet acknowledged (MAX_TRIES)."""
        out = []
        if self.call is not None:
            for t in self.call.due(now):
                self._count(t)
                for owner, side, peer in ((t.buyer, 2, t.seller), (t.seller, 1, t.buyer)):
                    peer_ip = self.where.get(peer, ("0.0.0.0", 0))[0]
                    out += self._notify(owner, t.fill_for(side, peer_ip), now)
        for key, entry in list(self.pending.items()):
            packet, due, tries = entry
            if due <= now:
                if tries >= MAX_TRIES:
                    log.warning("notice to %s:%d never acknowledged", key[0], key[1])
                    del self.pending[key]
                    continue
                entry[1], entry[2] = now + RETRY_S * 2**tries, tries + 1
                out.append(packet)
        return out


def serve(ip: str, mac: str, stop=lambda: False, call=None) -> None:
    """Run the pool service on a raw protocol-253 socket bound to `ip` (root); `call`: a call
    market (IdentifiedPool) instead of the continuous double auction."""
    service = PoolService(mac, ip, call=call)
    try:
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, c.IP_PROTO_ENERGY)
    except PermissionError:
        raise EipError("the pool service needs root (CAP_NET_RAW)") from None
    sock.bind((ip, 0))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, DSCP_FILLS << 2)  # the kernel's header
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ)
    log.info("BEE pool on %s (%s) port %d", ip, mac, c.PORT_BEE_POOL)
    while not stop():
        sel.select(0.1)
        now = time.monotonic()
        out = []
        while True:
            try:
                data = sock.recv(65535)
            except BlockingIOError:
                break
            try:
                pkt = codec.decode(data)
            except DecodeError as exc:
                log.debug("malformed: %s", exc)
                continue
            if pkt.dst == ip:
                try:
                    out += service.on_packet(pkt, now)
                except Exception:
                    log.exception("error handling a pool packet")
        out += service.on_timer(now)
        for packet in out:
            try:
                sock.sendto(codec.encode_transport(packet), (packet.dst, 0))
            except OSError as exc:
                log.warning("send to %s failed: %s", packet.dst, exc)
