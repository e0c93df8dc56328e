"""The sender half of an Energy-TCP connection (mixed into eip.etcp.connection.Connection).

The sender's BEEs are a *plan*: record k covers offsets [k * quantum, min((k + 1) * quantum, total))
and is the template with that quantity, so any range can be regenerated (and re-signed: Ed25519 is
deterministic) at any time, also after a restart. Flights are built from `snd_nxt` while the usable
window (R6.5) allows and, for a paced transfer, while its token bucket holds the next record's BEE
(its rate: min(own power, the ISP's WUP rate, its share of the card's aggregate WUP); eip/etcp/window.py).
A SIG closes a delivery record every 16 data segments, at the end of a flight (also a pacing pause),
and at the point the receiver says it has verified up to (so a record never straddles it).
`snd_una` only moves on a RCPT that verifies with the receiver's key.
"""

import hashlib

from eip.etcp.base import (
    CWND_INITIAL,
    CWND_MAX,
    CWND_MIN,
    ESTABLISHED,
    FIN_WAIT,
    MAX_BEES_PER_SEGMENT,
    REJECT_CANCELLED,
    SIG_EVERY_SEGMENTS,
    TIME_WAIT,
    TIME_WAIT_S,
)
from eip.etcp.model import Delivery, Event, Persist
from eip.etcp.window import TokenBucket, pace_rate, usable_window, window_limit
from eip.protocol import constants as c
from eip.protocol.model import Bee, EnergyTcp, Receipt, RejectOption, Signature
from eip.protocol.seq import SEQ_MOD, seq_add, seq_sub
from eip.protocol.signing import bee_record_bytes, delivery_message, receipt_message


