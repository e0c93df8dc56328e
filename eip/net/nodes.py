"""The roles of an emulated Energy Internet as Mininet classes, and the Topo base that places them.

- `EnergyTopo`: the base of every topology in `topologies/`. Its helpers add a VPP (LAN switch and
  router), the WAN switch and cards with the addressing conventions of `eip/net/plan.py`, so a topology's
  `build()` only says which VPPs and cards exist.
- `EicHost`: a host carrying one Energy Internet Card; it runs the `eip card` daemon.
- `VppRouter`: a VPP's Linux router between its Energy LAN and the WAN.
- `RouterLink`: a link whose `params1`/`params2` may carry `mac` (Mininet's Link only takes `addr1`/`addr2`).
"""

import signal
import subprocess
import sys
from pathlib import Path

from mininet.link import Link
from mininet.node import Host, Node
from mininet.topo import Topo

from eip.addressing import (
    MAX_CARDS_PER_VPP,
    MAX_VPPS,
    WAN_DPID,
    card_ip,
    card_mac,
    check_card,
    check_vpp_no,
    lan_subnet,
    router_gateway,
    router_lan_mac,
    router_wan_ip,
    router_wan_mac,
)
from eip.errors import EipError


def dpid_hex(dpid: int) -> str:
    return f"{dpid:016x}"


class RouterLink(Link):
    """A Link that takes each side's MAC from params1/params2 (`mac`), as plan.py's convention has it."""

    def __init__(self, node1, node2, params1=None, params2=None, **options):
        params1, params2 = dict(params1 or {}), dict(params2 or {})
        if "mac" in params1:
            options["addr1"] = params1.pop("mac")
        if "mac" in params2:
            options["addr2"] = params2.pop("mac")
        super().__init__(node1, node2, params1=params1, params2=params2, **options)


class EnergyTopo(Topo):
    """Base of the Energy Internet topologies; subclasses call the helpers from `build()`.

    Layout of every VPP i: LAN switch `s{i}` (dpid i) with its router `r{i}` on port 1 (`r{i}-lan`,
    10.i.0.254/24) and the cards on ports 2, 3, ...; the router's `r{i}-wan` (10.0.0.i/24) sits on port i
    of the WAN switch `wan`.
    """

    def __init__(self, *args, **params):
        self._cards_in: dict[int, int] = {}
        self._wan = ""
        super().__init__(*args, **params)

    def add_wan(self) -> str:
        """The WAN switch joining the VPP routers; add it before the VPPs."""
        self._wan = self.addSwitch("wan", dpid=dpid_hex(WAN_DPID), role="wan")
        return self._wan

    def add_vpp(self, no: int, label: str = "") -> str:
        """VPP number `no` (1..254): its LAN switch and router; returns the VPP's name `vpp{no}`."""
        check_vpp_no(no)
        if no in self._cards_in:
            raise EipError(f"VPP number {no} is taken or outside 1..{MAX_VPPS}")
        vpp = f"vpp{no}"
        lan = self.addSwitch(f"s{no}", dpid=dpid_hex(no), role="lan", vpp=vpp, label=label)
        gw = f"{router_gateway(no)}/24"
        router = self.addNode(
            f"r{no}", cls=VppRouter, role="router", vpp=vpp, label=label,
            lan_subnet=lan_subnet(no), ip=gw, mac=router_lan_mac(no),
        )  # fmt: skip
        self.addLink(
            router, lan, port1=1, port2=1, cls=RouterLink,
            intfName1=f"r{no}-lan", intfName2=f"s{no}-eth1",
            params1={"ip": gw, "mac": router_lan_mac(no)},
        )  # fmt: skip
        if self._wan:
            self.addLink(
                router, self._wan, port1=2, port2=no, cls=RouterLink,
                intfName1=f"r{no}-wan", intfName2=f"wan-eth{no}",
                params1={"ip": f"{router_wan_ip(no)}/24", "mac": router_wan_mac(no)},
            )  # fmt: skip
        self._cards_in[no] = 0
        return vpp

    def add_card(self, vpp_no: int, name: str, kind: str, bus: int = 0) -> str:
        """The next card of VPP `vpp_no`, on the next port of its LAN switch; returns its name."""
        if vpp_no not in self._cards_in:
            raise EipError(f"card {name}: add VPP {vpp_no} first")
        check_card(name, kind)
        k = self._cards_in[vpp_no] + 1
        if k > MAX_CARDS_PER_VPP:
            raise EipError(f"VPP {vpp_no} is full ({MAX_CARDS_PER_VPP} cards)")
        self._cards_in[vpp_no] = k
        host = self.addHost(
            name, cls=EicHost, role="card", kind=kind, mac=card_mac(vpp_no, k),
            ip=f"{card_ip(vpp_no, k)}/24", vpp=f"vpp{vpp_no}", gateway=router_gateway(vpp_no),
            bus=int(bus),
        )  # fmt: skip
        self.addLink(host, f"s{vpp_no}", port1=0, port2=k + 1)
        return host

    def add_case(self, topology) -> None:
        """Build a study system's `CaseTopology` (eip/cases): the WAN, its VPPs, then its cards."""
        self.add_wan()
        for vpp in topology.vpps:
            self.add_vpp(vpp.no, vpp.label)
        for card in topology.cards:
            self.add_card(card.vpp_no, card.name, card.kind, bus=card.bus)


