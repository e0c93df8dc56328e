"""The card's ledger: one SQLite file of transfers, BEE debits/credits and a hash chain of signed records.

Durability: WAL journal, `synchronous=FULL`, and every batch of acknowledged deliveries is committed in
one transaction (`Ledger.commit`), so after a kill -9 a delivery is either wholly in the ledger (its
record and every one of its BEE rows, and the transfer's `next_seq`) or not at all. BEE rows are keyed by
(transfer id, seq) and a delivery already in the ledger is skipped, so each BEE counts exactly once.

Tamper evidence: each delivery record carries the sender's SIG and the receiver's RCPT over the
messages of docs/protocol.md section 7.4, and the records form a hash chain:

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

`Ledger.verify` recomputes every digest from the BEE rows, both signatures from the public keys in
`meta` (this card) and `peers`, and the chain. The chain has no secret: what makes a record unforgeable
is the two signatures; the chain makes a reordering, a deletion inside the chain or an edited field
visible. Truncating the tail is only visible against the peer's ledger or a published head hash
(`Ledger.head`).
"""

import hashlib
import ipaddress
import json
import logging
import os
import re
import sqlite3
import struct
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

from eip.card import keys
from eip.card.model import Delivery, TransferInfo
from eip.errors import EipError
from eip.protocol import constants as c
from eip.protocol.model import Bee
from eip.protocol.signing import delivery_message, receipt_message, records_digest

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
FORMAT = "eip-ledger"
ZERO_HASH = bytes(32)
SEQ_MASK = 0xFFFFFFFF
MAX_RANGE = 1 << 31  # a delivery record spans fewer units, so sequence arithmetic is unambiguous
RECORD_TAG = b"EIP-LDG1"
DIRECTIONS = {"debit": 1, "credit": 2}
ROLE_DIRECTION = {"send": "debit", "receive": "credit"}
ENERGY_BEE_TYPES = (c.BEE_ELECTRICITY, c.BEE_HEAT, c.BEE_GAS)

_RECORD_HEAD = struct.Struct("!8sQH")
_RECORD_TAIL = struct.Struct("!BII32s64s64sd")
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")

