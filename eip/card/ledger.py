"""The card's ledger store: one SQLite file of transfers, BEE debits/credits and a hash chain of signed records.

Durability: WAL journal, `synchronous=FULL`, and every batch of acknowledged deliveries is committed in
one transaction (`Ledger.commit`), so after a kill -9 a delivery is either wholly in the ledger (its
record and every one of its BEE rows, and the transfer's `next_seq`) or not at all. BEE rows are keyed by
(transfer id, seq) and a delivery already in the ledger is skipped, so each BEE counts exactly once.

Tamper evidence: each delivery record carries the sender's SIG and the receiver's RCPT over the
messages of docs/protocol.md section 7.4, and the records form a hash chain over their canonical
record bytes (`eip.card.ledger_format`, which also holds the schema). `Ledger.verify` recomputes every
digest, signature and chain hash (`eip.card.verify`); `Ledger.profile` sums the BEE rows into the
owner's profile (`eip.card.profile`). The names of those modules that callers used from here
(`LedgerError`, `Identity`, `VerifyResult`, `record_bytes`, `chain_hash`, the constants) are
re-exported.
"""

import ipaddress
import json
import logging
import os
import re
import sqlite3
import struct
from pathlib import Path

from eip.card import bills
from eip.card import profile as profile_report
from eip.card import verify as verifier
from eip.card.ledger_format import (
    DIRECTIONS,
    ENERGY_BEE_TYPES,
    FORMAT,
    GAP,
    INSERT_BEE,
    INSERT_RECORD,
    LAST_RECORD,
    MAX_RANGE,
    RECORD_TAG,
    ROLE_DIRECTION,
    SCHEMA,
    SCHEMA_VERSION,
    TOO_LONG,
    TRANSFER_COLUMNS,
    WRONG_END,
    ZERO_HASH,
    Identity,
    LedgerError,
    chain_hash,
    range_fault,
    record_bytes,
)
from eip.card.verify import VerifyResult
from eip.etcp import keys
from eip.etcp.model import Delivery, TransferInfo
from eip.protocol import constants as c
from eip.protocol.model import Bee
from eip.protocol.seq import SEQ_HALF, SEQ_MOD, seq_sub
from eip.protocol.signing import records_digest

__all__ = [
    "DIRECTIONS",
    "ENERGY_BEE_TYPES",
    "FORMAT",
    "MAX_RANGE",
    "RECORD_TAG",
    "ROLE_DIRECTION",
    "SCHEMA_VERSION",
    "ZERO_HASH",
    "Identity",
    "Ledger",
    "LedgerError",
    "VerifyResult",
    "chain_hash",
    "record_bytes",
]

log = logging.getLogger(__name__)

_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")


def _norm_mac(mac: str) -> str:
    m = str(mac).lower()
    if not _MAC.match(m):
        raise LedgerError(f"bad MAC address {mac!r}: want six hex pairs separated by colons")
    return m


def _check_key(public_key: bytes, context: str = "") -> bytes:
    key = bytes(public_key)
    if len(key) != keys.PUBLIC_KEY_LEN:
        raise LedgerError(f"{context}public key must be 32 bytes, got {len(key)}")
    return key


def _check_ip(ip: str) -> str:
    try:
        return str(ipaddress.IPv4Address(ip))
    except ValueError:
        raise LedgerError(f"bad Energy IP address {ip!r}: want dotted IPv4") from None


def _transfer_from_row(row) -> TransferInfo:
    *head, template, qty, quantum, next_seq, state, opened_s, close_reason = row
    return TransferInfo(
        *head,
        template=Bee(**json.loads(template)),
        quantity_total=qty,
        quantum=quantum,
        next_seq=next_seq,
        state=state,
        opened_s=opened_s,
        close_reason=close_reason,
    )


