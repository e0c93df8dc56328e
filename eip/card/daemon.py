"""The card daemon (`eip card run`): raw IPv4 protocol 253 socket, Energy-TCP connections, ledger.

One event loop: it drains the socket, feeds segments to connections, commits every delivery of the
batch in one ledger transaction, and only then sends what the connections asked to send.
"""

import contextlib
import errno
import fcntl
import logging
import os
import random
import selectors
import socket
import struct
import time
from collections import deque

from eip.card.config import CardConfig
from eip.card.control import MAX_LINE, ControlError, decode_request, encode_message
from eip.card.ledger import Ledger
from eip.card.orders import PoolClient
from eip.errors import DecodeError, EipError
from eip.etcp.connection import Connection
from eip.etcp.keys import CardKey
from eip.etcp.model import Closed, Endpoint, Event, Opened, Persist, Send
from eip.protocol import codec
from eip.protocol import constants as c
from eip.protocol.messages import classify, transfer_option
from eip.protocol.model import (
    Bee,
    EnergyIp,
    EnergyTcp,
    LimitExceeded,
    OfferOption,
    Packet,
    StaticLimitNotice,
    Unreachable,
)

log = logging.getLogger(__name__)

SIOCGIFADDR = 0x8915
ADDRESS_CHECK_S = 1.0
MAX_BATCH = 256
EVENTS_KEPT = 200