_SCHEMA = (
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

_INSERT_RECORD = """INSERT INTO records (record_no, transfer_id, direction, start_seq, end_seq, digest,
    sender_sig, receiver_sig, prev_hash, hash, at_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
_INSERT_BEE = """INSERT INTO bees (transfer_id, seq, direction, flags, bee_type, green_ratio_bp,
    carbon_mg_per_unit, attr1, attr2, attr3, attr4, attr5, quantity, price_micro_per_kbee, start_s,
    end_s, record_no) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"""
# Columns in Bee field order, so a row is Bee(*row).
_BEE_COLUMNS = """flags, bee_type, green_ratio_bp, carbon_mg_per_unit, attr1, attr2, attr3, attr4,
    attr5, quantity, price_micro_per_kbee, start_s, end_s"""
_TRANSFER_COLUMNS = """transfer_id, role, peer_mac, peer_ip, local_port, peer_port, isn, template,
    quantity_total, quantum, next_seq, state, opened_s, close_reason"""


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


class VerifyResult(NamedTuple):
    ok: bool
    records: int  # records verified good (all of them when ok)
    first_bad: int | None  # record_no of the first bad record
    reason: str


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


def _norm_mac(mac: str) -> str:
    m = str(mac).lower()
    if not _MAC.match(m):
        raise LedgerError(f"bad MAC address {mac!r}: want six hex pairs separated by colons")
    return m


def _check_ip(ip: str) -> str:
    try:
        return str(ipaddress.IPv4Address(ip))
    except ValueError:
        raise LedgerError(f"bad Energy IP address {ip!r}: want dotted IPv4") from None


def _money(price_times_quantity: int) -> float:
    """price (micro-currency per 1000 BEE) x quantity (BEE) -> currency units."""
    return float(Fraction(price_times_quantity, 1000 * 1_000_000))


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
        public_key = bytes(public_key)
        if len(public_key) != keys.PUBLIC_KEY_LEN:
            raise LedgerError(f"public key must be 32 bytes, got {len(public_key)}")
        if energy_ip:
            energy_ip = _check_ip(energy_ip)
        if path.exists() and path.stat().st_size > 0:
            raise LedgerError(f"ledger {path}: file already exists")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = cls._connect(path)
            cls._tune(conn)
            conn.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA:
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
        public_key = bytes(public_key)
        if len(public_key) != keys.PUBLIC_KEY_LEN:
            raise LedgerError(f"peer {mac}: public key must be 32 bytes, got {len(public_key)}")
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
            f"INSERT OR IGNORE INTO transfers ({_TRANSFER_COLUMNS}) "
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
                info.next_seq & SEQ_MASK,
                info.state,
                float(info.opened_s),
                info.close_reason,
            ),
        )
        return cur.rowcount == 1

    def transfer(self, transfer_id: str) -> TransferInfo | None:
        row = self._conn.execute(
            f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE transfer_id = ?", (transfer_id,)
        ).fetchone()
        return _transfer_from_row(row) if row else None

    def open_transfers(self) -> list[TransferInfo]:
        rows = self._conn.execute(
            f"SELECT {_TRANSFER_COLUMNS} FROM transfers WHERE state = 'open' "
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
        row = conn.execute(
            "SELECT record_no, hash FROM records ORDER BY record_no DESC LIMIT 1"
        ).fetchone()
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
            if (next_seq - end) & SEQ_MASK >= 1 << 31:
                raise LedgerError(f"commit: {tid} next_seq {next_seq} is before end_seq {end}")
            sender_sig, receiver_sig = bytes(delivery.sender_sig), bytes(delivery.receiver_sig)
            if len(sender_sig) != c.SIGNATURE_LEN or len(receiver_sig) != c.SIGNATURE_LEN:
                raise LedgerError(f"commit: {tid} [{start}, {end}): signatures must be 64 bytes")
            record_no += 1
            at_s = float(delivery.at_s)
            h = chain_hash(
                prev,
                record_bytes(
                    record_no, tid, direction, start, end, digest, sender_sig, receiver_sig, at_s
                ),
            )
            rec_rows.append(
                (
                    record_no,
                    tid,
                    direction,
                    start,
                    end,
                    digest,
                    sender_sig,
                    receiver_sig,
                    prev,
                    h,
                    at_s,
                )
            )
            prev = h
            bee_rows.extend((tid, seq, direction, *bee, record_no) for seq, bee in delivery.bees)
            staged[(tid, start)] = (end, digest)
            t[1] = next_seq & SEQ_MASK
        if rec_rows:
            conn.executemany(_INSERT_RECORD, rec_rows)
            conn.executemany(_INSERT_BEE, bee_rows)
            conn.executemany(
                "UPDATE transfers SET next_seq = ? WHERE transfer_id = ?",
                [(t[1], tid) for tid, t in transfers.items()],
            )
        return len(rec_rows)

    # ----------------------------------------------------------------------------- reading

    def head(self) -> tuple[int, bytes]:
        """(number of the last record, its hash): what a card can publish to pin its chain."""
        row = self._conn.execute(
            "SELECT record_no, hash FROM records ORDER BY record_no DESC LIMIT 1"
        ).fetchone()
        return (row[0], bytes(row[1])) if row else (0, ZERO_HASH)

    def counts(self) -> dict:
        q = self._conn.execute
        opened, closed = q(
            "SELECT COALESCE(SUM(state = 'open'), 0), COALESCE(SUM(state = 'closed'), 0) "
            "FROM transfers"
        ).fetchone()
        return {
            "transfers_open": opened,
            "transfers_closed": closed,
            "bees": q("SELECT COUNT(*) FROM bees").fetchone()[0],
            "records": q("SELECT COUNT(*) FROM records").fetchone()[0],
        }

    def profile(self) -> dict:
        """The owner's profile (docs/card.md "Profile"), from SQL aggregates over the BEE rows."""
        ident = self.identity
        names = c.BEE_TYPES
        units = {d: {name: 0 for name in names.values()} for d in ("sent", "received")}
        green_micro = 0  # Wh x basis points
        carbon_mg = 0
        earned = paid = 0  # micro-currency per 1000 BEE x BEE
        groups = self._conn.execute(
            "SELECT direction, bee_type, price_micro_per_kbee, carbon_mg_per_unit, green_ratio_bp, "
            "SUM(quantity) FROM bees GROUP BY 1, 2, 3, 4, 5"
        )
        for direction, bee_type, price, carbon, green, qty in groups:
            side = "sent" if direction == "debit" else "received"
            name = names.get(bee_type, f"type-{bee_type}")
            units[side][name] = units[side].get(name, 0) + qty
            if side == "sent":
                earned += price * qty
            else:
                paid += price * qty
                if bee_type in ENERGY_BEE_TYPES:
                    green_micro += qty * green
                    carbon_mg += qty * carbon
        energy = {
            side: {names[t]: units[side][names[t]] for t in ENERGY_BEE_TYPES} for side in units
        }
        cert = names[c.BEE_GREEN_CERTIFICATE]
        right = names[c.BEE_CARBON_RIGHT]
        flex = names[c.BEE_FLEXIBILITY]
        return {
            "identity": {
                "name": ident.name,
                "kind": ident.kind,
                "mac": ident.mac,
                "public_key": ident.public_key.hex(),
                "energy_ip": ident.energy_ip,
                "vpp": ident.vpp,
            },
            "trades": self._trades(),
            "energy_wh": energy,
            "units_by_type": units,
            "green_certificates_wh": units["received"][cert]
            + float(Fraction(green_micro, c.GREEN_RATIO_MAX_BP)),
            "carbon_rights_g": units["received"][right] - units["sent"][right],
            "carbon_footprint_kg": float(Fraction(carbon_mg, 1_000_000)),
            "flexibility_w": {side: units[side][flex] for side in units},
            "money_earned": _money(earned),
            "money_paid": _money(paid),
            "money_balance": _money(earned - paid),
            "counts": self.counts(),
        }

    def _trades(self) -> dict:
        rows = self._conn.execute(
            "SELECT t.transfer_id, t.role, t.peer_mac, p.name, t.template, t.quantity_total, "
            "t.state, t.close_reason, t.opened_s, t.closed_s, b.price_micro_per_kbee, "
            "COALESCE(SUM(b.quantity), 0), COUNT(b.seq) "
            "FROM transfers t LEFT JOIN bees b USING (transfer_id) "
            "LEFT JOIN peers p ON p.mac = t.peer_mac "
            "GROUP BY t.transfer_id, b.price_micro_per_kbee ORDER BY t.opened_s, t.transfer_id"
        )
        trades: dict[str, dict] = {}
        for (
            tid,
            role,
            peer,
            peer_name,
            template,
            total,
            state,
            reason,
            opened,
            closed,
            *rest,
        ) in rows:
            price, qty, n = rest
            trade = trades.get(tid)
            if trade is None:
                bee = json.loads(template)
                trade = trades[tid] = {
                    "role": role,
                    "peer_mac": peer,
                    "peer_name": peer_name or "",
                    "bee_type": c.BEE_TYPES.get(bee["bee_type"], str(bee["bee_type"])),
                    "price_micro_per_kbee": bee["price_micro_per_kbee"],
                    "quantity_total": total,
                    "quantity_done": 0,
                    "bees": 0,
                    "money": 0,
                    "state": state,
                    "close_reason": reason,
                    "opened_s": opened,
                    "closed_s": closed,
                }
            trade["quantity_done"] += qty
            trade["bees"] += n
            if price is not None:
                trade["money"] += price * qty if role == "send" else -price * qty
                # The BEEs say what was paid; a receiver's template is only known from them.
                trade["price_micro_per_kbee"] = price
        for trade in trades.values():
            trade["money"] = _money(trade["money"])
        return trades

    # ----------------------------------------------------------------------------- verification

    def verify(self) -> VerifyResult:
        """Check every record: chain, per-transfer continuity, BEE digest, both signatures."""
        conn = self._conn
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
            reason = self._check_record(rec, good + 1, prev, transfers, peers, last_end)
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
        return VerifyResult(True, good, None, "ok")

    def _check_record(self, rec, expected_no, prev, transfers, peers, last_end) -> str:
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
        reason = self._check_bees(no, tid, direction, start, end, digest)
        if reason:
            return reason
        peer_key = peers.get(peer_mac)
        if peer_key is None:
            return f"unknown public key for peer {peer_mac}"
        me = self.identity
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

    def _check_bees(self, no, tid, direction, start, end, digest) -> str:
        rows = self._conn.execute(
            f"SELECT transfer_id, direction, seq, {_BEE_COLUMNS} FROM bees WHERE record_no = ? "
            "ORDER BY (seq - ?) & 4294967295",
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
        s, length = start, 0
        for row in rows:
            if row[0] != tid or row[1] != direction:
                return f"BEE seq {row[2]} is filed under another transfer or direction"
            if row[2] != s:
                return f"BEE rows are not contiguous at seq {s} (missing or moved BEE)"
            quantity = row[3 + Bee._fields.index("quantity")]
            if not isinstance(quantity, int) or quantity < 1:
                return f"BEE seq {row[2]} has a bad quantity {quantity!r}"
            s = (s + quantity) & SEQ_MASK
            length += quantity
        if s != end or length >= MAX_RANGE:
            return f"BEE rows cover [{start}, {s}), not the record's [{start}, {end})"
        return ""


def _delivery_digest(delivery: Delivery) -> bytes:
    """records_digest of a delivery's BEEs, after checking they cover [start_seq, end_seq) exactly."""
    start, end, bees = delivery.start_seq, delivery.end_seq, delivery.bees
    if not bees:
        raise LedgerError(f"commit: {delivery.transfer_id} [{start}, {end}) has no BEEs")
    s, length = start, 0
    for seq, bee in bees:
        if seq != s:
            raise LedgerError(
                f"commit: {delivery.transfer_id} BEE at seq {seq} where {s} was expected"
            )
        if bee.quantity < 1:
            raise LedgerError(f"commit: {delivery.transfer_id} BEE seq {seq} has quantity < 1")
        s = (s + bee.quantity) & SEQ_MASK
        length += bee.quantity
    if length >= MAX_RANGE:
        raise LedgerError(
            f"commit: {delivery.transfer_id} [{start}, {end}) holds {length} units, "
            f"more than a delivery record can (2^31 - 1)"
        )
    if s != end:
        raise LedgerError(
            f"commit: {delivery.transfer_id} BEEs cover [{start}, {s}), not [{start}, {end})"
        )
    try:
        return records_digest(bee for _, bee in bees)
    except struct.error as exc:
        raise LedgerError(f"commit: {delivery.transfer_id} BEE field out of range: {exc}") from None
