"""One pcap of the Energy Internet traffic of a run, taken on the Energy LAN switch ports.

    with Capture(out / "capture.pcap") as cap:
        cap.start(lan_taps(emulation))
        ...                                   # the experiment's traffic
    info = cap.info                           # packets, Energy Internet packets, the tshark command

`lan_taps` names, for every VPP's LAN switch, the OVS port of each card and of the VPP router's LAN side
(the switch-side veth ends, in the root namespace), each with a filter that keeps `ip proto 253` and
sees every frame once on its way in or out of the LAN: frames sent by that port's own node, and frames
injected by the controller (the ISP's answers, the SDEN energy server) whose source is not a node of
the LAN. A frame routed between VPPs is seen once in each LAN it crosses. One `dumpcap` process reads
all ports (pcapng, one interface each) and is stopped with SIGINT (after a second for the last
packets to reach it); the result is converted to
classic pcap and opened with tshark and the eip dissector to count the packets.
"""

import logging
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from eip.errors import EipError

log = logging.getLogger(__name__)

PROTO_FILTER = "ip proto 253"


@dataclass(frozen=True)
class Tap:
    """A port to capture on: its interface and its capture filter."""

    interface: str
    bpf: str


def lan_taps(emulation) -> list[Tap]:
    """A Tap for every card port and router LAN port of the emulation's Energy LAN switches."""
    plan = emulation.plan
    mininet = emulation.net.net
    taps = []
    for vpp in sorted(plan.lans):
        router = plan.router_of(vpp)
        cards = [c for c in plan.cards if c.vpp == vpp]
        members = [(c.switch, c.port, c.mac) for c in cards]
        members.append((router.lan.switch, router.lan.port, router.lan.mac))
        macs = " or ".join(f"ether src {mac}" for _s, _p, mac in members)
        for switch, port, mac in members:
            intf = mininet[switch].intfs.get(port)
            if intf is None:
                continue
            taps.append(Tap(intf.name, f"{PROTO_FILTER} and (ether src {mac} or not ({macs}))"))
    return taps


def tshark_command(pcap: Path) -> list[str]:
    """The tshark command line that opens `pcap` with the eip dissector."""
    from eip.wireshark import dissector_path

    return ["tshark", "-X", f"lua_script:{dissector_path()}", "-r", str(pcap)]


def inspect(pcap: Path, timeout_s: float = 120.0) -> dict:
    """Open a pcap with tshark and the dissector: {opened, packets, eip_packets, malformed, error}."""
    if shutil.which("tshark") is None:
        return {"opened": False, "error": "tshark is missing (apt-get install tshark)"}
    cmd = [*tshark_command(pcap), "-T", "fields", "-e", "frame.protocols"]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"opened": False, "error": str(exc)}
    if done.returncode != 0:
        return {"opened": False, "error": done.stderr.strip()[-500:]}
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    return {
        "opened": True,
        "packets": len(lines),
        "eip_packets": sum("energyip" in line.split(":") for line in lines),
        "malformed": sum("_ws.malformed" in line for line in lines),
    }


class Capture:
    """A dumpcap process writing the traffic of some taps; `stop()` leaves `path` (classic pcap)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.raw = self.path.with_suffix(".pcapng")
        self.proc: subprocess.Popen | None = None
        self.taps: list[Tap] = []
        self.info: dict = {"file": self.path.name, "started": False}
        self._log = None

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *_exc) -> bool:
        self.stop()
        return False

    def start(self, taps: list[Tap], timeout_s: float = 20.0) -> None:
        """Start capturing on `taps` and wait until dumpcap says it is capturing."""
        self.taps = list(taps)
        self.info["interfaces"] = [t.interface for t in self.taps]
        self.info["filter"] = PROTO_FILTER
        if not self.taps:
            self.info["error"] = "no interfaces to capture on"
            return
        dumpcap = shutil.which("dumpcap")
        if dumpcap is None:
            self.info["error"] = "dumpcap is missing (apt-get install tshark)"
            return
        cmd = [dumpcap, "-q", "-n", "-w", str(self.raw)]
        for tap in self.taps:
            cmd += ["-i", tap.interface, "-f", tap.bpf]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.path.with_suffix(".log"), "w+b")  # noqa: SIM115
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self._log)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.info["error"] = f"dumpcap exited {self.proc.returncode}: {self._log_text()}"
                self.proc = None
                return
            if "Capturing on" in self._log_text() or self.raw.exists():
                self.info["started"] = True
                return
            time.sleep(0.05)
        self.info["error"] = f"dumpcap did not start in {timeout_s}s: {self._log_text()}"

    def _log_text(self) -> str:
        if self._log is None:
            return ""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace").strip()

    def stop(self, settle_s: float = 1.0) -> dict:
        """Stop dumpcap (SIGINT, it finishes the file), write the classic pcap, inspect it.

        dumpcap reads the kernel's packet ring a block at a time and drops a block not yet handed
        over when it stops (no immediate mode): `settle_s` lets the last packets reach the file.
        """
        if self.proc is not None:
            proc, self.proc = self.proc, None
            if proc.poll() is None:
                time.sleep(settle_s)
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
            self._finish()
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.info

    def _finish(self) -> None:
        if not self.raw.exists():
            self.info.setdefault("error", f"no capture file: {self._log_text()}")
            return
        try:
            self._to_pcap()
        except EipError as exc:
            self.info["error"] = str(exc)
            return
        self.info.update(inspect(self.path))
        if self.info.get("opened") and not self.info.get("packets"):
            self.info["note"] = "nothing was captured"

    def _to_pcap(self) -> None:
        """pcapng (one interface per port) to classic pcap: every port is Ethernet."""
        editcap = shutil.which("editcap")
        if editcap is None:
            shutil.move(self.raw, self.path.with_suffix(".pcapng"))
            raise EipError("editcap is missing: the capture stays in pcapng format")
        done = subprocess.run([editcap, "-F", "pcap", str(self.raw), str(self.path)],
                              capture_output=True, text=True, timeout=300)  # fmt: skip
        if done.returncode != 0:
            raise EipError(f"editcap failed: {done.stderr.strip()}")
        self.raw.unlink()
