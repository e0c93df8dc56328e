"""The card daemon (`eip card run`): the thin shell of sockets around `CardNode` (eip/card/node.py).

It owns the raw IPv4 protocol 253 socket, the control socket, the selector loop, the clock and the
interface address check, and applies the node's actions. One turn of the loop drains up to MAX_BATCH
datagrams, runs the control requests and timers, then flushes the node: every delivery of the batch
is committed in one ledger transaction before any segment of the batch (any ACK) leaves. The loop
sleeps until the node's next deadline: a retransmission, or the release time of a paced segment.
"""

import contextlib
import errno
import fcntl
import logging
import os
import selectors
import socket
import struct
import time

from eip.card.actions import Answer, Stop, Transmit
from eip.card.config import CardConfig
from eip.card.control import MAX_LINE, ControlError, decode_request, encode_message
from eip.card.node import CardNode, open_ledger
from eip.card.peers import DnsResolver
from eip.errors import EipError
from eip.etcp.keys import CardKey
from eip.protocol import constants as c

log = logging.getLogger(__name__)

SIOCGIFADDR = 0x8915
ADDRESS_CHECK_S = 1.0
MAX_BATCH = 256
IDLE_WAKE_S = 0.2  # the loop wakes at least this often (address check, stop)


def interface_ipv4(ifname: str) -> str:
    """The IPv4 address of an interface, or '' if it has none."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        packed = struct.pack("256s", ifname.encode()[:15])
        return socket.inet_ntoa(fcntl.ioctl(sock.fileno(), SIOCGIFADDR, packed)[20:24])
    except OSError:
        return ""
    finally:
        sock.close()


def first_interface() -> str:
    """The first non-loopback interface (a Mininet host has exactly one)."""
    for _, name in socket.if_nameindex():
        if name != "lo":
            return name
    return ""


class CardDaemon:
    """One Energy Internet Card's process; see docs/card.md."""

    def __init__(self, config: CardConfig, clock=time.monotonic, wall=time.time,
                 rx_filter=None, tx_filter=None):  # fmt: skip
        """`rx_filter(datagram) -> bytes | None` and `tx_filter(Transmit) -> [Transmit]` change what
        the card hears and sends: the faults of eip/card/faults.py and the conformance tester's."""
        self.config = config
        self.clock = clock
        self.rx_filter, self.tx_filter = rx_filter, tx_filter
        config.state_dir.mkdir(parents=True, exist_ok=True)
        key = CardKey.load_or_create(config.key_path)
        self.interface = config.interface or first_interface()
        energy_ip = config.energy_ip or interface_ipv4(self.interface)
        if not energy_ip:
            raise EipError(
                f"card {config.name}: no IPv4 address on {self.interface or 'any interface'}"
            )
        resolver = DnsResolver(config.dns) if config.dns else None
        self.node = CardNode(config, key, open_ledger(config, key), energy_ip, wall, resolver)
        self.running = False
        self.sel = selectors.DefaultSelector()
        self.raw = self._open_raw()
        self.ctl = self._open_control()
        self._next_address_check = 0.0
        self._tos = -1
        self._buffers: dict = {}

    # --- sockets ------------------------------------------------------------------------------
    def _open_raw(self) -> socket.socket:
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, c.IP_PROTO_ENERGY)
        except PermissionError:
            raise EipError("a card needs root (CAP_NET_RAW) for its raw IPv4 socket") from None
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
        if self.config.interface:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, self.interface.encode())
        # The Energy IP is the source of everything the card sends (the Energy-TCP checksum
        # covers it), also on a host with several addresses.
        sock.bind((self.node.energy_ip, 0))
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, "raw")
        return sock

    def _open_control(self) -> socket.socket:
        path = str(self.config.control_path)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.listen(16)
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ, "ctl")
        return sock

    # --- actions ------------------------------------------------------------------------------
    def perform(self, actions: list) -> None:
        """Carry out the node's actions in order."""
        for action in actions:
            if type(action) is Transmit:
                for tx in self.tx_filter(action) if self.tx_filter else (action,):
                    self._transmit(tx)
            elif type(action) is Answer:
                self._answer(action.client, action.ok, action.payload)
            elif type(action) is Stop:
                self.running = False

    def _transmit(self, tx: Transmit) -> None:
        tos = tx.dscp << 2
        if tos != self._tos:
            self.raw.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, tos)
            self._tos = tos
        try:
            self.raw.sendto(tx.data, (tx.dst_ip, 0))
            self.node.stats["packets_out"] += 1
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ENOBUFS):
                log.warning("send to %s failed: %s", tx.dst_ip, exc)
            # A lost segment is retransmitted on timeout, like any other loss.

    def _answer(self, client, ok: bool, payload) -> None:
        msg = {"ok": True, "result": payload} if ok else {"ok": False, "error": str(payload)}
        try:
            client.setblocking(True)
            client.settimeout(2.0)
            client.sendall(encode_message(msg))
        except OSError:
            pass
        finally:
            self._drop_client(client)

    def _drop_client(self, client) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client)
        client.close()

    # --- loop ---------------------------------------------------------------------------------
    def check_address(self, now: float) -> None:
        """Notice a move: a new Energy IP on the interface (mobility, docs/card.md)."""
        self._next_address_check = now + ADDRESS_CHECK_S
        if self.config.energy_ip:
            return
        ip = interface_ipv4(self.interface)
        if ip and ip != self.node.energy_ip:
            self.perform(self.node.moved(ip))
            self.sel.unregister(self.raw)
            self.raw.close()
            self.raw = self._open_raw()
            self._tos = -1
            self.node.announce()

    def run(self) -> None:
        """Serve until a stop request or SIGTERM/SIGINT."""
        node = self.node
        self.running = True
        node.announce()
        self.perform(node.resume(self.clock()))
        self._flush()
        log.info("card %s (%s) up at %s", self.config.name, self.config.mac, node.energy_ip)
        while self.running:
            now = self.clock()
            wake = min(node.next_deadline() or now + IDLE_WAKE_S, now + IDLE_WAKE_S)
            for key, _ in self.sel.select(max(0.0, wake - now)):
                if key.data == "raw":
                    self._drain_raw()
                elif key.data == "ctl":
                    self._accept_client()
                else:
                    self._read_client(key.fileobj)
            now = self.clock()
            self.perform(node.on_timer(now))
            self._flush()
            if now >= self._next_address_check:
                self.check_address(now)
        self.close()

    def _flush(self) -> None:
        """Commit the batch, then send it; nothing of it is sent if the commit fails (peers retransmit)."""
        try:
            actions = self.node.flush()
        except Exception:
            self.node.stats["errors"] += 1
            log.exception("error applying a batch")
            return
        self.perform(actions)

    def _drain_raw(self) -> None:
        node, now = self.node, self.clock()
        for _ in range(MAX_BATCH):
            try:
                data = self.raw.recv(65535)
            except BlockingIOError:
                break
            if self.rx_filter is not None and (data := self.rx_filter(data)) is None:
                continue
            try:
                actions = node.on_datagram(data, now)
            except Exception:  # one bad packet must not stop the card; it is logged
                node.stats["errors"] += 1
                log.exception("error handling a packet")
                continue
            if actions:
                self.perform(actions)

    def _accept_client(self) -> None:
        try:
            client, _ = self.ctl.accept()
        except BlockingIOError:
            return
        client.setblocking(False)
        self.sel.register(client, selectors.EVENT_READ, "client")

    def _read_client(self, client) -> None:
        """Read a control client's request line; answer it (or its error) through the node."""
        try:
            chunk = client.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        buf = self._buffers.pop(client, b"") + chunk
        if not chunk:
            self._drop_client(client)
            return
        if b"\n" not in buf:
            if len(buf) > MAX_LINE:
                self._answer(client, False, "request line too long")
            else:
                self._buffers[client] = buf
            return
        with contextlib.suppress(KeyError, ValueError):
            self.sel.unregister(client)
        try:
            req = decode_request(buf.split(b"\n", 1)[0])
        except ControlError as exc:
            self._answer(client, False, str(exc))
            return
        self.perform(self.node.on_control(req, self.clock(), client))

    def close(self) -> None:
        self.perform(self.node.stop())
        self.sel.close()
        self.raw.close()
        self.ctl.close()
        with contextlib.suppress(OSError):
            os.unlink(self.config.control_path)
        self.node.ledger.close()
