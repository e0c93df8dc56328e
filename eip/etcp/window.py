"""The Energy-TCP send limits: BEE in flight under the windows (R6.5) and BEE per second under pacing.

Two limits, two units. The peer's window (R6.5) is BEE units in flight. The sender's power and the ISP's
window update (R6.10) are rates, BEE per second of the clock the connection is given: a `TokenBucket`
releases a data segment when it holds the segment's BEE. An aggregate WUP is split over a card's
sending connections by `fair_shares`. The sender (eip/etcp/send.py) uses these functions, so the code
that runs is the code the R6.5 and R6.10 conformance tests check. No clock here: `now` is given.
"""

from collections.abc import Hashable, Iterable

from eip.protocol.seq import seq_sub

PACE_BURST_S = 0.05  # a paced sender may catch up this much of its rate after a late wake-up
_EPS = 1e-9


def in_flight(snd_una: int, snd_nxt: int) -> int:
    """Unacknowledged BEE units between the oldest unacknowledged and the next sequence number."""
    return seq_sub(snd_nxt, snd_una)


def window_limit(peer_window: int) -> int:
    """The dynamic limit on BEE units in flight: the peer's window (the ISP's WUP is a rate, not this)."""
    return peer_window


def usable_window(
    snd_una: int,
    snd_nxt: int,
    peer_window: int,
    cwnd_units: int | None = None,
) -> int:
    """BEE units that may still be sent: the peer's window less what is in flight, >= 0.

    `cwnd_units`, if given, caps the limit further (the sender's congestion window).
    """
    limit = window_limit(peer_window)
    if cwnd_units is not None and cwnd_units < limit:
        limit = cwnd_units
    return max(0, limit - in_flight(snd_una, snd_nxt))


def records_that_fit(quantities: Iterable[int], usable: int) -> int:
    """How many leading records (by BEE quantity) fit whole in `usable` units: a BEE is never split."""
    count = 0
    for quantity in quantities:
        if quantity > usable:
            break
        usable -= quantity
        count += 1
    return count


def pace_rate(*rates_bee_per_s: float | None) -> float | None:
    """The binding rate: the smallest of the given rates (None: that one sets no limit), or None."""
    given = [r for r in rates_bee_per_s if r is not None]
    return min(given) if given else None


def fair_shares(total_bee_per_s: float, caps: dict[Hashable, float | None]) -> dict:
    """Max-min fair split of an aggregate rate over connections with their own caps (None: uncapped).

    A connection capped below the fair share gets its cap, the rest is shared by the others, so the
    shares never sum to more than `total_bee_per_s`.
    """
    shares: dict = {}
    left = dict(caps)
    remaining = max(0.0, float(total_bee_per_s))
    while left:
        fair = remaining / len(left)
        capped = {k: v for k, v in left.items() if v is not None and v <= fair}
        if not capped:
            shares.update(dict.fromkeys(left, fair))
            break
        for k, v in capped.items():
            shares[k] = float(v)
            remaining -= v
            del left[k]
    return shares


class TokenBucket:
    """BEE tokens that refill at `rate_bee_per_s` up to a depth of max(one segment, PACE_BURST_S of rate).

    It starts with one segment's worth, so a transfer starts at once but never with a burst.
    """

    __slots__ = ("at_s", "depth_bee", "rate_bee_per_s", "segment_bee", "tokens")

    def __init__(self, rate_bee_per_s: float, now: float, segment_bee: int):
        self.rate_bee_per_s = 0.0
        self.segment_bee = segment_bee
        self.depth_bee = float(segment_bee)
        self.tokens = float(segment_bee)
        self.at_s = now
        self.set_rate(rate_bee_per_s, now)

    def set_rate(self, rate_bee_per_s: float, now: float) -> None:
        """A new rate from `now` on (what was earned at the old rate up to `now` is kept)."""
        if rate_bee_per_s < 0:
            raise ValueError(f"a rate must be >= 0, got {rate_bee_per_s}")
        self.refill(now)
        self.rate_bee_per_s = float(rate_bee_per_s)
        self.depth_bee = max(float(self.segment_bee), self.rate_bee_per_s * PACE_BURST_S)
        self.tokens = min(self.tokens, self.depth_bee)

    def refill(self, now: float) -> float:
        """Tokens available at `now`."""
        if now > self.at_s:
            self.tokens = min(self.depth_bee, self.tokens + (now - self.at_s) * self.rate_bee_per_s)
            self.at_s = now
        return self.tokens

    def fits(self, bee: float) -> bool:
        return bee <= self.tokens + _EPS

    def take(self, bee: float) -> None:
        self.tokens = max(0.0, self.tokens - bee)

    def ready_at(self, bee: float, now: float) -> float | None:
        """When `bee` tokens will be there (`now` if they are), or None at rate 0."""
        self.refill(now)
        if self.fits(bee):
            return now
        if self.rate_bee_per_s <= 0:
            return None
        return now + (bee - self.tokens) / self.rate_bee_per_s
