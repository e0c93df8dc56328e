"""The card's side of the BEE pool: place orders, retransmit until answered, take fills (plain logic).

Pool exchanges are single-segment transactions on port 2 (eip/apps/pool_service.py): the card sends a
PoolOrder record, the pool's answer acknowledges it with fills; unsolicited fills (a resting order
matched later) are acknowledged with a pure ACK. Each fill is taken once.
"""

import random

from eip.protocol import constants as c
from eip.protocol.model import EnergyTcp, PoolFill, PoolOrder
from eip.protocol.seq import seq_add

RETRY_S = 0.5
MAX_TRIES = 8
ACTION_CANCEL = 2  # PoolOrder.action (1 place, 2 cancel, 3 query)
FINAL_STATES = ("filled", "cancelled", "rejected", "no-answer")
SIDE_CODE = {name: code for code, name in c.ORDER_SIDES.items()}  # "send" -> 1, "ask" -> 2


class PoolClient:
    def __init__(self, port: int, window_bee: int):
        self.port = port
        self.window = window_bee
        self.seq = random.getrandbits(31)
        self.next_id = random.getrandbits(20) + 1
        self.orders: dict[int, dict] = {}
        self.pending: dict[
            tuple[str, int], list
        ] = {}  # (pool ip, expected ack) -> [seg, due, tries, id]
        self.seen: set[tuple[str, int]] = set()

    def place(self, now: float, pool_ip: str, side: int, quantity: int, price: int, bee_type: int,
              start_s: int, end_s: int, min_green_bp: int = 0) -> tuple[int, EnergyTcp]:  # fmt: skip
        """A new order; returns its id and the segment to send to the pool."""
        order_id = self.next_id
        self.next_id += 1
        rec = PoolOrder(
            0, order_id, side, bee_type, 1, quantity, price, start_s, end_s, min_green_bp
        )
        seg = EnergyTcp(self.port, c.PORT_BEE_POOL, self.seq, 0, c.ETCP_ACK | c.ETCP_PSH,
                        self.window, records=(rec,))  # fmt: skip
        self.seq = seq_add(self.seq, 1)
        self.orders[order_id] = {
            "order_id": order_id, "pool": pool_ip, "side": c.ORDER_SIDES[side],
            "bee_type": bee_type, "quantity": quantity, "price_micro_per_kbee": price,
            "start_s": start_s, "end_s": end_s, "filled": 0, "fills": [], "state": "sent",
        }  # fmt: skip
        self.pending[(pool_ip, self.seq)] = [seg, now + RETRY_S, 1, order_id]
        return order_id, seg

    def cancel(self, now: float, order_id: int) -> tuple[str, EnergyTcp] | None:
        """Withdraw what is left of an order of ours from its pool: (pool ip, segment), or None when
        the order is unknown or already over (filled, cancelled, refused, unanswered)."""
        order = self.orders.get(order_id)
        if order is None or order["state"] in FINAL_STATES:
            return None
        rec = PoolOrder(0, order_id, SIDE_CODE[order["side"]], order["bee_type"], ACTION_CANCEL, 0, 0,
                        order["start_s"], order["end_s"])  # fmt: skip
        seg = EnergyTcp(self.port, c.PORT_BEE_POOL, self.seq, 0, c.ETCP_ACK | c.ETCP_PSH,
                        self.window, records=(rec,))  # fmt: skip
        self.seq = seq_add(self.seq, 1)
        self.pending[(order["pool"], self.seq)] = [seg, now + RETRY_S, 1, order_id]
        return order["pool"], seg

    def on_segment(self, src_ip: str, seg: EnergyTcp) -> tuple[list, list, list]:
        """(segments to send back, new fills [(order_id, fill)], answered order ids)."""
        replies, fills, answered = [], [], []
        entry = self.pending.pop((src_ip, seg.ack), None)
        if entry is not None:
            answered.append(entry[3])
            if self.orders[entry[3]]["state"] == "sent":
                self.orders[entry[3]]["state"] = "answered"
        elif seg.records:  # an unsolicited fill: acknowledge it
            ack = seq_add(seg.seq, len(seg.records))
            replies.append(EnergyTcp(self.port, c.PORT_BEE_POOL, self.seq, ack, c.ETCP_ACK,
                                     self.window))  # fmt: skip
        if (src_ip, seg.seq) in self.seen:
            return replies, [], answered
        self.seen.add((src_ip, seg.seq))
        for rec in seg.records:
            if type(rec) is PoolFill and rec.order_id in self.orders:
                order = self.orders[rec.order_id]
                order["fills"].append({k: v for k, v in rec._asdict().items() if k != "flags"})
                if rec.status in (1, 2):
                    order["filled"] += rec.quantity
                    order["state"] = "filled" if rec.status == 2 else "partial"
                    fills.append((rec.order_id, rec))
                elif rec.status == 5 and order["state"] in ("sent", "answered"):
                    order["state"] = "resting"
                elif rec.status in (3, 4) and order["state"] != "filled":
                    # a cancel that crossed the last fill is refused: the order stays filled
                    order["state"] = c.FILL_STATUSES[rec.status]
        return replies, fills, answered

    @property
    def next_deadline(self) -> float | None:
        return min((e[1] for e in self.pending.values()), default=None)

    def on_timer(self, now: float) -> tuple[list, list]:
        """(segments to resend [(pool ip, seg)], order ids given up)."""
        resend, failed = [], []
        for key, entry in list(self.pending.items()):
            if entry[1] > now:
                continue
            if entry[2] >= MAX_TRIES:
                del self.pending[key]
                self.orders[entry[3]]["state"] = "no-answer"
                failed.append(entry[3])
            else:
                entry[1], entry[2] = now + RETRY_S * 2 ** entry[2], entry[2] + 1
                resend.append((key[0], entry[0]))
        return resend, failed
