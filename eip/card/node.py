"""The Energy Internet Card as a plain object: datagrams, control requests and the time in, actions out.

`CardNode` holds no socket, clock or process (the style of eip/sdn/controller.py; the daemon,
eip/card/daemon.py, is its thin shell). Every method returns a list of actions to perform at once, in
order: `Transmit` (send this encoded datagram to this address with this DSCP), `Answer` (answer this
control client), `Stop`. The effects of the Energy-TCP connections wait in a batch until `flush()`,
which commits every delivery of the batch in one ledger transaction and only then returns the segments
to send: no acknowledgment leaves before the delivery it acknowledges is durable. Design: docs/card.md.
"""

import logging
import random
from collections import deque

from eip.card.actions import Answer, Transmit
from eip.card.agent_host import AgentHost
from eip.card.config import CardConfig
from eip.card.isp_messages import IspMessages
from eip.card.ledger import Ledger
from eip.card.ops import (
    ControlOps,
    PowerStore,
    fill_power,
    transfer_result,
)
from eip.card.orders import PoolClient
from eip.card.peers import Peers
from eip.errors import DecodeError, EipError
from eip.etcp.base import (
    CLOSED,
    FIN_WAIT,
    REJECT_INSUFFICIENT_SUPPLY,
    REJECT_MALFORMED,
    REJECT_NO_SERVICE,
    REJECT_STATIC_LIMIT,
    REJECT_UNAUTHORIZED,
    TIME_WAIT,
)
from eip.etcp.connection import Connection
from eip.etcp.keys import CardKey
from eip.etcp.model import Closed, Endpoint, Event, Opened, Persist, Send, transfer_id
from eip.etcp.window import fair_shares
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import (
    carries_bee,
    classify,
    refused_syn,
    segment_dscp,
    transfer_option,
)
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    OfferOption,
    Packet,
    PriceNotice,
    StaticLimitNotice,
)

log = logging.getLogger(__name__)

EVENTS_KEPT = 200
REJECT_RETRY_AFTER_S = 60  # what a Reject of this card tells the peer to wait
NO_STATIC_LIMIT = 2**32 - 1  # the room a period without a static limit notice leaves
SENDER_DONE = (CLOSED, FIN_WAIT, TIME_WAIT)  # every BEE acknowledged: no share of the ISP rate
DSCP_CLASS_1 = c.PRIORITY_CLASSES[1]  # RSTs, rejects and pool orders go in class 1 (R3.3)


def open_ledger(config: CardConfig, key: CardKey) -> Ledger:
    """The card's ledger: opened if it exists (it must be this card's), else created."""
    if config.ledger_path.exists():
        ledger = Ledger.open(config.ledger_path)
        if ledger.identity.mac != config.mac:
            raise EipError(
                f"{config.ledger_path} belongs to card {ledger.identity.mac}, not {config.mac}"
            )
        return ledger
    return Ledger.create(
        config.ledger_path, config.name, config.kind, config.mac, key.public_bytes, config.vpp
    )


