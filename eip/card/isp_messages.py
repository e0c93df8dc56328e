"""The card's side of the Energy ISP's control messages (plain logic, mixed into `CardNode`).

Static-limit notices set the period, node and limits (R5.3); price notices are the behaviour's price
signal (R5.7); service-fee bills are booked in the ledger as signed entries, once per ISP and period
(R5.8); limit-exceeded and unreachable become events of the transfer they quote (R5.4). ISP messages
from anyone but the ISP are ignored (R4.4).
"""

import logging

from eip.protocol import constants as c
from eip.protocol.messages import quoted_ports
from eip.protocol.model import (
    FeeNotice,
    LimitExceeded,
    Packet,
    PriceNotice,
    StaticLimitNotice,
    Unreachable,
)

log = logging.getLogger(__name__)

ISP_ONLY = (StaticLimitNotice, PriceNotice, FeeNotice)


class IspMessages:
    """The control-message half of `CardNode`: each handler returns the node's actions."""

    def on_isp_control(self, pkt: Packet, p, now: float) -> list:
        """One Energy-IP control message addressed to this card."""
        if type(p) in ISP_ONLY and not self.from_isp(pkt):
            self.stats["ignored"] += 1
            return []
        if type(p) is StaticLimitNotice:
            self.notice, self.period = p, p.period
            self.node_id = pkt.eip.node_id or self.node_id
            self._event("static-limit", "", f"period {p.period} export {p.export_limit} "
                        f"import {p.import_limit}")  # fmt: skip
            return self.agent.on_notice(p.period, now) if self.agent else []
        if type(p) is PriceNotice:
            self.price = p
            self._event("price", "", f"period {p.period} buy {p.buy_price_micro_per_kbee} "
                        f"sell {p.sell_price_micro_per_kbee}")  # fmt: skip
            return self.agent.on_price(p) if self.agent else []
        if type(p) is FeeNotice:
            booked = self.ledger.bill(pkt.src, p.period, p.usage_bee, p.rate_micro_per_kbee,
                                      self.wall(), self.key.sign)  # fmt: skip
            self._event("fee" if booked else "fee-repeated", "", f"period {p.period} usage "
                        f"{p.usage_bee} BEE rate {p.rate_micro_per_kbee}")  # fmt: skip
            return []
        if type(p) in (LimitExceeded, Unreachable):
            self.on_error(p)
        return []

    def from_isp(self, pkt: Packet) -> bool:
        """ISP messages carry the ISP flag and come from the ISP's address (R4.4, R6.10); the
        switches' firewall binds every card to its own address, so a card cannot pose as the ISP."""
        return bool(pkt.eip.flags & c.EIP_FLAG_ISP) and pkt.src == self.isp_ip

    def on_error(self, err) -> None:
        """A limit-exceeded or unreachable message: an event of the transfer it quotes."""
        kind = "limit-exceeded" if type(err) is LimitExceeded else "unreachable"
        detail = (c.LIMIT_EXCEEDED_CODES if kind == "limit-exceeded" else c.UNREACHABLE_CODES).get(
            err.code, str(err.code)
        )
        ports = quoted_ports(err.quoted)
        tid = next((conn.transfer_id for conn in self.by_id.values()
                    if (conn.local.port, conn.remote.port) == ports), "")  # fmt: skip
        self._event(kind, tid, detail)