class Ledger:
    """A card's ledger file. Use `Ledger.create` once, then `Ledger.open`; one writer process at a time."""

    def __init__(self, path: Path, conn: sqlite3.Connection):
        self.path = path
        self._conn = conn
        self._identity: Identity | None = None

    # ----------------------------------------------------------------------------- open and create

    @staticmethod
    def _connect(path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    @staticmethod
    def _tune(conn: sqlite3.Connection) -> None:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            log.warning("ledger journal mode is %s, not wal", mode)
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")

    @classmethod
    def create(
        cls,
        path: str | os.PathLike,
        name: str,
        kind: str,
        mac: str,
        public_key: bytes,
        vpp: str = "",
        energy_ip: str = "",
        created_s: float = 0.0,
    ) -> "Ledger":
        """Create a new, empty ledger for the card (MAC, public key); an existing file is an error."""
        path = Path(path)
        mac = _norm_mac(mac)
        public_key = _check_key(public_key)
        if energy_ip:
            energy_ip = _check_ip(energy_ip)
        if path.exists() and path.stat().st_size > 0:
            raise LedgerError(f"ledger {path}: file already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = cls._connect(path)
            cls._tune(conn)
            conn.execute("BEGIN IMMEDIATE")
            for stmt in SCHEMA:
                conn.execute(stmt)
            meta = {
                "format": FORMAT,
                "schema_version": str(SCHEMA_VERSION),
                "name": name,
                "kind": kind,
                "mac": mac,
                "public_key": public_key.hex(),
                "vpp": vpp,
                "energy_ip": energy_ip,
                "created_s": repr(float(created_s)),
            }
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {path}: cannot create: {exc}") from None
        return cls(path, conn)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Ledger":
        """Open an existing ledger; a clear LedgerError if it is missing, not a ledger, or too new."""
        path = Path(path)
        if not path.exists():
            raise LedgerError(f"ledger {path}: no such file")
        if not path.is_file():
            raise LedgerError(f"ledger {path}: not a file")
        conn = None
        try:
            conn = cls._connect(path)
            # Read before any PRAGMA that writes: a foreign SQLite file must be left untouched.
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    raise LedgerError(f"ledger {path}: not an eip ledger (no meta table)") from None
                raise
            if meta.get("format") != FORMAT:
                raise LedgerError(f"ledger {path}: not an eip ledger (meta has no format={FORMAT})")
            try:
                version = int(meta.get("schema_version", ""))
            except ValueError:
                raise LedgerError(f"ledger {path}: bad schema version in meta") from None
            if version > SCHEMA_VERSION:
                raise LedgerError(
                    f"ledger {path}: schema version {version} is newer than this eip reads "
                    f"({SCHEMA_VERSION}); upgrade eip"
                )
            if version < 1:
                raise LedgerError(f"ledger {path}: bad schema version {version}")
            cls._tune(conn)
        except LedgerError:
            if conn is not None:
                conn.close()
            raise
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            raise LedgerError(f"ledger {path}: not an eip ledger ({exc})") from None
        return cls(path, conn)

    @classmethod
    def open_or_create(
        cls, path: str | os.PathLike, name: str, kind: str, mac: str, public_key: bytes, **kw
    ) -> "Ledger":
        """Open the ledger at path if it exists (it must belong to this MAC and key), else create it."""
        path = Path(path)
        if not path.exists() or path.stat().st_size == 0:
            return cls.create(path, name, kind, mac, public_key, **kw)
        ledger = cls.open(path)
        ident = ledger.identity
        if ident.mac != _norm_mac(mac) or ident.public_key != bytes(public_key):
            ledger.close()
            raise LedgerError(
                f"ledger {path} belongs to {ident.mac} (key {ident.public_key.hex()[:16]}...), "
                f"not to {mac} with this key"
            )
        return ledger

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ----------------------------------------------------------------------------- identity and peers

    @property
    def identity(self) -> Identity:
        if self._identity is None:
            meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
            self._identity = Identity(
                name=meta.get("name", ""),
                kind=meta.get("kind", ""),
                mac=meta["mac"],
                public_key=bytes.fromhex(meta["public_key"]),
                vpp=meta.get("vpp", ""),
                energy_ip=meta.get("energy_ip", ""),
            )
        return self._identity

    def _set_meta(self, key: str, value: str) -> None:
        self._conn.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )
        self._identity = None

    def set_energy_ip(self, ip: str) -> None:
        """Record the card's current Energy IP (it changes when the card moves, seed 000 section 5)."""
        self._set_meta("energy_ip", _check_ip(ip))

    def set_vpp(self, vpp: str) -> None:
        self._set_meta("vpp", vpp)

    def add_peer(self, mac: str, name: str, public_key: bytes) -> None:
        """Remember a peer's public key (from DNS or config); replaces the name and key of a known MAC."""
        mac = _norm_mac(mac)
        public_key = _check_key(public_key, f"peer {mac}: ")
        old = self.peer_key(mac)
        if old is not None and old != public_key:
            log.warning("peer %s changed its public key; records signed by the old key", mac)
        self._conn.execute(
            "INSERT INTO peers (mac, name, public_key) VALUES (?, ?, ?) ON CONFLICT (mac) "
            "DO UPDATE SET name = excluded.name, public_key = excluded.public_key",
            (mac, name, public_key),
        )

    def peer_key(self, mac: str) -> bytes | None:
        row = self._conn.execute(
            "SELECT public_key FROM peers WHERE mac = ?", (str(mac).lower(),)
        ).fetchone()
        return bytes(row[0]) if row else None

    # ----------------------------------------------------------------------------- transfers

    def open_transfer(self, info: TransferInfo) -> bool:
        """Persist a new transfer; True if added, False if its id was already there (left unchanged)."""
        if info.role not in ROLE_DIRECTION:
            raise LedgerError(f"transfer {info.transfer_id}: role must be send or receive")
        cur = self._conn.execute(
            f"INSERT OR IGNORE INTO transfers ({TRANSFER_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                info.transfer_id,
                info.role,
                _norm_mac(info.peer_mac),
                info.peer_ip,
                info.local_port,
                info.peer_port,
                info.isn,
                json.dumps(info.template._asdict()),
                info.quantity_total,
                info.quantum,
                info.next_seq % SEQ_MOD,
                info.state,
                float(info.opened_s),
                info.close_reason,
            ),
        )
        return cur.rowcount == 1

    def transfer(self, transfer_id: str) -> TransferInfo | None:
        row = self._conn.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE transfer_id = ?", (transfer_id,)
        ).fetchone()
        return _transfer_from_row(row) if row else None

    def open_transfers(self) -> list[TransferInfo]:
        rows = self._conn.execute(
            f"SELECT {TRANSFER_COLUMNS} FROM transfers WHERE state = 'open' "
            "ORDER BY opened_s, transfer_id"
        ).fetchall()
        return [_transfer_from_row(r) for r in rows]

    def close_transfer(self, transfer_id: str, reason: str, at_s: float) -> None:
        """Mark a transfer closed; closing a closed transfer keeps its first reason."""
        cur = self._conn.execute(
            "UPDATE transfers SET state = 'closed', close_reason = ?, closed_s = ? "
            "WHERE transfer_id = ? AND state = 'open'",
            (reason, float(at_s), transfer_id),
        )
        if cur.rowcount == 0 and self.transfer(transfer_id) is None:
            raise LedgerError(f"close: unknown transfer {transfer_id}")

    # ----------------------------------------------------------------------------- deliveries

    def commit(self, deliveries: list[tuple[Delivery, int]]) -> int:
        """Apply a batch of acknowledged deliveries in one transaction; returns how many were new.

        Each item is (delivery, the transfer's next_seq after it). A delivery already in the ledger
        (same transfer and range, same BEEs) is skipped; any other delivery must start at its
        transfer's next_seq, hold contiguous BEEs covering exactly [start_seq, end_seq) and match the
        transfer's role (debit when sending, credit when receiving), else LedgerError and nothing of
        the batch is written.
        """
        if not deliveries:
            return 0
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                applied = self._stage(conn, deliveries)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise LedgerError(f"ledger {self.path}: commit failed: {exc}") from exc
        return applied

    def _stage(self, conn: sqlite3.Connection, deliveries) -> int:
        row = conn.execute(LAST_RECORD).fetchone()
        record_no, prev = row if row else (0, ZERO_HASH)
        transfers: dict[str, list] = {}  # id -> [direction, next_seq]
        staged: dict[tuple[str, int], tuple[int, bytes]] = {}  # (id, start) -> (end, digest)
        rec_rows = []
        bee_rows = []
        for delivery, next_seq in deliveries:
            tid, direction, start, end = delivery[:4]
            t = transfers.get(tid)
            if t is None:
                r = conn.execute(
                    "SELECT role, next_seq FROM transfers WHERE transfer_id = ?", (tid,)
                ).fetchone()
                if r is None:
                    raise LedgerError(f"commit: unknown transfer {tid}")
                t = transfers[tid] = [ROLE_DIRECTION[r[0]], r[1]]
            if direction != t[0]:
                raise LedgerError(f"commit: {tid} takes {t[0]} deliveries, got {direction}")
            digest = _delivery_digest(delivery)
            if start != t[1]:
                old = (
                    staged.get((tid, start))
                    or conn.execute(
                        "SELECT end_seq, digest FROM records WHERE transfer_id = ? AND start_seq = ?",
                        (tid, start),
                    ).fetchone()
                )
                if old is None:
                    raise LedgerError(
                        f"commit: {tid} delivery [{start}, {end}) does not start at next_seq {t[1]}"
                    )
                if old[0] != end or bytes(old[1]) != digest:
                    raise LedgerError(
                        f"commit: {tid} delivery [{start}, {end}) conflicts with the recorded "
                        f"[{start}, {old[0]}) (different range or BEEs)"
                    )
                continue  # already in the ledger: exactly once
            if seq_sub(next_seq, end) >= SEQ_HALF:
                raise LedgerError(f"commit: {tid} next_seq {next_seq} is before end_seq {end}")
            sender_sig, receiver_sig = bytes(delivery.sender_sig), bytes(delivery.receiver_sig)
            if len(sender_sig) != c.SIGNATURE_LEN or len(receiver_sig) != c.SIGNATURE_LEN:
                raise LedgerError(f"commit: {tid} [{start}, {end}): signatures must be 64 bytes")
            record_no += 1
            at_s = float(delivery.at_s)
            fields = (record_no, tid, direction, start, end, digest, sender_sig, receiver_sig)
            h = chain_hash(prev, record_bytes(*fields, at_s))
            rec_rows.append((*fields, prev, h, at_s))  # the columns of INSERT_RECORD
            prev = h
            bee_rows.extend((tid, seq, direction, *bee, record_no) for seq, bee in delivery.bees)
            staged[(tid, start)] = (end, digest)
            t[1] = next_seq % SEQ_MOD
        if rec_rows:
            conn.executemany(INSERT_RECORD, rec_rows)
            conn.executemany(INSERT_BEE, bee_rows)
            conn.executemany(
                "UPDATE transfers SET next_seq = ? WHERE transfer_id = ?",
                [(t[1], tid) for tid, t in transfers.items()],
            )
        return len(rec_rows)

    # ----------------------------------------------------------------------------- reading

    def head(self) -> tuple[int, bytes]:
        """(number of the last record, its hash): what a card can publish to pin its chain."""
        row = self._conn.execute(LAST_RECORD).fetchone()
        return (row[0], bytes(row[1])) if row else (0, ZERO_HASH)

    def counts(self) -> dict:
        return profile_report.counts(self._conn)

    def profile(self) -> dict:
        """The owner's profile (docs/card.md "Profile"), from SQL aggregates over the BEE rows."""
        return profile_report.profile(self._conn, self.identity)

    def verify(self) -> VerifyResult:
        """Check every record (chain, per-transfer continuity, BEE digest, both signatures), then bills."""
        return verifier.verify(self._conn, self.identity)

    def bill(self, isp_ip: str, period: int, usage_bee: int, rate: int, at_s: float, sign) -> bool:
        """Book the ISP's service-fee bill of a period (R5.8); False if it was booked already."""
        return bills.record(self._conn, isp_ip, period, usage_bee, rate, at_s, sign)


