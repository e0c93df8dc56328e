"""Shared parts of the Energy-TCP connection: constants, the RFC 6298 RTO estimator, sequence helpers.

See eip/card/etcp.py for the state machine itself.
"""

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SEQ_MOD = 1 << 32
MAX_BEES_PER_SEGMENT = (
    1  # a fixed BEE quantum per data segment: packet rate is power (docs/card.md)
)
CWND_INITIAL = 32  # segments in flight before the first acknowledgment
CWND_MIN = 16  # after a timeout
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


def seq_add(seq: int, n: int) -> int:
    return (seq + n) % SEQ_MOD


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


class Verifier:
    """Ed25519 verification with one peer's public key; an unknown or malformed key verifies nothing."""

    __slots__ = ("_pub",)

    def __init__(self, key: bytes | None) -> None:
        self._pub = None
        if key is not None:
            try:
                self._pub = Ed25519PublicKey.from_public_bytes(bytes(key))
            except ValueError:
                self._pub = None

    def __call__(self, sig: bytes, msg: bytes) -> bool:
        if self._pub is None:
            return False
        try:
            self._pub.verify(bytes(sig), msg)
        except InvalidSignature:
            return False
        return True