def _run(node: Node, *args: str) -> str:
    """Run a command (argument list) in a node's namespace; EipError with its output if it fails."""
    out, err, code = node.pexec(list(args))
    if code != 0:
        raise EipError(f"{node.name}: {' '.join(args)} failed ({code}): {(err or out).strip()}")
    return out


def _tx_offload_off(node: Node, ifname: str) -> None:
    """TCP over the OVS userspace datapath needs TX checksum offload off (shared/platform.md)."""
    _run(node, "ethtool", "-K", ifname, "tx", "off")


class EicHost(Host):
    """A host with one Energy Internet Card: TX offload off, default route to its VPP's router."""

    card_proc: subprocess.Popen | None = None
    card_log: Path | None = None

    def config(self, gateway: str = "", **params):
        result = super().config(**params)
        intf = self.defaultIntf()
        if intf:
            _tx_offload_off(self, intf.name)
            if gateway:
                _run(self, "ip", "route", "replace", "default", "via", gateway, "dev", intf.name)
        return result

    def card_command(self, state_dir: Path, peers=(), extra_args=(), config=None) -> list[str]:
        """The `eip card run` argument list for this host (identity from the topology's params)."""
        args = [sys.executable, "-m", "eip.cli.main", "--log-level", "INFO", "card", "run"]
        if config:
            args += ["--config", str(config)]
        else:
            p = self.params
            args += [
                "--name", self.name, "--kind", p["kind"], "--mac", p["mac"],
                "--state-dir", str(state_dir), "--energy-ip", p["ip"].split("/")[0],
                "--interface", self.defaultIntf().name, "--vpp", p.get("vpp", ""),
            ]  # fmt: skip
        for peer in peers:
            args += ["--peer", ",".join((peer["name"], peer["ip"], peer["mac"], peer["key"]))]
        return args + [str(a) for a in extra_args]

    def start_card(self, state_dir, peers=(), extra_args=(), config=None) -> subprocess.Popen:
        """Start the card daemon in this host; output goes to STATE_DIR/card.log. Does not wait."""
        if self.card_running():
            raise EipError(f"card {self.name} is already running (pid {self.card_proc.pid})")
        state_dir = Path(state_dir)
        state_dir.mkdir(parents=True, exist_ok=True)
        self.card_log = state_dir / "card.log"
        with open(self.card_log, "ab") as log:
            self.card_proc = self.popen(
                self.card_command(state_dir, peers, extra_args, config),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        return self.card_proc

    def card_running(self) -> bool:
        return self.card_proc is not None and self.card_proc.poll() is None

    def signal_card(self, signum: int = signal.SIGTERM) -> None:
        if self.card_running():
            self.card_proc.send_signal(signum)

    def stop_card(self, timeout_s: float = 10.0) -> int | None:
        """SIGTERM the card and wait (SIGKILL after timeout_s); its exit code, None if none ran."""
        if self.card_proc is None:
            return None
        self.signal_card(signal.SIGTERM)
        try:
            code = self.card_proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.card_proc.kill()
            code = self.card_proc.wait(5)
        return code

    def card_log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.card_log.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, AttributeError):
            return ""

    def terminate(self):
        self.stop_card()
        super().terminate()


class VppRouter(Node):
    """A VPP's Energy Internet router: Linux IPv4 forwarding between its Energy LAN and the WAN.

    Interface addresses come from the link params (`r{i}-lan`, `r{i}-wan`); the static routes to the
    other VPP LANs are added by the network builder, which knows the whole plan.
    """

    def config(self, **params):
        result = super().config(**params)
        _run(self, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1")
        for intf in self.intfList():
            if intf.name == "lo":
                continue
            ip = intf.params.get("ip")
            if intf.mac:
                _run(self, "ip", "link", "set", "dev", intf.name, "address", intf.mac)
            if ip:
                _run(self, "ip", "addr", "replace", ip, "dev", intf.name)
            _tx_offload_off(self, intf.name)
        return result

    def add_route(self, subnet: str, via: str) -> None:
        _run(self, "ip", "route", "replace", subnet, "via", via)

    def routes(self) -> str:
        return _run(self, "ip", "route", "show")

    def terminate(self):
        self.pexec(["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"])
        super().terminate()
