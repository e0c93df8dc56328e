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

from eip.etcp.connection import Connection
from eip.etcp.keys import CardKey
from eip.etcp.model import Closed, Endpoint, Event, Persist, Send
from eip.protocol import constants as c
from eip.protocol.messages import segment_dscp, transfer_option
from eip.protocol.model import Bee, EnergyIp, EnergyTcp, OfferOption, Packet
from eip.sden.packets import PacketSpec
from eip.sden.server import EnergyServer

log = logging.getLogger(__name__)
SERVER_IP = "10.0.0.253"
SERVER_MAC = "02:00:00:00:00:fd"
MAX_OPEN_PER_CLIENT = 4  # open transfers one card may have with the server at once


class SdenService:
    def __init__(self, server: EnergyServer, key: CardKey, key_of: Callable[[str], bytes | None],
                 ip: str = SERVER_IP, mac: str = SERVER_MAC, window_bee: int = 100_000,
                 price_micro_per_kbee: int = 500_000, wall=None):  # fmt: skip
        self.server, self.key, self.key_of = server, key, key_of
        profile = load_profile()
        self.clock = ProfileClock(profile) if profile and wall is None else None
        wall = wall or self.clock or time.time
        # How far ahead an accepted request's delivery schedule commits the allocation (12 h; a
        # profile with a compressed clock sets -1 and slots are committed as its clock passes them).
        self.schedule_ahead_s = (
            int(profile.get("schedule_ahead_s", 3600 * 12)) if profile else 3600 * 12
        )
        self.windows = {k.lower(): v for k, v in (profile or {}).get("windows", {}).items()}
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

    def _packet(self, dst_ip: str, seg: EnergyTcp, dscp: int = c.PRIORITY_CLASSES[1]) -> Packet:
        """`seg` from the server, marked BEE or not in the class of `dscp` (R3.3)."""
        types = {r.bee_type for r in seg.records if type(r) is Bee}
        etype = types.pop() if len(types) == 1 else 0
        return Packet(
            self.ip, dst_ip, EnergyIp(etype, 0, self.mac), seg, dscp=segment_dscp(seg, dscp)
        )

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
        open_here = sum(1 for k in self.conns if k[0] == pkt.eip.origin_mac)
        if open_here >= MAX_OPEN_PER_CLIENT:  # a flood of requests from one card: busy
            self.stats["rejected"] += 1
            self.stats["busy"] = self.stats.get("busy", 0) + 1
            return [self._packet(pkt.src, Connection.reject(syn, c.REJECT_BUSY, 10))]
        if opt is None or isinstance(opt, OfferOption) or peer_key is None:
            reason = c.REJECT_UNAUTHORIZED if peer_key is None else c.REJECT_NO_SERVICE
            self.stats["rejected"] += 1
            return [self._packet(pkt.src, Connection.reject(syn, reason, 60))]
        if emergency:
            self.stats["emergencies"] += 1
        window = self.windows.get(pkt.eip.origin_mac.lower())  # the client's registered window
        if window and not (opt.start_s or opt.end_s or opt.deadline_s):
            opt = opt._replace(start_s=int(window["start_s"]), end_s=int(window["end_s"]),
                               deadline_s=int(window.get("deadline_s", window["end_s"])))  # fmt: skip
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
        allocs = [a for a in self.server.allocate(int(self.wall()) + self.schedule_ahead_s)
                  if a.request_id == getattr(self.decisions.get(key), "request_id", None)]  # fmt: skip
        if not allocs:
            return []
        seg = self.server.schedule_segment(allocs[0], dport=conn.remote.port, seq=0, ack=0,
                                           window=self.window)  # fmt: skip
        return [self._packet(conn.remote.ip, seg)]

    def on_timer(self, now: float) -> list[Packet]:
        out = []
        if self.clock is not None and self.clock.running():  # commit the slots the clock has passed
            self.server.allocate(min(int(self.wall()), self.clock.last_s))
        for key, conn in list(self.conns.items()):
            if conn.next_deadline is not None and conn.next_deadline <= now:
                out += self._run(key, conn, conn.on_timer(now))
        return out

    def status(self) -> dict:
        out = {**self.stats, "open": len(self.conns), "server": self.server.status()}
        if self.clock is not None:  # per-slot slices of a profile run (scenario sden_slicing)
            out["slots"] = [
                {"slot": h.slot, "supply": h.supply, "slices": list(h.slices),
                 "from_supply": list(h.from_supply), "delivered": list(h.delivered),
                 "waiting": list(h.waiting),
                 "storage_draw": h.storage_draw, "storage_store": h.storage_store,
                 "soc_after": list(h.soc_after)}
                for h in self.server.history
            ]  # fmt: skip
            out["clock_running"] = self.clock.running()
        return out


