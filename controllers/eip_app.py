"""The Energy ISP controller app: a thin os-ken shell over eip.sdn.controller.EnergyController.

It only moves events in and messages out: switch up, packet-in, port status, flow stats and barrier
replies go to the logic with the time; what the logic returns is sent in order, pausing at each
barrier until the switch confirms it. Every handler is guarded: an exception is logged, not lost.
Configuration comes from the environment set by `eip controller`: EIP_PLAN, EIP_LIMITS, EIP_STATUS,
and EIP_ISP=1 to let the Energy ISP (eip.isp.isp) compute the limits every period from the OPF
(EIP_ISP_ENFORCE=0: measure and publish only; EIP_ISP_CLOCK: a file whose appearance restarts the
ISP's period clock; EIP_ISP_RECORDS: a JSON-lines log of what each period published and measured).
"""

import json
import logging
import os
import time
from collections import defaultdict, deque
from pathlib import Path

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import (
    CONFIG_DISPATCHER,
    DEAD_DISPATCHER,
    MAIN_DISPATCHER,
    set_ev_cls,
)
from os_ken.lib import hub
from os_ken.ofproto import ofproto_v1_3

from eip.isp.isp import restart_clock
from eip.net.plan import NetworkPlan
from eip.sdn.controller import EnergyController
from eip.sdn.limits import LimitTable
from eip.sdn.ofmsg import is_barrier

log = logging.getLogger("eip.controller")
TICK_S = 0.1
STATUS_EVERY_S = 1.0


def _sden_service(plan: NetworkPlan, state_root: Path):
    """The energy server: its key in state_root/server, the cards' public keys from their folders."""
    from eip.etcp.keys import CardKey
    from eip.sdn.sden_service import SdenService, default_server

    names = {c.mac.lower(): c.name for c in plan.cards}

    def key_of(mac: str) -> bytes | None:
        path = state_root / names.get(mac.lower(), "-") / "key.pem"
        return CardKey.load(path).public_bytes if path.exists() else None

    key = CardKey.load_or_create(state_root / "server" / "key.pem")
    return SdenService(default_server(), key, key_of)


def guarded(handler):
    """Log any exception of an event handler instead of letting os-ken swallow or die on it."""

    def wrapper(self, ev):
        try:
            handler(self, ev)
        except Exception:
            self.errors += 1
            log.exception("error in %s", handler.__name__)

    wrapper.__name__ = handler.__name__
    return wrapper


