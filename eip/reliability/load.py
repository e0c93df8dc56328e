"""Load: a "day" of trading periods on `vpp_lans(n, m)`, every card offering BEEs to a random peer.

Each period every card opens one offer (`quantity` BEE) to a random other card; the period's deadline
is met when all of its transfers are closed `done` within `period_s`. Reported: cards, transfers,
BEE/s, the slowest period, the controller's CPU and memory (from /proc of its pid) and the books.
"""

import os
import random
import tempfile
import time

from eip.card.control import ControlError


def _cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        return 0.0


def _rss_mib(pid: int) -> float:
    from eip.proc import rss_kib

    return round(rss_kib(pid) / 1024, 1)


def run_day(emu, periods: int = 12, period_s: float = 5.0, quantity: int = 1000,
            seed: int = 1) -> dict:  # fmt: skip
    """Run `periods` trading periods on a running emulation; every card trades once per period."""
    from eip.reliability.faults import settled_books

    rng = random.Random(seed)
    names = [c.name for c in emu.plan.cards]
    pid = emu.controller.pid
    cpu0, wall0 = _cpu_s(pid), time.perf_counter()
    rss_peak = _rss_mib(pid)
    per_period, delivered, failed = [], 0, 0
    for _p in range(periods):
        t0 = time.perf_counter()
        opened = []
        for name in names:
            peer = rng.choice([n for n in names if n != name])
            try:
                tid = emu.net.card(name, timeout=30).call("offer", to=peer, quantity=quantity)
                opened.append((name, tid["transfer_id"]))
            except ControlError:
                failed += 1
        done = 0
        for name, tid in opened:
            left = max(1.0, period_s * 4 - (time.perf_counter() - t0))
            try:
                r = emu.net.card(name, timeout=left + 5).call("wait", transfer_id=tid,
                                                              timeout=left)  # fmt: skip
            except ControlError:
                failed += 1
                continue
            if r.get("reason") == "done":
                done += 1
                delivered += r.get("delivered", 0)
            else:
                failed += 1
        took = time.perf_counter() - t0
        rss_peak = max(rss_peak, _rss_mib(pid))
        per_period.append({"transfers": len(opened), "done": done, "seconds": round(took, 2),
                           "met": done == len(names) and took <= period_s})  # fmt: skip
        if took < period_s:
            time.sleep(period_s - took)
    wall = time.perf_counter() - wall0
    cpu = _cpu_s(pid) - cpu0
    books = settled_books(emu, 60)
    return {
        "cards": len(names),
        "periods": periods,
        "period_s": period_s,
        "transfers": sum(p["transfers"] for p in per_period),
        "transfers_failed": failed,
        "bee_delivered": delivered,
        "bee_per_s": round(delivered / wall),
        "slowest_period_s": max(p["seconds"] for p in per_period),
        "periods_meeting_deadline": sum(p["met"] for p in per_period),
        "deadline_met": all(p["met"] for p in per_period),
        "controller_cpu_percent": round(100 * cpu / wall, 1),
        "controller_rss_mib_peak": rss_peak,
        "books_ok": books.get("ok", False),
        "lost_bee": books.get("lost_bee", 0),
        "duplicates": books.get("duplicates", 0),
    }


def load_size(n_cards: int, periods: int = 12, period_s: float = 5.0, quantity: int = 1000) -> dict:
    """A fresh emulation of about `n_cards` cards (vpp_lans, up to 20 cards per VPP) running a day."""
    from eip.net.emulation import Emulation, default_limits
    from eip.net.plan import plan_from_topo
    from topologies.vpp_lans import VppLansTopo

    per_vpp = min(20, n_cards)
    n_vpp = max(1, n_cards // per_vpp)
    topo = VppLansTopo(n_vpp, per_vpp)
    limits = default_limits(plan_from_topo(topo), period_s=period_s, quantum_bee=10)
    with tempfile.TemporaryDirectory(prefix="eip-load-") as tmp:
        t0 = time.perf_counter()
        with Emulation(topo, tmp, limits=limits) as emu:
            up_s = time.perf_counter() - t0
            out = run_day(emu, periods, period_s, quantity)
    out["up_s"] = round(up_s, 1)
    return out
