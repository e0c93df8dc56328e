"""What `CardNode` (eip/card/node.py) asks its shell to do: the card's actions, applied in order."""

from typing import NamedTuple

__all__ = ["Answer", "Stop", "Transmit"]


class Transmit(NamedTuple):
    """Send `data` (an encoded IPv4 payload: Energy-IP and its transport) to `dst_ip` with `dscp`."""

    dst_ip: str
    data: bytes
    dscp: int


class Answer(NamedTuple):
    """Answer the control client `client` (the handle given to `on_control`), then close it."""

    client: object
    ok: bool
    payload: object


class Stop(NamedTuple):
    """Stop the card, after the actions before this one."""