class SenderHalf:
    def _init_sender(self) -> None:
        self._snd_una = 0  # offsets from the first data unit
        self._snd_nxt = 0
        self._snd_max = 0  # highest offset ever sent in this incarnation
        self._peer_window = 0
        self._align = 0  # the receiver's reported verified point, a forced SIG boundary
        self._sigs: dict[tuple[int, int], bytes] = {}
        self._rtt: tuple[int, float] | None = None  # (end offset, send time) of the timed segment
        self._fin_sent = False
        # Congestion window in segments (RFC 5681 style slow start and AIMD): the dynamic limit
        # says how much the grid allows in flight, cwnd how much the network path can carry.
        self._cwnd = float(CWND_INITIAL)
        self._ssthresh = float(CWND_MAX)
        # Pacing (BEE per second of the clock given): own power, the ISP's rate for this connection,
        # this connection's share of the card's aggregate ISP rate. None: no limit from that one.
        self._power: float | None = None
        self._isp_share: float | None = None
        self._bucket: TokenBucket | None = None
        self._release_at: float | None = None  # when the bucket lets the next record go

    def _setup_sender(self, isn: int, template: Bee, quantity: int, quantum: int) -> None:
        if quantum < 1:
            raise ValueError("quantum must be at least 1")
        self._sender_isn = isn % SEQ_MOD
        self._data_start = seq_add(isn, 1)
        self._template = template
        self._total = quantity
        self._quantum = quantum
        self._bee_cache: dict[int, tuple[Bee, bytes]] = {}
        self._cancel_at: int | None = None  # cancelled: nothing new past it, RST once it is acked

    # ------------------------------------------------------------------ the plan
    def _bee(self, q: int) -> tuple[Bee, bytes]:
        hit = self._bee_cache.get(q)
        if hit is None:
            bee = self._template._replace(quantity=q)
            hit = self._bee_cache[q] = (bee, bee_record_bytes(bee))
        return hit

    def _plan(self, start: int, end: int) -> list[tuple[int, Bee]]:
        out, pos, quantum, total = [], start, self._quantum, self._total
        while pos < end:
            q = min(quantum, total - pos)
            out.append((pos, self._bee(q)[0]))
            pos += q
        return out

    def _aligned(self, off: int) -> bool:
        return 0 <= off <= self._total and (off % self._quantum == 0 or off == self._total)

    def _delivery_msg(self, start: int, end: int) -> bytes:
        h = hashlib.sha256()
        pos, quantum, total = start, self._quantum, self._total
        while pos < end:
            q = min(quantum, total - pos)
            h.update(self._bee(q)[1])
            pos += q
        return delivery_message(
            self.local.mac, self.remote.mac, self.local.port, self.remote.port, self._sender_isn,
            seq_add(self._data_start, start), seq_add(self._data_start, end), h.digest(),
        )  # fmt: skip

    def _signature(self, start: int, end: int) -> tuple[bytes, bytes]:
        msg = self._delivery_msg(start, end)
        sig = self._sigs.get((start, end))
        if sig is None:
            sig = self._sigs[(start, end)] = self.sign(msg)
        return msg, sig

    # ------------------------------------------------------------------ sending
    def _cwnd_units(self) -> int:
        return int(self._cwnd) * self._quantum * MAX_BEES_PER_SEGMENT

    def _limit(self) -> int:
        """BEE units allowed in flight: the dynamic limit (R6.5), capped by the congestion window."""
        return min(window_limit(self._peer_window), self._cwnd_units())

    @property
    def rate_bee_per_s(self) -> float | None:
        """The pacing rate in force: min(own power, ISP rate, share of the aggregate); None: unpaced."""
        return pace_rate(self._power, self._isp, self._isp_share)

    def _repace(self, now) -> None:
        """Apply a changed rate; the sender then sends what it allows, or reschedules its release."""
        rate = self.rate_bee_per_s
        if rate is None:
            self._bucket = self._release_at = None
        elif self._bucket is None:
            self._bucket = TokenBucket(rate, now, max(1, self._quantum))
        else:
            self._bucket.set_rate(rate, now)
        if self.role == "send" and self.state == ESTABLISHED:
            self._pump_due = True

    def _grow_cwnd(self, acked_units: int) -> None:
        acked = acked_units / (self._quantum * MAX_BEES_PER_SEGMENT)
        if self._cwnd < self._ssthresh:
            self._cwnd = min(CWND_MAX, self._cwnd + acked)
        else:
            self._cwnd = min(CWND_MAX, self._cwnd + acked / self._cwnd)

    def _shrink_cwnd(self) -> None:
        self._ssthresh = max(self._cwnd / 2, 2.0)
        self._cwnd = float(CWND_MIN)

    def _pump(self, now) -> list:
        """Send new (or, after a timeout, re-send) data from snd_nxt while the window allows."""
        out: list = []
        if self.state != ESTABLISHED:
            return out
        quantum, total = self._quantum, self._total
        ds = self._data_start
        range_start = self._snd_nxt
        segs = 0
        # What the window allows now (R6.5); each record sent below takes its units from it.
        usable = usable_window(self._snd_una, self._snd_nxt, self._peer_window, self._cwnd_units())
        bucket = self._bucket  # None: unpaced, as fast as the windows allow
        if bucket is not None:
            bucket.refill(now)
        self._release_at = None
        paced = False  # stopped because the bucket is short of the next record's BEE
        if self._cancel_at is not None:
            total = self._cancel_at  # cancelled: only what is already in flight, again if lost
        while self._snd_nxt < total:
            start = pos = self._snd_nxt
            stop = self._align if pos < self._align <= total else total
            bees = []
            while len(bees) < MAX_BEES_PER_SEGMENT and pos < stop:
                q = min(quantum, total - pos)
                if q > usable:
                    break
                if bucket is not None:
                    if not bucket.fits(q):
                        paced = True
                        break
                    bucket.take(q)
                bees.append(self._bee(q)[0])
                pos += q
                usable -= q
            if not bees:
                break
            segs += 1
            nxt = min(quantum, total - pos)
            flight_end = (
                pos >= total or nxt > usable or (bucket is not None and not bucket.fits(nxt))
            )
            records = tuple(bees)
            signed = flight_end or segs >= SIG_EVERY_SEGMENTS or pos == stop
            if signed:
                _msg, sig = self._signature(range_start, pos)
                records += (Signature(0, seq_add(ds, range_start), seq_add(ds, pos), sig),)
            seg = EnergyTcp(self.local.port, self.remote.port, seq_add(ds, start),
                            self._peer_nxt or 0, c.ETCP_ACK, self._adv_window(), 0, (), records)  # fmt: skip
            retransmit = start < self._snd_max
            out.append(self._send(seg, retransmit=retransmit))
            self._snd_nxt = pos
            self._snd_max = max(self._snd_max, pos)
            if signed:
                range_start, segs = pos, 0
                if not retransmit and self._rtt is None:
                    self._rtt = (pos, now)
            if flight_end:
                paced = bucket is not None and pos < total and nxt <= usable
                break
        if paced:
            self._release_at = bucket.ready_at(min(quantum, total - self._snd_nxt), now)
        if self._timer is None and not (paced and self._snd_una == self._snd_nxt):
            self._timer = now + self._rto.rto  # retransmission, or persist when the window is shut
        return out

    def _probe(self) -> EnergyTcp:
        """A window probe: an ACK without records; the receiver answers with its window and RCPTs."""
        seq = seq_add(self._data_start, self._snd_nxt)
        return EnergyTcp(self.local.port, self.remote.port, seq, self._peer_nxt or 0, c.ETCP_ACK,
                         self._adv_window())  # fmt: skip

    def _sender_timeout(self, now) -> list:
        if self.state == FIN_WAIT:
            if not self._count_retry():
                return self._closed("done")
            self._timer = now + self._rto.rto
            return [self._send(self._fin_segment(), retransmit=True)]
        if self.state != ESTABLISHED:
            return []
        if not self._count_retry():
            rst = self._rst()
            return [self._send(rst), Event("unreachable", self.transfer_id,
                    f"no progress after {self._retries - 1} retransmissions"),
                    *self._closed("timeout")]  # fmt: skip
        self._rtt = None  # Karn: no sample from anything sent before a retransmission
        self._shrink_cwnd()
        self._snd_nxt = self._snd_una  # go-back-N
        self._timer = None
        out = self._pump(now)
        if not out and self._release_at is None:  # the window is shut: probe it
            out.append(self._send(self._probe(), retransmit=True))
        self._timer = now + self._rto.rto
        return out

    def _start_fin(self, now) -> list:
        self.state = FIN_WAIT
        self._retries = 0
        self._timer = now + self._rto.rto
        return [self._send(self._fin_segment())]

    def _fin_segment(self) -> EnergyTcp:
        seq = seq_add(self._data_start, self._total)
        return EnergyTcp(self.local.port, self.remote.port, seq, self._peer_nxt or 0,
                         c.ETCP_FIN | c.ETCP_ACK, self._adv_window())  # fmt: skip

    # ------------------------------------------------------------------ receiving
    def _sender_segment(self, now, seg: EnergyTcp) -> list:
        f = seg.flags
        out: list = []
        if self.state == TIME_WAIT:
            if f & c.ETCP_FIN:
                out.append(self._send(self._final_ack(seg)))
            return out
        if f & c.ETCP_FIN:
            if self.state == FIN_WAIT and seg.ack == seq_add(self._data_start, self._total + 1):
                out.append(self._send(self._final_ack(seg)))
                out += self._closed("done")
                self.state = TIME_WAIT
                self._timer = now + TIME_WAIT_S
            return out
        if self.state != ESTABLISHED or not f & c.ETCP_ACK:
            return out
        idle_before = self._snd_una == self._snd_nxt
        self._peer_window = seg.window
        ack_off = seq_sub(seg.ack, self._data_start)
        if self._snd_una < ack_off <= self._total:
            self._align = max(self._align, ack_off)
        una_before = self._snd_una
        if self._take_receipts(now, seg, out):
            self._grow_cwnd(self._snd_una - una_before)
            self._retries = 0
            self._snd_nxt = max(self._snd_nxt, self._snd_una)
            if self._rtt is not None and self._snd_una >= self._rtt[0]:
                self._rto.sample(now - self._rtt[1])
                self._rtt = None
            self._timer = None  # restarted below for what is still in flight
            self._sigs = {k: v for k, v in self._sigs.items() if k[1] > self._snd_una}
        elif idle_before:
            self._retries = 0  # a window probe was answered: the peer is alive
        if self._snd_una >= self._total:
            return out + self._start_fin(now)
        if self._cancel_at is not None and self._snd_una >= self._cancel_at:
            return out + self._abort_cancelled()
        return out + self._pump(now)  # sends what the (maybe larger) window allows; arms the timer

    def _cancel_sender(self, now) -> list:
        """Stop sending new BEE; what is in flight is still acknowledged (so both ledgers book it),
        then RST reason cancelled. Nothing in flight: the RST at once."""
        if self._snd_una >= self._snd_max:
            return self._abort_cancelled()
        self._cancel_at = self._snd_max  # a flight always ends on a signed range
        return []

    def _abort_cancelled(self) -> list:
        return [
            self._send(self._rst(RejectOption(REJECT_CANCELLED, 0))),
            *self._closed("cancelled"),
        ]

    def _take_receipts(self, now, seg: EnergyTcp, out: list) -> bool:
        ds, total = self._data_start, self._total
        rcpts = []
        for r in seg.records:
            if type(r) is Receipt:
                s, e = seq_sub(r.start_seq, ds), seq_sub(r.end_seq, ds)
                if s < e <= total and self._aligned(s) and self._aligned(e):
                    rcpts.append((s, e, r.signature))
        rcpts.sort()
        advanced = False
        for s, e, rsig in rcpts:
            if s != self._snd_una:
                continue
            msg, ssig = self._signature(s, e)
            if not self._verify(rsig, receipt_message(msg, ssig)):
                continue
            bees = tuple((seq_add(ds, p), bee) for p, bee in self._plan(s, e))
            d = Delivery(self.transfer_id, "debit", seq_add(ds, s), seq_add(ds, e), bees, ssig,
                         bytes(rsig), now)  # fmt: skip
            out.append(Persist(d, seq_add(ds, e)))
            self.stats["deliveries"] += 1
            self.stats["bee_records"] += len(bees)
            self.stats["bee_units"] += e - s
            self._snd_una = e
            advanced = True
        return advanced

    def _final_ack(self, fin: EnergyTcp) -> EnergyTcp:
        seq = seq_add(self._data_start, self._total + 1)
        return EnergyTcp(self.local.port, self.remote.port, seq, seq_add(fin.seq, 1), c.ETCP_ACK,
                         self._adv_window())  # fmt: skip

    def _resume_sender(self, now, info) -> list:
        self._snd_una = self._snd_nxt = self._snd_max = seq_sub(info.next_seq, self._data_start)
        # The receiver's window is unknown until it answers: one record meanwhile (a range of one
        # record never straddles its rcv_verified).
        self._peer_window = self._quantum
        self.state = ESTABLISHED
        if self._snd_una >= self._total:
            return self._start_fin(now)
        out = self._pump(now)
        if not out:
            out.append(self._send(self._probe()))
        return out
