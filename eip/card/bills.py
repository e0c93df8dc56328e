"""The ISP's service-fee bills in a card's ledger (R5.8): one entry per ISP and period, signed by the
card and hash-chained, beside the delivery records of `eip.card.ledger_format`.

A bill says that the ISP at `isp_ip` charged the card `usage_bee x rate_micro_per_kbee / 1000`
micro-currency for `period`. The card signs each entry with its own key (it accepted the bill; the
ISP's message itself is trusted by its source address, R4.4) and chains it:

    hash(n) = SHA-256(prev_hash(n) || canonical(n)),  prev_hash(1) = 32 zero bytes

where canonical(n) is, big-endian and without padding: the ASCII tag "EIP-BIL1" (8), bill_no u64,
the ISP's IPv4 address (4), period u32, usage_bee u32, rate_micro_per_kbee u32, at_s binary64; the
signature is the card's Ed25519 signature of canonical(n). The table is created with the first bill,
so a ledger written before bills existed reads as one with none.
"""

import hashlib
import ipaddress
import sqlite3
import struct
from typing import NamedTuple

from eip.card.ledger_format import ZERO_HASH, LedgerError
from eip.etcp import keys

BILL_TAG = b"EIP-BIL1"
_CANONICAL = struct.Struct("!8sQ4sIIId")
SCHEMA = """CREATE TABLE IF NOT EXISTS bills (
    bill_no INTEGER PRIMARY KEY,
    isp_ip TEXT NOT NULL,
    period INTEGER NOT NULL,
    usage_bee INTEGER NOT NULL,
    rate_micro_per_kbee INTEGER NOT NULL,
    at_s REAL NOT NULL,
    sig BLOB NOT NULL,
    prev_hash BLOB NOT NULL,
    hash BLOB NOT NULL,
    UNIQUE (isp_ip, period)
)"""
_COLUMNS = "bill_no, isp_ip, period, usage_bee, rate_micro_per_kbee, at_s, sig, prev_hash, hash"
U32 = 2**32


class BillCheck(NamedTuple):
    ok: bool
    bills: int  # bills verified good (all of them when ok)
    first_bad: int | None  # bill_no of the first bad bill
    reason: str


def canonical(bill_no: int, isp_ip: str, period: int, usage: int, rate: int, at_s: float) -> bytes:
    """The bytes a bill's hash and signature cover (module docstring)."""
    ip = ipaddress.IPv4Address(isp_ip).packed
    return _CANONICAL.pack(BILL_TAG, bill_no, ip, period, usage, rate, at_s)


def _has_table(conn: sqlite3.Connection) -> bool:
    q = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'bills'"
    return conn.execute(q).fetchone() is not None


def record(conn, isp_ip: str, period: int, usage: int, rate: int, at_s: float, sign) -> bool:
    """Book one bill in its own transaction; False (and nothing written) when this ISP already billed
    this period. `sign(bytes) -> 64-byte signature` is the card's key."""
    for name, value in (("period", period), ("usage_bee", usage), ("rate_micro_per_kbee", rate)):
        if not isinstance(value, int) or not 0 <= value < U32:
            raise LedgerError(f"bill: {name} must be a u32, got {value!r}")
    try:
        ipaddress.IPv4Address(isp_ip)
    except ValueError:
        raise LedgerError(f"bill: ISP address {isp_ip!r} is not IPv4") from None
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(SCHEMA)
        seen = conn.execute(
            "SELECT 1 FROM bills WHERE isp_ip = ? AND period = ?", (isp_ip, period)
        ).fetchone()
        if seen:
            conn.execute("ROLLBACK")
            return False
        last = conn.execute(
            "SELECT bill_no, hash FROM bills ORDER BY bill_no DESC LIMIT 1"
        ).fetchone()
        no, prev = (last[0] + 1, bytes(last[1])) if last else (1, ZERO_HASH)
        data = canonical(no, isp_ip, period, usage, rate, float(at_s))
        row = (no, isp_ip, period, usage, rate, float(at_s), sign(data), prev)
        conn.execute(
            f"INSERT INTO bills ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, hashlib.sha256(prev + data).digest()),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return True


def verify(conn: sqlite3.Connection, public_key: bytes) -> BillCheck:
    """Check every bill in order: numbering, chain, hash of its fields, the card's signature."""
    if not _has_table(conn):
        return BillCheck(True, 0, None, "ok")
    prev, good = ZERO_HASH, 0
    for row in conn.execute(f"SELECT {_COLUMNS} FROM bills ORDER BY bill_no"):
        reason = _fault(row, good + 1, prev, public_key)
        if reason:
            return BillCheck(False, good, row[0], f"bill #{row[0]}: {reason}")
        prev, good = bytes(row[8]), good + 1
    return BillCheck(True, good, None, "ok")


def _fault(row, expected_no: int, prev: bytes, public_key: bytes) -> str:
    """Why a bill row is bad, or "" if it is good."""
    no, ip, period, usage, rate, at_s, sig, prev_hash, h = row
    try:
        data = canonical(no, ip, period, usage, rate, at_s)
    except (ValueError, TypeError, struct.error):
        return "malformed bill fields"
    if no != expected_no:
        return f"bill numbers jump from #{expected_no - 1} to #{no} (bill deleted)"
    if bytes(prev_hash) != prev:
        return f"broken chain: prev_hash is not the hash of bill #{no - 1}"
    if hashlib.sha256(prev + data).digest() != bytes(h):
        return "hash does not match the bill's fields (bill altered)"
    if not keys.verify(public_key, bytes(sig), data):
        return "bad card signature on the bill"
    return ""


def totals(conn: sqlite3.Connection) -> dict:
    """Bills booked, BEE billed, the sum of usage x rate (micro-currency per 1000 BEE x BEE) and
    that sum per period."""
    if not _has_table(conn):
        return {"bills": 0, "usage_bee": 0, "fee_units": 0, "by_period": {}}
    n, usage, units = conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(usage_bee), 0), "
        "COALESCE(SUM(usage_bee * rate_micro_per_kbee), 0) FROM bills"
    ).fetchone()
    q = "SELECT period, SUM(usage_bee * rate_micro_per_kbee) FROM bills GROUP BY 1 ORDER BY 1"
    return {"bills": n, "usage_bee": usage, "fee_units": units,
            "by_period": dict(conn.execute(q).fetchall())}  # fmt: skip


def rows(conn: sqlite3.Connection) -> list[dict]:
    """Every bill, in order (for `eip ledger show` and reports)."""
    if not _has_table(conn):
        return []
    q = "SELECT bill_no, isp_ip, period, usage_bee, rate_micro_per_kbee, at_s FROM bills ORDER BY 1"
    keys_ = ("bill_no", "isp_ip", "period", "usage_bee", "rate_micro_per_kbee", "at_s")
    return [dict(zip(keys_, r, strict=True)) for r in conn.execute(q)]
