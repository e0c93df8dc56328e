"""Old import path of the Energy-TCP values: moved to eip/etcp/model.py (kept for modules not yet switched)."""

from eip.etcp.model import (
    Closed,
    Delivery,
    Endpoint,
    Event,
    Opened,
    Persist,
    Send,
    TransferInfo,
    transfer_id,
)

__all__ = ["Closed", "Delivery", "Endpoint", "Event", "Opened", "Persist", "Send", "TransferInfo",
           "transfer_id"]  # fmt: skip
