"""The Energy-TCP send window: how many BEE units may go out now under the dynamic limits (R6.5).

The sender (eip/etcp/send.py) computes its window with these functions, so the code that runs is the
code the R6.5 conformance test checks.
"""

from collections.abc import Iterable

from eip.protocol.seq import seq_sub


def in_flight(snd_una: int, snd_nxt: int) -> int:
    """Unacknowledged BEE units between the oldest unacknowledged and the next sequence number."""
    return seq_sub(snd_nxt, snd_una)


def window_limit(peer_window: int, isp_window: int | None = None) -> int:
    """The dynamic limit on BEE units in flight: the peer's window, capped by the ISP's (WUP)."""
    return peer_window if isp_window is None else min(peer_window, isp_window)


def usable_window(
    snd_una: int,
    snd_nxt: int,
    peer_window: int,
    isp_window: int | None = None,
    cwnd_units: int | None = None,
) -> int:
    """BEE units that may still be sent: min(peer window, ISP window) less what is in flight, >= 0.

    `cwnd_units`, if given, caps the limit further (the sender's congestion window).
    """
    limit = window_limit(peer_window, isp_window)
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
