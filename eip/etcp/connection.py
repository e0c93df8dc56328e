"""The Energy-TCP connection of the Energy Internet Card, as a plain deterministic object.

A `Connection` never touches a socket, a clock or a thread: the daemon gives it the time and the segments
it receives, and it returns effects (eip/etcp/model.py) to apply in order: `Opened`, `Persist`, `Send`,
`Event`, `Closed`. Design: docs/card.md (transfers, flights, SIG/RCPT, crash safety).

Internally every position in the sender's sequence space is an *offset* from the first data unit
(sender ISN + 1), a plain integer in [0, quantity_total]; segments carry the values modulo 2^32.

The sender half lives in eip/etcp/send.py, the receiver half in eip/etcp/recv.py; this module
holds the constructors, the dispatch and the handshake/close logic shared by both.
"""

from eip.etcp import base as b
from eip.etcp.base import (
    CLOSED,
    DSCP_DEFAULT,
    ESTABLISHED,
    FIN_WAIT,
    LAST_ACK,
    MAX_RETRIES,
    REJECT_CANCELLED,
    SYN_RCVD,
    SYN_SENT,
    TIME_WAIT,
    Rto,
)
from eip.etcp.keys import Verifier
from eip.etcp.model import Closed, Endpoint, Event, Opened, Send, TransferInfo, transfer_id
from eip.etcp.recv import ReceiverHalf
from eip.etcp.send import SenderHalf
from eip.etcp.window import pace_rate
from eip.protocol import constants as c
from eip.protocol.messages import reject_segment
from eip.protocol.model import Bee, EnergyTcp, OfferOption, RejectOption, RequestOption
from eip.protocol.seq import SEQ_MOD, seq_add

__all__ = ["Connection"]


def _transfer_option(seg: EnergyTcp):
    return next((o for o in seg.options if isinstance(o, RequestOption | OfferOption)), None)


def _reject_detail(seg: EnergyTcp) -> str:
    opt = next((o for o in seg.options if isinstance(o, RejectOption)), None)
    if opt is None:
        return "reason=none"
    name = c.REJECT_REASONS.get(opt.reason, "unknown")
    return f"reason={opt.reason} ({name}) retry_after={opt.retry_after_s}"


