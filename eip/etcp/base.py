"""Shared parts of the Energy-TCP connection: constants, states and the RFC 6298 RTO estimator.

See eip/etcp/connection.py for the state machine itself; sequence arithmetic is eip/protocol/seq.py.
"""

from eip.protocol import constants as c
from eip.protocol.constants import (  # reject reasons by name, for the card and the energy server
    REJECT_BUSY,
    REJECT_CANCELLED,
    REJECT_DEADLINE_INFEASIBLE,
    REJECT_DYNAMIC_LIMIT,
    REJECT_INSUFFICIENT_SUPPLY,
    REJECT_ISLANDED,
    REJECT_MALFORMED,
    REJECT_NO_SERVICE,
    REJECT_OTHER,
    REJECT_STATIC_LIMIT,
    REJECT_UNAUTHORIZED,
)
from eip.protocol.seq import SEQ_MOD, seq_add, seq_sub

__all__ = [  # re-exported with the tunables
    "REJECT_BUSY",
    "REJECT_CANCELLED",
    "REJECT_DEADLINE_INFEASIBLE",
    "REJECT_DYNAMIC_LIMIT",
    "REJECT_INSUFFICIENT_SUPPLY",
    "REJECT_ISLANDED",
    "REJECT_MALFORMED",
    "REJECT_NO_SERVICE",
    "REJECT_OTHER",
    "REJECT_STATIC_LIMIT",
    "REJECT_UNAUTHORIZED",
    "SEQ_MOD",
    "seq_add",
    "seq_sub",
]

DSCP_DEFAULT = c.PRIORITY_CLASSES[1]  # segments of a transfer not opened with its own priority
MAX_BEES_PER_SEGMENT = (
    1  # a fixed BEE quantum per data segment: packet rate is power (docs/card.md)
)
CWND_INITIAL = 32  # segments in flight before the first acknowledgment
CWND_MIN = 1  # after a timeout: one segment (its range signed), as TCP's loss window (RFC 5681)
CWND_MAX = 4096
SIG_EVERY_SEGMENTS = 16  # a delivery record is closed at least every 16 data segments
MAX_RCPTS_PER_ACK = 18  # 18 x 76 bytes fit the 1432-byte payload of an option-less segment
RTO_INITIAL_S = 0.2
RTO_MIN_S = 0.2
RTO_MAX_S = 5.0
CLOCK_GRANULARITY_S = 0.001
MAX_RETRIES = 12  # retransmissions without progress before giving up
MAX_FORGED = 3  # forged delivery records before the receiver resets the transfer
TIME_WAIT_S = 2 * RTO_MAX_S  # the sender re-acknowledges a retransmitted FIN this long
DONE_LINGER_S = 60.0  # a receiver holding every BEE waits this long for the FIN, then closes

# States (names as in TCP).
SYN_SENT = "SYN_SENT"
SYN_RCVD = "SYN_RCVD"
ESTABLISHED = "ESTABLISHED"
FIN_WAIT = "FIN_WAIT"  # sender: FIN sent after the last range was acknowledged
LAST_ACK = "LAST_ACK"  # receiver: FIN received and answered with FIN+ACK
TIME_WAIT = "TIME_WAIT"  # sender: final ACK sent, still answering a retransmitted FIN
CLOSED = "CLOSED"


class Rto:
    """Retransmission timeout per RFC 6298 with Karn's rule (the caller only samples clean segments)."""

    __slots__ = ("rto", "rttvar", "srtt")

    def __init__(self) -> None:
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.rto = RTO_INITIAL_S

    def sample(self, r: float) -> None:
        if self.srtt is None:
            self.srtt, self.rttvar = r, r / 2
        else:
            self.rttvar = 0.75 * self.rttvar + 0.25 * abs(self.srtt - r)
            self.srtt = 0.875 * self.srtt + 0.125 * r
        rto = self.srtt + max(CLOCK_GRANULARITY_S, 4 * self.rttvar)
        self.rto = min(RTO_MAX_S, max(RTO_MIN_S, rto))

    def back_off(self) -> None:
        self.rto = min(RTO_MAX_S, 2 * self.rto)