def interface_ipv4(ifname: str) -> str:
    """The IPv4 address of an interface, or '' if it has none."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        packed = struct.pack("256s", ifname.encode()[:15])
        return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, packed)[20:24])
    except OSError:
        return ""
    finally:
        sock.close()


def first_interface() -> str:
    """The first non-loopback interface (a Mininet host has exactly one)."""
    for _, name in socket.if_nameindex():
        if name != "lo":
            return name
    return ""


class CardDaemon:
    """One Energy Internet Card; see docs/card.md."""

    def __init__(self, config: CardConfig, clock=time.monotonic, wall=time.time):
        self.config = config
        self.clock = clock
        self.wall = wall
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.key = CardKey.load_or_create(config.key_path)
        self.ledger = self._open_ledger()
        self.interface = config.interface or first_interface()
        self.energy_ip = config.energy_ip or interface_ipv4(self.interface)
        if not self.energy_ip:
            raise EipError(
                f"card {config.name}: no IPv4 address on {self.interface or 'any interface'}"
            )
        self.ledger.set_energy_ip(self.energy_ip)
        for peer in config.peers:
            self.ledger.add_peer(peer.mac, peer.name, peer.key)
        self.vpp = config.vpp_of(self.energy_ip) or config.vpp
        self.home_vpp = config.home_vpp or self.vpp
        self.conns: dict[tuple[str, int, int], Connection] = {}
        self.by_id: dict[str, Connection] = {}
        self.isp_window: int | None = None
        self.notice: StaticLimitNotice | None = None
        self.node_id = 0
        self.period = 0
        self.events: deque = deque(maxlen=EVENTS_KEPT)
        self.waiters: dict[str, list] = {}
        self.stats = {
            "packets_in": 0, "packets_out": 0, "malformed": 0, "ignored": 0, "resets_sent": 0,
            "rejected_in": 0, "accepted_in": 0, "deliveries_committed": 0, "errors": 0,
        }  # fmt: skip
        self.running = False
        self.order_waiters: dict[int, object] = {}
        self.sel = selectors.DefaultSelector()
        self.raw = self._open_raw()
        self.ctl = self._open_control()
        self._next_address_check = 0.0
        self._tos = -1
        self.pool = PoolClient(self._free_port(), config.window_bee)

    # --- set-up -------------------------------------------------------------------------------
    def _open_ledger(self) -> Ledger:
        cfg = self.config
        if cfg.ledger_path.exists():
            ledger = Ledger.open(cfg.ledger_path)
            if ledger.identity.mac != cfg.mac:
                raise EipError(
                    f"{cfg.ledger_path} belongs to card {ledger.identity.mac}, not {cfg.mac}"
                )
            return ledger
        return Ledger.create(
            cfg.ledger_path, cfg.name, cfg.kind, cfg.mac, self.key.public_bytes, cfg.vpp
        )

    def _open_raw(self) -> socket.socket:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, c.IP_PROTO_ENERGY)
        except PermissionError:
            raise EipError("a card needs root (CAP_NET_RAW) for its raw IPv4 socket") from None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        if self.config.interface:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
        # The Energy IP is the source of everything the card sends (the Energy-TCP checksum
        # covers it), also on a host with several addresses.
        sock.bind((self.energy_ip, 0))
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, "raw")
        return sock

    def _open_control(self) -> socket.socket:
        path = str(self.config.control_path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(16)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, "ctl")
        return sock

    # --- peers --------------------------------------------------------------------------------
    def peer_key(self, mac: str) -> bytes | None:
        """The public key of a peer card: config, then ledger, then Energy DNS by MAC."""
        for peer in self.config.peers:
            if peer.mac == mac:
                return peer.key
        key = self.ledger.peer_key(mac)
        if key is None and self.config.dns:
            try:
                from eip.dns.client import resolve_mac

                entry = resolve_mac(mac, self.config.dns, timeout=1.0)
            except EipError as exc:
                log.info("no key for %s: %s", mac, exc)
                return None
            self.ledger.add_peer(entry.mac, entry.name, entry.public_key)
            key = entry.public_key
        return key

    def resolve_peer(self, name: str) -> tuple[str, str, bytes]:
        """(ip, mac, key) of a peer named by card name or Energy IP."""
        for peer in self.config.peers:
            if name in (peer.name, peer.ip, peer.mac):
                return peer.ip, peer.mac, peer.key
        if self.config.dns:
            from eip.dns.client import resolve

            entry = resolve(name, self.config.dns)
            self.ledger.add_peer(entry.mac, entry.name, entry.public_key)
            return entry.energy_ip, entry.mac, entry.public_key
        raise ControlError(f"unknown peer {name!r}: not in this card's peers and no DNS configured")

    def register_dns(self) -> None:
        if not self.config.dns:
            return
        from eip.dns.client import register
        from eip.dns.records import CardEntry

        entry = CardEntry(
            self.config.name, self.energy_ip, self.config.mac, self.config.kind, self.vpp,
            self.key.public_bytes, self.wall(),
        )  # fmt: skip
        try:
            register(entry, self.config.dns, self.key.sign)
        except EipError as exc:
            log.warning("DNS registration failed: %s", exc)

    # --- sending ------------------------------------------------------------------------------
    def _energy_ip_header(self, seg: EnergyTcp) -> EnergyIp:
        types = {r.bee_type for r in seg.records if type(r) is Bee}
        energy_type = types.pop() if len(types) == 1 else 0
        flags = c.EIP_FLAG_MOV if self.vpp != self.home_vpp else 0
        limit = c.NO_LIMIT
        if self.notice is not None:
            limit = self.notice.export_limit
        return EnergyIp(energy_type, flags, self.config.mac, self.node_id, self.period, limit)

    def send(self, conn: Connection | None, seg: EnergyTcp, dst_ip: str, dscp: int = 0) -> None:
        pkt = Packet(self.energy_ip, dst_ip, self._energy_ip_header(seg), seg, dscp=dscp)
        try:
            data = codec.encode_transport(pkt)
        except EipError as exc:
            log.error("cannot encode %s: %s", classify(seg), exc)
            return
        tos = dscp << 2
        if tos != self._tos:
            self.raw.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
            self._tos = tos
        try:
            self.raw.sendto(data, (dst_ip, 0))
            self.stats["packets_out"] += 1
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ENOBUFS):
                log.warning("send to %s failed: %s", dst_ip, exc)
            # A lost segment is retransmitted on timeout, like any other loss.

    # --- effects ------------------------------------------------------------------------------
    def apply(self, effects: list) -> None:
        """Persist, then send: every delivery of the batch is committed before any segment leaves.

        `effects` holds (connection, effect) pairs, in the order the connections returned them.
        """
        for conn, effect in effects:
            if type(effect) is Opened:
                self._rekey(conn, effect.transfer.transfer_id)
                self.ledger.open_transfer(effect.transfer)
        persists = [(e.delivery, e.next_seq) for _conn, e in effects if type(e) is Persist]
        if persists:
            self.stats["deliveries_committed"] += self.ledger.commit(persists)
        for conn, effect in effects:
            kind = type(effect)
            if kind is Send:
                self.send(conn, effect.seg, conn.remote.ip, conn.dscp)
            elif kind is Closed:
                self._closed(effect)
            elif kind is Event:
                self._event(effect.kind, effect.transfer_id, effect.detail)

    def _rekey(self, conn: Connection, transfer_id: str) -> None:
        """A Request's id is provisional until the Accept gives the sender's ISN: move it over."""
        for old_id, known in list(self.by_id.items()):
            if known is conn and old_id != transfer_id:
                del self.by_id[old_id]
                if old_id in self.waiters:
                    self.waiters[transfer_id] = self.waiters.pop(old_id)
        self.by_id[transfer_id] = conn

    def _closed(self, effect: Closed) -> None:
        conn = self.by_id.pop(effect.transfer_id, None)
        if conn is not None:
            self.conns.pop(conn.key, None)
        if self.ledger.transfer(effect.transfer_id) is not None:
            self.ledger.close_transfer(effect.transfer_id, effect.reason, self.wall())
        self._event("closed", effect.transfer_id, effect.reason)
        for client in self.waiters.pop(effect.transfer_id, []):
            self._answer(client, True, self._transfer_result(effect.transfer_id, effect.reason))

    def _event(self, kind: str, transfer_id: str, detail: str = "") -> None:
        self.events.append({"at_s": round(self.wall(), 3), "kind": kind, "transfer_id": transfer_id,
                            "detail": detail})  # fmt: skip
        log.info("%s %s %s", kind, transfer_id, detail)

    def _transfer_result(self, transfer_id: str, reason: str) -> dict:
        info = self.ledger.transfer(transfer_id)
        result = {"transfer_id": transfer_id, "reason": reason}
        if info is not None:
            done = (info.next_seq - (info.isn + 1)) % (1 << 32)
            result.update(role=info.role, quantity_total=info.quantity_total, delivered=done)
        return result

    @staticmethod
    def _run_conn(conn: Connection, effects: list) -> list:
        """Pair a connection's effects with it, so apply() knows where its segments go."""
        return [(conn, effect) for effect in effects]

    # --- receiving ----------------------------------------------------------------------------
    def on_datagram(self, data: bytes, now: float) -> list:
        self.stats["packets_in"] += 1
        try:
            pkt = codec.decode(data)
        except DecodeError as exc:
            self.stats["malformed"] += 1
            log.debug("malformed packet: %s", exc)
            return []
        if pkt.dst != self.energy_ip:
            self.stats["ignored"] += 1
            return []
        p = pkt.payload
        if type(p) is EnergyTcp:
            return self.on_segment(pkt, p, now)
        if type(p) is StaticLimitNotice:
            if self._from_isp(pkt):
                self.notice, self.period = p, p.period
                self.node_id = pkt.eip.node_id or self.node_id
                self._event("static-limit", "", f"period {p.period} export {p.export_limit} "
                            f"import {p.import_limit}")  # fmt: skip
            else:
                self.stats["ignored"] += 1
            return []
        if type(p) in (LimitExceeded, Unreachable):
            return self.on_error(p)
        return []

    def _from_isp(self, pkt: Packet) -> bool:
        """ISP messages carry the ISP flag and come from the ISP's address (R4.4, R6.10); the
        switches' firewall binds every card to its own address, so a card cannot pose as the ISP."""
        return bool(pkt.eip.flags & c.EIP_FLAG_ISP) and pkt.src == self.config.isp_ip

    def on_error(self, err) -> list:
        quoted = err.quoted
        kind = "limit-exceeded" if type(err) is LimitExceeded else "unreachable"
        detail = (c.LIMIT_EXCEEDED_CODES if kind == "limit-exceeded" else c.UNREACHABLE_CODES).get(
            err.code, str(err.code)
        )
        tid = ""
        ihl = (quoted[0] & 0x0F) * 4 if quoted else 0
        if ihl >= 20 and len(quoted) >= ihl + c.ENERGY_IP_LEN + 4:  # IHL > 5 must not read past it
            sport, dport = struct.unpack_from("!HH", quoted, ihl + c.ENERGY_IP_LEN)
            for conn in self.by_id.values():
                if conn.local.port == sport and conn.remote.port == dport:
                    tid = conn.transfer_id
        self._event(kind, tid, detail)
        return []

    def on_segment(self, pkt: Packet, seg: EnergyTcp, now: float) -> list:
        if seg.flags & c.ETCP_WUP:
            if not self._from_isp(pkt):
                self.stats["ignored"] += 1
                return []
            if seg.sport == 0 and seg.dport == 0:
                self.isp_window = seg.window
                for conn in self.by_id.values():
                    conn.set_isp_window(seg.window)
            else:
                for conn in self.by_id.values():
                    if conn.remote.port == seg.sport and conn.local.port == seg.dport:
                        conn.set_isp_window(seg.window)
            self._event("window-update", "", str(seg.window))
            return []
        if seg.sport == c.PORT_BEE_POOL and seg.dport == self.pool.port:
            return self.on_pool_segment(pkt, seg, now)
        key = (pkt.eip.origin_mac, seg.sport, seg.dport)
        conn = self.conns.get(key)
        if conn is not None:
            return self._run_conn(conn, conn.on_segment(now, seg, pkt.src))
        if seg.flags & c.ETCP_SYN and not seg.flags & c.ETCP_ACK:
            return self.on_syn(pkt, seg, now)
        if not seg.flags & c.ETCP_RST:
            # No such transfer (never opened, or closed): reset so the peer stops.
            rst = EnergyTcp(seg.dport, seg.sport, seg.ack, 0, c.ETCP_RST, 0)
            self.send(None, rst, pkt.src)
            self.stats["resets_sent"] += 1
        return []

    def on_syn(self, pkt: Packet, syn: EnergyTcp, now: float) -> list:
        opt = transfer_option(syn)
        remote = Endpoint(pkt.eip.origin_mac, pkt.src, syn.sport)
        local = Endpoint(self.config.mac, self.energy_ip, syn.dport)
        reason = 0
        key = None
        if syn.dport != self.config.delivery_port:
            reason = 5  # no-service
        elif opt is None:
            reason = 8
        else:
            key = self.peer_key(remote.mac)
            if key is None:
                reason = 6  # unauthorized: unknown card, cannot check its signatures
        granted = 0
        if not reason:
            granted = min(opt.quantity, self.config.max_grant_bee, self._static_room(opt))
            if granted <= 0:
                reason = 2 if self.notice is not None else 1
        if reason:
            self.stats["rejected_in"] += 1
            self.send(None, Connection.reject(syn, reason, 60), pkt.src)
            self._event("rejected-in", "", f"{remote.mac} reason {c.REJECT_REASONS[reason]}")
            return []
        template = None
        if not isinstance(opt, OfferOption):  # a Request: this card delivers
            template = self._template(opt.bee_type, opt.start_s, opt.end_s)
        conn, effects = Connection.accept(
            now, local, remote, syn, granted, random.getrandbits(32), self.key.sign, key,
            self.config.window_bee, template=template, quantum=self.config.quantum_bee,
        )  # fmt: skip
        self._add(conn)
        self.stats["accepted_in"] += 1
        return self._run_conn(conn, effects)

    def _static_room(self, opt) -> int:
        """What the static limit of the period still allows (import for offers, export for requests)."""
        if self.notice is None:
            return 2**32 - 1
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

    def _add(self, conn: Connection) -> None:
        conn.key = (conn.remote.mac, conn.remote.port, conn.local.port)
        conn.dscp = getattr(conn, "dscp", 8)
        self.conns[conn.key] = conn
        self.by_id[conn.transfer_id] = conn
        if self.isp_window is not None:
            conn.set_isp_window(self.isp_window)

    def _free_port(self) -> int:
        used = {conn.local.port for conn in self.by_id.values()}
        while True:
            port = random.randint(c.EPHEMERAL_PORT_MIN, 65535)
            if port not in used:
                return port

    # --- control ------------------------------------------------------------------------------
    def on_control(self, req: dict, client) -> list:
        op = req["op"]
        now = self.clock()
        if op == "status":
            self._answer(client, True, self.status())
        elif op == "profile":
            self._answer(client, True, self.ledger.profile())
        elif op == "events":
            self._answer(client, True, {"events": list(self.events)})
        elif op in ("offer", "transfer", "ask"):
            return self._open_transfer(op, req, client, now)
        elif op == "order":
            return self._place_order(req, client, now)
        elif op == "orders":
            self._answer(client, True, {"orders": list(self.pool.orders.values())})
        elif op == "wait":
            tid = str(req.get("transfer_id", ""))
            if tid in self.by_id:
                self.waiters.setdefault(tid, []).append(client)
            elif self.ledger.transfer(tid) is not None:
                info = self.ledger.transfer(tid)
                self._answer(client, True, self._transfer_result(tid, info.close_reason))
            else:
                self._answer(client, False, f"unknown transfer {tid!r}")
        elif op == "stop":
            self._answer(client, True, {"stopping": self.config.name})
            self.running = False
        return []

    def _open_transfer(self, op: str, req: dict, client, now: float) -> list:
        try:
            peer = str(req.get("to") or req.get("peer") or req.get("from") or "")
            quantity = int(req.get("quantity", 0))
            bee_type = int(req.get("bee_type", c.BEE_ELECTRICITY))
            priority = int(req.get("priority", 1))
            emergency = int(req.get("emergency", 0))
            if not peer:
                raise ControlError(f"{op} needs a peer (to=NAME)")
            if quantity < 1:
                raise ControlError(f"{op} needs quantity >= 1, got {quantity}")
            if bee_type not in c.BEE_TYPES:
                raise ControlError(f"bee_type {bee_type} is not 1..6")
            ip, mac, key = self.resolve_peer(peer)
        except (ControlError, EipError, ValueError, TypeError) as exc:
            self._answer(client, False, str(exc))
            return []
        local = Endpoint(self.config.mac, self.energy_ip, self._free_port())
        remote = Endpoint(mac, ip, int(req.get("port", self.config.delivery_port)))
        isn = random.getrandbits(32)
        if op == "ask":
            window = {k: int(req.get(k, 0)) for k in ("start_s", "end_s", "deadline_s")}
            conn, effects = Connection.open_request(
                now, local, remote, bee_type, quantity, isn, self.key.sign, key,
                self.config.window_bee, priority=priority, emergency=emergency, **window,
            )  # fmt: skip
        else:
            template = self._template(bee_type)
            if "price_micro_per_kbee" in req:
                template = template._replace(price_micro_per_kbee=int(req["price_micro_per_kbee"]))
            conn, effects = Connection.open_offer(
                now, local, remote, template, quantity, self.config.quantum_bee, isn,
                self.key.sign, key, self.config.window_bee, priority=priority, emergency=emergency,
            )  # fmt: skip
        conn.dscp = c.DSCP_EMERGENCY if emergency else c.PRIORITY_CLASSES.get(priority, 0)
        self._add(conn)
        if op == "transfer" or req.get("wait"):
            self.waiters.setdefault(conn.transfer_id, []).append(client)
        else:
            self._answer(client, True, {"transfer_id": conn.transfer_id})
        return self._run_conn(conn, effects)

    # --- the BEE pool -------------------------------------------------------------------------
    def _place_order(self, req: dict, client, now: float) -> list:
        try:
            pool_ip = str(req.get("pool") or self._default_pool())
            side = {"send": 1, "sell": 1, "ask": 2, "buy": 2}.get(str(req.get("side", "")), 0)
            quantity = int(req.get("quantity", 0))
            price = int(req.get("price_micro_per_kbee", self.config.price_micro_per_kbee))
            bee_type = int(req.get("bee_type", c.BEE_ELECTRICITY))
            start_s = int(req.get("start_s", int(self.wall())))
            end_s = int(req.get("end_s", start_s + 3600))
            if not side:
                raise ControlError("order needs side=send or side=ask")
            if quantity < 1 or bee_type not in c.BEE_TYPES or end_s <= start_s:
                raise ControlError("order needs quantity >= 1, bee_type 1..6 and end_s > start_s")
        except (ControlError, ValueError, TypeError) as exc:
            self._answer(client, False, str(exc))
            return []
        order_id, seg = self.pool.place(
            now, pool_ip, side, quantity, price, bee_type, start_s, end_s
        )
        self.send(None, seg, pool_ip)
        if req.get("wait", 1):
            self.order_waiters[order_id] = client
        else:
            self._answer(client, True, self.pool.orders[order_id])
        return []

    def _default_pool(self) -> str:
        """The pool of the card's own Energy LAN: its VPP router (x.y.z.254)."""
        return self.energy_ip.rsplit(".", 1)[0] + ".254"

    def on_pool_segment(self, pkt: Packet, seg: EnergyTcp, now: float) -> list:
        replies, fills, answered = self.pool.on_segment(pkt.src, seg)
        for reply in replies:
            self.send(None, reply, pkt.src)
        for order_id in answered:
            client = self.order_waiters.pop(order_id, None)
            if client is not None:
                self._answer(client, True, self.pool.orders[order_id])
        effects = []
        for order_id, fill in fills:
            order = self.pool.orders[order_id]
            self._event("fill", "", f"order {order_id} {order['side']} {fill.quantity} BEE "
                        f"@{fill.price_micro_per_kbee} with {fill.peer_mac}")  # fmt: skip
            if order["side"] == "send":  # the seller delivers what it sold
                effects += self._deliver_sale(order, fill, now)
        return effects

    def _deliver_sale(self, order: dict, fill, now: float) -> list:
        key = self.peer_key(fill.peer_mac)
        if key is None:
            self._event("error", "", f"no key for buyer {fill.peer_mac}: sale not delivered")
            return []
        template = self._template(order["bee_type"], fill.start_s, fill.end_s)._replace(
            price_micro_per_kbee=fill.price_micro_per_kbee
        )
        local = Endpoint(self.config.mac, self.energy_ip, self._free_port())
        remote = Endpoint(fill.peer_mac, fill.peer_ip, self.config.delivery_port)
        conn, effects = Connection.open_offer(
            now, local, remote, template, fill.quantity, self.config.quantum_bee,
            random.getrandbits(32), self.key.sign, key, self.config.window_bee, priority=1,
        )  # fmt: skip
        conn.dscp = c.PRIORITY_CLASSES[1]
        self._add(conn)
        return self._run_conn(conn, effects)

    def status(self) -> dict:
        ident = self.ledger.identity
        return {
            "name": self.config.name, "kind": self.config.kind, "mac": self.config.mac,
            "energy_ip": self.energy_ip, "vpp": self.vpp, "home_vpp": self.home_vpp,
            "public_key": self.key.public_bytes.hex(), "ledger": str(self.config.ledger_path),
            "node_id": self.node_id, "period": self.period,
            "static_limit": self.notice._asdict() if self.notice else None,
            "isp_window": self.isp_window,
            "transfers": [
                {"transfer_id": conn.transfer_id, "state": conn.state, "role": conn.info.role,
                 "peer": conn.remote.ip, "next_seq": conn.info.next_seq,
                 "quantity_total": conn.info.quantity_total, "stats": dict(conn.stats)}
                for conn in self.by_id.values()
            ],
            "counters": dict(self.stats), "ledger_counts": self.ledger.counts(),
            "identity_name": ident.name,
        }  # fmt: skip

    def _answer(self, client, ok: bool, payload) -> None:
        msg = {"ok": True, "result": payload} if ok else {"ok": False, "error": str(payload)}
        try:
            client.setblocking(True)
            client.settimeout(2.0)
            client.sendall(encode_message(msg))
        except OSError:
            pass
        finally:
            self._drop_client(client)

    def _drop_client(self, client) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client)
        client.close()

    # --- loop ---------------------------------------------------------------------------------
    def resume(self) -> list:
        """Reopen the transfers the ledger says are open (after a crash or a restart)."""
        effects = []
        now = self.clock()
        for info in self.ledger.open_transfers():
            key = self.peer_key(info.peer_mac)
            local = Endpoint(self.config.mac, self.energy_ip, info.local_port)
            conn, eff = Connection.resume(
                now, info, local, info.peer_ip, self.key.sign, key, self.config.window_bee
            )
            self._add(conn)
            effects += self._run_conn(conn, eff)
            self._event("resumed", info.transfer_id, info.role)
        return effects

    def check_address(self, now: float) -> None:
        """Notice a move: a new Energy IP on the interface (mobility, docs/card.md)."""
        self._next_address_check = now + ADDRESS_CHECK_S
        if self.config.energy_ip:
            return
        ip = interface_ipv4(self.interface)
        if ip and ip != self.energy_ip:
            log.info("Energy IP changed %s -> %s", self.energy_ip, ip)
            self._event("moved", "", f"{self.energy_ip} -> {ip}")
            self.energy_ip = ip
            self.ledger.set_energy_ip(ip)
            self.vpp = self.config.vpp_of(ip) or self.vpp
            self.ledger.set_vpp(self.vpp)
            self.sel.unregister(self.raw)
            self.raw.close()
            self.raw = self._open_raw()
            self._tos = -1
            for conn in self.by_id.values():
                conn.local = conn.local._replace(ip=ip)
            self.register_dns()

    def run(self) -> None:
        """Serve until a stop request or SIGTERM/SIGINT."""
        self.running = True
        self.register_dns()
        self.apply(self.resume())
        log.info("card %s (%s) up at %s", self.config.name, self.config.mac, self.energy_ip)
        buffers: dict = {}
        while self.running:
            now = self.clock()
            deadlines = [conn.next_deadline for conn in self.by_id.values() if conn.next_deadline]
            if self.pool.next_deadline is not None:
                deadlines.append(self.pool.next_deadline)
            timeout = max(0.0, min([*deadlines, now + 0.2]) - now)
            effects: list = []
            for key, _ in self.sel.select(timeout):
                if key.data == "raw":
                    effects += self._drain_raw()
                elif key.data == "ctl":
                    self._accept_client()
                else:
                    effects += self._read_client(key.fileobj, buffers)
            now = self.clock()
            resend, failed = self.pool.on_timer(now)
            for pool_ip, seg in resend:
                self.send(None, seg, pool_ip)
            for order_id in failed:
                client = self.order_waiters.pop(order_id, None)
                if client is not None:
                    self._answer(client, False, f"no answer from the pool for order {order_id}")
            for conn in list(self.by_id.values()):
                if conn.next_deadline is not None and conn.next_deadline <= now:
                    effects += self._run_conn(conn, conn.on_timer(now))
            if effects:
                try:
                    self.apply(effects)
                except Exception:
                    # Nothing of this batch is sent when its commit fails: the peers retransmit.
                    self.stats["errors"] += 1
                    log.exception("error applying %d effects", len(effects))
            if now >= self._next_address_check:
                self.check_address(now)
        self.close()

    def _drain_raw(self) -> list:
        effects = []
        now = self.clock()
        for _ in range(MAX_BATCH):
            try:
                data = self.raw.recv(65535)
            except BlockingIOError:
                break
            try:
                effects += self.on_datagram(data, now)
            except Exception:  # one bad packet must not stop the card; it is logged
                self.stats["errors"] += 1
                log.exception("error handling a packet")
        return effects

    def _accept_client(self) -> None:
        try:
            client, _ = self.ctl.accept()
        except BlockingIOError:
            return
        client.setblocking(False)
        self.sel.register(client, selectors.EVENT_READ, "client")

    def _read_client(self, client, buffers: dict) -> list:
        try:
            chunk = client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return []
        except OSError:
            chunk = b""
        if not chunk:
            buffers.pop(client, None)
            self._drop_client(client)
            return []
        buf = buffers.get(client, b"") + chunk
        if b"\n" not in buf:
            if len(buf) > MAX_LINE:
                buffers.pop(client, None)
                self._answer(client, False, "request line too long")
            else:
                buffers[client] = buf
            return []
        buffers.pop(client, None)
        line = buf.split(b"\n", 1)[0]
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client)
        try:
            req = decode_request(line)
        except ControlError as exc:
            self._answer(client, False, str(exc))
            return []
        try:
            return self.on_control(req, client)
        except EipError as exc:
            self._answer(client, False, str(exc))
        except Exception as exc:
            self.stats["errors"] += 1
            log.exception("error handling control request %s", req.get("op"))
            self._answer(client, False, f"internal error: {exc}")
        return []

    def close(self) -> None:
        for clients in self.waiters.values():
            for client in clients:
                self._answer(client, False, "the card stopped")
        self.waiters.clear()
        self.sel.close()
        self.raw.close()
        self.ctl.close()
        with contextlib.suppress(OSError):
            os.unlink(self.config.control_path)
        self.ledger.close()
