"""A whole emulation: the Energy ISP controller process plus the Mininet network and its cards.

`Emulation` writes the plan and the limits, starts `eip controller` on loopback (the ISP's private
domain) with the Energy ISP in the loop by default, builds the network with its switches connected
to it, waits until every switch has its flows and meters, starts the ISP's period clock, and always
tears everything down again. `isp_summary()` gives what the ISP published and the switches measured.
"""

import json
import logging
import math
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import yaml

from eip.errors import EipError
from eip.net.build import EnergyNetwork
from eip.net.plan import NetworkPlan, plan_from_topo
from eip.net.services import start_dns, stop_process

log = logging.getLogger(__name__)


def default_limits(plan: NetworkPlan, period_s: float = 60.0, quantum_bee: int = 10,
                   export_bee: int = 1_000_000, import_bee: int = 1_000_000) -> dict:  # fmt: skip
    """A fixed limit table (the ISP's OPF fills it in later issues): the same limit for every card."""
    return {
        "period_s": period_s,
        "quantum_bee": quantum_bee,
        "default": {"export_bee": export_bee, "import_bee": import_bee},
        "cards": {},
        "vpps": {},
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Emulation:
    """Controller + network + cards, as a context manager."""

    def __init__(self, topo, state_root: str | Path, limits: dict | None = None, port: int = 0,
                 start_cards: bool = True, card_args=(), isp: bool | None = None,
                 isp_first_period: int = 0, pools: bool = True, sden: bool = True,
                 sden_profile: str | Path | None = None, period_s: float | None = None,
                 isp_enforce: bool = False, dns: bool = True,
                 peers: str = "static", pool_args=()):  # fmt: skip
        """`isp`: run the controller with the Energy ISP (default: yes, unless a fixed `limits`
        table is given); `isp_enforce`: the ISP's limits go into the meters and quotas (else it
        measures and publishes only); `period_s`: wall seconds per period (the ISP's clock, which
        starts with period `isp_first_period` when `start()` returns); `dns`: Energy DNS on the
        first router, every card registers there (eip.net.services); `peers="dns"`: the cards'
        configs list no other card, so they find each other through DNS by name and MAC ("auto": dns
        when there is DNS; the default, "static", lists every other card, so a card of an islanded
        microgrid, cut off from the zone on the first router, still knows its peers)."""
        self.topo = topo
        self.state_root = Path(state_root)
        self.plan = plan_from_topo(topo)
        if limits is not None and period_s is not None and limits["period_s"] != period_s:
            raise EipError(f"period_s {period_s} differs from the limits' {limits['period_s']}")
        self.limits = limits or default_limits(self.plan, period_s=period_s or 60.0)
        self.period_s = float(self.limits["period_s"])
        self.isp_enforce = bool(isp_enforce)
        self.clock_start_s: float | None = None  # when the ISP's period `isp_first_period` began
        self.isp_records_path = self.state_root / "isp-records.jsonl"
        self.final_status: dict = {}  # the controller's last status, read just before it stops
        isp = limits is None if isp is None else isp
        self.port = port or free_port()
        self.start_cards = start_cards
        self.pools = pools
        self.sden = sden
        self.sden_profile = sden_profile  # JSON profile: eip.sdn.sden_service.profile_server
        self.pool_procs: list = []
        self.pool_args = tuple(str(a) for a in pool_args)  # e.g. ("--pricing", "identified")
        self.card_args = tuple(card_args)
        if peers not in ("static", "dns", "auto"):
            raise EipError(f"peers must be 'auto', 'static' or 'dns', got {peers!r}")
        if peers == "auto":
            peers = "dns" if dns and self.plan.routers else "static"
        if peers == "dns" and not (dns and self.plan.routers):
            raise EipError("peers='dns' needs the emulation's Energy DNS (dns=True, a VPP router)")
        self.dns = dns  # run Energy DNS on the first router; cards register and resolve there
        self.peers = peers  # "dns": the cards' configs list no other card, they ask Energy DNS
        self.dns_proc = None
        self.isp = isp  # run the controller with the Energy ISP (`eip controller --isp`)
        self.isp_first_period = isp_first_period
        self.controller: subprocess.Popen | None = None
        self.net: EnergyNetwork | None = None
        self.status_path = self.state_root / "controller-status.json"
        self.timings: dict[str, float] = {}

    def __enter__(self) -> "Emulation":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc) -> bool:
        self.stop()
        return False

    def start(self) -> "Emulation":
        t0 = time.perf_counter()
        self.state_root.mkdir(parents=True, exist_ok=True)
        plan_path = self.state_root / "plan.json"
        limits_path = self.state_root / "limits.yaml"
        self.plan.save(plan_path)
        limits_path.write_text(yaml.safe_dump(self.limits))
        self.status_path.unlink(missing_ok=True)
        self._controller_log = open(self.state_root / "controller.log", "wb")  # noqa: SIM115
        cmd = [sys.executable, "-m", "eip.cli.main", "--log-level", "INFO", "controller",
               "--plan", str(plan_path), "--limits", str(limits_path), "--port", str(self.port),
               "--status", str(self.status_path)]  # fmt: skip
        if self.isp:
            (self.state_root / "isp-clock.json").unlink(missing_ok=True)
            self.isp_records_path.unlink(missing_ok=True)
            cmd += ["--isp", "--isp-first-period", str(self.isp_first_period),
                    "--isp-clock", str(self.state_root / "isp-clock.json"),
                    "--isp-records", str(self.isp_records_path)]  # fmt: skip
            if not self.isp_enforce:
                cmd.append("--isp-measure-only")
        server_peer = None
        if self.sden:
            from eip.etcp.keys import CardKey
            from eip.sdn.sden_service import SERVER_IP, SERVER_MAC

            server_key = CardKey.load_or_create(self.state_root / "server" / "key.pem")
            cmd += ["--sden", str(self.state_root)]
            server_peer = {"name": "server", "ip": SERVER_IP, "mac": SERVER_MAC,
                           "key": server_key.public_hex}  # fmt: skip
        env = None
        if self.sden_profile:
            env = {**os.environ, "EIP_SDEN_PROFILE": str(Path(self.sden_profile).resolve())}
        self.controller = subprocess.Popen(
            cmd, stdout=self._controller_log, stderr=subprocess.STDOUT, env=env
        )
        self.wait_listening()
        self.timings["controller_s"] = time.perf_counter() - t0
        self.net = EnergyNetwork(self.topo, controller=("127.0.0.1", self.port),
                                 state_root=self.state_root, start_cards=False,
                                 card_args=self.card_args)  # fmt: skip
        if server_peer is not None:
            self.net.extra_peers.append(server_peer)
        self.net.start()
        if self.dns and self.plan.routers:
            self.dns_proc, self.net.dns = start_dns(self.net, self.plan, self.state_root)
            self.net.static_peers = self.peers == "static"

        self.timings["dns_s"] = time.perf_counter() - t0
        self.timings["network_s"] = time.perf_counter() - t0
        self.wait_switches()
        self.timings["flows_s"] = time.perf_counter() - t0
        if self.pools:
            self._start_pools()
        if self.start_cards:
            self.net.launch_cards()
        self.timings["cards_s"] = time.perf_counter() - t0
        if self.isp:
            self.start_clock()
        return self

    def start_clock(self, timeout_s: float = 5.0) -> float:
        """Start the ISP's period clock now (once): period `isp_first_period` begins at the returned
        monotonic time (the same clock in every process); waits until the controller took it."""
        self.clock_start_s = time.monotonic()
        path = self.state_root / "isp-clock.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"start_s": self.clock_start_s}))
        os.replace(tmp, path)
        deadline = time.monotonic() + timeout_s
        epoch_s = self.clock_start_s - self.isp_first_period * self.period_s
        while time.monotonic() < deadline:  # took it, and its status file is on the new clock
            took = any(r.get("kind") == "clock" for r in self.isp_records())
            if took and abs(self.status().get("epoch_s", math.inf) - epoch_s) < 1e-3:
                break
            time.sleep(0.05)
        else:
            log.warning("the controller did not confirm the ISP clock in %.0f s", timeout_s)
        return self.clock_start_s

    def period_start_s(self, i: int) -> float:
        """Monotonic time at which the i-th period of the run (period isp_first_period + i) starts."""
        start = self.clock_start_s if self.clock_start_s is not None else time.monotonic()
        return start + i * self.period_s

    def isp_summary(self) -> dict:
        """Whether the ISP was in the loop, its mode and clock, and per period what it published and
        what the switches measured (eip.net.isp_records.summarize), for a run's results."""
        try:
            return self._isp_summary()
        except Exception as exc:  # a reporting problem must not lose the rest of a run's results
            log.warning("cannot summarise the ISP: %s", exc)
            return {"in_loop": bool(self.isp), "error": f"{type(exc).__name__}: {exc}"}

    def _isp_summary(self) -> dict:
        from eip.net.isp_records import summarize

        status = self.status() or self.final_status
        out = {"in_loop": bool(self.isp), "enforce": bool(self.isp) and self.isp_enforce,
               "period_s": self.period_s, "first_period": self.isp_first_period,
               "notice_period_s": min(max(1, round(self.period_s)), 0xFFFFFFFF)}  # fmt: skip
        if not self.isp:
            return out | {"periods": []}
        isp = status.get("isp", {})
        names = {c.mac.lower(): c.name for c in self.plan.cards}
        records = self.isp_records()
        return out | {
            "periods_run": isp.get("periods_run"), "fail_safes": isp.get("fail_safes"),
            "errors": isp.get("errors"),
            "periods": summarize(records, status, names, self.isp_first_period),
        }  # fmt: skip

    def isp_records(self) -> list[dict]:
        """What the controller's ISP logged: published limits and prices, measured BEE, clock starts."""
        try:
            lines = self.isp_records_path.read_text().splitlines()
        except OSError:
            return []
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a line being written
                continue
        return out

    def _start_pools(self) -> None:
        """The BEE pool service on every VPP router, at its LAN address (seed 000 section 6)."""
        for router in self.plan.routers:
            log_file = open(self.state_root / f"pool-{router.vpp}.log", "wb")  # noqa: SIM115
            cmd = [sys.executable, "-m", "eip.cli.main", "--log-level", "INFO", "pool", "serve",
                   "--ip", router.lan.ip.split("/")[0], "--mac", router.lan.mac,
                   *self.pool_args]  # fmt: skip
            proc = self.net.host(router.name).popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
            self.pool_procs.append(proc)

    def wait_listening(self, timeout_s: float = 30.0) -> None:
        """Wait until the controller accepts connections on its port (EipError if it exits or times out)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.controller.poll() is not None:
                raise EipError(
                    f"the controller exited {self.controller.returncode}: {self.log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise EipError(f"the controller did not listen in {timeout_s}s: {self.log_tail()}")

    def status(self) -> dict:
        try:
            return json.loads(self.status_path.read_text())
        except (OSError, json.JSONDecodeError):
            return {}

    def wait_switches(self, timeout_s: float = 60.0) -> dict:
        """Wait until the controller reports every switch connected and configured."""
        want = {f"{s.dpid:016x}" for s in self.plan.switches}
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status()
            if want <= set(status.get("controller", {}).get("switches", [])) and all(
                s.get("ready", True) for s in status.get("switches", {}).values()
            ):
                return status
            time.sleep(0.2)
        raise EipError(f"switches not all connected after {timeout_s}s: {self.log_tail()}")

    def log_tail(self, n: int = 15) -> str:
        try:
            return "\n".join((self.state_root / "controller.log").read_text().splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.controller is not None and self.controller.poll() is None:
            self.final_status = self.status() or self.final_status
        for proc in self.pool_procs:
            stop_process(proc)
        self.pool_procs = []
        stop_process(self.dns_proc)
        self.dns_proc = None
        if self.net is not None:
            self.net.stop()
            self.net = None
        if self.controller is not None and self.controller.poll() is None:
            self.controller.terminate()
            try:
                self.controller.wait(10)
            except subprocess.TimeoutExpired:
                self.controller.kill()
                self.controller.wait(5)
        self.controller = None
