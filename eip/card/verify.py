"""The ledger verifier: recompute every record's chain hash, BEE digest and both signatures.

`verify` checks the records in order against the canonical record bytes and hash chain of
`eip.card.ledger_format`, the BEE rows of each record against its digest and range (the same tiling
rule the store applies when it commits), and the SIG and RCPT against the public keys of this card
(`meta`) and its peers (`peers`). The chain has no secret: what makes a record unforgeable is the two
signatures; the chain makes a reordering, a deletion inside the chain or an edited field visible.
Truncating the tail is only visible against the peer's ledger or a published head hash (`Ledger.head`).
"""

import sqlite3
import struct
from typing import NamedTuple

from eip.card import bills
from eip.card.ledger_format import (
    BAD_QUANTITY,
    BEE_COLUMNS,
    GAP,
    ROLE_DIRECTION,
    ZERO_HASH,
    Identity,
    chain_hash,
    range_fault,
    record_bytes,
)
from eip.etcp import keys
from eip.protocol.model import Bee
from eip.protocol.seq import SEQ_MOD
from eip.protocol.signing import delivery_message, receipt_message, records_digest

_QUANTITY = 3 + Bee._fields.index(
    "quantity"
)  # in a row of transfer_id, direction, seq, BEE columns


class VerifyResult(NamedTuple):
    ok: bool
    records: int  # records verified good (all of them when ok)
    first_bad: int | None  # record_no of the first bad record
    reason: str


def verify(conn: sqlite3.Connection, me: Identity) -> VerifyResult:
    """Check every record of the ledger on `conn` owned by `me`: chain, per-transfer continuity, BEE
    digest, both signatures; and that no BEE row lacks its record."""
    transfers = {
        r[0]: r
        for r in conn.execute(
            "SELECT transfer_id, role, peer_mac, local_port, peer_port, isn FROM transfers"
        )
    }
    peers = {r[0]: bytes(r[1]) for r in conn.execute("SELECT mac, public_key FROM peers")}
    last_end: dict[str, int] = {}
    prev = ZERO_HASH
    good = 0
    records = conn.execute(
        "SELECT record_no, transfer_id, direction, start_seq, end_seq, digest, sender_sig, "
        "receiver_sig, prev_hash, hash, at_s FROM records ORDER BY record_no"
    )
    for rec in records:
        reason = _check_record(conn, me, rec, good + 1, prev, transfers, peers, last_end)
        if reason:
            return VerifyResult(False, good, rec[0], reason)
        prev = bytes(rec[9])
        good += 1
    orphan = conn.execute(
        "SELECT transfer_id, seq, record_no FROM bees "
        "WHERE record_no NOT IN (SELECT record_no FROM records) LIMIT 1"
    ).fetchone()
    if orphan:
        tid, seq, no = orphan
        return VerifyResult(False, good, no, f"BEE {tid} seq {seq} has no record #{no}")
    billed = bills.verify(conn, me.public_key)  # the ISP's service-fee bills (R5.8)
    if not billed.ok:
        return VerifyResult(False, good, None, billed.reason)
    return VerifyResult(True, good, None, "ok")


def _check_record(conn, me, rec, expected_no, prev, transfers, peers, last_end) -> str:
    """Why record rec is bad, or "" if it is good; updates last_end (transfer id -> end_seq)."""
    no, tid, direction, start, end, digest, ssig, rsig, prev_hash, h, at_s = rec
    digest, ssig, rsig = bytes(digest), bytes(ssig), bytes(rsig)
    if no != expected_no:
        return f"record numbers jump from #{expected_no - 1} to #{no} (record deleted)"
    if bytes(prev_hash) != prev:
        return f"broken chain: prev_hash is not the hash of record #{no - 1}"
    try:
        canonical = record_bytes(no, tid, direction, start, end, digest, ssig, rsig, at_s)
    except (KeyError, TypeError, struct.error):
        return "malformed record fields"
    if chain_hash(prev, canonical) != bytes(h):
        return "hash does not match the record's fields (record altered)"
    t = transfers.get(tid)
    if t is None:
        return f"unknown transfer {tid}"
    _, role, peer_mac, local_port, peer_port, isn = t
    if direction != ROLE_DIRECTION[role]:
        return f"direction {direction} does not match the transfer's role {role}"
    if tid in last_end and last_end[tid] != start:
        return f"range [{start}, {end}) does not follow the transfer's previous record"
    last_end[tid] = end
    reason = _check_bees(conn, no, tid, direction, start, end, digest)
    if reason:
        return reason
    peer_key = peers.get(peer_mac)
    if peer_key is None:
        return f"unknown public key for peer {peer_mac}"
    if role == "send":
        ends = (me.mac, peer_mac, local_port, peer_port)
        sender_key, receiver_key = me.public_key, peer_key
    else:
        ends = (peer_mac, me.mac, peer_port, local_port)
        sender_key, receiver_key = peer_key, me.public_key
    try:
        msg = delivery_message(*ends, isn, start, end, digest)
    except (ValueError, struct.error):
        return "malformed transfer fields (MAC, port or ISN)"
    if not keys.verify(sender_key, ssig, msg):
        return "bad sender signature"
    if not keys.verify(receiver_key, rsig, receipt_message(msg, ssig)):
        return "bad receiver signature (receipt)"
    return ""


def _check_bees(conn, no, tid, direction, start, end, digest) -> str:
    """Why the BEE rows of record `no` do not match its digest and range, or "" if they do."""
    rows = conn.execute(
        f"SELECT transfer_id, direction, seq, {BEE_COLUMNS} FROM bees WHERE record_no = ? "
        f"ORDER BY (seq - ?) & {SEQ_MOD - 1}",  # sequence order from start, across a wrap
        (no, start),
    ).fetchall()
    if not rows:
        return "record has no BEE rows (deleted)"
    try:
        computed = records_digest(Bee(*row[3:]) for row in rows)
    except struct.error:
        return "a BEE field is out of range (altered)"
    if computed != digest:
        return "BEE rows do not match the record digest (BEE altered, added or deleted)"
    fault = range_fault(start, end, ((row[2], row[_QUANTITY]) for row in rows))
    checked = rows if fault is None else rows[: fault.index + 1]
    for row in checked:  # a misfiled row before (or at) the first range fault is named first
        if row[0] != tid or row[1] != direction:
            return f"BEE seq {row[2]} is filed under another transfer or direction"
    if fault is None:
        return ""
    if fault.what == GAP:
        return f"BEE rows are not contiguous at seq {fault.reached} (missing or moved BEE)"
    if fault.what == BAD_QUANTITY:
        return f"BEE seq {fault.seq} has a bad quantity {fault.quantity!r}"
    return f"BEE rows cover [{start}, {fault.reached}), not the record's [{start}, {end})"
