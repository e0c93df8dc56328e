"""The messages that SIG and RCPT records sign (docs/protocol.md section 7.4), and Ed25519 over them.

Both sides build the same bytes from the transfer's identity and the BEE records of the range, so a
delivery record can be checked by anyone holding the two public keys.
"""

import hashlib
import struct
from collections.abc import Iterable

from eip.protocol import constants as c
from eip.protocol.model import Bee

_BEE = struct.Struct("!BBHBxHI5iIiII")
_IDENT = struct.Struct("!6s6sHHIII")


def bee_record_bytes(bee: Bee) -> bytes:
    """The 48 wire bytes of one BEE record (kind 1), as the codec encodes it."""
    return _BEE.pack(c.REC_BEE, bee.flags, c.RECORD_LENGTHS[c.REC_BEE], *bee[1:])


def records_digest(bees: Iterable[Bee]) -> bytes:
    """SHA-256 over the canonical wire bytes (reserved zero) of the BEE records of a delivery record,
    in sequence order (docs/protocol.md 7.4)."""
    h = hashlib.sha256()
    for bee in bees:
        h.update(bee_record_bytes(bee))
    return h.digest()


def _mac(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def delivery_message(
    sender_mac: str,
    receiver_mac: str,
    sender_port: int,
    receiver_port: int,
    isn: int,
    start_seq: int,
    end_seq: int,
    digest: bytes,
) -> bytes:
    """What the sender signs for the delivery record [start_seq, end_seq) of a transfer."""
    ident = _IDENT.pack(
        _mac(sender_mac), _mac(receiver_mac), sender_port, receiver_port, isn, start_seq, end_seq
    )
    return c.DELIVERY_TAG + ident + digest


def receipt_message(delivery: bytes, sender_signature: bytes) -> bytes:
    """What the receiver signs to acknowledge a delivery record: the delivery and the sender's signature."""
    return c.RECEIPT_TAG + delivery[len(c.DELIVERY_TAG) :] + sender_signature
