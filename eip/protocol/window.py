"""The Energy-TCP send window: how many BEE units may go out now under the dynamic limits (R6.5)."""

from collections.abc import Iterable

SEQ_MOD = 1 << 32


def in_flight(snd_una: int, snd_nxt: int) -> int:
    """Unacknowledged BEE units between the oldest unacknowledged and the next sequence number."""
    return (snd_nxt - snd_una) % SEQ_MOD


def usable_window(
    snd_una: int, snd_nxt: int, peer_window: int, isp_window: int | None = None
) -> int:
    """BEE units that may still be sent: min(peer window, ISP window) less what is in flight, >= 0."""
    limit = peer_window if isp_window is None else min(peer_window, isp_window)
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
