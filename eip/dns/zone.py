"""The Energy DNS zone as plain logic: a datagram and the time in, the reply bytes out (or None).

`EnergyZone` holds the zone's cards and answers QUERY and signed RFC 2136 UPDATE (the rules are in the
eip.dns package docstring); it never touches a socket or a clock, so it is tested without either. The
UDP shell is eip.dns.server.EnergyDnsServer, the JSON store eip.dns.store.
"""

import logging
import struct
from collections import Counter

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.update
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from eip.dns import records as r
from eip.errors import EipError

log = logging.getLogger(__name__)

MAX_SKEW_S = 300.0  # an UPDATE's timestamp must be this close to the server's clock
HEADER = struct.Struct("!HHHHHH")  # the DNS header: id, flags, four section counts
SOA_TIMERS = "3600 600 86400 60"  # refresh retry expire minimum (negative TTL 60 s)


class Refused(Exception):
    """An UPDATE the server will not apply: rcode and a reason sent back as an Extended DNS Error."""

    def __init__(self, rcode: int, reason: str, ede: int = dns.edns.EDECode.PROHIBITED):
        super().__init__(reason)
        self.rcode = rcode
        self.reason = reason
        self.ede = ede


class EnergyZone:
    """The zone's cards and the DNS logic. Not thread-safe by itself: the server serialises calls.

    `on_change(cards)` is called with the new card list before a change takes effect; if it raises
    OSError the change is not applied and the client gets SERVFAIL.
    """

    def __init__(self, zone: str = r.DEFAULT_ZONE, max_skew_s: float = MAX_SKEW_S, on_change=None):
        self.origin = r.zone_name(zone)
        self.zone = self.origin.to_text().lower()
        self.max_skew_s = max_skew_s
        self.on_change = on_change
        self.cards: dict[str, r.CardEntry] = {}
        self.by_mac: dict[str, str] = {}
        self.serial = 1
        self.counts: Counter[str] = Counter()

    # --- state ---

    def load(self, cards: list[r.CardEntry], serial: int = 1) -> None:
        self.cards = {c.name: c.checked() for c in cards}
        self.by_mac = {c.mac: c.name for c in cards}
        if len(self.by_mac) != len(self.cards):
            raise EipError("zone: two cards share a MAC")
        self.serial = max(1, serial)

    def _commit(self, cards: dict[str, r.CardEntry]) -> None:
        if self.on_change is not None:
            self.on_change(sorted(cards.values()), self.serial + 1)
        self.cards = cards
        self.by_mac = {c.mac: c.name for c in cards.values()}
        self.serial += 1

    def soa(self) -> dns.rrset.RRset:
        text = f"ns.{self.zone} hostmaster.{self.zone} {self.serial} {SOA_TIMERS}"
        return dns.rrset.from_text(self.origin, r.TTL_S, "IN", "SOA", text)

    # --- datagrams ---

    def handle(self, wire: bytes, now: float) -> bytes | None:
        """The reply to one datagram, or None when nothing should be sent back."""
        try:
            msg = dns.message.from_wire(wire)
        except Exception as exc:  # any parse failure of untrusted bytes is "malformed"
            self.counts["malformed"] += 1
            log.debug("malformed datagram (%d bytes): %s", len(wire), exc)
            return formerr_reply(wire)
        if msg.flags & dns.flags.QR:
            self.counts["malformed"] += 1  # never answer a response: no reflection loops
            return None
        opcode = msg.opcode()
        if opcode == dns.opcode.QUERY:
            self.counts["queries"] += 1
            response = self._query(msg)
        elif opcode == dns.opcode.UPDATE:
            self.counts["updates"] += 1
            response = self._update(msg, now)
        else:
            self.counts["notimp"] += 1
            response = dns.message.make_response(msg)
            response.set_rcode(dns.rcode.NOTIMP)
        return to_wire(response, msg)

    # --- QUERY ---

    def _query(self, msg: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(msg)
        if len(msg.question) != 1:
            self.counts["malformed"] += 1
            response.set_rcode(dns.rcode.FORMERR)
            return response
        q = msg.question[0]
        if q.rdclass not in (dns.rdataclass.IN, dns.rdataclass.ANY) or not q.name.is_subdomain(
            self.origin
        ):
            self.counts["refused"] += 1
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        labels = [
            label.decode("ascii", "replace").lower() for label in q.name.relativize(self.origin)
        ]
        rrsets: list[dns.rrset.RRset] | None  # None: the name does not exist
        if not labels:  # the apex
            rrsets = [self.soa()]
        elif labels == [r.MAC_LABEL]:
            rrsets = []  # an empty non-terminal: exists, holds nothing
        elif len(labels) == 2 and labels[1] == r.MAC_LABEL:
            mac = r.mac_from_hex(labels[0])
            name = self.by_mac.get(mac) if mac else None
            rrsets = r.to_rrsets(self.cards[name], self.zone)[2:] if name else None
        elif len(labels) == 1 and labels[0] in self.cards:
            rrsets = r.to_rrsets(self.cards[labels[0]], self.zone)[:2]
        else:
            rrsets = None
        if rrsets is None:
            self.counts["nxdomain"] += 1
            response.set_rcode(dns.rcode.NXDOMAIN)
            response.authority.append(self.soa())
            return response
        wanted = [rs for rs in rrsets if q.rdtype in (rs.rdtype, dns.rdatatype.ANY)]
        for rs in wanted:
            rs.name = q.name  # echo the query's spelling (DNS names are case-insensitive)
            response.answer.append(rs)
        if not wanted:
            response.authority.append(self.soa())
        return response

    # --- UPDATE (RFC 2136) ---

    def _update(self, msg: dns.message.Message, now: float) -> dns.message.Message:
        response = dns.message.make_response(msg)
        try:
            self._apply_update(msg, now)
        except Refused as exc:
            if exc.rcode == dns.rcode.REFUSED:
                self.counts["refused"] += 1
            elif exc.rcode == dns.rcode.FORMERR:
                self.counts["malformed"] += 1
            level = logging.WARNING if exc.rcode == dns.rcode.REFUSED else logging.INFO
            log.log(level, "UPDATE refused (%s): %s", dns.rcode.to_text(exc.rcode), exc.reason)
            response.set_rcode(exc.rcode)
            response.use_edns(0, options=[dns.edns.EDEOption(exc.ede, exc.reason[:200])])
        except OSError as exc:
            self.counts["errors"] += 1
            log.error("UPDATE not applied, zone store failed: %s", exc)
            response.set_rcode(dns.rcode.SERVFAIL)
        return response

    def _apply_update(self, msg: dns.message.Message, now: float) -> None:
        zone_rrs = msg.sections[0]
        if len(zone_rrs) != 1 or zone_rrs[0].rdtype != dns.rdatatype.SOA:
            raise Refused(dns.rcode.FORMERR, "the zone section must hold one SOA question")
        if zone_rrs[0].name != self.origin:
            raise Refused(dns.rcode.NOTAUTH, f"not authoritative for {zone_rrs[0].name}")
        if msg.sections[1]:
            raise Refused(dns.rcode.REFUSED, "prerequisites are not supported")
        owner, delete_all, a, entry_txt, sig_txt = self._classify(msg.sections[2])
        name = owner.relativize(self.origin).labels[0].decode("ascii", "replace").lower()
        try:
            r.check_name(name)
        except EipError as exc:
            raise Refused(dns.rcode.REFUSED, str(exc)) from None
        if sig_txt is None:
            raise Refused(dns.rcode.REFUSED, f"unsigned update for {name}: no sig= TXT")
        try:
            sig_fields = r.parse_txt(sig_txt)
            signature = bytes.fromhex(sig_fields["sig"])
            ts = round(float(sig_fields["ts"]), 6)
        except (EipError, KeyError, ValueError):
            raise Refused(dns.rcode.FORMERR, 'bad sig= TXT (want "sig=<hex>" "ts=<s>")') from None
        if len(signature) != r.SIG_BYTES:
            raise Refused(dns.rcode.FORMERR, f"sig: must be {r.SIG_BYTES} bytes (Ed25519)")
        if abs(ts - now) > self.max_skew_s:
            raise Refused(
                dns.rcode.REFUSED,
                f"timestamp {ts:.0f} is more than {self.max_skew_s:.0f} s from the server's clock",
            )
        old = self.cards.get(name)
        if a is None and entry_txt is None:
            if not delete_all:
                raise Refused(dns.rcode.FORMERR, "nothing to do: no A/TXT to add and no delete")
            self._delete(name, old, signature, ts)
        else:
            if a is None or entry_txt is None:
                raise Refused(dns.rcode.FORMERR, "a registration needs one A and one TXT")
            try:
                entry = r.entry_from_fields(name, a, r.parse_txt(entry_txt))
            except EipError as exc:
                raise Refused(dns.rcode.FORMERR, str(exc)) from None
            self._register(entry, old, signature, ts)

    def _classify(self, rrsets: list[dns.rrset.RRset]):
        """Split the update section into (owner, delete-all?, A text, entry TXT strings, sig TXT strings)."""
        if not rrsets:
            raise Refused(dns.rcode.FORMERR, "empty update section")
        owners = {rs.name for rs in rrsets}
        if len(owners) != 1:
            raise Refused(dns.rcode.REFUSED, "an UPDATE may change one card name only")
        owner = owners.pop()
        if not owner.is_subdomain(self.origin):
            raise Refused(dns.rcode.NOTZONE, f"{owner} is outside {self.zone}")
        if len(owner) != len(self.origin) + 1:
            raise Refused(
                dns.rcode.REFUSED,
                f"only NAME.{self.zone} can be updated, not {owner} (.mac. names follow automatically)",
            )
        delete_all, a, entry_txt, sig_txt = False, None, None, None
        for rs in rrsets:
            if rs.deleting is not None:  # dnspython: class ANY/NONE of the wire RR
                whole = rs.deleting == dns.rdataclass.ANY and not len(rs)
                if whole and rs.rdtype in (dns.rdatatype.ANY, dns.rdatatype.A, dns.rdatatype.TXT):
                    delete_all = True  # a registration replaces A and TXT anyway
                    continue
                raise Refused(
                    dns.rcode.FORMERR, "only whole-name or whole-RRset deletes are supported"
                )
            if rs.rdclass != dns.rdataclass.IN:
                raise Refused(dns.rcode.FORMERR, "update records must be class IN")
            for rd in rs:
                if rs.rdtype == dns.rdatatype.A and a is None:
                    a = str(rd)
                elif (
                    rs.rdtype == dns.rdatatype.TXT
                    and rd.strings
                    and rd.strings[0].startswith(b"sig=")
                ):
                    if sig_txt is not None:
                        raise Refused(dns.rcode.FORMERR, "more than one sig= TXT")
                    sig_txt = rd.strings
                elif rs.rdtype == dns.rdatatype.TXT and entry_txt is None:
                    entry_txt = rd.strings
                else:
                    raise Refused(
                        dns.rcode.FORMERR,
                        f"unsupported or repeated {dns.rdatatype.to_text(rs.rdtype)} record",
                    )
        return owner, delete_all, a, entry_txt, sig_txt

    def _verify(self, key: bytes, signature: bytes, content: bytes, name: str) -> None:
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(signature, content)
        except (InvalidSignature, ValueError):
            raise Refused(
                dns.rcode.REFUSED, f"signature does not match the registered key of {name}"
            ) from None

    def _register(
        self, entry: r.CardEntry, old: r.CardEntry | None, signature: bytes, ts: float
    ) -> None:
        if entry.updated_s != ts:
            raise Refused(
                dns.rcode.FORMERR, "updated= of the TXT differs from ts= of the signature"
            )
        if old is not None and not old.public_key:
            raise Refused(
                dns.rcode.REFUSED,
                f"{entry.name} is a service entry of the zone, not updated over DNS",
            )
        if not entry.public_key:
            raise Refused(
                dns.rcode.REFUSED, f"{entry.name}: a registration must carry the card's key"
            )
        content = r.update_content(self.zone, "add", entry.name, ts, entry)
        # Trust on first use: a new name proves it holds the key it registers; later updates
        # (a move, a key rotation) must be signed with the key already registered.
        self._verify(old.public_key if old else entry.public_key, signature, content, entry.name)
        holder = self.by_mac.get(entry.mac)
        if holder is not None and holder != entry.name:
            raise Refused(dns.rcode.REFUSED, f"mac {entry.mac} is already registered to {holder}")
        if old is not None:
            if ts == old.updated_s and entry == old:
                return  # a retransmitted UPDATE: already applied
            if ts <= old.updated_s:
                raise Refused(
                    dns.rcode.REFUSED,
                    f"replayed or stale update for {entry.name} (ts {ts:.6f} <= {old.updated_s:.6f})",
                )
        cards = dict(self.cards)
        cards[entry.name] = entry
        self._commit(cards)
        verb = "registered" if old is None else "updated"
        log.info(
            "%s %s ip=%s mac=%s kind=%s vpp=%s",
            verb,
            entry.name,
            entry.energy_ip,
            entry.mac,
            entry.kind,
            entry.vpp,
        )

    def _delete(self, name: str, old: r.CardEntry | None, signature: bytes, ts: float) -> None:
        if old is None:
            raise Refused(dns.rcode.NXDOMAIN, f"unknown card {name}", dns.edns.EDECode.OTHER)
        if not old.public_key:
            raise Refused(
                dns.rcode.REFUSED, f"{name} is a service entry of the zone, not deleted over DNS"
            )
        self._verify(
            old.public_key, signature, r.update_content(self.zone, "delete", name, ts), name
        )
        if ts <= old.updated_s:
            raise Refused(dns.rcode.REFUSED, f"replayed or stale delete for {name}")
        cards = dict(self.cards)
        del cards[name]
        self._commit(cards)
        log.info("deleted %s (mac %s)", name, old.mac)


def formerr_reply(wire: bytes) -> bytes | None:
    """A bare FORMERR header for a datagram that did not parse, or None if it is not worth answering."""
    if len(wire) < HEADER.size:
        return None
    ident, flags = struct.unpack_from("!HH", wire)
    if flags & 0x8000:  # a response: stay silent
        return None
    opcode = (flags >> 11) & 0xF
    return HEADER.pack(ident, 0x8000 | (opcode << 11) | dns.rcode.FORMERR, 0, 0, 0, 0)


def to_wire(response: dns.message.Message, query: dns.message.Message) -> bytes:
    """The response in the size the query allows (512, or its EDNS payload); truncated (TC) if too big."""
    limit = max(512, query.payload) if query.edns >= 0 else 512
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        response.answer.clear()
        response.authority.clear()
        response.flags |= dns.flags.TC
        return response.to_wire(max_size=limit)
