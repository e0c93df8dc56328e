"""The receiver half of an Energy-TCP connection (mixed into eip.etcp.connection.Connection).

BEEs are held by offset in `_buf` (out of order too, bounded by the advertised window; already-credited
ones are kept one window back so a retransmitted range can be re-verified). A SIG whose range starts at
`rcv_verified` and ends within the contiguously received data is checked with the sender's key: valid,
the range is credited (`Persist`, direction "credit") and acknowledged with a RCPT *after* it in the
effect list (the daemon commits before it sends); invalid, the range is dropped and counted as forged.
The acknowledgment number never passes `rcv_verified`.

Re-acknowledgment: a segment (or window probe) at offset x below `rcv_verified` is answered with the
RCPTs of the credited ranges from x on (those this incarnation signed, or the ledger's records given to
`resume`); a SIG over a range that lies wholly below `rcv_verified` (a retransmission cut differently,
e.g. by a restarted sender) is verified again and answered with a fresh RCPT; nothing is credited twice.
"""

from bisect import bisect_right

from eip.etcp.base import (
    DONE_LINGER_S,
    ESTABLISHED,
    LAST_ACK,
    MAX_FORGED,
    MAX_RCPTS_PER_ACK,
    REJECT_UNAUTHORIZED,
)
from eip.etcp.model import Delivery, Event, Persist
from eip.protocol import constants as c
from eip.protocol.model import Bee, EnergyTcp, Receipt, RejectOption, Signature
from eip.protocol.seq import SEQ_MOD, seq_add
from eip.protocol.signing import delivery_message, receipt_message, records_digest

_MAX_PENDING = 256


