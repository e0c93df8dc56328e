"""`eip conformance --dut-cmd`: a device under test (DUT) in its own network namespace, the tool its peer.

The bench makes two namespaces joined by a veth: the DUT's (its command runs there, with its address,
MAC, key file and peer in the environment, docs/conformance.md) and the tester's, where eip's own
card runs in a thread of this process (`eip.netns.enter`) as the DUT's peer, its sends passed
through a `Mutator` that injects one fault at a time, and where probes are sent from a raw socket.
The tool asks the DUT to act, and reads its ledger totals, through the DUT hook: a command template
that gets a verb and KEY=VALUE arguments and prints one JSON object (eip's card: `eip card ctl`).
"""

import ipaddress
import json
import logging
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from eip.card.actions import Transmit
from eip.card.config import config_from_args
from eip.card.control import ControlClient, ControlError
from eip.card.daemon import CardDaemon
from eip.errors import EipError
from eip.etcp.keys import CardKey
from eip.netns import enter, link, namespaces
from eip.protocol import constants as c
from eip.protocol import mutate
from eip.protocol.messages import no_bee_dscp

log = logging.getLogger(__name__)

TESTER_IP, DUT_IP = "10.77.0.1", "10.77.0.2"
TESTER_MAC, DUT_MAC = "02:00:00:00:77:01", "02:00:00:00:77:02"
TESTER_IF, DUT_IF = "ct-eth0", "dut-eth0"
FORGED_IP = "10.77.0.3"  # a source address that is not the DUT's ISP
READY_S, HOOK_S = 20.0, 60.0
# eip's own card answers the hook through `eip card ctl`, run by the Python that runs this tool
DEFAULT_HOOK = f"{shlex.quote(sys.executable)} -m eip.cli.main card ctl {{dir}}/ctl.sock"


def is_data(payload: bytes) -> bool:
    """An Energy-TCP segment carrying BEE records (a data segment of a transfer)."""
    return mutate.has_record(payload, c.REC_BEE)


class Mutator:
    """The tester card's send filter: passes everything, or injects the fault `mode` set by a test:
    "duplicate" every data segment twice; "forge-once" the first data segment replaced by a copy
    whose signature does not verify (only the retransmission carries the real one); "unmark" data
    segments sent with a class selector, not a BEE codepoint (R3.6); "forge-receipts" every
    receipt made not to verify (R7.12). `injected` counts the segments changed."""

    def __init__(self, tester_ip: str = "10.77.0.1") -> None:
        self.tester_ip = tester_ip
        self.mode: str | None = None
        self.injected = 0

    def set(self, mode: str | None) -> None:
        self.mode = mode
        if mode is not None:
            self.injected = 0

    def __call__(self, tx: Transmit) -> list[Transmit]:
        mode = self.mode
        if mode == "forge-receipts" and mutate.has_record(tx.data, c.REC_RCPT):
            self.injected += 1
            return [tx._replace(data=mutate.forged_receipts(tx.data, self.tester_ip, tx.dst_ip))]
        if mode is None or mode == "forge-receipts" or not is_data(tx.data):
            return [tx]
        self.injected += 1
        if mode == "duplicate":
            return [tx, tx]
        if mode == "unmark":
            return [tx._replace(dscp=no_bee_dscp(tx.dscp))]
        if mode == "forge-once":
            self.mode = None
            return [tx._replace(data=mutate.forged_signature(tx.data, self.tester_ip, tx.dst_ip))]
        return [tx]


