"""`eip bench transfer`: acknowledged BEE segments/s between two cards over one veth, against iperf3.

Both run in the same pair of network namespaces in the same run: the cards' Energy-TCP (signed,
durably committed, acknowledged) and iperf3's plain UDP packets/s as the baseline.
"""

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from eip.bench import goal
from eip.card.harness import CardProcess
from eip.errors import EipError
from eip.etcp.base import MAX_BEES_PER_SEGMENT as BEE_PER_SEGMENT
from eip.etcp.keys import CardKey
from eip.netns import link, namespaces


def _iperf3_udp_pps(ns_server, ns_client, server_ip: str, seconds: float) -> float:
    if not shutil.which("iperf3"):
        raise EipError("iperf3 not found: apt-get install iperf3")
    server = ns_server.popen("iperf3", "-s", "-1", "-p", "5201")
    try:
        time.sleep(0.3)
        done = ns_client.run(
            "iperf3", "-c", server_ip, "-p", "5201", "-u", "-b", "0", "-l", "1400",
            "-t", str(seconds), "--json", check=False,
        )  # fmt: skip
        if done.returncode != 0:
            raise EipError(f"iperf3 failed: {done.stderr.strip() or done.stdout[-300:]}")
        summary = json.loads(done.stdout)["end"]["sum"]
        return summary["packets"] / summary["seconds"]
    finally:
        server.kill()
        server.wait(5)


def run(quantity: int = 270_000, quantum: int = 10, window_bee: int = 200_000,
        iperf_seconds: float = 3.0) -> dict:  # fmt: skip
    """Transfer `quantity` BEE between two cards and compare with iperf3 UDP on the same veth."""
    if os.geteuid() != 0:
        raise EipError("eip bench transfer needs root (network namespaces, raw sockets)")
    with (
        tempfile.TemporaryDirectory(prefix="eip-bench-") as tmp,
        namespaces("bpv", "bload") as (a, b),
    ):
        link(a, "bpv-eth0", "10.9.0.1/24", b, "bload-eth0", "10.9.0.2/24")
        dirs = {n: Path(tmp) / n for n in ("pv", "load")}
        keys = {n: CardKey.load_or_create(d / "key.pem") for n, d in dirs.items()}
        macs = {"pv": "02:00:00:00:09:01", "load": "02:00:00:00:09:02"}
        ips = {"pv": "10.9.0.1", "load": "10.9.0.2"}
        cards = {}
        for name, ns, other in (("pv", a, "load"), ("load", b, "pv")):
            peer = f"{other},{ips[other]},{macs[other]},{keys[other].public_bytes.hex()}"
            cards[name] = CardProcess(name, ns.name, dirs[name], [
                "--name", name, "--kind", name, "--mac", macs[name], "--state-dir",
                str(dirs[name]), "--energy-ip", ips[name], "--peer", peer,
                "--window-bee", str(window_bee), "--quantum-bee", str(quantum)])  # fmt: skip
        try:
            for card in cards.values():
                card.start()
            start = time.perf_counter()
            result = cards["pv"].ctl.call("transfer", to="load", quantity=quantity, timeout=600)
            elapsed = time.perf_counter() - start
            if result.get("reason") != "done":
                raise EipError(f"the benchmark transfer did not complete: {result}")
            status = cards["pv"].ctl.call("status")
        finally:
            for card in cards.values():
                card.stop()
        records = -(-quantity // quantum)
        segments = -(-records // BEE_PER_SEGMENT)
        pps = _iperf3_udp_pps(b, a, ips["load"], iperf_seconds)
    seg_per_s = segments / elapsed
    return {
        "benchmark": "transfer",
        "quantity_bee": quantity,
        "quantum_bee": quantum,
        "window_bee": window_bee,
        "segments": segments,
        "seconds": round(elapsed, 3),
        "acked_segments_per_s": round(seg_per_s, 1),
        "bee_per_s": round(quantity / elapsed, 1),
        "iperf3_udp_pps": round(pps, 1),
        "ratio_to_iperf3_udp": round(seg_per_s / pps, 4),
        "sender_counters": status.get("counters", {}),
        "goals": {"acked_segments_per_s": goal(seg_per_s, 10_000)},
    }
