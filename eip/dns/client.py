"""Energy DNS client: resolve a card by name or MAC, register and unregister it with signed UPDATEs."""

import os
import time
from collections.abc import Callable

import dns.edns
import dns.exception
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.update

from eip.dns import records as r
from eip.errors import EipError

DEFAULT_PORT = 53
Server = tuple[str, int]
Signer = Callable[[bytes], bytes]


def parse_server(text: str | None = None) -> Server:
    """`IP[:PORT]` (default: env EIP_DNS, else 127.0.0.1:53) to (ip, port); EipError if invalid."""
    text = text or os.environ.get("EIP_DNS") or "127.0.0.1"
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        host, port = port, str(DEFAULT_PORT)
    try:
        r.check_ip(host)
        number = int(port)
        if not 0 < number < 65536:
            raise ValueError
    except (EipError, ValueError):
        raise EipError(f"DNS server {text!r} is not IP[:PORT]") from None
    return host, number


def _exchange(msg: dns.message.Message, server: Server, timeout: float, attempts: int = 2):
    """Send over UDP, retrying once on loss; (reply, attempt index). EipError when nothing comes back."""
    ip, port = server
    for attempt in range(attempts):
        try:
            reply = dns.query.udp(
                msg, ip, timeout=timeout / attempts, port=port, ignore_unexpected=True
            )
            return reply, attempt
        except dns.exception.Timeout:
            continue
        except (OSError, dns.exception.DNSException) as exc:
            raise EipError(f"no answer from DNS server {ip}:{port} ({exc})") from None
    raise EipError(f"no answer from DNS server {ip}:{port}")


def _reason(reply: dns.message.Message) -> str:
    texts = [o.text for o in reply.options if isinstance(o, dns.edns.EDEOption) and o.text]
    return "; ".join(texts) or dns.rcode.to_text(reply.rcode())


def _lookup(owner, label: str, server: Server, timeout: float) -> r.CardEntry:
    query = dns.message.make_query(owner, dns.rdatatype.ANY)
    query.flags &= ~dns.flags.RD
    reply, _ = _exchange(query, server, timeout)
    rcode = reply.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        raise EipError(f"unknown card {label}")
    if rcode != dns.rcode.NOERROR:
        raise EipError(
            f"DNS server {server[0]}:{server[1]} answered {dns.rcode.to_text(rcode)} for {owner}"
        )
    if not reply.answer:
        raise EipError(f"unknown card {label}")
    try:
        return r.from_rrsets(list(reply.answer), owner)
    except EipError as exc:
        raise EipError(f"bad record for {label}: {exc}") from None


def resolve(
    name: str,
    server: Server = ("127.0.0.1", DEFAULT_PORT),
    timeout: float = 2.0,
    zone: str = r.DEFAULT_ZONE,
) -> r.CardEntry:
    """The entry of card NAME (one ANY query for `NAME.<zone>`)."""
    name = name.strip().lower()
    r.check_name(name)
    return _lookup(r.card_owner(name, zone), name, server, timeout)


def resolve_mac(
    mac: str,
    server: Server = ("127.0.0.1", DEFAULT_PORT),
    timeout: float = 2.0,
    zone: str = r.DEFAULT_ZONE,
) -> r.CardEntry:
    """The entry of the card with this EIC MAC (query `<mac hex>.mac.<zone>`)."""
    mac = r.check_mac(mac.strip().lower())
    return _lookup(r.mac_owner(mac, zone), mac, server, timeout)


def _send_update(
    update: dns.update.UpdateMessage, label: str, server: Server, timeout: float, op: str
) -> None:
    update.use_edns(0)  # so the server can return its reason as an Extended DNS Error
    reply, attempt = _exchange(update, server, timeout)
    rcode = reply.rcode()
    if rcode == dns.rcode.NOERROR:
        return
    if rcode == dns.rcode.NXDOMAIN:
        if op == "unregister" and attempt > 0:
            return  # our first, lost-reply attempt already deleted it
        raise EipError(f"unknown card {label}")
    raise EipError(
        f"DNS server refused to {op} {label} ({dns.rcode.to_text(rcode)}): {_reason(reply)}"
    )


def register(
    entry: r.CardEntry,
    server: Server = ("127.0.0.1", DEFAULT_PORT),
    sign: Signer | None = None,
    timeout: float = 2.0,
    zone: str = r.DEFAULT_ZONE,
) -> r.CardEntry:
    """Add or replace the card's A and TXT with one signed UPDATE; returns the entry as registered.

    `updated_s` is stamped with the current time when it is 0. `sign(bytes) -> bytes` is the card's
    Ed25519 signer; the key that signs must be the one already registered for the name (or, for a new
    name, the one in `entry.public_key`).
    """
    if sign is None:
        raise EipError("register: a signer (the card's Ed25519 key) is required")
    if not entry.updated_s:
        entry = entry._replace(updated_s=round(time.time(), 6))
    entry = entry.checked()
    owner = r.card_owner(entry.name, zone)
    signature = sign(r.update_content(zone, "add", entry.name, entry.updated_s, entry))
    update = dns.update.UpdateMessage(r.zone_name(zone))
    update.delete(owner)
    for rrset in r.card_rrsets(entry, zone):
        update.add(owner, rrset)
    update.add(owner, r.sig_rrset(owner, signature, entry.updated_s))
    _send_update(update, entry.name, server, timeout, "register")
    return entry


def unregister(
    name: str,
    server: Server = ("127.0.0.1", DEFAULT_PORT),
    sign: Signer | None = None,
    timeout: float = 2.0,
    zone: str = r.DEFAULT_ZONE,
) -> None:
    """Delete card NAME (and its `.mac.` entry) with one signed UPDATE."""
    if sign is None:
        raise EipError("unregister: a signer (the card's Ed25519 key) is required")
    name = r.check_name(name.strip().lower())
    ts = round(time.time(), 6)
    owner = r.card_owner(name, zone)
    update = dns.update.UpdateMessage(r.zone_name(zone))
    update.delete(owner)
    update.add(owner, r.sig_rrset(owner, sign(r.update_content(zone, "delete", name, ts)), ts))
    _send_update(update, name, server, timeout, "unregister")
