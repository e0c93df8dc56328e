"""Orders and trades of the BEE pool and the double auction, and their wire records.

An `Order` is a send (offer) or ask (bid) of `quantity` BEE of one type, deliverable in the time frame
`[start_s, end_s)`, with a limit price in micro-currency per 1000 BEE (micro-$/kWh for electricity). A
`Trade` is one match between an ask and a send. Both are immutable; the pool and the auction keep the
remaining quantities of resting orders themselves.

On the wire (docs/protocol.md section 7.2-7.3) an order is a `PoolOrder` record and each answer a
`PoolFill`: `Order.from_wire` / `Order.to_wire` and `fills_for` convert between the two.
"""

import re
from typing import NamedTuple

from eip.errors import EipError
from eip.protocol import constants as c
from eip.protocol.model import PoolFill, PoolOrder

SEND = 1  # an offer: the owner delivers energy
ASK = 2  # a bid: the owner takes energy
SIDES = c.ORDER_SIDES  # {1: "send", 2: "ask"}

ACTION_PLACE, ACTION_CANCEL, ACTION_QUERY = 1, 2, 3
FILL_PARTIAL, FILL_COMPLETE, FILL_CANCELLED, FILL_REJECTED, FILL_RESTING = 1, 2, 3, 4, 5

U32 = 0xFFFF_FFFF
I32_MIN, I32_MAX = -(2**31), 2**31 - 1
ZERO_MAC = "00:00:00:00:00:00"
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


class MarketError(EipError, ValueError):
    """An order the pool or auction refuses (invalid field, unknown or duplicate id); names the field."""

    def __init__(self, field: str, reason: str):
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


def _int(name: str, value, low: int, high: int) -> int:
    if type(value) is not int:
        raise MarketError(name, f"must be an int, got {type(value).__name__}")
    if not low <= value <= high:
        raise MarketError(name, f"{value} outside [{low}, {high}]")
    return value


class _OrderFields(NamedTuple):
    order_id: int
    owner: str  # card MAC (lower case) or any non-empty name
    side: int  # SEND or ASK
    bee_type: int  # registry 9.1 (constants.BEE_TYPES)
    quantity: int  # BEE units (Wh for energy), >= 1
    price_micro_per_kbee: int  # limit: lowest a send accepts, highest an ask pays
    start_s: int  # time frame [start_s, end_s), Unix seconds
    end_s: int
    min_green_ratio_bp: int = 0  # asks: the least green ratio accepted (0..10000)
    green_ratio_bp: int = 0  # sends: green ratio of the offered energy (0..10000)
    seq: int = 0  # arrival order; the pool and the auction number the orders they rest


class Order(_OrderFields):
    """A validated send or ask order. Fields as in `PoolOrder`, plus owner, offered green ratio and seq.

    Validation is strict: every number an int in its wire range, quantity >= 1, a time frame of positive
    length (`end_s > start_s`: a zero-length frame can deliver nothing), a known side and BEE type.
    """

    __slots__ = ()

    def __new__(
        cls,
        order_id: int,
        owner: str,
        side: int,
        bee_type: int,
        quantity: int,
        price_micro_per_kbee: int,
        start_s: int,
        end_s: int,
        min_green_ratio_bp: int = 0,
        green_ratio_bp: int = 0,
        seq: int = 0,
    ) -> "Order":
        _int("order_id", order_id, 0, U32)
        if type(owner) is not str or not owner:
            raise MarketError("owner", "must be a non-empty string (card MAC or name)")
        if side not in SIDES or type(side) is not int:
            raise MarketError("side", f"{side!r} is not 1 (send) or 2 (ask)")
        if bee_type not in c.BEE_TYPES or type(bee_type) is not int:
            raise MarketError("bee_type", f"{bee_type!r} is not a registered BEE type")
        _int("quantity", quantity, 1, U32)
        _int("price_micro_per_kbee", price_micro_per_kbee, I32_MIN, I32_MAX)
        _int("start_s", start_s, 0, U32)
        _int("end_s", end_s, 0, U32)
        if end_s <= start_s:
            raise MarketError("end_s", f"time frame [{start_s}, {end_s}) is empty")
        _int("min_green_ratio_bp", min_green_ratio_bp, 0, c.GREEN_RATIO_MAX_BP)
        _int("green_ratio_bp", green_ratio_bp, 0, c.GREEN_RATIO_MAX_BP)
        _int("seq", seq, 0, 2**63 - 1)
        return tuple.__new__(
            cls,
            (
                order_id,
                owner,
                side,
                bee_type,
                quantity,
                price_micro_per_kbee,
                start_s,
                end_s,
                min_green_ratio_bp,
                green_ratio_bp,
                seq,
            ),
        )

    def _replace(self, **changes) -> "Order":
        """A copy with `changes`, validated like a new order."""
        return Order(**{**self._asdict(), **changes})

    def _resting(self, quantity: int, seq: int) -> "Order":
        """This order as it rests in a book: its remaining quantity and arrival number (no validation)."""
        return tuple.__new__(Order, (*self[:4], quantity, *self[5:10], seq))

    @classmethod
    def from_wire(
        cls, rec: PoolOrder, owner: str, *, green_ratio_bp: int = 0, seq: int = 0
    ) -> "Order":
        """The order a `PoolOrder` record places or queries; a cancel record is not an order."""
        if rec.action not in (ACTION_PLACE, ACTION_QUERY):
            raise MarketError("action", f"{rec.action} is not place (1) or query (3)")
        return cls(
            rec.order_id,
            owner,
            rec.side,
            rec.bee_type,
            rec.quantity,
            rec.price_micro_per_kbee,
            rec.start_s,
            rec.end_s,
            rec.min_green_ratio_bp,
            green_ratio_bp,
            seq,
        )

    def to_wire(self, action: int = ACTION_PLACE) -> PoolOrder:
        """The `PoolOrder` record that places (or queries, or cancels) this order."""
        if action not in c.ORDER_ACTIONS:
            raise MarketError("action", f"{action} is not 1, 2 or 3")
        return PoolOrder(
            0,
            self.order_id,
            self.side,
            self.bee_type,
            action,
            self.quantity,
            self.price_micro_per_kbee,
            self.start_s,
            self.end_s,
            self.min_green_ratio_bp,
        )