class Bench:
    """The tester card, its probe sockets and the session capture, facing one DUT; a context manager.
    How the DUT is attached is a subclass's: `NamespaceBench` runs it, `InterfaceBench` finds it
    already running on an interface. Tests read the addresses from the bench's attributes."""

    needs = "eip conformance"

    def __init__(self, dut_ctl: str | None, workdir: str | None, *, tester_ip: str, tester_if: str,
                 dut_ip: str, dut_mac: str, forged_ip: str, tester_mac: str = TESTER_MAC):  # fmt: skip
        if os.geteuid() != 0:
            raise EipError(f"{self.needs} needs root (network namespaces, raw sockets)")
        self.dut_ctl = dut_ctl
        self.tester_ip, self.tester_if, self.tester_mac = tester_ip, tester_if, tester_mac
        self.dut_ip, self.dut_mac, self.forged_ip = dut_ip, dut_mac.lower(), forged_ip
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="eip-conformance-"))
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EipError(f"cannot create the work folder {self.workdir}: {exc}") from None
        self.mutator = Mutator(tester_ip)
        self.ns_tester = None  # the tester's namespace; None: this process's
        self.dut = self.daemon = self.thread = self.probe_sock = self.raw_sock = None

    # --- set-up ------------------------------------------------------------------------------
    def __enter__(self) -> "Bench":
        try:
            self.attach()
            self._start_capture()
            self._start_tester()
            self.start_dut()
            self._await_hook()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def attach(self) -> None:
        """Make or find the link to the DUT."""

    def start_dut(self) -> None:
        """Start the DUT, if the bench runs it."""

    def detach(self) -> None:
        """Undo `attach`."""

    def dut_public_hex(self) -> str:
        raise NotImplementedError

    def tester_key(self) -> CardKey:
        return CardKey.load_or_create(self.workdir / "tester" / "key.pem")

    def env(self) -> dict:
        tester, ip, mac = self.tester_key().public_bytes.hex(), self.tester_ip, self.tester_mac
        return {**os.environ, "EIP_DUT_IP": self.dut_ip, "EIP_DUT_MAC": self.dut_mac,
                "EIP_DUT_DIR": str(self.workdir / "dut"), "EIP_PEER": f"tester,{ip},{mac},{tester}",
                "EIP_PEER_NAME": "tester", "EIP_PEER_IP": ip, "EIP_PEER_MAC": mac,
                "EIP_PEER_KEY": tester, "EIP_ISP_IP": ip}  # fmt: skip

    def _start_tester(self) -> None:
        values = {
            "name": "tester", "kind": "pv", "mac": self.tester_mac,
            "state_dir": str(self.workdir / "tester"), "interface": self.tester_if,
            "energy_ip": self.tester_ip,
            "peers": [{"name": "dut", "ip": self.dut_ip, "mac": self.dut_mac,
                       "key": self.dut_public_hex()}],
            "window_bee": 2000, "quantum_bee": 10,
        }  # fmt: skip
        try:
            config = config_from_args(values)
        except EipError as exc:
            raise EipError(f"the tester card: {exc}") from None
        ready, failed = threading.Event(), []

        def serve():
            try:
                if self.ns_tester is not None:
                    enter(self.ns_tester.name)
                self.daemon = CardDaemon(config, tx_filter=self.mutator)
                import socket

                self.probe_sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, c.IP_PROTO_ENERGY)
                self.probe_sock.bind((self.tester_ip, 0))
                self.probe_sock.settimeout(0.2)
                # whole datagrams with a source address of the test's choosing (forged ISP messages)
                self.raw_sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
            except Exception as exc:
                failed.append(exc)
                ready.set()
                return
            ready.set()
            self.daemon.run()

        self.thread = threading.Thread(target=serve, name="tester-card", daemon=True)
        self.thread.start()
        ready.wait(20)
        if failed or self.daemon is None:
            raise EipError(f"the tester card did not start: {failed[0] if failed else 'timeout'}")
        self.tester = ControlClient(config.control_path, timeout=HOOK_S)

    def _await_hook(self) -> None:
        deadline = time.monotonic() + READY_S
        last = ""
        while time.monotonic() < deadline:
            if self.dut is not None and self.dut.poll() is not None:
                raise EipError(f"the DUT exited with {self.dut.returncode}: {self.dut_tail()}")
            try:
                self.hook("totals")
                return
            except EipError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise EipError(f"the DUT hook did not answer within {READY_S:.0f} s: {last}")

    def in_tester_ns(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns_tester.name, *argv] if self.ns_tester else argv

    def _start_capture(self) -> None:
        """tcpdump on the tester's side of the link: every datagram of the session, for the
        per-test pcaps and the checks of what the DUT sent."""
        self.session_pcap = self.workdir / "session.pcap"
        self.tcpdump = subprocess.Popen(
            self.in_tester_ns(["tcpdump", "-i", self.tester_if, "-U", "-n", "-w",
                               str(self.session_pcap), "ip proto 253"]),
            stdout=subprocess.DEVNULL, stderr=open(self.workdir / "tcpdump.log", "w"),  # noqa: SIM115
        )  # fmt: skip
        deadline = time.monotonic() + 5
        while not self.session_pcap.exists() and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop_capture(self) -> Path | None:
        """Stop tcpdump; the session's pcap (None if tcpdump could not run)."""
        if getattr(self, "tcpdump", None) is None:
            return None
        if self.tcpdump.poll() is None:
            time.sleep(0.3)  # the last answers
            self.tcpdump.terminate()
            try:
                self.tcpdump.wait(5)
            except subprocess.TimeoutExpired:
                self.tcpdump.kill()
        self.tcpdump = None
        return self.session_pcap if self.session_pcap.exists() else None

    def dut_tail(self, n: int = 8) -> str:
        try:
            lines = (self.workdir / "dut.log").read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(lines[-n:]) or "(empty log)"

    def __exit__(self, *exc) -> None:
        self.stop_capture()
        if self.daemon is not None:
            self.daemon.running = False
        if self.thread is not None:
            self.thread.join(5)
        self.stop_dut()
        for sock in (self.probe_sock, self.raw_sock):
            if sock is not None:
                sock.close()
        self.detach()

    def stop_dut(self) -> None:
        """Stop the DUT, if the bench started it."""

    # --- acting ------------------------------------------------------------------------------
    def hook(self, verb: str, **kw) -> dict:
        """Ask the DUT through its hook; its JSON answer, or EipError saying what went wrong."""
        template = self.dut_ctl or DEFAULT_HOOK
        try:
            argv = shlex.split(template.replace("{dir}", str(self.workdir / "dut")))
        except ValueError as exc:
            raise EipError(f"--dut-ctl {template!r}: {exc}") from None
        argv += [verb, *(f"{k}={v}" for k, v in kw.items())]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=HOOK_S, env=self.env()
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise EipError(f"DUT hook {verb}: {exc}") from None
        if done.returncode != 0:
            why = done.stderr.strip()[-300:]
            if self.dut is not None and self.dut.poll() is not None:
                why += f"; the DUT exited with {self.dut.returncode}: {self.dut_tail()}"
            raise EipError(f"DUT hook {verb} failed ({done.returncode}): {why}")
        try:
            answer = json.loads(done.stdout)
        except ValueError:
            raise EipError(f"DUT hook {verb}: not one JSON object: {done.stdout[:200]!r}") from None
        if not isinstance(answer, dict):
            raise EipError(f"DUT hook {verb}: expected a JSON object, got {answer!r}")
        return answer

    def totals(self) -> dict:
        """The DUT's ledger totals through its hook (docs/conformance.md)."""
        return self.hook("totals")

    def tester_call(self, op: str, **kw) -> dict:
        try:
            return self.tester.call(op, **kw)
        except (ControlError, OSError) as exc:
            raise EipError(f"tester card {op}: {exc}") from None

    def send(self, payload: bytes) -> None:
        """One IPv4 payload (Energy-IP onwards) to the DUT, from the tester's address."""
        self.probe_sock.sendto(payload, (self.dut_ip, 0))

    def send_datagram(self, datagram: bytes) -> None:
        """One whole IPv4 datagram to the DUT, whatever its source address says."""
        self.raw_sock.sendto(datagram, (self.dut_ip, 0))

    def drain(self) -> None:
        """Drop what the probe socket holds from before."""
        while True:
            try:
                self.probe_sock.recv(65535)
            except OSError:
                return

    def listen(self, wait_s: float, done=None) -> list[tuple[float, bytes]]:
        """(monotonic time, datagram) of what the DUT sends within `wait_s`, or until `done(got)`."""
        got, deadline = [], time.monotonic() + wait_s
        dut = bytes(map(int, self.dut_ip.split(".")))
        while time.monotonic() < deadline and not (done and done(got)):
            try:
                data = self.probe_sock.recv(65535)
            except OSError:
                continue
            if data[12:16] == dut:
                got.append((time.monotonic(), data))
        return got

    def probe(self, payload: bytes, port: int | None, wait_s: float) -> list[bytes]:
        """Send one IPv4 payload to the DUT; its datagrams to `port` (all if None) within `wait_s`."""
        self.drain()
        self.send(payload)
        got = []
        for _t, data in self.listen(wait_s):
            if port is None:
                got.append(data)
                continue
            seg = data[(data[0] & 0x0F) * 4 :]
            t = mutate.tcp_offset(seg) if len(seg) > 1 else 0
            if len(seg) >= t + 4 and int.from_bytes(seg[t + 2 : t + 4], "big") == port:
                got.append(data)
        return got