def _delivery_digest(delivery: Delivery) -> bytes:
    """records_digest of a delivery's BEEs, after checking they cover [start_seq, end_seq) exactly."""
    tid, start, end, bees = (
        delivery.transfer_id,
        delivery.start_seq,
        delivery.end_seq,
        delivery.bees,
    )
    if not bees:
        raise LedgerError(f"commit: {tid} [{start}, {end}) has no BEEs")
    fault = range_fault(start, end, ((seq, bee.quantity) for seq, bee in bees))
    if fault is None:
        pass
    elif fault.what == GAP:
        raise LedgerError(
            f"commit: {tid} BEE at seq {fault.seq} where {fault.reached} was expected"
        )
    elif fault.what == TOO_LONG:
        raise LedgerError(
            f"commit: {tid} [{start}, {end}) holds {fault.units} units, "
            f"more than a delivery record can (2^31 - 1)"
        )
    elif fault.what == WRONG_END:
        raise LedgerError(
            f"commit: {tid} BEEs cover [{start}, {fault.reached}), not [{start}, {end})"
        )
    else:
        raise LedgerError(f"commit: {tid} BEE seq {fault.seq} has quantity < 1")
    try:
        return records_digest(bee for _, bee in bees)
    except struct.error as exc:
        raise LedgerError(f"commit: {tid} BEE field out of range: {exc}") from None