def load_profile() -> dict | None:
    """The server profile named by EIP_SDEN_PROFILE (a JSON file written by a scenario), if any."""
    import json
    import os

    path = os.environ.get("EIP_SDEN_PROFILE", "")
    if not path:
        return None
    with open(path) as f:
        return json.load(f)


class ProfileClock:
    """A compressed clock for a profile server: frozen at the start of slot 0 until the file `go_file`
    exists (holding the Unix time slot 0 starts), then `slot_real_s` seconds per slot."""

    def __init__(self, profile: dict):
        spec = profile["spec"]
        self.epoch_s = int(spec["epoch_s"])
        self.slot_s = int(spec.get("minutes", 10)) * 60
        clock = profile.get("clock", {})
        self.slot_real_s = float(clock.get("slot_real_s", self.slot_s))
        self.go_file = clock.get("go_file", "")
        self.last_s = self.epoch_s + int(profile.get("horizon_slots", 72)) * self.slot_s - 1
        self.started: float | None = None if self.go_file else time.time()

    def running(self) -> bool:
        if self.started is None and self.go_file:
            try:
                with open(self.go_file) as f:
                    self.started = float(f.read().strip() or time.time())
            except (OSError, ValueError):
                return False
        return self.started is not None

    def __call__(self) -> float:
        if not self.running():
            return self.epoch_s
        return self.epoch_s + max(0.0, time.time() - self.started) * self.slot_s / self.slot_real_s


def profile_server(profile: dict) -> EnergyServer:
    """An EnergyServer from a profile (spec, horizon, classes, policy, sources, base load, buffers,
    clients), as the scenario sden_slicing writes it."""
    from eip.sden.agents import Buffer, Client, Source
    from eip.sden.packets import Profile

    spec = PacketSpec(**profile["spec"])
    return EnergyServer(
        spec,
        horizon_slots=int(profile.get("horizon_slots", 72)),
        classes=int(profile.get("classes", 2)),
        policy=profile.get("policy", "edf"),
        sources=tuple(
            Source(s["id"], Profile(tuple(s["packets"]), int(s.get("start_slot", 0))))
            for s in profile.get("sources", ())
        ),
        buffers=tuple(
            Buffer(
                b["id"],
                b["capacity_packets"],
                b["charge_packets_per_slot"],
                b["discharge_packets_per_slot"],
                b.get("soc_packets", 0),
            )
            for b in profile.get("buffers", ())
        ),
        base_load=Profile(tuple(profile.get("base_load", ()))),
        clients=tuple(
            Client(
                c["id"],
                c.get("kind", ""),
                int(c.get("rate_packets_per_slot", 0)),
                bool(c.get("non_interruptible", False)),
            )
            for c in profile.get("clients", ())
        ),
    )


def default_server(wh: int = 10) -> EnergyServer:
    """A server for an emulation: constant shared supply of 200 packets per slot over 12 h; or, when
    EIP_SDEN_PROFILE names a profile file, the server it describes (`profile_server`)."""
    from eip.sden.agents import Source
    from eip.sden.packets import Profile

    profile = load_profile()
    if profile:
        return profile_server(profile)

    spec = PacketSpec(wh=wh, minutes=10, epoch_s=int(time.time()) // 600 * 600)
    supply = Source("pool", Profile(tuple([200] * 72), spec.slot(time.time())))
    return EnergyServer(spec, horizon_slots=72, sources=[supply])
