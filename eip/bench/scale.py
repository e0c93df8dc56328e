"""`eip bench scale`: time and memory to bring up N cards with the controller and every flow and meter.

Each size is a fresh emulation (controller + Mininet + OVS userspace + cards) of `vpp_lans`; the time
runs from nothing to every card answering, after every switch reported its flows installed.
"""

import os
import subprocess
import tempfile
import time

from eip.bench import goal
from eip.errors import EipError
from eip.proc import rss_kib

SIZES = {10: (2, 5), 50: (5, 10), 200: (10, 20)}


def _pid_of(name: str) -> int:
    done = subprocess.run(["pidof", name], capture_output=True, text=True, check=False)
    return int(done.stdout.split()[0]) if done.stdout.strip() else 0


def _mem_available_kib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    return 0


def measure(n_cards: int) -> dict:
    from eip.net.emulation import Emulation
    from topologies.vpp_lans import VppLansTopo

    n_vpp, per_vpp = SIZES.get(n_cards) or (max(1, n_cards // 20), min(n_cards, 20))
    ovs = _pid_of("ovs-vswitchd")
    ovs_before = rss_kib(ovs)
    avail_before = _mem_available_kib()
    with tempfile.TemporaryDirectory(prefix="eip-scale-") as tmp:
        t0 = time.perf_counter()
        with Emulation(VppLansTopo(n_vpp, per_vpp), tmp) as emu:
            up_s = time.perf_counter() - t0
            status = emu.status()
            cards = [emu.net.host(c.name) for c in emu.plan.cards]
            card_rss = [rss_kib(h.card_proc.pid) for h in cards if h.card_proc]
            controller_rss = rss_kib(emu.controller.pid)
            ovs_after = rss_kib(ovs)
            avail_after = _mem_available_kib()
            flows = sum(
                len(subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", s.name],
                                   capture_output=True, text=True).stdout.splitlines()) - 1
                for s in emu.plan.switches
            )  # fmt: skip
            timings = dict(emu.timings)
        down_s = time.perf_counter() - t0 - up_s
    return {
        "cards": n_cards,
        "vpps": n_vpp,
        "up_s": round(up_s, 2),
        "phases_s": {k: round(v, 2) for k, v in timings.items()},
        "teardown_s": round(down_s, 2),
        "flows_installed": flows,
        "switches": len(status.get("controller", {}).get("switches", [])),
        "card_rss_mib_total": round(sum(card_rss) / 1024, 1),
        "card_rss_mib_each": round(sum(card_rss) / 1024 / max(1, len(card_rss)), 1),
        "controller_rss_mib": round(controller_rss / 1024, 1),
        "ovs_vswitchd_rss_growth_mib": round((ovs_after - ovs_before) / 1024, 1),
        "system_memory_used_mib": round((avail_before - avail_after) / 1024, 1),
    }


def run(sizes=(10, 50, 200)) -> dict:
    if os.geteuid() != 0:
        raise EipError("eip bench scale needs root (Mininet, Open vSwitch)")
    results = [measure(n) for n in sizes]
    out = {"benchmark": "scale", "runs": results, "goals": {}}
    biggest = max(results, key=lambda r: r["cards"])
    if biggest["cards"] >= 200:
        out["goals"]["up_200_cards_s"] = goal(biggest["up_s"], 60, higher_is_better=False)
    # Per-card cost at the largest size against the smallest, as a ratio in the same run.
    small = min(results, key=lambda r: r["cards"])
    out["per_card_up_s_ratio_largest_to_smallest"] = round(
        (biggest["up_s"] / biggest["cards"]) / (small["up_s"] / small["cards"]), 3
    )
    return out
