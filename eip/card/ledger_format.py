"""What a card's ledger file holds: its SQLite schema, the canonical record bytes, the hash chain, and the
rule that a delivery's BEEs tile its sequence range.

The store (`eip.card.ledger`), the verifier (`eip.card.verify`) and the profile (`eip.card.profile`)
all read this one definition. The records form a hash chain:

    hash(n) = SHA-256(prev_hash(n) || canonical(n)),  prev_hash(1) = 32 zero bytes,
                                                      prev_hash(n) = hash(n - 1)

where canonical(n), the **canonical record bytes**, are, big-endian and without padding:

    offset  size  field
    0       8     the ASCII tag "EIP-LDG1"
    8       8     record_no, u64 (1, 2, 3, ...; no gaps)
    16      2     L = length of the transfer id in UTF-8 bytes, u16
    18      L     the transfer id, UTF-8
    18+L    1     direction: 1 debit (this card sent), 2 credit (this card received)
    19+L    4     start_seq, u32
    23+L    4     end_seq, u32 (the range is [start_seq, end_seq) modulo 2^32, < 2^31 units)
    27+L    32    digest: records_digest of the range's BEE records, in sequence order
    59+L    64    sender_sig: the sender's Ed25519 signature of the delivery message
    123+L   64    receiver_sig: the receiver's Ed25519 signature of the receipt message
    187+L   8     at_s: commit time, IEEE 754 binary64
"""

import hashlib
import struct
from collections.abc import Iterable
from typing import NamedTuple

from eip.errors import EipError
from eip.protocol import constants as c
from eip.protocol.seq import SEQ_HALF, seq_add

SCHEMA_VERSION = 1
FORMAT = "eip-ledger"
ZERO_HASH = bytes(32)
MAX_RANGE = SEQ_HALF  # a delivery record spans fewer units, so sequence arithmetic is unambiguous
RECORD_TAG = b"EIP-LDG1"
DIRECTIONS = {"debit": 1, "credit": 2}
ROLE_DIRECTION = {"send": "debit", "receive": "credit"}
ENERGY_BEE_TYPES = (c.BEE_ELECTRICITY, c.BEE_HEAT, c.BEE_GAS)

_RECORD_HEAD = struct.Struct("!8sQH")
_RECORD_TAIL = struct.Struct("!BII32s64s64sd")

SCHEMA = (
    """CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID""",
    """CREATE TABLE peers (
        mac TEXT PRIMARY KEY,
        name TEXT NOT NULL DEFAULT '',
        public_key BLOB NOT NULL CHECK (length(public_key) = 32)
    ) WITHOUT ROWID""",
    """CREATE TABLE transfers (
        transfer_id TEXT PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('send', 'receive')),
        peer_mac TEXT NOT NULL,
        peer_ip TEXT NOT NULL,
        local_port INTEGER NOT NULL,
        peer_port INTEGER NOT NULL,
        isn INTEGER NOT NULL,
        template TEXT NOT NULL,
        quantity_total INTEGER NOT NULL,
        quantum INTEGER NOT NULL,
        next_seq INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),
        close_reason TEXT NOT NULL DEFAULT '',
        opened_s REAL NOT NULL,
        closed_s REAL
    ) WITHOUT ROWID""",
    """CREATE INDEX transfers_open ON transfers (state) WHERE state = 'open'""",
    """CREATE TABLE records (
        record_no INTEGER PRIMARY KEY,
        transfer_id TEXT NOT NULL REFERENCES transfers (transfer_id),
        direction TEXT NOT NULL CHECK (direction IN ('debit', 'credit')),
        start_seq INTEGER NOT NULL,
        end_seq INTEGER NOT NULL,
        digest BLOB NOT NULL,
        sender_sig BLOB NOT NULL,
        receiver_sig BLOB NOT NULL,
        prev_hash BLOB NOT NULL,
        hash BLOB NOT NULL,
        at_s REAL NOT NULL,
        UNIQUE (transfer_id, start_seq)
    )""",
    """CREATE TABLE bees (
        transfer_id TEXT NOT NULL REFERENCES transfers (transfer_id),
        seq INTEGER NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('debit', 'credit')),
        bee_type INTEGER NOT NULL,
        quantity INTEGER NOT NULL,
        price_micro_per_kbee INTEGER NOT NULL,
        carbon_mg_per_unit INTEGER NOT NULL,
        green_ratio_bp INTEGER NOT NULL,
        attr1 INTEGER NOT NULL,
        attr2 INTEGER NOT NULL,
        attr3 INTEGER NOT NULL,
        attr4 INTEGER NOT NULL,
        attr5 INTEGER NOT NULL,
        start_s INTEGER NOT NULL,
        end_s INTEGER NOT NULL,
        flags INTEGER NOT NULL,
        record_no INTEGER NOT NULL REFERENCES records (record_no),
        PRIMARY KEY (transfer_id, seq)
    ) WITHOUT ROWID""",
    """CREATE INDEX bees_record ON bees (record_no)""",
)