class NamespaceBench(Bench):
    """`--dut-cmd`: the DUT's command runs in a namespace of its own, a veth away from the tester's."""

    needs = "eip conformance --dut-cmd"

    def __init__(self, dut_cmd: str, dut_ctl: str | None, workdir: str | None = None):
        super().__init__(dut_ctl, workdir, tester_ip=TESTER_IP, tester_if=TESTER_IF, dut_ip=DUT_IP,
                         dut_mac=DUT_MAC, forged_ip=FORGED_IP)  # fmt: skip
        self.dut_cmd = dut_cmd
        self._stack = None
        self.dut_log = None

    def attach(self) -> None:
        self._stack = namespaces("eipct", "eipcd")
        self.ns_tester, self.ns_dut = self._stack.__enter__()
        link(self.ns_tester, TESTER_IF, f"{TESTER_IP}/24", self.ns_dut, DUT_IF, f"{DUT_IP}/24")

    def detach(self) -> None:
        if self._stack is not None:
            self._stack.__exit__(None, None, None)
            self._stack = None

    @property
    def dut_key_path(self) -> Path:
        return self.workdir / "dut" / "key.pem"

    def dut_public_hex(self) -> str:
        return CardKey.load_or_create(self.dut_key_path).public_bytes.hex()  # given out of band

    def env(self) -> dict:
        return {**super().env(), "EIP_DUT_IFACE": DUT_IF, "EIP_DUT_KEY": str(self.dut_key_path)}

    def start_dut(self) -> None:
        self.dut_log = open(self.workdir / "dut.log", "w")  # noqa: SIM115 (closed at exit)
        self.dut = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_dut.name, "sh", "-c", self.dut_cmd],
            env=self.env(), stdout=self.dut_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip

    def stop_dut(self) -> None:
        if self.dut is not None and self.dut.poll() is None:
            import signal

            os.killpg(self.dut.pid, signal.SIGTERM)
            try:
                self.dut.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.dut.pid, signal.SIGKILL)
                self.dut.wait(5)
        if self.dut_log is not None:
            self.dut_log.close()
            self.dut_log = None


