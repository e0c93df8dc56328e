"""Bring an Energy Internet topology up in Mininet + Open vSwitch (userspace datapath), with its cards.

    with EnergyNetwork(FourNodeTopo(), controller=None, state_root=tmp) as net:
        net.card("pv").call("transfer", to="rural-load", quantity=2000, timeout=60)

Order of bring-up: check the machine (root, mnexec, OVS running); write the plan to
`STATE_ROOT/plan.json` (the controller reads it); build and start Mininet (OVS userspace bridges,
`failMode='secure'` under a controller, `'standalone'` L2 switching without one); add the static routes
between VPP routers; create every card's key, then write every card's YAML config (peers = all other
cards, with their public keys; the VPP subnets); start all cards at once and wait until each answers
`status` on its control socket. Whatever happens (errors, Ctrl-C), the cards are stopped and the network
is torn down; after a failure also Mininet's own cleanup (`mn -c`) runs.
"""

import logging
import os
import shutil
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import yaml

from eip.addressing import ISP_DNS_NAME, pool_dns_name
from eip.card.control import ControlClient, ControlError
from eip.errors import EipError
from eip.etcp.keys import CardKey
from eip.net.plan import NetworkPlan, plan_from_topo

log = logging.getLogger(__name__)

DEFAULT_CONTROLLER = ("127.0.0.1", 6653)
OVS_START = "/usr/share/openvswitch/scripts/ovs-ctl start --system-id=random"


def check_environment() -> None:
    """EipError naming the fix when this machine cannot run the emulation."""
    if os.geteuid() != 0:
        raise EipError("Mininet needs root: run as root (sudo ...)")
    for tool, package in (("mnexec", "mininet"), ("ovs-vsctl", "openvswitch-switch"),
                          ("ethtool", "ethtool")):  # fmt: skip
        if shutil.which(tool) is None:
            raise EipError(f"{tool} is missing: apt-get install {package} (or run `bash run.sh`)")
    try:
        done = subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True, timeout=10)
        ok = done.returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        raise EipError(f"Open vSwitch is not running: start it: {OVS_START} (or run `bash run.sh`)")


def static_routes(plan: NetworkPlan) -> dict[str, list[tuple[str, str]]]:
    """For each router: (subnet, next hop) to every other VPP LAN, via that VPP router's WAN address."""
    routes: dict[str, list[tuple[str, str]]] = {}
    for router in plan.routers:
        routes[router.name] = [
            (plan.lans[other.vpp], other.wan.ip.split("/")[0])
            for other in plan.routers
            if other is not router and other.wan is not None and router.wan is not None
        ]
    return routes


def card_config(plan: NetworkPlan, name: str, state_dir: Path, keys: dict[str, str],
                extra_peers=(), dns: tuple[str, int] | None = None,
                static_peers: bool = True) -> dict:  # fmt: skip
    """A card's YAML settings: identity from the plan, peers = every other card with its public key
    (plus `extra_peers`, e.g. the SDEN energy server; with `static_peers=False` only those, the
    cards then found through Energy DNS at `dns`)."""
    card = plan.card(name)
    cards = [{"name": p.name, "ip": p.ip, "mac": p.mac, "key": keys[p.name]}
             for p in plan.cards if p.name != name and static_peers]  # fmt: skip
    out = {
        "name": card.name, "kind": card.kind, "mac": card.mac, "state_dir": str(state_dir),
        "energy_ip": card.ip, "interface": f"{card.name}-eth0", "vpp": card.vpp,
        "peers": cards + list(extra_peers), "vpp_subnets": dict(plan.lans),
    }  # fmt: skip
    if dns is not None:  # the ISP and the card's own VPP pool by name (eip.net.services)
        out |= {"dns": f"{dns[0]}:{dns[1]}", "isp": ISP_DNS_NAME, "pool": pool_dns_name(card.vpp)}
    return out


