"""The Energy Internet controller logic as a plain object (Faucet's Valve): events and the time in, messages out.

Every event method takes `now` (seconds, any monotonic clock the caller keeps) and returns a list of
``(dpid, msg)`` to send in order. A message for which `ofmsg.is_barrier(msg)` is true is a barrier
request: the app sends it and holds every later message for that dpid until the barrier reply. All
messages have ``datapath=None``; the app sets ``msg.datapath`` before ``send_msg``. No method raises on
odd input (unknown dpid, port or packet): it logs and returns what it can, usually [].

Design, numbers and the quota bound: docs/controller.md.
"""

import logging
import math

from eip.errors import DecodeError, EipError, EncodeError
from eip.net.plan import NetworkPlan, SwitchNode
from eip.protocol import constants as c
from eip.protocol.codec import decode_frame, encode_frame
from eip.protocol.messages import window_update_segment
from eip.protocol.model import EnergyIp, Packet, StaticLimitNotice
from eip.protocol.path import error_for
from eip.sdn import ofmsg
from eip.sdn import pipeline as pl
from eip.sdn.isp_link import DYNAMIC_CHANGE, IspLink, window_moved
from eip.sdn.limits import LimitTable
from eip.sdn.pipeline import K_IMPORT, PRI_IMPORT
from eip.sdn.sden_punt import SDEN_RATE_PKTPS, SdenPunt
from eip.sdn.usage import (
    MARGIN_POLLS,
    CardState,
    burst_packets,
    import_used_up,
    punt_error,
    quota_used_up,
    switch_drops,
)

log = logging.getLogger(__name__)

# packets/s a switch may send to the controller (quota-blocked and islanded traffic)
PUNT_RATE_PKTPS = 20
# Also importable from here: the import rule's cookie kind and priority (eip.sdn.pipeline), the
# energy server's punt rate (eip.sdn.sden_punt), the quota margin (eip.sdn.usage) and the dynamic
# window change (eip.sdn.isp_link).
__all__ = [
    "DYNAMIC_CHANGE", "K_IMPORT", "MARGIN_POLLS", "PRI_IMPORT", "PUNT_RATE_PKTPS", "SDEN_RATE_PKTPS",
    "CardState", "EnergyController", "guarded",
]  # fmt: skip


