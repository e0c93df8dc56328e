"""The SDEN energy server on the network (seed 004): Requests by packet-in, answers by packet-out.

The controller punts protocol 253 addressed to the energy server. A Request (SYN) goes through the
server's four stages (eip.sden.server.EnergyServer); a Reject goes back at once, an Accept opens an
Energy-TCP transfer in which the server delivers the granted BEEs from the shared pool with the same
state machine as a card (signed delivery records, receipts, retransmission), and a delivery schedule
(Schedule option on an ACK) follows once the client acknowledged the Accept. Plain logic: it takes
the time and returns Packets; the controller turns them into packet-outs.
"""

import logging
import random
import time
from collections.abc import Callable

from eip.card.etcp import Connection
from eip.card.keys import CardKey
from eip.card.model import Closed, Endpoint, Event, Persist, Send
from eip.protocol import constants as c
from eip.protocol.messages import transfer_option
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, OfferOption, Packet
from eip.sden.packets import PacketSpec
from eip.sden.server import EnergyServer

log = logging.getLogger(__name__)
SERVER_IP = "10.0.0.253"
SERVER_MAC = "02:00:00:00:00:fd"


class SdenService:
    def __init__(self, server: EnergyServer, key: CardKey, key_of: Callable[[str], bytes | None],
                 ip: str = SERVER_IP, mac: str = SERVER_MAC, window_bee: int = 100_000,
                 price_micro_per_kbee: int = 500_000, wall=time.time):  # fmt: skip
        self.server, self.key, self.key_of = server, key, key_of
        self.ip, self.mac = ip, mac.lower()
        self.window = window_bee
        self.price = price_micro_per_kbee
        self.wall = wall
        self.conns: dict[tuple[str, int], Connection] = {}
        self.decisions: dict[tuple[str, int], object] = {}
        self.scheduled: set[tuple[str, int]] = set()
        self.delivered: list = []  # Persist effects (debits) of the server, for its books
        self.stats = {
            "requests": 0,
            "accepted": 0,
            "rejected": 0,
            "emergencies": 0,
            "delivered_bee": 0,
        }

    def _packet(self, dst_ip: str, seg: EnergyTcp, dscp: int = 8) -> Packet:
        types = {r.bee_type for r in seg.records if type(r) is Bee}
        etype = types.pop() if len(types) == 1 else 0
        return Packet(self.ip, dst_ip, EnergyIp(etype, 0, self.mac), seg, dscp=dscp)

    def _run(self, key, conn: Connection, effects: list) -> list[Packet]:
        out = []
        for e in effects:
            if type(e) is Send:
                out.append(self._packet(conn.remote.ip, e.seg))
            elif type(e) is Persist:
                self.delivered.append(e.delivery)
                self.stats["delivered_bee"] += e.delivery.end_seq - e.delivery.start_seq
            elif type(e) is Closed:
                self.conns.pop(key, None)
            elif type(e) is Event:
                log.info("SDEN %s %s %s", e.kind, e.transfer_id, e.detail)
        return out

    def on_packet(self, pkt: Packet, now: float) -> list[Packet]:
        seg = pkt.payload
        if type(seg) is not EnergyTcp or seg.dport != c.PORT_ENERGY_SERVER:
            return []
        key = (pkt.eip.origin_mac, seg.sport)
        conn = self.conns.get(key)
        if conn is not None:
            out = self._run(key, conn, conn.on_segment(now, seg, pkt.src))
            if key not in self.scheduled and conn.state == "ESTABLISHED":
                self.scheduled.add(key)
                out += self._schedule(key, conn, now)
            return out
        if not seg.flags & c.ETCP_SYN or seg.flags & c.ETCP_ACK:
            return []
        return self._request(key, pkt, seg, now)

    def _request(self, key, pkt: Packet, syn: EnergyTcp, now: float) -> list[Packet]:
        self.stats["requests"] += 1
        opt = transfer_option(syn)
        emergency = syn.urgent if syn.flags & c.ETCP_URG else 0
        peer_key = self.key_of(pkt.eip.origin_mac)
        if opt is None or isinstance(opt, OfferOption) or peer_key is None:
            reason = 6 if peer_key is None else 5
            self.stats["rejected"] += 1
            return [self._packet(pkt.src, Connection.reject(syn, reason, 60))]
        if emergency:
            self.stats["emergencies"] += 1
        decision = self.server.request(int(self.wall()), pkt.eip.origin_mac, opt, emergency)
        self.decisions[key] = decision
        if not decision.accepted:
            self.stats["rejected"] += 1
            return [self._packet(pkt.src, decision.segment(syn, 0, 0))]
        self.stats["accepted"] += 1
        template = Bee(0, opt.bee_type, 0, 0, quantity=1, price_micro_per_kbee=self.price,
                       start_s=opt.start_s, end_s=max(opt.end_s, opt.start_s))  # fmt: skip
        local = Endpoint(self.mac, self.ip, c.PORT_ENERGY_SERVER)
        remote = Endpoint(pkt.eip.origin_mac, pkt.src, syn.sport)
        conn, effects = Connection.accept(
            now, local, remote, syn, decision.granted_bee, random.getrandbits(32), self.key.sign,
            peer_key, self.window, template=template, quantum=self.server.spec.wh,
        )  # fmt: skip
        self.conns[key] = conn
        return self._run(key, conn, effects)

    def _schedule(self, key, conn: Connection, now: float) -> list[Packet]:
        """The delivery schedule of an accepted request, as an ACK with a Schedule option."""
        allocs = [a for a in self.server.allocate(int(self.wall()) + 3600 * 12)
                  if a.request_id == getattr(self.decisions.get(key), "request_id", None)]  # fmt: skip
        if not allocs:
            return []
        seg = self.server.schedule_segment(allocs[0], dport=conn.remote.port, seq=0, ack=0,
                                           window=self.window)  # fmt: skip
        return [self._packet(conn.remote.ip, seg)]

    def on_timer(self, now: float) -> list[Packet]:
        out = []
        for key, conn in list(self.conns.items()):
            if conn.next_deadline is not None and conn.next_deadline <= now:
                out += self._run(key, conn, conn.on_timer(now))
        return out

    def status(self) -> dict:
        return {**self.stats, "open": len(self.conns), "server": self.server.status()}


def default_server(wh: int = 10) -> EnergyServer:
    """A server for an emulation: constant shared supply of 200 packets per slot over 12 h."""
    from eip.sden.agents import Source
    from eip.sden.packets import Profile

    spec = PacketSpec(wh=wh, minutes=10, epoch_s=int(time.time()) // 600 * 600)
    supply = Source("pool", Profile(tuple([200] * 72), spec.slot(time.time())))
    return EnergyServer(spec, horizon_slots=72, sources=[supply])
