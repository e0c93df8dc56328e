"""`eip conformance --dut-cmd`: a device under test (DUT) in its own network namespace, the tool its peer.

The bench makes two namespaces joined by a veth: the DUT's (its command runs there, with its address,
MAC, key file and peer in the environment, docs/conformance.md) and the tester's, where eip's own
card runs in a thread of this process (`eip.netns.enter`) as the DUT's peer, its sends passed
through a `Mutator` that injects one fault at a time, and where probes are sent from a raw socket.
The tool asks the DUT to act, and reads its ledger totals, through the DUT hook: a command template
that gets a verb and KEY=VALUE arguments and prints one JSON object (eip's card: `eip card ctl`).
"""

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

    def __init__(self) -> None:
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
            return [tx._replace(data=mutate.forged_receipts(tx.data, TESTER_IP, tx.dst_ip))]
        if mode is None or mode == "forge-receipts" or not is_data(tx.data):
            return [tx]
        self.injected += 1
        if mode == "duplicate":
            return [tx, tx]
        if mode == "unmark":
            return [tx._replace(dscp=no_bee_dscp(tx.dscp))]
        if mode == "forge-once":
            self.mode = None
            return [tx._replace(data=mutate.forged_signature(tx.data, TESTER_IP, tx.dst_ip))]
        return [tx]


class Bench:
    """The namespaces, the DUT process, the tester card and its probe socket; a context manager."""

    def __init__(self, dut_cmd: str, dut_ctl: str | None, workdir: str | None = None):
        if os.geteuid() != 0:
            raise EipError("eip conformance --dut-cmd needs root (network namespaces, raw sockets)")
        self.dut_cmd, self.dut_ctl = dut_cmd, dut_ctl
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="eip-conformance-"))
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EipError(f"cannot create the work folder {self.workdir}: {exc}") from None
        self.mutator = Mutator()
        self._stack = None
        self.dut = self.daemon = self.thread = self.probe_sock = None

    # --- set-up ------------------------------------------------------------------------------
    def __enter__(self) -> "Bench":
        self._stack = namespaces("eipct", "eipcd")
        self.ns_tester, self.ns_dut = self._stack.__enter__()
        try:
            link(self.ns_tester, TESTER_IF, f"{TESTER_IP}/24", self.ns_dut, DUT_IF, f"{DUT_IP}/24")
            self._start_capture()
            self._start_tester()
            self._start_dut()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def env(self) -> dict:
        tester = CardKey.load_or_create(self.workdir / "tester" / "key.pem")
        peer = f"tester,{TESTER_IP},{TESTER_MAC},{tester.public_bytes.hex()}"
        return {**os.environ, "EIP_DUT_IP": DUT_IP, "EIP_DUT_MAC": DUT_MAC, "EIP_DUT_IFACE": DUT_IF,
                "EIP_DUT_DIR": str(self.workdir / "dut"), "EIP_DUT_KEY": str(self.dut_key_path),
                "EIP_PEER": peer, "EIP_PEER_NAME": "tester", "EIP_PEER_IP": TESTER_IP,
                "EIP_PEER_MAC": TESTER_MAC, "EIP_PEER_KEY": tester.public_bytes.hex(),
                "EIP_ISP_IP": TESTER_IP}  # fmt: skip

    @property
    def dut_key_path(self) -> Path:
        return self.workdir / "dut" / "key.pem"

    def _start_tester(self) -> None:
        dut_key = CardKey.load_or_create(self.dut_key_path)  # the DUT's key: given out of band
        values = {
            "name": "tester", "kind": "pv", "mac": TESTER_MAC,
            "state_dir": str(self.workdir / "tester"), "interface": TESTER_IF,
            "peers": [{"name": "dut", "ip": DUT_IP, "mac": DUT_MAC, "key": dut_key.public_bytes.hex()}],
            "window_bee": 2000, "quantum_bee": 10,
        }  # fmt: skip
        config = config_from_args(values)
        ready, failed = threading.Event(), []

        def serve():
            try:
                enter(self.ns_tester.name)
                self.daemon = CardDaemon(config, tx_filter=self.mutator)
                import socket

                self.probe_sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, c.IP_PROTO_ENERGY)
                self.probe_sock.bind((TESTER_IP, 0))
                self.probe_sock.settimeout(0.2)
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

    def _start_dut(self) -> None:
        log_path = self.workdir / "dut.log"
        self.dut_log = open(log_path, "w")  # noqa: SIM115 (closed at exit)
        self.dut = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_dut.name, "sh", "-c", self.dut_cmd],
            env=self.env(), stdout=self.dut_log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + READY_S
        last = ""
        while time.monotonic() < deadline:
            if self.dut.poll() is not None:
                raise EipError(f"the DUT exited with {self.dut.returncode}: {self.dut_tail()}")
            try:
                self.hook("totals")
                return
            except EipError as exc:
                last = str(exc)
            time.sleep(0.3)
        raise EipError(f"the DUT hook did not answer within {READY_S:.0f} s: {last}")

    def _start_capture(self) -> None:
        """tcpdump on the tester's side of the link: every datagram of the session, for the
        per-test pcaps and the checks of what the DUT sent."""
        self.session_pcap = self.workdir / "session.pcap"
        self.tcpdump = subprocess.Popen(
            ["ip", "netns", "exec", self.ns_tester.name, "tcpdump", "-i", TESTER_IF, "-U", "-n",
             "-w", str(self.session_pcap), "ip proto 253"],
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
        if self.dut is not None and self.dut.poll() is None:
            import signal

            os.killpg(self.dut.pid, signal.SIGTERM)
            try:
                self.dut.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.dut.pid, signal.SIGKILL)
                self.dut.wait(5)
        if getattr(self, "dut_log", None):
            self.dut_log.close()
        if self.probe_sock is not None:
            self.probe_sock.close()
        if self._stack is not None:
            self._stack.__exit__(None, None, None)
            self._stack = None

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

    def probe(self, payload: bytes, port: int, wait_s: float) -> list[bytes]:
        """Send one IPv4 payload to the DUT; the DUT's datagrams to `port` within `wait_s`."""
        sock = self.probe_sock
        while True:  # drop what is queued from before
            try:
                sock.recv(65535)
            except OSError:
                break
        sock.sendto(payload, (DUT_IP, 0))
        got, deadline = [], time.monotonic() + wait_s
        while time.monotonic() < deadline:
            try:
                data = sock.recv(65535)
            except OSError:
                continue
            ihl = (data[0] & 0x0F) * 4
            if data[12:16] != bytes(map(int, DUT_IP.split("."))):
                continue
            seg = data[ihl:]
            t = mutate.tcp_offset(seg) if len(seg) > 1 else 0
            if len(seg) >= t + 4 and int.from_bytes(seg[t + 2 : t + 4], "big") == port:
                got.append(data)
        return got
