"""Who a card's peers are: their keys and addresses from the config, the ledger, then Energy DNS.

DNS lookups are I/O, so they go through a resolver object the daemon injects (`DnsResolver`, over
eip/dns/client.py); a node built without one (a unit test, the fuzzer) knows only its configured and
remembered peers. Lookups stay synchronous, as the card has always done them.
"""

import logging

from eip.card.config import CardConfig
from eip.card.control import ControlError
from eip.errors import EipError

log = logging.getLogger(__name__)


class DnsResolver:
    """Energy DNS (eip/dns/client.py) at `server` = (host, port): what `Peers` asks when it must."""

    def __init__(self, server: tuple[str, int]):
        self.server = server

    def resolve_mac(self, mac: str):
        from eip.dns.client import resolve_mac

        return resolve_mac(mac, self.server, timeout=1.0)

    def resolve(self, name: str):
        from eip.dns.client import resolve

        return resolve(name, self.server)

    def register(self, entry, sign) -> None:
        from eip.dns.client import register

        register(entry, self.server, sign)


class Peers:
    """A card's view of its peers; every key learned from DNS is remembered in the ledger."""

    def __init__(self, config: CardConfig, ledger, resolver=None):
        self.config = config
        self.ledger = ledger
        self.resolver = resolver

    def key_of(self, mac: str) -> bytes | None:
        """The public key of a peer card: config, then ledger, then Energy DNS by MAC; None if unknown."""
        for peer in self.config.peers:
            if peer.mac == mac:
                return peer.key
        key = self.ledger.peer_key(mac)
        if key is None and self.resolver is not None:
            try:
                entry = self.resolver.resolve_mac(mac)
            except EipError as exc:
                log.info("no key for %s: %s", mac, exc)
                return None
            self.ledger.add_peer(entry.mac, entry.name, entry.public_key)
            key = entry.public_key
        return key

    def resolve(self, name: str) -> tuple[str, str, bytes]:
        """(ip, mac, key) of a peer named by card name, Energy IP or MAC; ControlError if unknown."""
        for peer in self.config.peers:
            if name in (peer.name, peer.ip, peer.mac):
                return peer.ip, peer.mac, peer.key
        if self.resolver is not None:
            entry = self.resolver.resolve(name)
            self.ledger.add_peer(entry.mac, entry.name, entry.public_key)
            return entry.energy_ip, entry.mac, entry.public_key
        raise ControlError(f"unknown peer {name!r}: not in this card's peers and no DNS configured")

    def address_of(self, name: str, what: str) -> str:
        """The Energy IP of a service (the ISP, a BEE pool) named `name` in Energy DNS."""
        if self.resolver is None:
            raise ControlError(
                f"{what} {name!r}: a name needs Energy DNS (dns: in the card config)"
            )
        try:
            return self.resolver.resolve(name).energy_ip
        except EipError as exc:
            raise ControlError(f"{what} {name!r} not found in Energy DNS: {exc}") from None

    def register(self, entry, sign) -> None:
        """Publish this card's entry (name, Energy IP, key) in Energy DNS; a failure is logged."""
        if self.resolver is None:
            return
        try:
            self.resolver.register(entry, sign)
        except EipError as exc:
            log.warning("DNS registration failed: %s", exc)