class Connection(SenderHalf, ReceiverHalf):
    """One transfer (docs/card.md): moves BEEs one way, from the sender to the receiver."""

    def __init__(self, now, role, local, remote, sign, peer_key, window, dscp=DSCP_DEFAULT):
        self.role = role  # "send" or "receive"
        self.local: Endpoint = local
        self.remote: Endpoint = remote
        # What demultiplexes the peer's segments to this connection: (peer MAC, peer port, our port).
        self.key = (remote.mac, remote.port, local.port)
        self.dscp = dscp  # the DSCP of every segment this connection sends (priority class, R3.3)
        self.sign = sign
        self.peer_key = peer_key
        self._verify = Verifier(peer_key)
        self.window = window  # this card's own dynamic limit (what a receiver advertises)
        self.state = CLOSED
        self.transfer_id = ""
        self.opened_s = now
        self.close_reason = ""
        self._now = now
        self._local_ip = local.ip  # the address the peer knows us by (see on_timer: mobility)
        self._isp: float | None = None  # the ISP's rate for this connection (WUP), BEE/s
        self.power_bee_per_s: float | None = None  # the power the application asked (its units)
        self._isn = 0  # this card's own ISN
        self._ctl_seq = 0  # this card's next sequence number when it carries no data (receiver)
        self._sender_isn = 0
        self._data_start = 0  # sequence number of data offset 0 = sender ISN + 1
        self._total = 0
        self._quantum = 1
        self._template = Bee()
        self._peer_nxt: int | None = None  # the peer's next sequence number (what we acknowledge)
        self._syn: EnergyTcp | None = None  # our SYN or SYN-ACK, while unanswered
        self._timer: float | None = None
        self._retries = 0
        self._rto = Rto()
        self._pump_due = False
        self._wup_due = False
        self.stats = {
            "segments_sent": 0,
            "segments_received": 0,
            "retransmitted": 0,
            "timeouts": 0,
            "duplicates": 0,
            "forged": 0,
            "bee_records": 0,  # BEE records debited (sender) or credited (receiver)
            "bee_units": 0,
            "deliveries": 0,
        }
        self._init_sender()
        self._init_receiver()

    # ------------------------------------------------------------------ constructors
    @classmethod
    def open_offer(
        cls, now, local: Endpoint, remote: Endpoint, template: Bee, quantity: int, quantum: int,
        isn: int, sign, peer_key, window: int, deadline_s=0, priority=0, emergency=0,
        dscp=DSCP_DEFAULT,
    ):  # fmt: skip
        """Active open as the sender: SYN with an offer option (push)."""
        conn = cls(now, "send", local, remote, sign, peer_key, window, dscp)
        conn._setup_sender(isn, template, quantity, quantum)
        conn.transfer_id = transfer_id(local, remote, isn)
        opt = OfferOption(quantity, template.start_s, template.end_s, deadline_s,
                          template.bee_type, priority)  # fmt: skip
        return conn, conn._open_syn(now, isn, opt, emergency)

    @classmethod
    def open_request(
        cls, now, local: Endpoint, remote: Endpoint, bee_type: int, quantity: int, isn: int, sign,
        peer_key, window: int, start_s=0, end_s=0, deadline_s=0, priority=0, emergency=0,
        dscp=DSCP_DEFAULT,
    ):  # fmt: skip
        """Active open as the receiver: SYN with a request option (pull).

        The transfer id contains the sender's ISN, unknown until the Accept: until then
        `transfer_id` is provisional (`...#?`); `Opened` carries the final one.
        """
        conn = cls(now, "receive", local, remote, sign, peer_key, window, dscp)
        conn._total = quantity
        conn._template = Bee(bee_type=bee_type, start_s=start_s, end_s=end_s)
        conn._quantum = 0
        conn.transfer_id = f"{remote.mac}:{remote.port}>{local.mac}:{local.port}#?"
        opt = RequestOption(quantity, start_s, end_s, deadline_s, bee_type, priority)
        return conn, conn._open_syn(now, isn, opt, emergency)

    def _open_syn(self, now, isn, opt, emergency):
        self._isn = isn % SEQ_MOD
        self._ctl_seq = seq_add(self._isn, 1)
        flags = c.ETCP_SYN | (c.ETCP_URG if emergency else 0)
        self._syn = EnergyTcp(self.local.port, self.remote.port, self._isn, 0, flags,
                              self._adv_window(), emergency, (opt,))  # fmt: skip
        self.state = SYN_SENT
        self._timer = now + self._rto.rto
        return [self._send(self._syn)]

    @classmethod
    def accept(
        cls, now, local: Endpoint, remote: Endpoint, syn: EnergyTcp, granted: int, isn: int, sign,
        peer_key, window: int, template: Bee | None = None, quantum: int = 10,
    ):  # fmt: skip
        """Passive open for a received SYN: SYN-ACK granting `granted` (at most what was asked) + Opened."""
        opt = _transfer_option(syn)
        if opt is None:
            raise ValueError("the SYN carries no request or offer option")
        granted = max(0, min(granted, opt.quantity))
        isn %= SEQ_MOD
        if isinstance(opt, OfferOption):  # the peer delivers: this card receives
            conn = cls(now, "receive", local, remote, sign, peer_key, window)
            conn._setup_receiver(syn.seq, granted)
            conn._template = template or Bee(bee_type=opt.bee_type, start_s=opt.start_s,
                                             end_s=opt.end_s)  # fmt: skip
            conn._quantum = quantum if template is not None else 0
            conn.transfer_id = transfer_id(remote, local, syn.seq)
        else:  # a Request: this card delivers
            if template is None:
                raise ValueError("accepting a Request needs the template of the BEEs to deliver")
            conn = cls(now, "send", local, remote, sign, peer_key, window)
            conn._setup_sender(isn, template, granted, quantum)
            conn._peer_window = syn.window
            conn.transfer_id = transfer_id(local, remote, isn)
        conn._isn = isn
        conn._ctl_seq = seq_add(isn, 1)
        conn._peer_nxt = seq_add(syn.seq, 1)
        conn._syn = EnergyTcp(local.port, remote.port, isn, conn._peer_nxt,
                              c.ETCP_SYN | c.ETCP_ACK, conn._adv_window(), 0,
                              (opt._replace(quantity=granted),))  # fmt: skip
        conn.state = SYN_RCVD
        conn._timer = now + conn._rto.rto
        return conn, [Opened(conn.info), conn._send(conn._syn)]

    @staticmethod
    def reject(syn: EnergyTcp, reason: int, retry_after_s: int) -> EnergyTcp:
        """The Reject (RST-ACK with a reject option) answering a SYN (R6.11)."""
        return reject_segment(syn, reason, retry_after_s)

    @classmethod
    def resume(
        cls, now, info: TransferInfo, local: Endpoint, remote_ip: str, sign, peer_key,
        window: int, receipts=(), dscp=DSCP_DEFAULT, power_bee_per_s: float | None = None,
    ):  # fmt: skip
        """Reopen a transfer after a restart, from what the ledger holds (`info.next_seq`).

        Sender: retransmits from `next_seq` (snd_una). Receiver: at once sends an ACK for `next_seq`
        (rcv_verified), with the RCPT of the last delivery record if `receipts` gives it
        (((start_seq, end_seq, sender_sig, receiver_sig), ...) from the ledger's records); without
        receipts it re-acknowledges without RCPT, and answers the sender's retransmissions of
        already-credited ranges with fresh RCPTs (eip/etcp/recv.py), crediting nothing twice.
        A sender with `power_bee_per_s` (BEE per second of the clock given) resumes paced.
        """
        remote = Endpoint(info.peer_mac, remote_ip, info.peer_port)
        conn = cls(now, info.role, local, remote, sign, peer_key, window, dscp)
        conn.transfer_id = info.transfer_id
        conn.opened_s = info.opened_s
        if info.role == "send":
            conn._setup_sender(info.isn, info.template, info.quantity_total, info.quantum)
            conn._isn = info.isn % SEQ_MOD
            if power_bee_per_s is not None:
                conn.set_power(power_bee_per_s, now)
            return conn, conn._resume_sender(now, info)
        conn._setup_receiver(info.isn, info.quantity_total)
        conn._template, conn._quantum = info.template, info.quantum
        # The receiver's own ISN is not persisted; any value works (it only numbers our FIN).
        conn._isn = (info.isn + SEQ_MOD // 2) % SEQ_MOD
        conn._ctl_seq = seq_add(conn._isn, 1)
        return conn, conn._resume_receiver(now, info, receipts)

    # ------------------------------------------------------------------ public surface
    @property
    def info(self) -> TransferInfo:
        next_seq = self._snd_una if self.role == "send" else self._rcv_verified
        return TransferInfo(
            self.transfer_id, self.role, self.remote.mac, self.remote.ip, self.local.port,
            self.remote.port, self._sender_isn, self._template._replace(quantity=self._quantum or 1),
            self._total, self._quantum, seq_add(self._data_start, next_seq),
            "closed" if self.state == CLOSED or self.close_reason else "open", self.opened_s,
            self.close_reason,
        )  # fmt: skip

    @property
    def next_deadline(self) -> float | None:
        if self._pump_due or self._wup_due or self.local.ip != self._local_ip:
            return self._now
        release, timer = self._release_at, self._timer
        if release is not None and (timer is None or release < timer):
            return release
        return timer

    def set_isp_window(self, w: int | None, now: float | None = None) -> list:
        """The ISP's dynamic limit for this connection (WUP, R6.10): a rate, BEE per second; None lifts it.

        It paces what this card sends (with its own power, see `set_power`); a receiving connection
        keeps advertising its own window (BEE in flight, R6.5). Returns no effects: when the sender
        may send more `next_deadline` becomes due and `on_timer` sends.
        """
        if w is not None and w < 0:
            raise ValueError(f"an ISP rate must be >= 0, got {w}")
        return self._set_rate("_isp", w, now)

    def set_isp_share(self, bee_per_s: float | None, now: float | None = None) -> list:
        """This connection's share of the card's aggregate ISP rate (R6.10, eip/card/node.py)."""
        return self._set_rate("_isp_share", bee_per_s, now)

    def set_power(self, bee_per_s: float | None, now: float | None = None) -> list:
        """The transfer's own power, BEE per second of the clock this connection is given; None: unpaced."""
        if bee_per_s is not None and not bee_per_s > 0:
            raise ValueError(f"a power must be > 0 BEE/s, got {bee_per_s}")
        return self._set_rate("_power", bee_per_s, now)

    @property
    def own_cap_bee_per_s(self) -> float | None:
        """The rate this connection may use whatever the aggregate: min(own power, its ISP rate)."""
        return pace_rate(self._power, self._isp)

    def set_window(self, w: int, now: float | None = None) -> list:
        """This card's own dynamic limit for the transfer (what a receiver advertises, BEE in flight)."""
        if now is not None:
            self._now = now
        if w != self.window:
            self.window = w
            if self.role == "receive" and self.state == ESTABLISHED:
                self._wup_due = True  # advertise it (a shrink too, so the sender stops early)
        return []

    def _set_rate(self, name: str, value, now) -> list:
        if now is not None:
            self._now = now
        if getattr(self, name) != value:
            setattr(self, name, value)
            self._repace(self._now)
        return []

    def close(self, now) -> list:
        """Finish (FIN once every range is acknowledged) or cancel (RST, reason 10 cancelled; a
        sender first has what is in flight acknowledged, so both ledgers book the same BEE)."""
        self._now = now
        if self.state in (CLOSED, TIME_WAIT, FIN_WAIT, LAST_ACK):
            return []
        if self.role == "send" and self.state == ESTABLISHED:
            if self._snd_una >= self._total:
                return self._start_fin(now)
            return self._cancel_sender(now)
        rst = self._rst(RejectOption(REJECT_CANCELLED, 0))
        return [self._send(rst), *self._closed("cancelled")]

    def on_segment(self, now, seg: EnergyTcp, src_ip: str) -> list:
        self._now = now
        if self.state == CLOSED or seg.flags & c.ETCP_WUP:
            return []
        if seg.sport != self.remote.port or seg.dport != self.local.port:
            return []
        self.stats["segments_received"] += 1
        out: list = []
        if src_ip != self.remote.ip:  # mobility: the peer moved (its transfer id did not)
            self.remote = self.remote._replace(ip=src_ip)
            out.append(Event("moved", self.transfer_id, src_ip))
        f = seg.flags
        if f & c.ETCP_RST:
            return out + self._on_rst(seg)
        if self.state == SYN_SENT:
            return out + self._on_syn_ack(now, seg)
        if f & c.ETCP_SYN:
            if self.state == SYN_RCVD and not f & c.ETCP_ACK:
                out.append(self._send(self._syn, retransmit=True))  # our SYN-ACK was lost
            elif not f & c.ETCP_ACK and self.state == ESTABLISHED:
                out += self._syn_ack_again(seg)  # we were restarted before our SYN-ACK arrived
            elif f & c.ETCP_ACK and self.state != SYN_RCVD:
                out.append(self._send(self._pure_ack()))  # our ACK of the SYN-ACK was lost
            return out
        if self.state == SYN_RCVD:
            if not f & c.ETCP_ACK or seg.ack != self._ctl_seq:
                return out
            self.state = ESTABLISHED
            self._syn = None
            self._timer = None
            self._retries = 0
        if self._peer_nxt is None:  # resumed: learn the peer's sequence number
            self._peer_nxt = seg.seq
        if self.role == "send":
            return out + self._sender_segment(now, seg)
        return out + self._receiver_segment(now, seg)

    def on_timer(self, now) -> list:
        self._now = now
        out: list = []
        if self.state == CLOSED:
            return out
        if self._pump_due or (self._release_at is not None and now >= self._release_at):
            self._pump_due = False
            self._release_at = None
            if self.role == "send" and self.state == ESTABLISHED:
                out += self._pump(now)
        moved = self.local.ip != self._local_ip
        if moved:  # this card moved (the daemon set `local`): tell the peer our new address
            self._local_ip = self.local.ip
        if self._wup_due or moved:
            self._wup_due = False
            if self.state == ESTABLISHED:
                if self.role == "receive":
                    last = (
                        self._chain_from(self._rcv_verified - 1)[:1] if self._rcv_verified else []
                    )
                    out.append(self._send(self._ack_segment(last)))
                elif moved and not out:
                    out.append(self._send(self._probe()))
        if self._timer is None or now < self._timer:
            return out
        self._timer = None
        if self.state == TIME_WAIT:
            self.state = CLOSED
            return out
        if self.state in (SYN_SENT, SYN_RCVD):
            if not self._count_retry():
                gone = Event("unreachable", self.transfer_id, "no answer to SYN")
                return [*out, gone, *self._closed("timeout")]
            self._timer = now + self._rto.rto
            return [*out, self._send(self._syn, retransmit=True)]
        if self.role == "send":
            return out + self._sender_timeout(now)
        return out + self._receiver_timeout(now)

    # ------------------------------------------------------------------ shared helpers
    def _count_retry(self) -> bool:
        """One more retransmission without progress; False once the limit is passed."""
        self.stats["timeouts"] += 1
        self._retries += 1
        if self._retries > MAX_RETRIES:
            return False
        self._rto.back_off()
        return True

    def _syn_ack_again(self, syn: EnergyTcp) -> list:
        """Answer a SYN of this transfer once more, rebuilt from what a resumed connection knows."""
        opt = _transfer_option(syn)
        if self.role == "receive":
            if not isinstance(opt, OfferOption) or syn.seq != self._sender_isn:
                return []
            seq = self._isn
        else:
            if not isinstance(opt, RequestOption):
                return []
            seq = self._sender_isn
        self._peer_nxt = seq_add(syn.seq, 1)
        t = self._template
        granted = opt._replace(quantity=self._total, bee_type=t.bee_type)
        synack = EnergyTcp(self.local.port, self.remote.port, seq, self._peer_nxt,
                           c.ETCP_SYN | c.ETCP_ACK, self._adv_window(), 0, (granted,))  # fmt: skip
        return [self._send(synack, retransmit=True)]

    def _on_syn_ack(self, now, seg):
        f = seg.flags
        if not (f & c.ETCP_SYN and f & c.ETCP_ACK) or seg.ack != self._ctl_seq:
            return []
        opt = _transfer_option(seg)
        if opt is None:
            return []
        self._peer_nxt = seq_add(seg.seq, 1)
        self._syn = None
        self._timer = None
        self._retries = 0
        self.state = ESTABLISHED
        granted = max(0, min(opt.quantity, self._total))
        if self.role == "receive":  # our Request was accepted: the peer's ISN numbers the transfer
            self._setup_receiver(seg.seq, granted)
            self.transfer_id = transfer_id(self.remote, self.local, seg.seq)
            return [Opened(self.info), self._send(self._ack_segment(()))]
        self._total = granted
        self._peer_window = seg.window
        out: list = [Opened(self.info)]
        sent = self._pump(now) if self._total else self._start_fin(now)
        if not any(type(e) is Send for e in sent):
            out.append(self._send(self._pure_ack()))  # complete the handshake
        return out + sent

    def _on_rst(self, seg):
        detail = _reject_detail(seg)
        if self.state == SYN_SENT:
            return [Event("rejected", self.transfer_id, detail), *self._closed("rejected")]
        if self.state in (TIME_WAIT, LAST_ACK):
            return self._closed("done")  # every BEE is already acknowledged
        if self.state == FIN_WAIT:
            return self._closed("done")
        return [Event("reset", self.transfer_id, detail), *self._closed("reset")]

    def _closed(self, reason: str) -> list:
        was = self.close_reason
        self.state = CLOSED
        self._timer = None
        self._pump_due = self._wup_due = False
        self._release_at = None
        if was:
            return []
        self.close_reason = reason
        return [Closed(self.transfer_id, reason)]

    def _send(self, seg: EnergyTcp, retransmit: bool = False) -> Send:
        self.stats["segments_sent"] += 1
        if retransmit:
            self.stats["retransmitted"] += 1
        return Send(seg)

    def _rst(self, opt=None) -> EnergyTcp:
        seq = self._ctl_seq if self.role == "receive" else seq_add(self._data_start, self._snd_nxt)
        ack = self._peer_nxt if self.role == "send" else self._rcv_ack()
        return EnergyTcp(self.local.port, self.remote.port, seq, ack or 0, c.ETCP_RST | c.ETCP_ACK,
                         0, 0, (opt,) if opt else ())  # fmt: skip

    def _pure_ack(self) -> EnergyTcp:
        return self._probe() if self.role == "send" else self._ack_segment(())

    def _adv_window(self) -> int:
        return self.window

    def __repr__(self) -> str:
        return f"Connection({self.transfer_id!r}, {self.role}, {self.state})"


# Re-exported for callers that want the tunables next to the class.
RTO_INITIAL_S, RTO_MAX_S, TIME_WAIT_S = b.RTO_INITIAL_S, b.RTO_MAX_S, b.TIME_WAIT_S