INSERT_RECORD = """INSERT INTO records (record_no, transfer_id, direction, start_seq, end_seq, digest,
    sender_sig, receiver_sig, prev_hash, hash, at_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
INSERT_BEE = """INSERT INTO bees (transfer_id, seq, direction, flags, bee_type, green_ratio_bp,
    carbon_mg_per_unit, attr1, attr2, attr3, attr4, attr5, quantity, price_micro_per_kbee, start_s,
    end_s, record_no) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# Columns in Bee field order, so a row is Bee(*row).
BEE_COLUMNS = """flags, bee_type, green_ratio_bp, carbon_mg_per_unit, attr1, attr2, attr3, attr4,
    attr5, quantity, price_micro_per_kbee, start_s, end_s"""
TRANSFER_COLUMNS = """transfer_id, role, peer_mac, peer_ip, local_port, peer_port, isn, template,
    quantity_total, quantum, next_seq, state, opened_s, close_reason"""
LAST_RECORD = "SELECT record_no, hash FROM records ORDER BY record_no DESC LIMIT 1"


class LedgerError(EipError):
    """The ledger file is missing, not an eip ledger, too new, or was asked to record something invalid."""


class Identity(NamedTuple):
    """Who owns the ledger: the card (seed 000 section 3: a resource identified by its MAC)."""

    name: str
    kind: str
    mac: str
    public_key: bytes
    vpp: str
    energy_ip: str


def record_bytes(
    record_no: int,
    transfer_id: str,
    direction: str,
    start_seq: int,
    end_seq: int,
    digest: bytes,
    sender_sig: bytes,
    receiver_sig: bytes,
    at_s: float,
) -> bytes:
    """The canonical bytes of a delivery record (module docstring) that the hash chain covers."""
    tid = transfer_id.encode()
    return (
        _RECORD_HEAD.pack(RECORD_TAG, record_no, len(tid))
        + tid
        + _RECORD_TAIL.pack(
            DIRECTIONS[direction], start_seq, end_seq, digest, sender_sig, receiver_sig, at_s
        )
    )


def chain_hash(prev_hash: bytes, canonical: bytes) -> bytes:
    return hashlib.sha256(prev_hash + canonical).digest()


# What `range_fault` found wrong with a delivery's BEEs.
GAP = "gap"  # a BEE does not start where the previous one ended
BAD_QUANTITY = "bad quantity"  # a BEE's quantity is not a whole number >= 1
TOO_LONG = "too long"  # the BEEs hold MAX_RANGE units or more
WRONG_END = "wrong end"  # the BEEs end before or after end_seq


class RangeFault(NamedTuple):
    """Why BEEs do not tile [start, end): what, at which BEE (`index`, `seq`), and where they reached."""

    what: str  # GAP, BAD_QUANTITY, TOO_LONG or WRONG_END
    index: int  # the BEE at fault; len(bees) for TOO_LONG and WRONG_END
    seq: int  # that BEE's seq (GAP, BAD_QUANTITY)
    reached: int  # the seq the BEEs before it reached (modulo 2^32)
    units: int  # the units of the BEEs before it (all of them for TOO_LONG, WRONG_END)
    quantity: object = None  # the bad quantity (BAD_QUANTITY)


def range_fault(start: int, end: int, bees: Iterable[tuple[int, object]]) -> RangeFault | None:
    """None if the (seq, quantity) pairs, in order, tile [start, end) exactly: each BEE starts where
    the previous one ended (modulo 2^32), holds at least one unit, and they end at `end` with fewer
    than MAX_RANGE units in all (a delivery record's range). Else the first fault."""
    s, units, n = start, 0, 0
    for seq, quantity in bees:
        if seq != s:
            return RangeFault(GAP, n, seq, s, units)
        if not isinstance(quantity, int) or quantity < 1:
            return RangeFault(BAD_QUANTITY, n, seq, s, units, quantity)
        s = seq_add(s, quantity)
        units += quantity
        n += 1
    if units >= MAX_RANGE:
        return RangeFault(TOO_LONG, n, s, s, units)
    if s != end:
        return RangeFault(WRONG_END, n, s, s, units)
    return None