class InterfaceBench(Bench):
    """`--iface IF --dut-ip IP --dut-mac MAC`: a DUT already running, reached on interface IF of
    this namespace. The tester takes IF's IPv4 address (or `tester_ip`), and the DUT must know the
    tester as a peer and as its ISP beforehand (docs/conformance.md); its key is `dut_key_hex`."""

    needs = "eip conformance --iface"

    def __init__(self, iface: str, dut_ip: str, dut_mac: str, dut_key_hex: str,
                 dut_ctl: str | None, workdir: str | None = None, tester_ip: str | None = None,
                 forged_ip: str | None = None):  # fmt: skip
        if not dut_ctl:
            raise EipError("--iface needs --dut-ctl: how the tool asks the DUT to act")
        tester_ip = tester_ip or interface_address(iface)
        forged = forged_ip or str(ipaddress.IPv4Address(tester_ip) + 1)
        super().__init__(dut_ctl, workdir, tester_ip=tester_ip, tester_if=iface, dut_ip=dut_ip,
                         dut_mac=dut_mac, forged_ip=forged)  # fmt: skip
        try:
            if len(bytes.fromhex(dut_key_hex)) != 32:
                raise ValueError
        except ValueError:
            raise EipError(
                f"--dut-key {dut_key_hex!r}: not 64 hex digits (an Ed25519 public key)"
            ) from None
        self.dut_key_hex = dut_key_hex

    def dut_public_hex(self) -> str:
        return self.dut_key_hex

    def env(self) -> dict:
        return {**super().env(), "EIP_DUT_IFACE": self.tester_if}

    def dut_tail(self, n: int = 8) -> str:
        return "(the DUT runs outside the tool: see its own log)"


def interface_address(iface: str) -> str:
    """The first IPv4 address of `iface` in this namespace; EipError naming the interface."""
    done = subprocess.run(["ip", "-o", "-4", "addr", "show", "dev", iface], capture_output=True,
                          text=True)  # fmt: skip
    if done.returncode != 0:
        raise EipError(f"--iface {iface}: no such interface ({done.stderr.strip()})")
    for line in done.stdout.splitlines():
        parts = line.split()
        if "inet" in parts:
            return parts[parts.index("inet") + 1].split("/")[0]
    raise EipError(f"--iface {iface}: it has no IPv4 address (give --tester-ip or add one)")