class CardNode(ControlOps, IspMessages):
    """One Energy Internet Card; see docs/card.md. `wall()` gives the wall-clock time (events, BEEs)."""

    def __init__(self, config: CardConfig, key: CardKey, ledger: Ledger, energy_ip: str, wall,
                 resolver=None):  # fmt: skip
        self.config = config
        self.key = key
        self.ledger = ledger
        self.wall = wall
        self.energy_ip = energy_ip
        self.peers = Peers(config, ledger, resolver)
        ledger.set_energy_ip(energy_ip)
        for peer in config.peers:
            ledger.add_peer(peer.mac, peer.name, peer.key)
        self.vpp = config.vpp_of(energy_ip) or config.vpp
        self.home_vpp = config.home_vpp or self.vpp
        self.conns: dict[tuple[str, int, int], Connection] = {}
        self.by_id: dict[str, Connection] = {}
        # The ISP's aggregate rate for this card (WUP with both ports 0, R6.10), BEE per second:
        # split over the sending connections by share_isp_rate(). None: no dynamic limit.
        self.isp_window: int | None = None
        self.order_pacing: dict[int, float | str] = {}  # pool order id -> power or "frame"
        self.powers = PowerStore(config.state_dir / "pacing.json")
        self.notice: StaticLimitNotice | None = None
        self.price: PriceNotice | None = None  # the ISP's latest prices at the card's node (R5.7)
        self.isp_ip = config.isp_ip  # ISP messages only from here; by name in DNS when `isp` is set
        self.pool_ips: dict[str, str] = {}  # pool name -> address, as found in Energy DNS
        self.node_id = 0
        self.period = 0
        self.events: deque = deque(maxlen=EVENTS_KEPT)
        self.event_counts: dict[
            str, int
        ] = {}  # kind -> events since start (the deque keeps the last)
        self.waiters: dict[str, list] = {}
        self.order_waiters: dict[int, object] = {}
        self.stats = {
            "packets_in": 0, "packets_out": 0, "malformed": 0, "ignored": 0, "resets_sent": 0,
            "rejected_in": 0, "accepted_in": 0, "deliveries_committed": 0, "errors": 0,
        }  # fmt: skip
        self._batch: list = []  # (connection, effect) pairs waiting for flush()
        self.pool = PoolClient(self._free_port(), config.window_bee)
        self.agent = AgentHost(self, config.behaviour) if config.behaviour else None

    # --- sending ------------------------------------------------------------------------------
    def _energy_ip_header(self, seg: EnergyTcp) -> EnergyIp:
        types = {r.bee_type for r in seg.records if type(r) is Bee}
        energy_type = types.pop() if len(types) == 1 else 0
        flags = c.EIP_FLAG_MOV if self.vpp != self.home_vpp else 0
        limit = c.NO_LIMIT
        if self.notice is not None:
            limit = self.notice.export_limit
        return EnergyIp(energy_type, flags, self.config.mac, self.node_id, self.period, limit)

    def transmit(self, seg: EnergyTcp, dst_ip: str, dscp: int = DSCP_CLASS_1) -> Transmit | None:
        """`seg` encoded under this card's Energy-IP header, marked BEE or not in the class of `dscp`
        (R3.3); None (logged) if it cannot be encoded."""
        dscp = segment_dscp(seg, dscp)
        pkt = Packet(self.energy_ip, dst_ip, self._energy_ip_header(seg), seg, dscp=dscp)
        try:
            return Transmit(dst_ip, codec.encode_transport(pkt), dscp)
        except EipError as exc:
            log.error("cannot encode %s: %s", classify(seg), exc)
            return None

    def _send(self, seg: EnergyTcp, dst_ip: str) -> list:
        tx = self.transmit(seg, dst_ip)
        return [] if tx is None else [tx]

    # --- the batch ----------------------------------------------------------------------------
    def flush(self) -> list:
        """Apply the batch: open transfers, commit every delivery in one transaction, then send.

        If the commit fails the exception propagates and nothing of the batch is sent (the peers
        retransmit); the batch is dropped either way.
        """
        effects, self._batch = self._batch, []
        if not effects:
            return []
        for conn, effect in effects:
            if type(effect) is Opened:
                self._rekey(conn, effect.transfer.transfer_id)
                # the ledger's times are Unix time (R1.4): opened like closed, by the wall clock
                self.ledger.open_transfer(effect.transfer._replace(opened_s=self.wall()))
        if self.isp_window is not None:  # a sender that finished gives its share back
            self.share_isp_rate()
        persists = [(e.delivery, e.next_seq) for _conn, e in effects if type(e) is Persist]
        if persists:
            self.stats["deliveries_committed"] += self.ledger.commit(persists)
        out: list = []
        for conn, effect in effects:
            kind = type(effect)
            if kind is Send:
                tx = self.transmit(effect.seg, conn.remote.ip, conn.dscp)
                if tx is not None:
                    out.append(tx)
            elif kind is Closed:
                out += self._closed(effect)
            elif kind is Event:
                self._event(effect.kind, effect.transfer_id, effect.detail)
        return out

    def _run(self, conn: Connection, effects: list) -> None:
        self._batch += [(conn, effect) for effect in effects]

    def _rekey(self, conn: Connection, transfer_id: str) -> None:
        """A Request's id is provisional until the Accept gives the sender's ISN: move it over."""
        for old_id, known in list(self.by_id.items()):
            if known is conn and old_id != transfer_id:
                del self.by_id[old_id]
                if old_id in self.waiters:
                    self.waiters[transfer_id] = self.waiters.pop(old_id)
        self.by_id[transfer_id] = conn

    def _closed(self, effect: Closed) -> list:
        conn = self.by_id.pop(effect.transfer_id, None)
        if conn is not None:
            self.conns.pop(conn.key, None)
            if conn.role == "send":
                self.share_isp_rate()
                self.powers.drop(effect.transfer_id)
        if self.ledger.transfer(effect.transfer_id) is not None:
            self.ledger.close_transfer(effect.transfer_id, effect.reason, self.wall())
        self._event("closed", effect.transfer_id, effect.reason)
        result = self._transfer_result(effect.transfer_id, effect.reason)
        return [Answer(client, True, result) for client in self.waiters.pop(effect.transfer_id, [])]

    def _event(self, kind: str, transfer_id: str, detail: str = "") -> None:
        self.event_counts[kind] = self.event_counts.get(kind, 0) + 1
        self.events.append({"at_s": round(self.wall(), 3), "kind": kind, "transfer_id": transfer_id,
                            "detail": detail})  # fmt: skip
        log.info("%s %s %s", kind, transfer_id, detail)

    def _transfer_result(self, transfer_id: str, reason: str) -> dict:
        return transfer_result(transfer_id, reason, self.ledger.transfer(transfer_id))

    def _add(self, conn: Connection, now: float | None = None) -> None:
        self.conns[conn.key] = conn
        self.by_id[conn.transfer_id] = conn
        if conn.role == "send":
            self.share_isp_rate(now)

    def share_isp_rate(self, now: float | None = None) -> None:
        """Apply the ISP's aggregate rate as an aggregate (R6.10): a max-min fair split over the
        sending connections still sending, each capped by its own power and per-connection WUP, so
        their rates never sum past it (eip/etcp/window.py fair_shares)."""
        senders = [conn for conn in self.conns.values()
                   if conn.role == "send" and conn.state not in SENDER_DONE]  # fmt: skip
        if self.isp_window is None:
            for conn in senders:
                conn.set_isp_share(None, now)
            return
        caps = {conn: conn.own_cap_bee_per_s for conn in senders}
        for conn, share in fair_shares(self.isp_window, caps).items():
            conn.set_isp_share(share, now)

    def set_power(self, conn: Connection, power_bee_per_s: float | None, now: float) -> None:
        """A transfer's own power in BEE per emulated second, paced at power x time_scale per wall s."""
        if power_bee_per_s is not None:
            conn.set_power(power_bee_per_s * self.config.time_scale, now)
            conn.power_bee_per_s = power_bee_per_s
            self.powers.put(conn.transfer_id, power_bee_per_s)

    def _free_port(self) -> int:
        used = {conn.local.port for conn in self.by_id.values()}
        while True:
            port = random.randint(c.EPHEMERAL_PORT_MIN, 65535)
            if port not in used:
                return port

    # --- receiving ----------------------------------------------------------------------------
    def on_datagram(self, data: bytes, now: float) -> list:
        """One received IPv4 payload; connection effects join the batch (see flush)."""
        self.stats["packets_in"] += 1
        try:
            pkt = codec.decode(data)
        except DecodeError as exc:
            self.stats["malformed"] += 1
            log.debug("malformed packet: %s", exc)
            syn = refused_syn(data, exc.field)  # no or two request/offer options: reason 8 (R6.9)
            if syn is None or syn[1] != self.energy_ip:
                return []
            self.stats["rejected_in"] += 1
            return self._send(
                Connection.reject(syn[2], REJECT_MALFORMED, REJECT_RETRY_AFTER_S), syn[0]
            )
        if pkt.dst != self.energy_ip:
            self.stats["ignored"] += 1
            return []
        p = pkt.payload
        if type(p) is EnergyTcp:
            if pkt.dscp not in c.DSCP_BEE and carries_bee(p):  # R3.6: unmetered BEE, no credit
                self.stats["unmarked_bee"] = self.stats.get("unmarked_bee", 0) + 1
                return []
            return self._on_segment(pkt, p, now)
        return self.on_isp_control(pkt, p, now)

    def _on_segment(self, pkt: Packet, seg: EnergyTcp, now: float) -> list:
        if seg.flags & c.ETCP_WUP:
            if not self.from_isp(pkt):
                self.stats["ignored"] += 1
                return []
            # The window is a rate, BEE per second (R6.10); NO_LIMIT lifts it.
            rate = None if seg.window == c.NO_LIMIT else seg.window
            if seg.sport == 0 and seg.dport == 0:
                self.isp_window = rate
            else:
                for conn in self.by_id.values():
                    if conn.remote.port == seg.sport and conn.local.port == seg.dport:
                        conn.set_isp_window(rate, now)
            self.share_isp_rate(now)
            self._event("window-update", "", f"{seg.window} BEE/s")
            return []
        if seg.sport == c.PORT_BEE_POOL and seg.dport == self.pool.port:
            return self._on_pool_segment(pkt, seg, now)
        conn = self.conns.get((pkt.eip.origin_mac, seg.sport, seg.dport))
        if conn is not None:
            self._run(conn, conn.on_segment(now, seg, pkt.src))
            return []
        if seg.flags & c.ETCP_SYN and not seg.flags & c.ETCP_ACK:
            return self._on_syn(pkt, seg, now)
        if not seg.flags & c.ETCP_RST:
            # No such transfer (never opened, or closed): reset so the peer stops.
            self.stats["resets_sent"] += 1
            return self._send(EnergyTcp(seg.dport, seg.sport, seg.ack, 0, c.ETCP_RST, 0), pkt.src)
        return []

    def _on_syn(self, pkt: Packet, syn: EnergyTcp, now: float) -> list:
        """Admission of a peer's SYN: accept (granting what the limits allow) or reject, with why."""
        opt = transfer_option(syn)
        remote = Endpoint(pkt.eip.origin_mac, pkt.src, syn.sport)
        local = Endpoint(self.config.mac, self.energy_ip, syn.dport)
        reason = 0
        key = None
        if syn.dport != self.config.delivery_port:
            reason = REJECT_NO_SERVICE
        elif opt is None or opt.quantity < 1 or self._holds(opt, remote, local, syn.seq):
            reason = (
                REJECT_MALFORMED  # no or an empty request/offer (R6.9); a held transfer (R6.12)
            )
        else:
            key = self.peers.key_of(remote.mac)
            if key is None:
                reason = REJECT_UNAUTHORIZED  # an unknown card: its signatures cannot be checked
        granted = 0
        if not reason:
            granted = min(opt.quantity, self.config.max_grant_bee, self._static_room(opt))
            if granted <= 0:
                reason = (
                    REJECT_STATIC_LIMIT if self.notice is not None else REJECT_INSUFFICIENT_SUPPLY
                )
        if reason:
            self.stats["rejected_in"] += 1
            out = self._send(Connection.reject(syn, reason, REJECT_RETRY_AFTER_S), pkt.src)
            self._event("rejected-in", "", f"{remote.mac} reason {c.REJECT_REASONS[reason]}")
            return out
        template = None
        if not isinstance(opt, OfferOption):  # a Request: this card delivers
            template = self._template(opt.bee_type, opt.start_s, opt.end_s)
        conn, effects = Connection.accept(
            now, local, remote, syn, granted, random.getrandbits(32), self.key.sign, key,
            self.config.window_bee, template=template, quantum=self.config.quantum_bee,
        )  # fmt: skip
        self._add(conn, now)
        self.stats["accepted_in"] += 1
        self._run(conn, effects)
        return []

    def _holds(self, opt, remote: Endpoint, local: Endpoint, isn: int) -> bool:
        """An Offer naming a transfer this card already holds, open or closed (R6.12)."""
        return (
            isinstance(opt, OfferOption)
            and self.ledger.transfer(transfer_id(remote, local, isn)) is not None
        )

    def _static_room(self, opt) -> int:
        """What the static limit of the period still allows (import for offers, export for requests)."""
        if self.notice is None:
            return NO_STATIC_LIMIT
        if isinstance(opt, OfferOption):
            return self.notice.import_limit
        return self.notice.export_limit

    def _template(self, bee_type: int, start_s: int = 0, end_s: int = 0) -> Bee:
        now_s = int(self.wall())
        start_s = start_s or now_s
        end_s = max(end_s, start_s)
        return Bee(0, bee_type, self.config.green, self.config.carbon, quantity=1,
                   price_micro_per_kbee=self.config.price_micro_per_kbee, start_s=start_s,
                   end_s=end_s)  # fmt: skip

    # --- the BEE pool -------------------------------------------------------------------------
    def _on_pool_segment(self, pkt: Packet, seg: EnergyTcp, now: float) -> list:
        replies, fills, answered = self.pool.on_segment(pkt.src, seg)
        out = []
        for reply in replies:
            out += self._send(reply, pkt.src)
        for order_id in answered:
            client = self.order_waiters.pop(order_id, None)
            if client is not None:
                out.append(Answer(client, True, self.pool.orders[order_id]))
        for order_id, fill in fills:
            order = self.pool.orders[order_id]
            self._event("fill", "", f"order {order_id} {order['side']} {fill.quantity} BEE "
                        f"@{fill.price_micro_per_kbee} with {fill.peer_mac}")  # fmt: skip
            if order["side"] == "send":  # the seller delivers what it sold
                self._deliver_sale(order, fill, now)
            if self.agent:
                self.agent.on_fill(order_id, fill)
        return out

    def _deliver_sale(self, order: dict, fill, now: float) -> None:
        key = self.peers.key_of(fill.peer_mac)
        if key is None:
            self._event("error", "", f"no key for buyer {fill.peer_mac}: sale not delivered")
            return
        template = self._template(order["bee_type"], fill.start_s, fill.end_s)._replace(
            price_micro_per_kbee=fill.price_micro_per_kbee
        )
        local = Endpoint(self.config.mac, self.energy_ip, self._free_port())
        remote = Endpoint(fill.peer_mac, fill.peer_ip, self.config.delivery_port)
        conn, effects = Connection.open_offer(
            now, local, remote, template, fill.quantity, self.config.quantum_bee,
            random.getrandbits(32), self.key.sign, key, self.config.window_bee, priority=1,
            dscp=c.PRIORITY_CLASSES[1],
        )  # fmt: skip
        self.set_power(conn, fill_power(self.order_pacing.get(order["order_id"]), fill), now)
        self._add(conn, now)
        self._run(conn, effects)

    # --- time, restarts, moves ----------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """The earliest time `on_timer` has something to do (a connection's or the pool's timer)."""
        deadlines = [conn.next_deadline for conn in self.by_id.values() if conn.next_deadline]
        if self.pool.next_deadline is not None:
            deadlines.append(self.pool.next_deadline)
        if self.agent and self.agent.next_deadline() is not None:
            deadlines.append(self.agent.next_deadline())
        return min(deadlines) if deadlines else None

    def on_timer(self, now: float) -> list:
        """Run due timers: pool retransmissions and failures at once, connection effects into the batch."""
        resend, failed = self.pool.on_timer(now)
        out = self.agent.on_timer(now) if self.agent else []
        for pool_ip, seg in resend:
            out += self._send(seg, pool_ip)
        for order_id in failed:
            client = self.order_waiters.pop(order_id, None)
            if client is not None:
                out.append(Answer(client, False, f"no answer from the pool for order {order_id}"))
        for conn in list(self.by_id.values()):
            if conn.next_deadline is not None and conn.next_deadline <= now:
                self._run(conn, conn.on_timer(now))
        return out

    def resume(self, now: float) -> list:
        """Reopen the transfers the ledger says are open (after a crash or a restart); see flush."""
        infos = self.ledger.open_transfers()
        self.powers.keep_only(info.transfer_id for info in infos)
        for info in infos:
            key = self.peers.key_of(info.peer_mac)
            local = Endpoint(self.config.mac, self.energy_ip, info.local_port)
            power = self.powers.powers.get(info.transfer_id) if info.role == "send" else None
            conn, eff = Connection.resume(
                now, info, local, info.peer_ip, self.key.sign, key, self.config.window_bee,
                power_bee_per_s=None if power is None else power * self.config.time_scale,
            )  # fmt: skip
            self.set_power(conn, power, now)
            self._add(conn, now)
            self._run(conn, eff)
            self._event("resumed", info.transfer_id, info.role)
        return []

    def moved(self, ip: str) -> list:
        """The card has a new Energy IP (mobility, docs/card.md): use it from now on."""
        log.info("Energy IP changed %s -> %s", self.energy_ip, ip)
        self._event("moved", "", f"{self.energy_ip} -> {ip}")
        self.energy_ip = ip
        self.ledger.set_energy_ip(ip)
        self.vpp = self.config.vpp_of(ip) or self.vpp
        self.ledger.set_vpp(self.vpp)
        for conn in self.by_id.values():
            conn.local = conn.local._replace(ip=ip)
        return []

    def announce(self) -> None:
        """Register this card (name, Energy IP, key) in Energy DNS, if it has one."""
        from eip.dns.records import CardEntry

        entry = CardEntry(
            self.config.name, self.energy_ip, self.config.mac, self.config.kind, self.vpp,
            self.key.public_bytes, self.wall(),
        )  # fmt: skip
        self.peers.register(entry, self.key.sign)
        if self.config.isp:  # the ISP by name: its address is where its messages must come from
            try:
                self.isp_ip = self.peers.address_of(self.config.isp, "the ISP")
            except EipError as exc:
                log.warning("%s; ISP messages are taken from %s", exc, self.isp_ip)
        if self.config.pool:  # found now, while the zone is reachable (an island cuts it off)
            try:
                self.default_pool()
            except EipError as exc:
                log.warning("%s; looked up again at the first order", exc)

    def stop(self) -> list:
        """The card stops: every client still waiting on a transfer hears it."""
        out = [Answer(cl, False, "the card stopped") for cls in self.waiters.values() for cl in cls]
        self.waiters.clear()
        return out
