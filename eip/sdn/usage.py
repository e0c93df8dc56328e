"""Per-card usage bookkeeping of the controller: a card's quota, what it sent this period, when it is blocked.

Only metered datagrams count (docs/protocol.md R3.3): those carrying BEE, and unmarked ones; a card's
SYN, ACK, pool and control datagrams pass its firewall uncounted.

Plain data and arithmetic, no OpenFlow and no clock: the controller counts flow stats into a
`CardState` and turns the decisions made here into meter and flow messages. The quota bound is in
docs/controller.md.
"""

import math
from dataclasses import dataclass

from eip.net.plan import CardNode, NetworkPlan
from eip.protocol import constants as c
from eip.protocol.model import LimitExceeded, Unreachable

MARGIN_POLLS = 2  # block when used + rate x quantum x MARGIN_POLLS x poll_s >= quota


@dataclass
class CardState:
    card: CardNode
    no: int
    export_bee: int  # quota per period
    import_bee: int
    rate_pktps: int  # meter rate in force
    window_bee: int | None = None  # dynamic limit (WUP) in force, None = static rate
    period_packets: int = 0  # metered (BEE or unmarked, R3.3) and passed the meter this period
    import_packets: int = 0  # metered protocol 253 delivered to it this period (with an ISP only)
    import_total_packets: int = 0  # the same since the controller started
    period_rate_max: int = 0  # the highest meter rate in force this period (for the ISP's metering)
    allowed_packets: int = 0  # counted since the controller started
    blocked: bool = False
    quota_blocks: int = 0
    import_last_packets: int = 0  # imported between the last two polls (the margin's rate)
    import_blocked: bool = False  # its static import limit of the period is used up
    import_blocks: int = 0

    def start_period(self) -> None:
        """A new period: no block, no usage, and the rate in force is the period's highest so far."""
        self.blocked, self.period_packets, self.import_packets = False, 0, 0
        self.import_blocked = False
        self.period_rate_max = self.rate_pktps

    def status(self, quantum_bee: int) -> dict:
        """The card's counters, JSON-serialisable."""
        c = self.card
        return {
            "mac": c.mac, "ip": c.ip, "switch": c.switch, "port": c.port,
            "allowed_packets": self.allowed_packets, "used_bee": self.period_packets * quantum_bee,
            "quota_bee": self.export_bee, "import_bee": self.import_bee,
            "rate_pktps": self.rate_pktps, "window_bee": self.window_bee, "blocked": self.blocked,
            "quota_blocks": self.quota_blocks, "exported_bee": self.allowed_packets * quantum_bee,
            "import_blocked": self.import_blocked, "import_blocks": self.import_blocks,
        }  # fmt: skip


def burst_packets(rate_pktps: int, burst_s: float) -> int:
    """The burst of a pktps meter: what the rate passes in burst_s, at least one packet."""
    return max(1, math.ceil(rate_pktps * burst_s))


def quota_used_up(
    st: CardState, quantum_bee: int, poll_s: float, elapsed_s: float | None, burst_s: float
) -> bool:
    """True when an unblocked card must be blocked: what it used (the counted figure, capped by what
    its meter can have passed in the `elapsed_s` of the period; raw when not known) plus what it can
    send before the next polls (MARGIN_POLLS of them at its rate) reaches its quota."""
    if elapsed_s is None:
        used = st.period_packets * quantum_bee
    else:
        used = metered_export_bee(st, elapsed_s, burst_s, quantum_bee)
    margin = st.rate_pktps * quantum_bee * MARGIN_POLLS * poll_s
    return not st.blocked and used + margin >= st.export_bee


def import_used_up(st: CardState, quantum_bee: int) -> bool:
    """True when a card's imports must be blocked: what it imported this period plus MARGIN_POLLS
    polls at the rate of the last one reaches its static import limit (with an ISP only)."""
    used = (st.import_packets + MARGIN_POLLS * st.import_last_packets) * quantum_bee
    return not st.import_blocked and used >= st.import_bee


def switch_drops(drops: dict, sw: str, kind: int) -> dict:
    """Dropped packets of one kind (spoofed or unregistered) on a switch, port (as text) -> count."""
    return {str(p): n for (s, p, k), n in sorted(drops.items()) if s == sw and k == kind}


def metered_export_bee(st: CardState, elapsed_s: float, burst_s: float, quantum_bee: int) -> int:
    """The card's export this period for the ISP: counted, but no more than its meter can pass.

    OVS userspace credits a datapath flow's packets to every rule it crossed, also when a meter
    dropped them, so the ACCT count of a card sending above its rate is too high. The meter passes
    at most rate x T + burst packets in T seconds, and that caps the figure handed to the ISP and
    the quota check: neither is ever below what really passed.
    """
    rate = max(st.period_rate_max, st.rate_pktps)
    cap = math.ceil(rate * elapsed_s) + burst_packets(rate, burst_s)
    return min(st.period_packets, cap) * quantum_bee


def punt_error(cards: dict, islanded, plan: NetworkPlan, sw: str, in_port: int, dst_mac: str,
               src_mac: str):  # fmt: skip
    """Why a switch punted a packet, as the control message that answers its sender (None: no
    reason known): its own quota used up, its destination's import limit, or an islanded VPP."""
    st = cards.get(src_mac)
    if st is not None and st.blocked and st.card.switch == sw and st.card.port == in_port:
        return LimitExceeded(c.EXCEEDED_QUOTA, st.export_bee)
    dst = cards.get(dst_mac)
    if dst is not None and dst.import_blocked and dst.card.switch == sw:
        return LimitExceeded(c.EXCEEDED_STATIC, dst.import_bee)
    for vpp in sorted(islanded):
        r = plan.router_of(vpp)
        if (r.lan.switch == sw and dst_mac == r.lan.mac.lower()) or (
            r.wan is not None and r.wan.switch == sw and dst_mac == r.wan.mac.lower()
        ):
            return Unreachable(c.UNREACH_ISLANDED)
    return None