class ReceiverHalf:
    def _init_receiver(self) -> None:
        self._rcv_verified = 0
        self._contig = 0  # every unit in [rcv_verified, contig) is in _buf
        self._buf: dict[int, Bee] = {}
        self._pending: dict[
            int, dict[int, bytes]
        ] = {}  # SIGs not yet checkable: start -> end -> sig
        self._rcpts: dict[
            int, tuple[int, bytes, bytes]
        ] = {}  # start -> (end, sender sig, rcpt sig)
        self._rcpt_starts: list[int] = []
        self._fresh: dict[tuple[int, int], bytes] = {}
        self._keep = 0
        self._pruned_at = 0
        self._fin_rcvd = False
        self._forged = 0

    def _setup_receiver(self, sender_isn: int, total: int) -> None:
        self._sender_isn = sender_isn % SEQ_MOD
        self._data_start = seq_add(sender_isn, 1)
        self._total = total

    # ------------------------------------------------------------------ segments out
    def _rcv_ack(self) -> int:
        return seq_add(self._data_start, self._rcv_verified + self._fin_rcvd)

    def _ack_segment(self, rcpts) -> EnergyTcp:
        adv = self._adv_window()
        self._keep = max(self._keep, adv)
        return EnergyTcp(self.local.port, self.remote.port, self._ctl_seq, self._rcv_ack(),
                         c.ETCP_ACK, adv, 0, (), tuple(rcpts))  # fmt: skip

    def _acks(self, rcpts: list) -> list:
        if not rcpts:
            return [self._send(self._ack_segment(()))]
        rcpts.sort(key=lambda r: (r.start_seq - self._data_start) % SEQ_MOD)
        return [self._send(self._ack_segment(rcpts[i : i + MAX_RCPTS_PER_ACK]))
                for i in range(0, len(rcpts), MAX_RCPTS_PER_ACK)]  # fmt: skip

    def _fin_ack_segment(self) -> EnergyTcp:
        return EnergyTcp(self.local.port, self.remote.port, self._ctl_seq, self._rcv_ack(),
                         c.ETCP_FIN | c.ETCP_ACK, self._adv_window())  # fmt: skip

    def _chain_from(self, off: int) -> list:
        """The RCPTs of the credited ranges from offset `off` on, at most one ACK's worth."""
        starts, out, ds = self._rcpt_starts, [], self._data_start
        i = max(0, bisect_right(starts, off) - 1)
        while i < len(starts) and len(out) < MAX_RCPTS_PER_ACK:
            s = starts[i]
            e, _ssig, rsig = self._rcpts[s]
            if e > off:
                out.append(Receipt(0, seq_add(ds, s), seq_add(ds, e), rsig))
            i += 1
        return out

    # ------------------------------------------------------------------ segments in
    def _receiver_segment(self, now, seg: EnergyTcp) -> list:
        f = seg.flags
        if self.state == LAST_ACK:
            if f & c.ETCP_FIN:
                return [self._send(self._fin_ack_segment(), retransmit=True)]
            if f & c.ETCP_ACK and seg.ack == seq_add(self._ctl_seq, 1):
                return self._closed("done")
            return []
        if self.state != ESTABLISHED:
            return []
        off = (seg.seq - self._data_start) % SEQ_MOD
        if f & c.ETCP_FIN:
            if off == self._total and self._rcv_verified == self._total:
                self._fin_rcvd = True
                self.state = LAST_ACK
                self._retries = 0
                self._timer = now + self._rto.rto
                return [self._send(self._fin_ack_segment())]
            return self._acks(self._chain_from(min(off, self._rcv_verified)))
        if off > self._total:
            return []  # not of this transfer's sequence space
        if self._rcv_verified >= self._total:
            self._timer = now + DONE_LINGER_S
        if not seg.records:  # a window probe (or the handshake's ACK): answer it
            return self._acks(self._chain_from(off))
        return self._receive_data(now, seg, off)

    def _receive_data(self, now, seg: EnergyTcp, off: int) -> list:
        V, total, buf = self._rcv_verified, self._total, self._buf
        hi = V + self._adv_window()
        low = V - max(self._keep, self._adv_window())
        pos, new, beyond, sigs = off, False, False, []
        for r in seg.records:
            kind = type(r)
            if kind is Bee:
                q = r.quantity
                if q < 1 or pos + q > total:
                    return []  # breaks the plan's bounds: discard the whole segment
                if pos >= V:
                    if pos + q > hi:
                        beyond = True  # past our window: dropped, and the sender told our window
                    elif pos not in buf:
                        buf[pos] = r
                        new = True
                elif pos >= low:
                    buf.setdefault(pos, r)
                pos += q
            elif kind is Signature:
                sigs.append(r)
        rcpts: list = []
        need_ack = off < V or beyond
        if not new:
            self.stats["duplicates"] += 1
        if need_ack:
            rcpts += self._chain_from(off)
        ds = self._data_start
        for sg in sigs:
            s, e = (sg.start_seq - ds) % SEQ_MOD, (sg.end_seq - ds) % SEQ_MOD
            if not s < e <= total:
                continue
            if s >= V:
                ends = self._pending.get(s)
                if s < hi and (ends is not None or len(self._pending) < _MAX_PENDING):
                    self._pending.setdefault(s, {})[e] = bytes(sg.signature)
            elif e <= V:
                fresh = self._fresh_receipt(s, e, bytes(sg.signature))
                if fresh is not None:
                    rcpts.append(fresh)
            else:
                need_ack = True  # straddles rcv_verified: tell the sender where it stands
        out: list = []
        credited = self._advance(now, out, rcpts)
        if self.state != ESTABLISHED:
            return out  # reset after forged ranges
        if credited or need_ack or rcpts:
            seen, uniq = set(), []
            for r in rcpts:
                if (r.start_seq, r.end_seq) not in seen:
                    seen.add((r.start_seq, r.end_seq))
                    uniq.append(r)
            out += self._acks(uniq)
        return out

    def _range(self, s: int, e: int):
        """The buffered BEEs of [s, e): a list, None if one is missing, False if they do not tile it."""
        bees, pos, buf = [], s, self._buf
        while pos < e:
            bee = buf.get(pos)
            if bee is None:
                return None
            bees.append((pos, bee))
            pos += bee.quantity
        return bees if pos == e else False

    def _delivery_msg_rx(self, s: int, e: int, bees) -> bytes:
        ds = self._data_start
        return delivery_message(
            self.remote.mac, self.local.mac, self.remote.port, self.local.port, self._sender_isn,
            seq_add(ds, s), seq_add(ds, e), records_digest(b for _p, b in bees),
        )  # fmt: skip

    def _fresh_receipt(self, s: int, e: int, ssig: bytes) -> Receipt | None:
        ds = self._data_start
        known = self._rcpts.get(s)
        if known is not None and known[0] == e:
            return Receipt(0, seq_add(ds, s), seq_add(ds, e), known[2])
        rsig = self._fresh.get((s, e))
        if rsig is None:
            bees = self._range(s, e)
            if not bees:
                return None
            msg = self._delivery_msg_rx(s, e, bees)
            if not self._verify(ssig, msg):
                return None
            rsig = self._fresh[(s, e)] = self.sign(receipt_message(msg, ssig))
        return Receipt(0, seq_add(ds, s), seq_add(ds, e), rsig)

    def _advance(self, now, out: list, rcpts: list) -> bool:
        """Credit every SIG'd range that has become checkable, in order; False if none."""
        buf, ds, credited = self._buf, self._data_start, False
        while True:
            V = self._rcv_verified
            ends = self._pending.get(V)
            if not ends:
                break
            contig = max(self._contig, V)
            while contig in buf:
                contig += buf[contig].quantity
            self._contig = contig
            fits = [e for e in ends if e <= contig]
            if not fits:
                break
            e = max(fits)
            ssig = ends.pop(e)
            bees = self._range(V, e)
            msg = self._delivery_msg_rx(V, e, bees) if bees else None
            if msg is None or not self._verify(ssig, msg):
                self._forged_range(V, e, out)
                if self.state != ESTABLISHED:
                    return credited
                continue
            rsig = self.sign(receipt_message(msg, ssig))
            seq_bees = tuple((seq_add(ds, p), bee) for p, bee in bees)
            d = Delivery(self.transfer_id, "credit", seq_add(ds, V), seq_add(ds, e), seq_bees,
                         ssig, rsig, now)  # fmt: skip
            out.append(Persist(d, seq_add(ds, e)))
            if not self._quantum:  # an Offer: the template is learnt from the sender's BEEs
                self._template, self._quantum = bees[0][1], bees[0][1].quantity
            self._rcpts[V] = (e, ssig, rsig)
            self._rcpt_starts.append(V)
            rcpts.append(Receipt(0, seq_add(ds, V), seq_add(ds, e), rsig))
            self.stats["deliveries"] += 1
            self.stats["bee_records"] += len(bees)
            self.stats["bee_units"] += e - V
            self._rcv_verified = e
            credited = True
        if credited:
            V = self._rcv_verified
            self._pending = {s: ends for s, ends in self._pending.items() if s >= V and ends}
            keep = max(self._keep, self._adv_window())
            if V - self._pruned_at >= keep:
                self._buf = {p: bee for p, bee in self._buf.items() if p >= V - keep}
                self._pruned_at = V
            if self._total <= V:
                self._timer = now + DONE_LINGER_S
        return credited

    def _forged_range(self, s: int, e: int, out: list) -> None:
        pos = s
        while pos < e and pos in self._buf:
            pos += self._buf.pop(pos).quantity
        self._contig = s
        self._forged += 1
        self.stats["forged"] += 1
        ds = self._data_start
        out.append(Event("forged", self.transfer_id, f"[{seq_add(ds, s)}, {seq_add(ds, e)})"))
        if self._forged >= MAX_FORGED:
            out.append(self._send(self._rst(RejectOption(REJECT_UNAUTHORIZED, 0))))
            out += self._closed("forged")

    def _receiver_timeout(self, now) -> list:
        if self.state == LAST_ACK:
            if not self._count_retry():
                return self._closed("done")
            self._timer = now + self._rto.rto
            return [self._send(self._fin_ack_segment(), retransmit=True)]
        if self.state == ESTABLISHED and self._rcv_verified >= self._total:
            return self._closed("done")  # every BEE credited, the FIN never came
        return []

    def _resume_receiver(self, now, info, receipts) -> list:
        ds = self._data_start
        self._rcv_verified = self._contig = self._pruned_at = (info.next_seq - ds) % SEQ_MOD
        for start_seq, end_seq, ssig, rsig in receipts:
            s, e = (start_seq - ds) % SEQ_MOD, (end_seq - ds) % SEQ_MOD
            if s < e <= self._rcv_verified:
                self._rcpts[s] = (e, bytes(ssig), bytes(rsig))
        self._rcpt_starts = sorted(self._rcpts)
        self.state = ESTABLISHED
        if self._rcv_verified >= self._total:
            self._timer = now + DONE_LINGER_S
        last = self._chain_from(self._rcv_verified - 1)[:1] if self._rcv_verified else []
        return [self._send(self._ack_segment(last))]
