"""The controller's side of the Energy ISP: each period's metered BEE in, the next limits and windows out.

The ISP (eip.isp.isp.EnergyIsp or alike) has `period_boundary(period, exported, imported, elapsed_s)`,
`limit_table()`, `dynamic_windows(exported, elapsed_s)` and `status()`. A failing ISP is counted and
logged and the limits in force stay. No OpenFlow here: the controller turns what comes back into
meter-modifies and window updates.
"""

import logging

from eip.protocol.model import FeeNotice, PriceNotice
from eip.sdn.limits import LimitTable
from eip.sdn.usage import CardState, metered_export_bee

log = logging.getLogger(__name__)

DYNAMIC_CHANGE = 0.10  # a dynamic window is re-sent when it moves by more than 10 %
I32 = (-(2**31), 2**31 - 1)  # the price fields (R5.7)


class IspLink:
    def __init__(self, isp, burst_s: float):
        self.isp, self.burst_s = isp, burst_s
        self.errors = 0
        self.period_t0: float | None = None  # when the period in force started (controller clock)
        self.prices: tuple[int, dict] | None = None  # (period, {mac: (buy, sell) CNY/kWh})

    def exported_bee(self, cards: dict[str, CardState], quantum_bee: int, elapsed_s: float) -> dict:
        return {
            mac: metered_export_bee(st, elapsed_s, self.burst_s, quantum_bee)
            for mac, st in cards.items()
        }

    def boundary(self, period: int, cards: dict[str, CardState], quantum_bee: int, now: float):
        """Give the ISP the last period's metering; its LimitTable for `period`, or None to keep the old."""
        last = getattr(self.isp, "last", None)
        if last is not None and last.period == period:
            return None  # already computed (e.g. period 0, before the controller started)
        elapsed = 0.0 if self.period_t0 is None else max(0.0, now - self.period_t0)
        exported = self.exported_bee(cards, quantum_bee, elapsed)
        imported = {mac: st.import_packets * quantum_bee for mac, st in cards.items()}
        try:
            self.isp.period_boundary(period, exported, imported, elapsed)
            table: LimitTable = self.isp.limit_table()
        except Exception:
            self.errors += 1
            log.exception("ISP failed at period %d: the limits in force stay", period)
            return None
        return table

    def price_notice(self, mac: str, period: int) -> PriceNotice | None:
        """The ISP's public prices at a card's node for `period` (R5.7), in the BEE price unit at
        1 BEE = 1 Wh; None when the ISP has none (no OPF yet, or no node_prices)."""
        if self.prices is None or self.prices[0] != period:
            try:
                node_prices = getattr(self.isp, "node_prices", None)
                self.prices = (period, dict(node_prices() if node_prices else {}))
            except Exception:
                self.errors += 1
                log.exception("ISP prices failed")
                self.prices = (period, {})
        found = self.prices[1].get(mac.lower())
        if found is None:
            return None
        buy, sell = (min(max(round(p * 1e6), I32[0]), I32[1]) for p in found)
        return PriceNotice(period, buy, sell)

    def fee_notice(self, mac: str, period: int) -> FeeNotice | None:
        """The card's service-fee bill for `period` (R5.8): the usage the ISP shared the period's fees
        by, in BEE, and the card's fee per 1000 BEE of it; None when the card owes nothing (no fees
        computed for the period, a fail-safe period, no usage)."""
        last = getattr(self.isp, "last", None)
        if last is None or last.period != period or not hasattr(last, "bills"):
            return None
        bill = last.bills().get(mac.lower())
        return FeeNotice(period, *bill) if bill else None

    def windows(self, cards: dict[str, CardState], quantum_bee: int, now: float) -> dict:
        """The ISP's dynamic windows ({card: BEE or None}) from this period's usage so far."""
        if self.period_t0 is None:
            return {}
        elapsed = max(0.0, now - self.period_t0)
        try:
            return self.isp.dynamic_windows(self.exported_bee(cards, quantum_bee, elapsed), elapsed)
        except Exception:
            self.errors += 1
            log.exception("ISP dynamic limits failed")
            return {}

    def status(self) -> dict:
        try:
            return self.isp.status() | {"errors": self.errors}
        except Exception:
            log.exception("ISP status failed")
            return {"errors": self.errors}


def window_moved(st: CardState, window_bee: int, period_s: float) -> bool:
    """True when a new window differs by more than DYNAMIC_CHANGE from the one in force (with none in
    force: from the static limit spread evenly over the period, BEE per second)."""
    current = st.window_bee
    if current is None:
        current = st.export_bee / period_s
    return abs(int(window_bee) - current) > DYNAMIC_CHANGE * max(current, 1)
