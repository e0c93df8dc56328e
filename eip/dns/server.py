"""Energy DNS server: authoritative UDP DNS for the card zone, with signed RFC 2136 UPDATEs.

`EnergyDnsServer` is the thin UDP shell: one socket, a selector loop, optional JSON persistence
(eip.dns.store) and counters, around `EnergyZone` (eip.dns.zone), the logic as a plain object that
returns the reply bytes for a datagram and the time. Both, and the store functions, stay importable
from here.
"""

import contextlib
import logging
import selectors
import socket
import threading
import time
from pathlib import Path

from eip.dns import records as r
from eip.dns.store import load_zone, save_zone
from eip.dns.zone import MAX_SKEW_S, EnergyZone, Refused
from eip.errors import EipError

log = logging.getLogger(__name__)

__all__ = ["MAX_SKEW_S", "EnergyDnsServer", "EnergyZone", "Refused", "load_zone", "save_zone"]


class EnergyDnsServer:
    """The UDP server. Binds at construction (so `address` is known); `serve_forever()` or `start()`."""

    def __init__(
        self,
        bind: tuple[str, int] = ("0.0.0.0", 53),
        zone: str = r.DEFAULT_ZONE,
        store_path: str | Path | None = None,
        max_skew_s: float = MAX_SKEW_S,
        services=(),
    ):
        """`services`: service entries (records.parse_service) the zone always holds, over any stored
        entry of the same name."""
        self.store_path = Path(store_path) if store_path else None
        self.zone = EnergyZone(zone, max_skew_s, self._save if self.store_path else None)
        if self.store_path and self.store_path.exists():
            cards, serial = load_zone(self.store_path, zone)
            self.zone.load(cards, serial)
            log.info("loaded %d cards from %s", len(cards), self.store_path)
        if services:
            names = {s.name for s in services}
            macs = {s.mac for s in services}
            kept = [
                c for c in self.zone.cards.values() if c.name not in names and c.mac not in macs
            ]
            self.zone.load(kept + list(services), self.zone.serial)
            log.info("service entries: %s", ", ".join(f"{s.name}={s.energy_ip}" for s in services))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.bind(bind)
        except OSError as exc:
            self._sock.close()
            raise EipError(f"cannot bind UDP {bind[0]}:{bind[1]}: {exc.strerror or exc}") from None
        self._sock.setblocking(False)
        self._wake_r, self._wake_w = socket.socketpair()

    def _save(self, cards: list[r.CardEntry], serial: int) -> None:
        save_zone(self.store_path, self.zone.zone, cards, serial)

    @property
    def address(self) -> tuple[str, int]:
        return self._sock.getsockname()[:2]

    def stats(self) -> dict[str, int]:
        """Counters: queries, updates, refused, malformed, nxdomain, notimp, errors, cards."""
        with self._lock:
            out = {
                k: self.zone.counts[k]
                for k in (
                    "queries",
                    "updates",
                    "refused",
                    "malformed",
                    "nxdomain",
                    "notimp",
                    "errors",
                )
            }
            out["cards"] = len(self.zone.cards)
        return out

    def entries(self) -> list[r.CardEntry]:
        with self._lock:
            return sorted(self.zone.cards.values())

    def handle(self, wire: bytes, now: float | None = None) -> bytes | None:
        with self._lock:
            return self.zone.handle(wire, time.time() if now is None else now)

    def serve_forever(self) -> None:
        log.info("Energy DNS for %s on udp %s:%d", self.zone.zone, *self.address)
        sel = selectors.DefaultSelector()
        sel.register(self._sock, selectors.EVENT_READ)
        sel.register(self._wake_r, selectors.EVENT_READ)
        try:
            while not self._stopping.is_set():
                for key, _ in sel.select():
                    if key.fileobj is self._sock:
                        self._drain()
        finally:
            sel.close()

    def _drain(self) -> None:
        while True:
            try:
                wire, peer = self._sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP errors reported on the socket
                log.debug("recvfrom: %s", exc)
                return
            try:
                reply = self.handle(wire)
                if reply is not None:
                    self._sock.sendto(reply, peer)
            except Exception:
                with self._lock:
                    self.zone.counts["errors"] += 1
                log.exception("error answering %s:%d", *peer[:2])

    def start(self) -> "EnergyDnsServer":
        """Serve in a daemon thread (tests, embedding)."""
        self._thread = threading.Thread(target=self.serve_forever, name="energy-dns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        for s in (self._sock, self._wake_r, self._wake_w):
            s.close()

    def __enter__(self) -> "EnergyDnsServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