def guarded(method):
    """Faucet style: an exception in a handler is logged with its traceback, and the handler returns []."""

    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except Exception:
            log.exception("%s%r failed", method.__name__, args)
            return []

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class EnergyController:
    def __init__(
        self,
        plan: NetworkPlan,
        limits: LimitTable,
        isp_mac: str = "02:00:00:00:00:fe",
        isp_ip: str = "10.0.0.254",
        poll_s: float = 0.5,
        burst_s: float = 0.25,
        isp=None,
        sden=None,
    ):
        if poll_s <= 0 or not 0 < burst_s <= poll_s:
            raise EipError(f"need poll_s > 0 and 0 < burst_s <= poll_s, got {poll_s}, {burst_s}")
        self.plan, self.limits = plan, limits
        self.isp_mac, self.isp_ip = isp_mac.lower(), isp_ip
        self.poll_s, self.burst_s = poll_s, burst_s
        self.topo = pl.Topology(plan)
        self.cards: dict[str, CardState] = {}
        missing = []
        for n, card in enumerate(plan.cards):
            lim = limits.card(card.mac)
            if lim is None:
                missing.append(card.name)
                continue
            rate = limits.rate_pktps(lim.export_bee)
            self.cards[card.mac.lower()] = CardState(card, n, lim.export_bee, lim.import_bee, rate)
        if missing:
            raise EipError(f"no limits for card(s) {', '.join(missing)} and no default")
        self.vpp_limited = {v for v in limits.vpps if v in self.topo.vpp_index}
        self.up: set[int] = set()
        self.islanded: set[str] = set()
        self.extra_ports: dict[str, set[int]] = {s: set() for s in self.topo.switches}
        self.drops: dict[tuple[str, int, int], int] = {}  # (switch, port, kind) -> packets dropped
        self.flow_counts: dict[tuple[int, int], int] = {}  # (dpid, cookie) -> last packet_count
        self.period = limits.period(0.0)
        self.period_started = False
        self.period_t0: float | None = None  # when the period in force started
        self.next_poll = 0.0
        self.stats_replies = 0
        # The Energy ISP (eip.isp.isp.EnergyIsp or alike): at each period boundary it gets the metered
        # BEE per card and hands back the next period's limits; at each poll it gives dynamic windows
        # (eip.sdn.isp_link). None: the static LimitTable only.
        self.isp = isp
        self.isp_link = IspLink(isp, burst_s) if isp is not None else None
        # The SDEN energy server (eip.sdn.sden_service.SdenService): protocol 253 to its address is
        # punted to the controller and answered by packet-out (eip.sdn.sden_punt). None: no server.
        self.sden = sden
        self.sden_meter = self.topo.punt_meter + 1
        self.sden_punt = SdenPunt(sden, self.sden_meter, self._locate) if sden is not None else None

    @property
    def isp_errors(self) -> int:
        return self.isp_link.errors if self.isp_link is not None else 0

    # ----------------------------------------------------------------------------------- helpers

    def burst(self, rate_pktps: int) -> int:
        return burst_packets(rate_pktps, self.burst_s)

    def _card(self, card: str) -> CardState | None:
        st = self.cards.get(card.lower())
        if st is None:
            st = next((s for s in self.cards.values() if s.card.name == card), None)
        return st

    def _switch(self, dpid: int, event: str) -> SwitchNode | None:
        """The plan's switch with this dpid; None, logged, for an event from a switch not in the plan."""
        s = self.topo.by_dpid.get(dpid)
        if s is None:
            log.warning("%s from unknown switch %#x", event, dpid)
        return s

    def _dpid(self, sw: str) -> int:
        return self.topo.switches[sw].dpid

    def _to_up(self, pairs) -> list:
        """(switch name, msg) pairs as (dpid, msg) for the switches that are up, in order."""
        return [(self._dpid(sw), m) for sw, m in pairs if self._dpid(sw) in self.up]

    def _locate(self, ip: str) -> tuple[int, int, str] | None:
        """(dpid, port, mac) of the card with this address, if its switch is up."""
        st = next((x for x in self.cards.values() if x.card.ip == ip), None)
        if st is None or self._dpid(st.card.switch) not in self.up:
            return None
        return self._dpid(st.card.switch), st.card.port, st.card.mac

    def _isp_packet(self, dst_ip: str, payload, node_id: int = 0) -> Packet:
        header = EnergyIp(0, c.EIP_FLAG_ISP, self.isp_mac, node_id, self.period)
        return Packet(self.isp_ip, dst_ip, header, payload, dscp=c.DSCP_ISP_CONTROL)

    def _to_card(self, st: CardState, payload) -> list:
        """A packet-out of an ISP message to a card, if its switch is up."""
        dpid = self._dpid(st.card.switch)
        if dpid not in self.up:
            return []
        pkt = self._isp_packet(st.card.ip, payload, st.card.bus)
        return [
            (dpid, ofmsg.packet_out(encode_frame(pkt, self.isp_mac, st.card.mac), st.card.port))
        ]

    def _notice(self, st: CardState) -> list:
        """(With an ISP) the card's node prices (R5.7), its static-limit notice (a card that decides
        its period at the notice knows the period's prices by then), then its fee bill (R5.8)."""
        period_s = min(max(1, round(self.limits.period_s)), 0xFFFFFFFF)
        link, mac = self.isp_link, st.card.mac
        price = link.price_notice(mac, self.period) if link else None
        bill = link.fee_notice(mac, self.period) if link else None
        notice = StaticLimitNotice(self.period, period_s, st.export_bee, st.import_bee)
        return [m for x in (price, notice, bill) if x for m in self._to_card(st, x)]

    def _meter_flows(self, sw: str) -> tuple[list, list]:
        """The meter-adds and the flows of one switch, from the plan and the current state."""
        topo = self.topo
        meters = [ofmsg.meter_add(topo.punt_meter, PUNT_RATE_PKTPS, PUNT_RATE_PKTPS)]
        for card in topo.cards_on[sw]:
            st = self.cards[card.mac.lower()]
            meters.append(
                ofmsg.meter_add(topo.card_meter(st.no), st.rate_pktps, self.burst(st.rate_pktps))
            )
        for r in self.plan.routers:
            if r.lan.switch == sw and r.vpp in self.vpp_limited:
                rate = self.limits.rate_pktps(self.limits.vpps[r.vpp])
                meters.append(
                    ofmsg.meter_add(topo.vpp_meter(topo.vpp_index[r.vpp]), rate, self.burst(rate))
                )
        flows = pl.base_flows(topo, sw, self.vpp_limited)
        if self.isp is not None:
            flows += [pl.import_flow(c, self.cards[c.mac.lower()].no) for c in topo.cards_on[sw]]
        flows += [pl.unregistered_port_flow(topo, sw, p) for p in sorted(self.extra_ports[sw])]
        mine = [st for st in self.cards.values() if st.card.switch == sw]
        flows += [pl.quota_block_flow(topo, st.card) for st in mine if st.blocked]
        flows += [pl.import_block_flow(topo, st.card) for st in mine if st.import_blocked]
        for vpp in sorted(self.islanded):
            r = self.plan.router_of(vpp)
            flows += [f for s, f in pl.island_flows(topo, r, vpp in self.vpp_limited) if s == sw]
        return meters, flows

    # ------------------------------------------------------------------------------------ ISP

    def _isp_boundary(self, period: int, now: float) -> list:
        """Give the ISP the last period's metering, take its limits for `period`: meter-modifies."""
        if self.isp_link is None:
            return []
        table = self.isp_link.boundary(period, self.cards, self.limits.quantum_bee, now)
        return [] if table is None else self._apply_table(table)

    def _apply_table(self, table: LimitTable) -> list:
        """Adopt a new limit table: quotas, and meter-modifies for every rate that changed."""
        out = []
        for vpp in sorted(self.vpp_limited):
            if vpp not in table.vpps:  # its uplink rule exists: keep the old limit
                table.vpps[vpp] = self.limits.vpps[vpp]
        old, self.limits = self.limits, table
        for st in self.cards.values():
            lim = table.card(st.card.mac)
            if lim is None:
                log.warning("new limits have none for card %s: old ones kept", st.card.name)
                continue
            st.export_bee, st.import_bee = lim.export_bee, lim.import_bee
            if st.window_bee is not None:  # with an ISP a dynamic window lives one period
                st.window_bee = None
                out += self._to_card(st, window_update_segment(c.NO_LIMIT))  # lift it (R6.10)
            rate = table.rate_pktps(st.export_bee)
            if rate != st.rate_pktps:
                st.rate_pktps = rate
                dpid = self._dpid(st.card.switch)
                if dpid in self.up:
                    meter = ofmsg.meter_modify(self.topo.card_meter(st.no), rate, self.burst(rate))
                    out.append((dpid, meter))
        for r in self.plan.routers:
            if r.vpp not in self.vpp_limited:
                continue
            rate = table.rate_pktps(table.vpps[r.vpp])
            if rate != old.rate_pktps(old.vpps[r.vpp]) and self._dpid(r.lan.switch) in self.up:
                meter = ofmsg.meter_modify(
                    self.topo.vpp_meter(self.topo.vpp_index[r.vpp]), rate, self.burst(rate)
                )
                out.append((self._dpid(r.lan.switch), meter))
        return out

    def _isp_dynamic(self, now: float) -> list:
        """The ISP's dynamic windows from this period's usage so far; re-sent when they move > 10 %."""
        if self.isp_link is None:
            return []
        windows = self.isp_link.windows(self.cards, self.limits.quantum_bee, now)
        out = []
        for mac, window in sorted(windows.items()):
            st = self._card(str(mac))
            if st is None or window is None:
                continue
            if window_moved(st, window, self.limits.period_s):
                out += self.set_dynamic_limit(st.card.mac, int(window), now)
        return out

    # ------------------------------------------------------------------------------------ events

    @guarded
    def switch_up(self, dpid: int, now: float) -> list:
        """A switch connected: wipe it, add its meters, barrier, then the flows using them, then notices."""
        s = self.topo.by_dpid.get(dpid)
        if s is None:
            log.warning("switch %#x is not in plan %s: ignored", dpid, self.plan.name)
            return []
        self.up.add(dpid)
        self.flow_counts = {k: v for k, v in self.flow_counts.items() if k[0] != dpid}
        out = [(dpid, ofmsg.flow_delete()), (dpid, ofmsg.meter_delete()), (dpid, ofmsg.barrier())]
        meters, flows = self._meter_flows(s.name)
        sden_here = self.sden_punt is not None and bool(self.topo.cards_on[s.name])
        if sden_here:  # the energy server's own punt meter, so a flood cannot starve it
            meters.append(self.sden_punt.meter())
        out += [(dpid, m) for m in meters]
        out.append((dpid, ofmsg.barrier()))
        out += [(dpid, f) for f in flows]
        if sden_here:
            out.append((dpid, self.sden_punt.punt_flow()))
        out.append((dpid, ofmsg.port_desc_request()))
        if self.period_started:
            for card in self.topo.cards_on[s.name]:
                out += self._notice(self.cards[card.mac.lower()])
        return out

    @guarded
    def switch_down(self, dpid: int, now: float) -> list:
        self.up.discard(dpid)
        return []

    @guarded
    def tick(self, now: float) -> list:
        """Call often (e.g. every poll_s): at a period boundary lift quota blocks, reset usage, send notices."""
        sden_out = self.sden_punt.on_timer(now) if self.sden_punt is not None else []
        period = self.limits.period(now)
        if self.period_started and period == self.period:
            return sden_out
        self.period, self.period_started, self.period_t0 = period, True, now
        # meter-modifies first, so a lifted block meets the new rate
        out = self._isp_boundary(period, now)
        if self.isp_link is not None:
            self.isp_link.period_t0 = now
        for dpid in sorted(self.up):
            for kind in (pl.K_QUOTA, pl.K_IMPORT_BLOCK):
                out.append((dpid, ofmsg.flow_delete(cookie=kind << 56, cookie_mask=pl.KIND_MASK)))
        for st in self.cards.values():
            st.start_period()
            out += self._notice(st)
        return sden_out + out

    @guarded
    def poll(self, now: float) -> list:
        """Flow-stats requests for the counted rules of every connected switch, at most every poll_s."""
        if now < self.next_poll:
            return []
        self.next_poll = now + self.poll_s
        out = self._isp_dynamic(now)
        return out + [
            (dpid, ofmsg.flow_stats_request(pl.COUNTED, pl.COUNTED)) for dpid in sorted(self.up)
        ]

    @guarded
    def flow_stats(self, dpid: int, stats, now: float) -> list:
        """A flow-stats reply (OFPFlowStats-like objects: cookie, packet_count): count, then enforce quotas."""
        s = self._switch(dpid, "flow stats")
        if s is None:
            return []
        self.stats_replies += 1
        by_no = {st.no: st for st in self.cards.values()}
        for fs in stats:
            ck, count = int(fs.cookie), int(fs.packet_count)
            last = self.flow_counts.get((dpid, ck), 0)
            delta = (
                count - last if count >= last else count
            )  # a smaller count: the flow was re-added
            self.flow_counts[(dpid, ck)] = count
            kind, a, b = pl.cookie_parts(ck)
            if kind == pl.K_ACCT and a in by_no:
                by_no[a].period_packets += delta
                by_no[a].allowed_packets += delta
            elif kind == K_IMPORT and a in by_no:
                by_no[a].import_packets += delta
                by_no[a].import_total_packets += delta
                by_no[a].import_last_packets = delta
            elif kind in (pl.K_SPOOF, pl.K_UNREG):
                key = (s.name, b, kind)
                self.drops[key] = self.drops.get(key, 0) + delta
        out = []
        for card in self.topo.cards_on[s.name]:
            out += self._check_quota(self.cards[card.mac.lower()], now)
            if self.isp is not None:  # the import rules exist with an ISP only
                out += self._check_import(self.cards[card.mac.lower()])
        return out

    def _check_import(self, st: CardState) -> list:
        """Block the BEE coming in to a card whose static import limit of the period is used up."""
        if not import_used_up(st, self.limits.quantum_bee):
            return []
        st.import_blocked = True
        st.import_blocks += bool(st.import_bee or st.import_packets)  # a zero limit: not a block
        log.info("card %s: import limit %d BEE used up, blocked", st.card.name, st.import_bee)
        dpid = self._dpid(st.card.switch)
        return [(dpid, pl.import_block_flow(self.topo, st.card))] if dpid in self.up else []

    def _check_quota(self, st: CardState, now: float) -> list:
        elapsed = None if self.period_t0 is None else max(0.0, now - self.period_t0)
        if not quota_used_up(st, self.limits.quantum_bee, self.poll_s, elapsed, self.burst_s):
            return []
        st.blocked = True
        st.quota_blocks += bool(st.export_bee or st.period_packets)  # a zero quota: not a block
        dpid = self._dpid(st.card.switch)
        used = st.period_packets * self.limits.quantum_bee
        log.info(
            "card %s: quota %d BEE used up (%d counted), blocked", st.card.name, st.export_bee, used
        )
        return [(dpid, pl.quota_block_flow(self.topo, st.card))] if dpid in self.up else []

    @guarded
    def set_dynamic_limit(self, card: str, window_bee: int, now: float) -> list:
        """The ISP's dynamic limit for a card (MAC or name): meter rate window/quantum per second, then a WUP."""
        st = self._card(card)
        window = int(window_bee)
        if st is None or not 0 <= window <= 0xFFFFFFFF:
            log.warning("set_dynamic_limit: unknown card %r or bad window %r", card, window_bee)
            return []
        st.window_bee = window
        st.rate_pktps = max(1, math.ceil(window / self.limits.quantum_bee))
        st.period_rate_max = max(st.period_rate_max, st.rate_pktps)
        dpid = self._dpid(st.card.switch)
        out = []
        if dpid in self.up:
            meter = ofmsg.meter_modify(
                self.topo.card_meter(st.no), st.rate_pktps, self.burst(st.rate_pktps)
            )
            out += [(dpid, meter), (dpid, ofmsg.barrier())]
        out += self._to_card(st, window_update_segment(window))
        return out + self._check_quota(st, now)

    @guarded
    def port_desc(self, dpid: int, ports, now: float) -> list:
        """A port-desc reply as (port_no, up) pairs: per-port drop rules for ports with no card, router or link."""
        out = []
        for port, up in ports:
            out += self.port_status(dpid, int(port), bool(up), now)
        return out

    @guarded
    def port_status(self, dpid: int, port: int, up: bool, now: float) -> list:
        """A port went up or down. A router's WAN port down on its WAN switch islands that VPP."""
        s = self._switch(dpid, "port status")
        if s is None:
            return []
        out = []
        if (
            up
            and port not in self.topo.known_ports(s.name)
            and port < 0xFFFFFF00
            and port not in self.extra_ports[s.name]
        ):
            self.extra_ports[s.name].add(port)
            out.append((dpid, pl.unregistered_port_flow(self.topo, s.name, port)))
        owner = self.topo.router_ports[s.name].get(port)
        if owner is None or owner[1] != "wan":
            return out
        vpp = owner[0].vpp
        if not up and vpp not in self.islanded:
            self.islanded.add(vpp)
            log.warning("VPP %s islanded (router WAN port %s:%d down)", vpp, s.name, port)
            out += self._to_up(pl.island_flows(self.topo, owner[0], vpp in self.vpp_limited))
        elif up and vpp in self.islanded:
            self.islanded.discard(vpp)
            log.info("VPP %s rejoined", vpp)
            ck = pl.cookie(pl.K_ISLAND, self.topo.vpp_index[vpp])
            out += self._to_up(
                (sw, ofmsg.flow_delete(cookie=ck, cookie_mask=(1 << 64) - 1))
                for sw in {owner[0].lan.switch, s.name}
            )
        return out

    @guarded
    def packet_in(self, dpid: int, in_port: int, data: bytes, now: float) -> list:
        """Answer a punted protocol 253 packet: LimitExceeded (quota) or Unreachable code 4 (islanded)."""
        s = self._switch(dpid, "packet-in")
        if s is None:
            return []
        try:
            dst_mac, src_mac, _ = decode_frame(data)
        except (DecodeError, TypeError) as exc:
            log.info("packet-in on %s:%s not an Energy packet: %s", s.name, in_port, exc)
            return []
        if self.sden_punt is not None:
            answered = self.sden_punt.packet_in(data, now)
            if answered is not None:
                return answered
        error = punt_error(self.cards, self.islanded, self.plan, s.name, in_port, dst_mac, src_mac)
        if error is None:
            log.info("unexpected packet-in on %s:%s from %s", s.name, in_port, src_mac)
            return []
        datagram = bytes(data)[14:] if bytes(data)[12:14] == b"\x08\x00" else bytes(data)[18:]
        try:
            answer = error_for(
                datagram, error, self.isp_ip, self.isp_mac, isp=True, period=self.period
            )
            if answer is None:  # no error in answer to a control message (R5.5)
                return []
            frame = encode_frame(answer, self.isp_mac, src_mac)
        except (DecodeError, EncodeError) as exc:
            log.info("cannot answer packet-in on %s:%s: %s", s.name, in_port, exc)
            return []
        return [(dpid, ofmsg.packet_out(frame, in_port))]

    # ------------------------------------------------------------------------------------ status

    def status(self) -> dict:
        """Counters, JSON-serialisable."""
        q = self.limits.quantum_bee
        cards = {st.card.name: st.status(q) for st in self.cards.values()}
        switches = {}
        for s in self.plan.switches:
            switches[s.name] = {
                "dpid": s.dpid, "up": s.dpid in self.up,
                "dropped_spoofed": switch_drops(self.drops, s.name, pl.K_SPOOF),
                "dropped_unregistered": switch_drops(self.drops, s.name, pl.K_UNREG),
            }  # fmt: skip
        out = {
            "period": self.period, "period_s": self.limits.period_s, "quantum_bee": q,
            "cards": cards, "switches": switches, "islanded": sorted(self.islanded),
            "stats_replies": self.stats_replies, "epoch_s": self.limits.epoch_s,
        }  # fmt: skip
        if self.isp_link is not None:
            for st in self.cards.values():
                cards[st.card.name]["import_used_bee"] = st.import_packets * q
                cards[st.card.name]["imported_bee"] = st.import_total_packets * q
                cards[st.card.name]["meter_id"] = self.topo.card_meter(st.no)
            out["isp"] = self.isp_link.status()
        if self.sden is not None:
            out["sden"] = self.sden.status()
        return out
