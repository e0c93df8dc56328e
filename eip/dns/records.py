"""Energy DNS records: a card's entry, its strict validation, and its DNS RRsets (docs/card.md).

A card named NAME has two owner names in the zone (default `energy.`):

- `NAME.energy.`: A = Energy IP; TXT = "mac=.." "kind=.." "vpp=.." "key=<hex>" "updated=<s>";
- `<mac hex without colons>.mac.energy.`: the same A, and TXT = "name=.." followed by the same strings,
  so a card that receives a SYN from an unknown MAC finds the sender's name and key in one query.

The server keeps the `.mac.` names itself; cards only ever update `NAME.energy.`.
"""

import ipaddress
import re
from typing import NamedTuple

import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from eip.errors import EipError

KINDS = ("load", "pv", "wind", "storage", "ev", "plant", "router", "server", "isp")
# A service entry (the ISP, a VPP router's BEE pool) is set by the zone's operator and has no key:
# no UPDATE can change it and no card can take its name or MAC (eip/dns/zone.py).
SERVICE_KINDS = ("router", "server", "isp")
DEFAULT_ZONE = "energy."
TTL_S = 60  # short: an EV's Energy IP changes when it moves
KEY_BYTES = 32  # Ed25519 public key
MAC_LABEL = "mac"  # reverse lookups live under mac.<zone>; no card may take this name

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAC = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){5}")
_MAC_HEX = re.compile(r"[0-9a-f]{12}")