class Trade(NamedTuple):
    """One match: `quantity` BEE from the seller's send to the buyer's ask at one price.

    The time frame is the overlap of the two orders' frames. `buy_left` and `sell_left` are the two
    orders' remaining quantities after this trade (0: the order is complete).
    """

    buy_order_id: int
    sell_order_id: int
    buyer: str
    seller: str
    quantity: int
    price_micro_per_kbee: int
    start_s: int
    end_s: int
    bee_type: int
    green_ratio_bp: int = 0  # of the energy sold
    buy_left: int = 0
    sell_left: int = 0

    @property
    def value_micro(self) -> int:
        """What the buyer pays the seller, in micro-currency (rounded down)."""
        return self.quantity * self.price_micro_per_kbee // 1000

    def fill_for(self, side: int, peer_ip: str = "0.0.0.0") -> PoolFill:
        """The `PoolFill` telling the buyer (`side=ASK`) or the seller (`SEND`) of this match."""
        if side == ASK:
            order_id, peer, left = self.buy_order_id, self.seller, self.buy_left
        elif side == SEND:
            order_id, peer, left = self.sell_order_id, self.buyer, self.sell_left
        else:
            raise MarketError("side", f"{side!r} is not 1 (send) or 2 (ask)")
        return PoolFill(
            0,
            order_id,
            peer if _MAC.match(peer) else ZERO_MAC,
            FILL_COMPLETE if left == 0 else FILL_PARTIAL,
            peer_ip,
            self.quantity,
            self.price_micro_per_kbee,
            self.start_s,
            self.end_s,
        )


def status_fill(order: Order, status: int, quantity: int) -> PoolFill:
    """A fill with no counterparty: `FILL_RESTING` (quantity left in the book), `FILL_CANCELLED`
    (quantity removed) or `FILL_REJECTED` (quantity 0)."""
    if status not in (FILL_CANCELLED, FILL_REJECTED, FILL_RESTING):
        raise MarketError("status", f"{status} is not cancelled, rejected or resting")
    return PoolFill(
        0,
        order.order_id,
        ZERO_MAC,
        status,
        "0.0.0.0",
        quantity,
        order.price_micro_per_kbee,
        order.start_s,
        order.end_s,
    )


def fills_for(order: Order, trades: list[Trade], peer_ips: dict[str, str] | None = None) -> list:
    """The `PoolFill` records answering a placed `order`: one per trade, then a resting fill if any
    quantity is left in the book. `peer_ips` maps counterparty owners to their Energy IP addresses."""
    ips = peer_ips or {}
    out = []
    left = order.quantity
    for t in trades:
        peer = t.seller if order.side == ASK else t.buyer
        out.append(t.fill_for(order.side, ips.get(peer, "0.0.0.0")))
        left -= t.quantity
    if left > 0:
        out.append(status_fill(order, FILL_RESTING, left))
    return out