class EnergyNetwork:
    """A running emulated Energy Internet: Mininet network, VPP routers and card daemons.

    Use as a context manager (or call `start()` and `stop()`). `controller=None` runs the switches as
    standalone L2 switches, without any SDN controller; otherwise (ip, port) of the OpenFlow 1.3
    controller and the switches fail secure. `state_root` holds plan.json and one folder per card
    (key, YAML config, ledger, control socket, card.log); default: a new temporary folder.
    """

    def __init__(self, topo, controller=DEFAULT_CONTROLLER, state_root=None, start_cards=True,
                 card_args=(), card_timeout_s: float | None = None):  # fmt: skip
        self.topo = topo
        self.controller = controller
        self.state_root = Path(state_root or tempfile.mkdtemp(prefix="eip-net-"))
        self.start_cards = start_cards
        self.card_args = tuple(str(a) for a in card_args)
        self.extra_peers: list[
            dict
        ] = []  # peers every card knows besides the cards (e.g. the server)
        self.dns: tuple[str, int] | None = None  # Energy DNS the cards use (eip.net.services)
        self.static_peers = True  # False: a card's config lists no other card; it asks DNS
        self._plan = plan_from_topo(topo)
        self.card_timeout_s = card_timeout_s or max(30.0, 0.3 * len(self._plan.cards))
        self.net = None
        self.timings: dict[str, float] = {}
        self._stopped = False

    # --- life cycle ---------------------------------------------------------------------------
    def __enter__(self) -> "EnergyNetwork":
        self.start()
        return self

    def __exit__(self, exc_type, _exc, _tb) -> bool:
        self.stop(failed=exc_type is not None)
        return False

    def start(self) -> "EnergyNetwork":
        check_environment()
        self._lock = _emulation_lock()
        t0 = time.monotonic()
        try:
            self.state_root.mkdir(parents=True, exist_ok=True)
            self._plan.save(self.state_root / "plan.json")
            self.net = self._mininet()
            self.net.start()
            for router in self._plan.routers:
                self._add_routes(router.name)
            self.timings["network_s"] = time.monotonic() - t0
            if self.start_cards:
                t1 = time.monotonic()
                self._start_all_cards()
                self.timings["cards_s"] = time.monotonic() - t1
        except BaseException:
            self.stop(failed=True)
            raise
        self.timings["total_s"] = time.monotonic() - t0
        return self

    def _mininet(self):
        from mininet.net import Mininet
        from mininet.node import OVSSwitch, RemoteController

        from eip.net.nodes import EicHost

        fail_mode = "standalone" if self.controller is None else "secure"
        switch = partial(OVSSwitch, datapath="user", protocols="OpenFlow13", failMode=fail_mode)
        controller = None
        if self.controller is not None:
            ip, port = self.controller
            controller = partial(RemoteController, ip=ip, port=int(port))
        return Mininet(self.topo, switch=switch, controller=controller, host=EicHost,
                       autoSetMacs=False, build=True, waitConnected=False)  # fmt: skip

    def stop(self, failed: bool = False) -> None:
        """Stop the cards and the network (idempotent); after a failure also run Mininet's cleanup."""
        if self._stopped:
            return
        self._stopped = True
        if self.net is not None:
            hosts = self._card_hosts()
            for host in hosts:  # all at once: SIGTERM every card, then wait for each
                _best_effort(host.signal_card)
            for host in hosts:
                _best_effort(host.stop_card)
            _best_effort(self.net.stop)
        if failed:
            from mininet.clean import cleanup

            _best_effort(cleanup)
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.close()  # releases the machine-wide emulation lock

    # --- cards --------------------------------------------------------------------------------
    def _card_hosts(self) -> list:
        return [self.net[c.name] for c in self._plan.cards if c.name in self.net.nameToNode]

    def launch_cards(self) -> None:
        """Start every card (when the network was started with start_cards=False) and wait for them."""
        t1 = time.monotonic()
        self._start_all_cards()
        self.timings["cards_s"] = time.monotonic() - t1

    def _start_all_cards(self) -> None:
        keys = {c.name: CardKey.load_or_create(self.card_dir(c.name) / "key.pem").public_hex
                for c in self._plan.cards}  # fmt: skip
        configs = {}
        for card in self._plan.cards:
            path = self.card_dir(card.name) / "card.yaml"
            settings = card_config(self._plan, card.name, self.card_dir(card.name), keys,
                                   self.extra_peers, self.dns, self.static_peers)  # fmt: skip
            path.write_text(yaml.safe_dump(settings, sort_keys=False))
            configs[card.name] = path
        for card in self._plan.cards:
            self.net[card.name].start_card(self.card_dir(card.name), config=configs[card.name],
                                           extra_args=self.card_args)  # fmt: skip
        self.wait_cards([c.name for c in self._plan.cards], self.card_timeout_s)

    def wait_cards(self, names, timeout_s: float) -> None:
        """Wait until every named card answers `status`; EipError with the log tail of a failed one."""
        pending = list(names)
        deadline = time.monotonic() + timeout_s
        while pending:
            still = []
            for name in pending:
                host = self.net[name]
                if not host.card_running():
                    code = host.card_proc.returncode if host.card_proc else None
                    raise EipError(f"card {name} exited ({code}):\n{host.card_log_tail()}")
                try:
                    self.card(name, timeout=2.0).call("status")
                except ControlError:
                    still.append(name)
            pending = still
            if pending and time.monotonic() > deadline:
                name = pending[0]
                raise EipError(f"{len(pending)} card(s) did not answer in {timeout_s:.0f}s, e.g. "
                               f"{name}:\n{self.net[name].card_log_tail()}")  # fmt: skip
            if pending:
                time.sleep(0.1)

    def card_dir(self, name: str) -> Path:
        return self.state_root / name

    def card(self, name: str, timeout: float = 30.0) -> ControlClient:
        """The control client of a running card."""
        self._plan.card(name)
        return ControlClient(self.card_dir(name) / "ctl.sock", timeout=timeout)

    def host(self, name: str):
        return self.net[name]

    @property
    def plan(self) -> NetworkPlan:
        return self._plan

    # --- islanding ----------------------------------------------------------------------------
    def island(self, vpp: str) -> None:
        """Cut a VPP off the WAN: its router's WAN link goes down (the LAN keeps working)."""
        router = self._wan_router(vpp)
        self.net.configLinkStatus(router.name, router.wan.switch, "down")

    def rejoin(self, vpp: str) -> None:
        """Bring an islanded VPP's WAN link back up and restore its routes (link-down flushed them)."""
        router = self._wan_router(vpp)
        self.net.configLinkStatus(router.name, router.wan.switch, "up")
        self._add_routes(router.name)

    def _wan_router(self, vpp: str):
        router = self._plan.router_of(vpp)
        if router.wan is None:
            raise EipError(f"VPP {vpp} has no WAN link")
        return router

    def _add_routes(self, router_name: str) -> None:
        node = self.net[router_name]
        for subnet, via in static_routes(self._plan)[router_name]:
            node.add_route(subnet, via)
        # Permanent neighbours on the WAN: a router keeps sending towards an islanded VPP (instead of
        # stalling in ARP), so the ISP sees the packets and answers "unreachable, islanded" (R5.6).
        me = next(r for r in self._plan.routers if r.name == router_name)
        if me.wan is None:
            return
        for other in self._plan.routers:
            if other.name != router_name and other.wan is not None:
                node.pexec(["ip", "neigh", "replace", other.wan.ip.split("/")[0], "lladdr",
                            other.wan.mac, "dev", me.wan.ifname, "nud", "permanent"])  # fmt: skip

    # --- diagnostics --------------------------------------------------------------------------
    def dump_flows(self) -> str:
        """Every switch's OpenFlow 1.3 flows and meters, for test failure reports."""
        out = []
        for switch in self._plan.switches:
            for what in ("dump-flows", "dump-meters"):
                try:
                    done = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", what, switch.name],
                                          capture_output=True, text=True, timeout=10)  # fmt: skip
                    text = done.stdout + done.stderr
                except (OSError, subprocess.TimeoutExpired) as exc:
                    text = str(exc)
                out.append(f"--- {switch.name} {what}\n{text.rstrip()}")
        return "\n".join(out)


LOCK_PATH = "/run/eip-emulation.lock"
LOCK_WAIT_S = 900


def _emulation_lock():
    """One emulated network per machine at a time: Mininet's switch names (s1, wan, ...) and its
    clean-up are machine-wide. Waits for another run to finish, saying so; returns the held file."""
    import fcntl

    f = open(LOCK_PATH, "a+")  # noqa: SIM115 - held until stop()
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f
    except BlockingIOError:
        log.warning("another eip emulation is running on this machine: waiting for it to finish")
    deadline = time.monotonic() + LOCK_WAIT_S
    while time.monotonic() < deadline:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return f
        except BlockingIOError:
            time.sleep(0.5)
    f.close()
    raise EipError(f"another eip emulation held {LOCK_PATH} for {LOCK_WAIT_S} s; is one stuck? "
                   "(stop it, or run `mn -c`)")  # fmt: skip


def _best_effort(fn) -> None:
    """Run a clean-up step; log (never raise) what fails, so the next steps still run."""
    try:
        fn()
    except Exception as exc:  # clean-up must go on whatever one step did
        log.warning("clean-up step %s failed: %s", getattr(fn, "__name__", fn), exc)
