"""The services an emulation runs on its VPP routers besides routing: Energy DNS (and its checks).

Energy DNS (`eip dns serve`, eip/dns/) runs on the first VPP router at its LAN address, which every
card reaches through its own router (the inter-VPP routes of docs/network.md). Cards get it as their
`dns:` server: they register themselves when they start and look up by name or MAC any peer their
config does not list, and the ISP (`isp`) and their VPP's BEE pool (`pool-<vpp>`) by name: the zone
holds both as service entries, which no card can take or change.
"""

import subprocess
import sys
import time
from pathlib import Path

from eip.addressing import ISP_DNS_NAME, ISP_IP, ISP_MAC, pool_dns_name
from eip.errors import EipError
from eip.net.plan import NetworkPlan

DNS_PORT = 53


def dns_address(plan: NetworkPlan) -> tuple[str, int] | None:
    """Where the emulation's Energy DNS listens: the first router's LAN address (None: no router)."""
    if not plan.routers:
        return None
    return plan.routers[0].lan.ip.split("/")[0], DNS_PORT


def service_entries(plan: NetworkPlan) -> list[str]:
    """The zone's service entries (`eip dns serve --service`): the ISP, and the BEE pool of each
    VPP router at its LAN address, so cards find them by name."""
    out = [f"{ISP_DNS_NAME}={ISP_IP},{ISP_MAC},isp"]
    for router in plan.routers:
        ip = router.lan.ip.split("/")[0]
        out.append(f"{pool_dns_name(router.vpp)}={ip},{router.lan.mac},router")
    return out


def start_dns(net, plan: NetworkPlan, state_root: Path, timeout_s: float = 15.0):
    """Start `eip dns serve` on the first router; (process, (ip, port)) once it is bound.

    EipError, with its log, if it exits or does not bind in `timeout_s`.
    """
    address = dns_address(plan)
    if address is None:
        raise EipError("Energy DNS needs a VPP router to run on; this plan has none")
    ip, port = address
    router = net.host(plan.routers[0].name)
    log_path = state_root / "dns.log"
    log_file = open(log_path, "wb")  # noqa: SIM115  (the process writes it until it stops)
    cmd = [sys.executable, "-m", "eip.cli.main", "--log-level", "INFO", "dns", "serve",
           "--bind", ip, "--port", str(port), "--store", str(state_root / "dns-zone.json")]  # fmt: skip
    for service in service_entries(plan):
        cmd += ["--service", service]
    proc = router.popen(cmd, stdout=log_file, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise EipError(f"Energy DNS exited {proc.returncode}: {_tail(log_path)}")
        if router.cmd(f"ss -Hlun 'sport = :{port}'").strip():
            return proc, address
        time.sleep(0.1)
    stop_process(proc)
    raise EipError(f"Energy DNS did not bind {ip}:{port} in {timeout_s}s: {_tail(log_path)}")


def stop_process(proc, timeout_s: float = 5.0) -> None:
    """SIGTERM, then SIGKILL after `timeout_s`."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout_s)


def _tail(path: Path, n: int = 10) -> str:
    try:
        return "\n".join(path.read_text().splitlines()[-n:])
    except OSError:
        return ""