class EipControllerApp(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        plan = NetworkPlan.load(os.environ["EIP_PLAN"])
        limits = LimitTable.load(os.environ["EIP_LIMITS"])
        isp = None
        if os.environ.get("EIP_ISP") == "1":  # `eip controller --isp`: the OPF sets the limits
            from eip.cases import grid_for_plan
            from eip.isp.isp import start_isp

            first = int(os.environ.get("EIP_ISP_FIRST_PERIOD", "0"))
            enforce = os.environ.get("EIP_ISP_ENFORCE", "1") != "0"
            isp, limits = start_isp(grid_for_plan(plan), plan, limits, time.monotonic(), first,
                                    enforce=enforce)  # fmt: skip
        self.isp, self.isp_first_period = isp, int(os.environ.get("EIP_ISP_FIRST_PERIOD", "0"))
        # `--isp-clock FILE`: the period clock restarts when FILE appears ({"start_s": monotonic})
        self.isp_clock = (
            Path(os.environ["EIP_ISP_CLOCK"]) if os.environ.get("EIP_ISP_CLOCK") else None
        )
        # `--isp-records FILE`: one JSON line per period published / measured (eip.isp.isp records)
        self.isp_records = (
            Path(os.environ["EIP_ISP_RECORDS"]) if os.environ.get("EIP_ISP_RECORDS") else None
        )
        sden = None
        if os.environ.get("EIP_SDEN"):  # `eip controller --sden DIR`: the SDEN energy server
            sden = _sden_service(plan, Path(os.environ["EIP_SDEN"]))
        self.logic = EnergyController(plan, limits, isp=isp, sden=sden)
        self.status_path = Path(os.environ.get("EIP_STATUS", "/tmp/eip-controller-status.json"))
        self.dps = {}
        self.queues: dict[int, deque] = defaultdict(deque)
        self.waiting: dict[int, int] = {}  # dpid -> xid of the barrier we wait for
        self.errors = 0
        self.of_errors = 0
        self.started = time.monotonic()
        self.threads.append(hub.spawn(self._ticker))

    # --- sending, in order, with barriers ------------------------------------------------------
    def _send(self, items) -> None:
        """Queue (dpid, message) pairs in order and send what no barrier holds back."""
        touched = set()
        for dpid, msg in items:
            self.queues[dpid].append(msg)
            touched.add(dpid)
        for dpid in touched:
            self._flush(dpid)

    def _flush(self, dpid: int) -> None:
        dp = self.dps.get(dpid)
        if dp is None:
            self.queues.pop(dpid, None)
            return
        queue = self.queues[dpid]
        while queue and dpid not in self.waiting:
            msg = queue.popleft()
            msg.datapath = dp
            dp.send_msg(msg)
            if is_barrier(msg):
                self.waiting[dpid] = msg.xid  # the rest waits for the reply

    # --- events ---------------------------------------------------------------------------------
    @set_ev_cls(ofp_event.EventOFPSwitchFeatures, CONFIG_DISPATCHER)
    @guarded
    def switch_features(self, ev):
        dp = ev.msg.datapath
        self.dps[dp.id] = dp
        self.waiting.pop(dp.id, None)
        self.queues.pop(dp.id, None)
        log.info("switch %016x connected", dp.id)
        self._send(self.logic.switch_up(dp.id, self._now()))

    @set_ev_cls(ofp_event.EventOFPStateChange, [DEAD_DISPATCHER])
    @guarded
    def state_change(self, ev):
        dp = ev.datapath
        if dp.id is not None and self.dps.get(dp.id) is dp:
            log.warning("switch %016x disconnected", dp.id)
            self.dps.pop(dp.id, None)
            self.waiting.pop(dp.id, None)
            self.queues.pop(dp.id, None)
            self.logic.switch_down(dp.id, self._now())

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    @guarded
    def barrier_reply(self, ev):
        dpid = ev.msg.datapath.id
        if self.waiting.get(dpid) == ev.msg.xid:
            del self.waiting[dpid]
            self._flush(dpid)

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    @guarded
    def packet_in(self, ev):
        msg = ev.msg
        in_port = msg.match.get("in_port", 0)
        self._send(self.logic.packet_in(msg.datapath.id, in_port, bytes(msg.data), self._now()))

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    @guarded
    def port_status(self, ev):
        msg = ev.msg
        ofp = msg.datapath.ofproto
        desc = msg.desc
        up = not (desc.state & ofp.OFPPS_LINK_DOWN) and not (desc.config & ofp.OFPPC_PORT_DOWN)
        if msg.reason == ofp.OFPPR_DELETE:
            up = False
        self._send(self.logic.port_status(msg.datapath.id, desc.port_no, up, self._now()))

    @set_ev_cls(ofp_event.EventOFPPortDescStatsReply, MAIN_DISPATCHER)
    @guarded
    def port_desc(self, ev):
        dp = ev.msg.datapath
        ofp = dp.ofproto
        ports = [
            (
                p.port_no,
                not (p.state & ofp.OFPPS_LINK_DOWN) and not (p.config & ofp.OFPPC_PORT_DOWN),
            )
            for p in ev.msg.body
            if p.port_no < ofp.OFPP_MAX
        ]
        self._send(self.logic.port_desc(dp.id, ports, self._now()))

    @set_ev_cls(ofp_event.EventOFPFlowStatsReply, MAIN_DISPATCHER)
    @guarded
    def flow_stats(self, ev):
        self._send(self.logic.flow_stats(ev.msg.datapath.id, ev.msg.body, self._now()))

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [CONFIG_DISPATCHER, MAIN_DISPATCHER])
    @guarded
    def error_msg(self, ev):
        msg = ev.msg
        self.of_errors += 1
        log.error("switch %016x error type=%d code=%d", msg.datapath.id, msg.type, msg.code)

    # --- time -----------------------------------------------------------------------------------
    def _now(self) -> float:
        return time.monotonic()

    def _ticker(self):
        next_status = 0.0
        while True:
            hub.sleep(TICK_S)
            try:
                now = self._now()
                self._start_isp_clock()
                # Until the run's ISP clock starts there are no periods: no boundary, no notice
                # (a card deciding at a notice of the old clock would trade a period too early).
                ticked = self.logic.tick(now) if self.isp_clock is None else []
                self._send(ticked + self.logic.poll(now))
                self._write_isp_records()
                if now >= next_status:
                    next_status = now + STATUS_EVERY_S
                    self._write_status()
            except Exception:
                self.errors += 1
                log.exception("error in the controller tick")

    def _start_isp_clock(self) -> None:
        """When the clock file appears: the ISP's period `first` starts at its `start_s`, and the
        controller's table takes the new epoch, so the next tick is a period boundary on it."""
        if self.isp is None or self.isp_clock is None or not self.isp_clock.exists():
            return
        path, self.isp_clock = self.isp_clock, None
        start_s = float(json.loads(path.read_text())["start_s"])
        self.logic.limits = restart_clock(
            self.isp, self.logic.limits, start_s, self.isp_first_period
        )
        # a boundary at the next tick even if the old clock was in period `first` too: the cards,
        # started after that period's notices went out, get them now
        self.logic.period_started = False
        log.info("ISP clock: period %d starts at %.3f", self.isp_first_period, start_s)

    def _write_isp_records(self) -> None:
        if self.isp is None:
            return
        records = self.isp.take_records()
        if records and self.isp_records is not None:
            with self.isp_records.open("a") as f:
                for r in records:
                    f.write(json.dumps(r, sort_keys=True, default=str) + "\n")

    def _write_status(self) -> None:
        status = self.logic.status()
        status["controller"] = {
            "switches": sorted(f"{d:016x}" for d in self.dps),
            "handler_errors": self.errors,
            "openflow_errors": self.of_errors,
            "uptime_s": round(self._now() - self.started, 1),
            "pid": os.getpid(),
        }
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=1, sort_keys=True, default=str))
        os.replace(tmp, self.status_path)