class CardEntry(NamedTuple):
    """What Energy DNS knows about one card; `checked()` validates every field."""

    name: str  # a DNS label: [a-z0-9-]{1,63}, no leading or trailing hyphen
    energy_ip: str  # IPv4 dotted quad
    mac: str  # EIC MAC, lower case with colons
    kind: str  # one of KINDS
    vpp: str  # home VPP name (a DNS label), "" for none
    public_key: bytes  # Ed25519 public key, 32 bytes
    updated_s: float = 0.0  # Unix time of the registration, microsecond precision

    def checked(self) -> "CardEntry":
        """This entry if every field is valid; EipError naming the first bad field otherwise."""
        check_name(self.name)
        check_ip(self.energy_ip)
        check_mac(self.mac)
        if self.kind not in KINDS:
            raise EipError(f"kind: {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.vpp and not _LABEL.fullmatch(self.vpp):
            raise EipError(f"vpp: {self.vpp!r} is not a DNS label ([a-z0-9-]{{1,63}})")
        keyless_service = self.public_key == b"" and self.kind in SERVICE_KINDS
        if not keyless_service and (
            not isinstance(self.public_key, bytes) or len(self.public_key) != KEY_BYTES
        ):
            raise EipError(f"public_key: must be {KEY_BYTES} bytes (Ed25519); only a "
                           f"service entry ({', '.join(SERVICE_KINDS)}) has none")  # fmt: skip
        if not isinstance(self.updated_s, (int, float)) or not 0 <= self.updated_s < 1e11:
            raise EipError(f"updated_s: {self.updated_s!r} is not a Unix time")
        return self


def make_entry(
    name: str,
    energy_ip: str,
    mac: str,
    kind: str,
    vpp: str = "",
    public_key: bytes = b"",
    updated_s: float = 0.0,
) -> CardEntry:
    """A checked CardEntry from user input: name, MAC, kind and VPP are lower-cased first."""
    return CardEntry(
        name.strip().lower(),
        energy_ip.strip(),
        mac.strip().lower(),
        kind.strip().lower(),
        vpp.strip().lower(),
        public_key,
        round(float(updated_s), 6),
    ).checked()


def parse_service(text: str) -> CardEntry:
    """`NAME=IP,MAC,KIND` (`eip dns serve --service`): a service entry, without a key."""
    name, sep, rest = text.partition("=")
    parts = rest.split(",")
    if not sep or len(parts) != 3:
        raise EipError(
            f"service {text!r}: expected NAME=IP,MAC,KIND (e.g. isp=10.0.0.254,02:00:00:00:00:fe,isp)"
        )
    if parts[2].strip().lower() not in SERVICE_KINDS:
        raise EipError(f"service {text!r}: kind must be one of {', '.join(SERVICE_KINDS)}")
    return make_entry(name, parts[0], parts[1], parts[2])


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _LABEL.fullmatch(name):
        raise EipError(f"name: {name!r} is not a DNS label ([a-z0-9-]{{1,63}}, lower case)")
    if name == MAC_LABEL:
        raise EipError(f"name: {name!r} is reserved for lookups by MAC")
    return name


def check_ip(ip: str) -> str:
    try:
        ipaddress.IPv4Address(ip)
    except (ipaddress.AddressValueError, ValueError, TypeError):
        raise EipError(f"energy_ip: {ip!r} is not an IPv4 address") from None
    return ip


def check_mac(mac: str) -> str:
    if not isinstance(mac, str) or not _MAC.fullmatch(mac):
        raise EipError(f"mac: {mac!r} is not a lower-case MAC address like 02:00:00:00:01:01")
    return mac


def zone_name(zone: str = DEFAULT_ZONE) -> dns.name.Name:
    return dns.name.from_text(zone)


def card_owner(name: str, zone: str = DEFAULT_ZONE) -> dns.name.Name:
    """`NAME.<zone>`."""
    return dns.name.Name((name.encode(),)).concatenate(zone_name(zone))


def mac_owner(mac: str, zone: str = DEFAULT_ZONE) -> dns.name.Name:
    """`<mac hex>.mac.<zone>`."""
    return dns.name.Name((mac.replace(":", "").encode(), MAC_LABEL.encode())).concatenate(
        zone_name(zone)
    )


def mac_from_hex(text: str) -> str | None:
    """`0200000001 01` hex label back to `02:00:00:00:01:01`, or None if it is not 12 hex digits."""
    text = text.lower()
    if not _MAC_HEX.fullmatch(text):
        return None
    return ":".join(text[i : i + 2] for i in range(0, 12, 2))


def format_updated(updated_s: float) -> str:
    return f"{updated_s:.6f}"


def txt_strings(entry: CardEntry) -> list[str]:
    """The TXT strings of `NAME.<zone>`, in their fixed order."""
    return [
        f"mac={entry.mac}",
        f"kind={entry.kind}",
        f"vpp={entry.vpp}",
        f"key={entry.public_key.hex()}",
        f"updated={format_updated(entry.updated_s)}",
    ]


def _txt_rrset(owner: dns.name.Name, strings: list[str], ttl: int) -> dns.rrset.RRset:
    text = " ".join(f'"{s}"' for s in strings)
    return dns.rrset.from_text(owner, ttl, dns.rdataclass.IN, dns.rdatatype.TXT, text)


def to_rrsets(
    entry: CardEntry, zone: str = DEFAULT_ZONE, ttl: int = TTL_S
) -> list[dns.rrset.RRset]:
    """A and TXT of `NAME.<zone>`, then A and TXT of `<mac>.mac.<zone>`."""
    owner, rev = card_owner(entry.name, zone), mac_owner(entry.mac, zone)
    a = dns.rdatatype.A
    return [
        dns.rrset.from_text(owner, ttl, dns.rdataclass.IN, a, entry.energy_ip),
        _txt_rrset(owner, txt_strings(entry), ttl),
        dns.rrset.from_text(rev, ttl, dns.rdataclass.IN, a, entry.energy_ip),
        _txt_rrset(rev, [f"name={entry.name}", *txt_strings(entry)], ttl),
    ]


def card_rrsets(
    entry: CardEntry, zone: str = DEFAULT_ZONE, ttl: int = TTL_S
) -> list[dns.rrset.RRset]:
    """Only the A and TXT of `NAME.<zone>`: what a card puts in its UPDATE."""
    return to_rrsets(entry, zone, ttl)[:2]


def parse_txt(strings: list[bytes] | tuple[bytes, ...]) -> dict[str, str]:
    """`key=value` TXT strings into a dict; EipError on a string without `=` or a repeated key."""
    fields: dict[str, str] = {}
    for raw in strings:
        try:
            text = raw.decode("ascii")
        except UnicodeDecodeError:
            raise EipError("TXT: a string is not ASCII") from None
        key, sep, value = text.partition("=")
        if not sep or key in fields:
            raise EipError(f"TXT: bad or repeated string {text!r}")
        fields[key] = value
    return fields


def entry_from_fields(name: str, energy_ip: str, fields: dict[str, str]) -> CardEntry:
    """A checked CardEntry from a name, an A record and parsed TXT fields."""
    try:
        key = bytes.fromhex(fields["key"])
        updated = float(fields.get("updated", "0"))
        return CardEntry(
            name, energy_ip, fields["mac"], fields["kind"], fields["vpp"], key, updated
        ).checked()
    except KeyError as exc:
        raise EipError(f"TXT: missing {exc.args[0]}=") from None
    except ValueError as exc:
        raise EipError(f"TXT: {exc}") from None


def from_rrsets(rrsets: list[dns.rrset.RRset], owner: dns.name.Name) -> CardEntry:
    """The CardEntry held by the A and TXT RRsets of `owner` (a card name or a `.mac.` name).

    For a `.mac.` owner the card name comes from its `name=` string; otherwise from the first label.
    """
    ips = [
        str(rd) for rs in rrsets if rs.name == owner and rs.rdtype == dns.rdatatype.A for rd in rs
    ]
    txts = [
        rd.strings
        for rs in rrsets
        if rs.name == owner and rs.rdtype == dns.rdatatype.TXT
        for rd in rs
    ]
    if len(ips) != 1 or len(txts) != 1:
        raise EipError(
            f"{owner}: expected one A and one TXT record, got {len(ips)} and {len(txts)}"
        )
    fields = parse_txt(txts[0])
    name = fields.pop("name", None) or owner.labels[0].decode("ascii", "replace").lower()
    return entry_from_fields(name, ips[0], fields)


# --- UPDATE authentication (docs in eip/dns/__init__.py) ---

SIGN_TAG = "EIP-DNS-UPDATE/1"
SIG_BYTES = 64


def update_content(
    zone: str, op: str, name: str, ts: float, entry: CardEntry | None = None
) -> bytes:
    """The canonical bytes a card signs for an UPDATE: op "add" (with its entry) or "delete"."""
    lines = [SIGN_TAG, f"zone={zone_name(zone).to_text().lower()}", f"op={op}", f"name={name}"]
    if entry is not None:
        lines += [f"ip={entry.energy_ip}", *txt_strings(entry)[:4]]
    lines.append(f"ts={format_updated(ts)}")
    return ("\n".join(lines) + "\n").encode("ascii")


def sig_strings(signature: bytes, ts: float) -> list[str]:
    """The TXT strings of the signature record a card adds to the update section."""
    return [f"sig={signature.hex()}", f"ts={format_updated(ts)}"]


def sig_rrset(owner: dns.name.Name, signature: bytes, ts: float) -> dns.rrset.RRset:
    return _txt_rrset(owner, sig_strings(signature, ts), 0)


def is_mac(text: str) -> bool:
    """True if `text` is a lower-case MAC with colons (how `eip resolve` tells a MAC from a name)."""
    return bool(_MAC.fullmatch(text))
